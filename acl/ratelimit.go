package acl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
)

// RatePer is what a [Ratelimit] measures the rate of.
type RatePer int

const (
	PerMail RatePer = iota // messages (Exim's per_mail, the default)
	PerRcpt                // recipients (per_rcpt)
	PerConn                // connections (per_conn)
	PerCmd                 // evaluations of the condition (per_cmd)
	PerByte                // bytes: the message size (per_byte)
)

var perNames = [...]string{"per_mail", "per_rcpt", "per_conn", "per_cmd", "per_byte"}

// String returns Exim's option name, e.g. "per_rcpt".
func (p RatePer) String() string {
	if p >= 0 && int(p) < len(perNames) {
		return perNames[p]
	}
	return "per(" + strconv.Itoa(int(p)) + ")"
}

// RateUpdate says when a [Ratelimit] updates the stored rate.
type RateUpdate int

const (
	// RateUpdateDefault is leaky where the measurement makes sense at
	// the stage and read-only elsewhere, as in Exim.
	RateUpdateDefault RateUpdate = iota
	// RateLeaky stores the new rate only when it is under the limit, so
	// the rate measured is that of the client's successful attempts.
	RateLeaky
	// RateStrict always stores the new rate: all attempts count.
	RateStrict
	// RateReadOnly computes the rate without counting the event and
	// stores nothing.
	RateReadOnly
)

// RateRecord is the stored state of one rate: the time of the last update
// and the smoothed rate then, in events per period.
type RateRecord struct {
	Time time.Time
	Rate float64
	// Period is the smoothing period the rate was computed with, for
	// stores that expire old records; Exim keeps it in the key instead.
	Period time.Duration
}

// RateStore stores rates by key. A hints-database store can replace the
// in-memory one; it must make each Update atomic for its key across all
// the processes that share it.
type RateStore interface {
	// Update calls f with the record stored under key (found false and a
	// zero record when there is none) and stores the record f returns if
	// f also returns true.
	Update(ctx context.Context, key string, f func(rec RateRecord, found bool) (RateRecord, bool)) error
}

// MemoryRateStore is a RateStore in memory, for one process. It forgets a
// rate once it has decayed below 0.001 events per period (checked from
// time to time as records are updated), which changes no computed rate by
// more than 0.001. The zero value is ready to use; it is safe for
// concurrent use.
type MemoryRateStore struct {
	mu      sync.Mutex
	m       map[string]RateRecord
	updates int
}

// Update implements [RateStore].
func (s *MemoryRateStore) Update(ctx context.Context, key string, f func(RateRecord, bool) (RateRecord, bool)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, found := s.m[key]
	nr, store := f(rec, found)
	if !store {
		return nil
	}
	if s.m == nil {
		s.m = make(map[string]RateRecord)
	}
	s.m[key] = nr
	s.updates++
	if s.updates%1024 == 0 {
		s.prune(nr.Time)
	}
	return nil
}

// Len returns the number of rates stored.
func (s *MemoryRateStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *MemoryRateStore) prune(now time.Time) {
	for k, r := range s.m {
		if r.Period <= 0 {
			continue
		}
		age := now.Sub(r.Time)
		if age > r.Period && r.Rate*math.Exp(-age.Seconds()/r.Period.Seconds()) < 0.001 {
			delete(s.m, k)
		}
	}
}

// Ratelimit is Exim's ratelimit condition (Exim specification, "Rate
// limiting incoming messages"): it measures the client's rate of events
// with an exponentially smoothed average and is true when the rate is at
// or over Limit. The rate is kept in Store under a key made of the period,
// the measurement and Key, like Exim's. As side effects it sets
// $sender_rate (the rate, one decimal), $sender_rate_limit and
// $sender_rate_period.
//
// The smoothing is Exim's: for an event of size count at an interval i
// after the previous update, with a = exp(-i/Period),
//
//	rate = (1-a) * count * Period/i + a * previous rate
//
// and the rate is never less than count (an isolated event counts as its
// size per period); a new key starts at count. Within one connection
// (PerConn), one message (PerMail, PerByte, PerRcpt after RCPT) or one
// command (the rest) the rate is computed once and reused, so testing the
// same limit twice does not count twice.
//
// exigo does not implement per_addr and unique=.
type Ratelimit struct {
	// Limit is the maximum rate, in events per Period (Exim's m). The
	// condition is true when the rate is >= Limit, so a Limit of 0 is
	// always true: use it to measure.
	Limit float64
	// Period is the smoothing time constant (Exim's p), > 0.
	Period time.Duration
	// Per is what is counted.
	Per RatePer
	// Update says when the stored rate is updated.
	Update RateUpdate
	// Count, if not empty, is expanded (see [Tx.Expand]) and parsed as
	// the size of each event, a number >= 0 (Exim's count=). Empty: 1,
	// the number of recipients for PerRcpt after RCPT, the message size
	// for PerByte.
	Count string
	// Key identifies the client; it is expanded, e.g.
	// "$authenticated_id". Empty means $sender_host_address.
	Key string
	// Store keeps the rates; it is required.
	Store RateStore
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	limitText, periodText string // as written, when parsed
}

// NewRatelimit parses Exim's ratelimit syntax, "m / p / options / key":
// m is the limit, a number >= 0, optionally with K, M or G (times 1024,
// 1024², 1024³); p is an Exim time (a number of seconds or a sequence such
// as "1h30m" of numbers with s, m, h, d or w); options are per_mail,
// per_rcpt, per_conn, per_cmd, per_byte, leaky, strict, readonly,
// noupdate (the same as readonly) and count=N; any other part is the key
// (several are joined with "/"). The key and count may contain variables,
// expanded when the condition is tested.
func NewRatelimit(spec string, store RateStore) (*Ratelimit, error) {
	if store == nil {
		return nil, errors.New("acl: ratelimit: no store")
	}
	parts := splitItems(spec, '/')
	if len(parts) < 1 || parts[0] == "" {
		return nil, errors.New("acl: ratelimit: sender rate limit not set")
	}
	r := &Ratelimit{Store: store, limitText: parts[0]}
	lim, err := parseRateLimit(parts[0])
	if err != nil {
		return nil, fmt.Errorf("acl: ratelimit: %w", err)
	}
	r.Limit = lim
	if len(parts) < 2 {
		return nil, errors.New(`acl: ratelimit: "" is not a time value`)
	}
	r.periodText = parts[1]
	if r.Period, err = ParseEximTime(parts[1]); err != nil || r.Period <= 0 {
		return nil, fmt.Errorf("acl: ratelimit: %q is not a time value", parts[1])
	}
	perSet, noupdate := false, false
	var keys []string
	for _, o := range parts[2:] {
		lo := strings.ToLower(o)
		switch {
		case lo == "leaky" || lo == "strict" || lo == "readonly":
			u := map[string]RateUpdate{"leaky": RateLeaky, "strict": RateStrict, "readonly": RateReadOnly}[lo]
			if r.Update != RateUpdateDefault && r.Update != u {
				return nil, errors.New("acl: ratelimit: conflicting update modes")
			}
			r.Update = u
		case lo == "noupdate":
			noupdate = true
		case lo == "per_mail" || lo == "per_rcpt" || lo == "per_conn" || lo == "per_cmd" || lo == "per_byte":
			p := map[string]RatePer{"per_mail": PerMail, "per_rcpt": PerRcpt, "per_conn": PerConn, "per_cmd": PerCmd, "per_byte": PerByte}[lo]
			if perSet && r.Per != p {
				return nil, errors.New("acl: ratelimit: conflicting per_* options")
			}
			r.Per, perSet = p, true
		case lo == "per_addr" || strings.HasPrefix(lo, "unique="):
			return nil, fmt.Errorf("acl: ratelimit: %q is %w", o, ErrUnsupported)
		case strings.HasPrefix(lo, "count="):
			r.Count = o[6:]
			if strings.IndexByte(r.Count, '$') < 0 {
				if _, err := parseCount(r.Count); err != nil {
					return nil, fmt.Errorf("acl: ratelimit: %w", err)
				}
			}
		default:
			keys = append(keys, o)
		}
	}
	if noupdate {
		r.Update = RateReadOnly
	}
	r.Key = strings.Join(keys, "/")
	return r, nil
}

func parseRateLimit(s string) (float64, error) {
	mult := 1.0
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, num = 1024, s[:n-1]
		case 'm', 'M':
			mult, num = 1024*1024, s[:n-1]
		case 'g', 'G':
			mult, num = 1024*1024*1024, s[:n-1]
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a positive number", s)
	}
	return v * mult, nil
}

func parseCount(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a positive number", "count="+s)
	}
	return v, nil
}

// ParseEximTime parses an Exim time interval: a number of seconds, or a
// sequence of numbers each followed by s, m, h, d or w ("1h30m", "2d").
func ParseEximTime(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty time")
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("bad time %q", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("bad time %q", s)
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad time %q", s)
		}
		var unit time.Duration
		switch s[i] {
		case 's':
			unit = time.Second
		case 'm':
			unit = time.Minute
		case 'h':
			unit = time.Hour
		case 'd':
			unit = 24 * time.Hour
		case 'w':
			unit = 7 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("bad time unit %q", s[i])
		}
		if n > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, fmt.Errorf("time %q too large", s)
		}
		total += time.Duration(n) * unit
		s = s[i+1:]
	}
	return total, nil
}

// formatEximTime formats d as Exim prints times: "1w2d3h4m5s", "0s".
func formatEximTime(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	secs := int64(d / time.Second)
	for _, u := range []struct {
		n int64
		c byte
	}{{7 * 86400, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}} {
		if secs >= u.n {
			b.WriteString(strconv.FormatInt(secs/u.n, 10))
			b.WriteByte(u.c)
			secs %= u.n
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

// Keys under which computed rates are remembered for the connection and
// for the message.
var (
	connRates = exigo.NewKey[map[string]float64]("acl.ratelimit.conn")
	mailRates = exigo.NewKey[map[string]float64]("acl.ratelimit.mail")
)

// messageStage reports whether st is one of the stages at which a message
// is being received (Exim's ACLs up to acl_not_smtp).
func messageStage(st Stage) bool {
	switch st {
	case StageMail, StageRcpt, StagePredata, StageMIME, StageData:
		return true
	}
	return false
}

// Eval implements [Condition].
func (r *Ratelimit) Eval(ctx context.Context, tx *Tx) (bool, error) {
	if r.Store == nil {
		return false, errors.New("acl: ratelimit: no store")
	}
	if r.Period <= 0 {
		return false, fmt.Errorf("acl: ratelimit: period %v is not positive", r.Period)
	}
	limitText, periodText := r.limitText, r.periodText
	if limitText == "" {
		limitText = strconv.FormatFloat(r.Limit, 'f', -1, 64)
	}
	if periodText == "" {
		periodText = formatEximTime(r.Period)
	}
	tx.setVar("sender_rate_limit", limitText)
	tx.setVar("sender_rate_period", periodText)

	// What is measured here, and whether it makes sense at this stage.
	mode := r.Per.String()
	count, badStage := 1.0, false
	scope := "cmd"
	switch r.Per {
	case PerMail:
		badStage = !messageStage(tx.Stage)
		scope = "mail"
	case PerByte:
		mode = "per_mail"
		badStage = !messageStage(tx.Stage)
		scope = "mail"
		count = 0
		if m := tx.Message; m != nil && !badStage {
			if m.Stats.Size > 0 {
				count = float64(m.Stats.Size)
			} else if m.Envelope.Size > 0 {
				count = float64(m.Envelope.Size)
			}
		}
	case PerRcpt:
		switch tx.Stage {
		case StageRcpt:
		case StagePredata, StageMIME, StageData:
			scope = "mail"
			count = 0
			if tx.Message != nil {
				count = float64(len(tx.Message.Envelope.Recipients))
			}
		default:
			badStage = true
		}
	case PerConn:
		scope = "conn"
	case PerCmd:
	default:
		return false, fmt.Errorf("acl: ratelimit: unknown measurement %d", int(r.Per))
	}
	update := r.Update
	if badStage {
		if update == RateLeaky || update == RateStrict {
			return false, fmt.Errorf("acl: ratelimit: %s must not have leaky or strict, or cannot be used at the %s stage", r.Per, tx.Stage)
		}
		update = RateReadOnly
	}
	if update == RateUpdateDefault {
		update = RateLeaky
	}
	if r.Count != "" {
		c, err := parseCount(tx.Expand(r.Count))
		if err != nil {
			return false, fmt.Errorf("acl: ratelimit: %w", err)
		}
		count = c
	}
	if update == RateReadOnly {
		count = 0
		scope = "cmd"
	}
	key := tx.Expand(r.Key)
	if r.Key == "" {
		key = tx.value("sender_host_address")
	}
	key = periodText + "/" + mode + "/" + key

	cache := r.cache(tx, scope)
	if rate, ok := cache[key]; ok {
		tx.setVar("sender_rate", strconv.FormatFloat(rate, 'f', 1, 64))
		return rate >= r.Limit, nil
	}

	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	t := now().Truncate(time.Microsecond) // Exim keeps microseconds
	period := r.Period.Seconds()
	var rate float64
	err := r.Store.Update(ctx, key, func(old RateRecord, found bool) (RateRecord, bool) {
		if !found {
			rate = count
		} else {
			interval := t.Sub(old.Time).Seconds()
			if interval <= 0 {
				interval = 1e-9
			}
			iOverP := interval / period
			a := math.Exp(-iOverP)
			rate = (1-a)*count/iOverP + a*old.Rate
			if rate < count {
				rate = count
			}
		}
		under := rate < r.Limit
		write := update == RateStrict || update == RateLeaky && under
		return RateRecord{Time: t, Rate: rate, Period: r.Period}, write
	})
	if err != nil {
		return false, fmt.Errorf("acl: ratelimit database not available: %w", err)
	}
	cache[key] = rate
	tx.setVar("sender_rate", strconv.FormatFloat(rate, 'f', 1, 64))
	return rate >= r.Limit, nil
}

// cache returns the map of rates already computed in a scope: the
// connection, the message or this command (falling back to the command
// when there is no session or message to hold it).
func (r *Ratelimit) cache(tx *Tx, scope string) map[string]float64 {
	var attrs *exigo.Attrs
	var key *exigo.Key[map[string]float64]
	switch {
	case scope == "conn" && tx.Session != nil:
		attrs, key = &tx.Session.Attrs, connRates
	case scope == "mail" && tx.Message != nil:
		attrs, key = &tx.Message.Attrs, mailRates
	}
	if attrs == nil {
		if tx.rates == nil {
			tx.rates = make(map[string]float64)
		}
		return tx.rates
	}
	m, ok := exigo.Get(attrs, key)
	if !ok {
		m = make(map[string]float64)
		exigo.Set(attrs, key, m)
	}
	return m
}
