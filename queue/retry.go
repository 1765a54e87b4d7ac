package queue

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/transport"
)

// RetryStep is one parameter set of a retry rule (Exim specification,
// section 32.7 "Retry rule parameters"): it applies while the destination
// has been failing for at most Cutoff.
type RetryStep struct {
	// Kind is 'F' (a fixed interval), 'G' (geometrically increasing
	// intervals) or 'H' (like G, but each interval is chosen at random
	// between the previous one and the previous one times Factor).
	Kind byte
	// Cutoff is how long after the first failure the step stops
	// applying; the Cutoff of a rule's last step is when the destination
	// times out and its addresses fail.
	Cutoff time.Duration
	// Interval is the interval for F, and the smallest interval for G
	// and H.
	Interval time.Duration
	// Factor multiplies the previous interval for G and H; at least 1.
	Factor float64
}

// String formats the step as Exim writes it, e.g. "G,16h,1h,1.5".
func (s RetryStep) String() string {
	out := string(s.Kind) + "," + FormatDuration(s.Cutoff) + "," + FormatDuration(s.Interval)
	if s.Kind != 'F' {
		out += "," + strconv.FormatFloat(s.Factor, 'f', -1, 64)
	}
	return out
}

// RetryRule says how often to retry destinations that match Pattern
// (Exim specification, chapter 32 "Retry configuration"). A rule without
// steps means "no retries": a temporary failure is treated as permanent.
type RetryRule struct {
	// Pattern is matched without regard to case: "*" matches everything;
	// a pattern with an "@" is matched against the whole address, its
	// local part being "*" or a literal and its domain as below; other
	// patterns are matched against the domain (or, for a host's retry
	// data, the host name first): a literal domain, or "*suffix" such as
	// "*.example.com".
	Pattern string
	Steps   []RetryStep
}

// String formats the rule as an Exim retry configuration line, with "*"
// as the error field.
func (r RetryRule) String() string {
	parts := make([]string, len(r.Steps))
	for i, s := range r.Steps {
		parts[i] = s.String()
	}
	return r.Pattern + " * " + strings.Join(parts, "; ")
}

// FinalCutoff returns the cutoff of the rule's last step: how long a
// destination may fail before its addresses time out. It is 0 for a rule
// without steps.
func (r RetryRule) FinalCutoff() time.Duration {
	if len(r.Steps) == 0 {
		return 0
	}
	return r.Steps[len(r.Steps)-1].Cutoff
}

// DefaultRetryRules returns Exim's default retry configuration,
// "* * F,2h,15m; G,16h,1h,1.5; F,4d,6h": every 15 minutes for 2 hours,
// then intervals starting at 1 hour and growing by half each time up to
// 16 hours after the first failure, then every 6 hours; the destination
// times out 4 days after its first failure.
func DefaultRetryRules() []RetryRule {
	return []RetryRule{{Pattern: "*", Steps: []RetryStep{
		{Kind: 'F', Cutoff: 2 * time.Hour, Interval: 15 * time.Minute},
		{Kind: 'G', Cutoff: 16 * time.Hour, Interval: time.Hour, Factor: 1.5},
		{Kind: 'F', Cutoff: 4 * 24 * time.Hour, Interval: 6 * time.Hour},
	}}}
}

// ErrRetrySyntax is wrapped by the errors of ParseRetryRules and
// ParseDuration.
var ErrRetrySyntax = errors.New("queue: retry rule syntax")

// ParseRetryRules parses the body of an Exim "begin retry" section: one
// rule a line, "pattern error-name parameters", where the parameters are
// steps separated by semicolons, e.g.
//
//	*.example.com  *  F,1h,10m; G,2d,30m,1.5
//	*              *  F,2h,15m; G,16h,1h,1.5; F,4d,6h
//
// Blank lines and lines starting with "#" are skipped. Only "*" is
// accepted as the error name (exigo has no error-specific rules), and a
// line without parameters is a rule without retries.
func ParseRetryRules(text string) ([]RetryRule, error) {
	var rules []RetryRule
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		r, err := ParseRetryRule(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ParseRetryRule parses one rule line (see ParseRetryRules).
func ParseRetryRule(line string) (RetryRule, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return RetryRule{}, fmt.Errorf("%w: %q: want a pattern, an error name and parameters", ErrRetrySyntax, line)
	}
	if f[1] != "*" {
		return RetryRule{}, fmt.Errorf("%w: error name %q not supported (only *)", ErrRetrySyntax, f[1])
	}
	r := RetryRule{Pattern: f[0]}
	rest := strings.TrimSpace(strings.Join(f[2:], " "))
	if rest == "" {
		return r, nil
	}
	for _, p := range strings.Split(rest, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		s, err := parseStep(p)
		if err != nil {
			return RetryRule{}, err
		}
		r.Steps = append(r.Steps, s)
	}
	return r, nil
}

func parseStep(p string) (RetryStep, error) {
	parts := strings.Split(p, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	bad := func(why string) (RetryStep, error) {
		return RetryStep{}, fmt.Errorf("%w: %q: %s", ErrRetrySyntax, p, why)
	}
	if len(parts[0]) != 1 {
		return bad("want F, G or H")
	}
	s := RetryStep{Kind: parts[0][0] &^ 0x20} // upper case
	want := 4
	switch s.Kind {
	case 'F':
		want = 3
	case 'G', 'H':
	default:
		return bad("want F, G or H")
	}
	if len(parts) != want {
		return bad(fmt.Sprintf("want %d fields", want))
	}
	var err error
	if s.Cutoff, err = ParseDuration(parts[1]); err != nil {
		return RetryStep{}, err
	}
	if s.Interval, err = ParseDuration(parts[2]); err != nil {
		return RetryStep{}, err
	}
	if s.Cutoff <= 0 || s.Interval <= 0 {
		return bad("times must be positive")
	}
	if want == 4 {
		s.Factor, err = strconv.ParseFloat(parts[3], 64)
		if err != nil || math.IsNaN(s.Factor) || s.Factor < 1 || s.Factor > 1000 {
			return bad("multiplier must be a number from 1 to 1000")
		}
	}
	return s, nil
}

// ParseDuration parses an Exim time value: numbers each followed by a
// unit, w (weeks), d, h, m or s, as in "4d", "1h30m" or "90s"; a bare
// number is seconds.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty time", ErrRetrySyntax)
	}
	const limit = 100 * 365 * 24 * time.Hour
	var total time.Duration
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j-i > 9 {
			return 0, fmt.Errorf("%w: bad time %q", ErrRetrySyntax, s)
		}
		n, _ := strconv.Atoi(s[i:j])
		unit := time.Second
		if j < len(s) {
			switch s[j] {
			case 'w':
				unit = 7 * 24 * time.Hour
			case 'd':
				unit = 24 * time.Hour
			case 'h':
				unit = time.Hour
			case 'm':
				unit = time.Minute
			case 's':
			default:
				return 0, fmt.Errorf("%w: bad time %q", ErrRetrySyntax, s)
			}
			j++
		} else if i > 0 {
			return 0, fmt.Errorf("%w: bad time %q: number without a unit", ErrRetrySyntax, s)
		}
		if time.Duration(n) > (limit-total)/unit {
			return 0, fmt.Errorf("%w: time %q too long", ErrRetrySyntax, s)
		}
		total += time.Duration(n) * unit
		i = j
	}
	return total, nil
}

// FormatDuration formats d as an Exim time, such as "4d", "1h30m" or
// "1m30s" (for 90 seconds); sub-second parts are dropped.
func FormatDuration(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		c byte
		d time.Duration
	}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}, {'h', time.Hour}, {'m', time.Minute}, {'s', time.Second}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteByte(u.c)
			d -= n * u.d
		}
	}
	return b.String()
}

// matchDomain matches a domain pattern: "*", a literal, or "*suffix".
func matchDomain(pattern, domain string) bool {
	if pattern == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(strings.ToLower(domain), strings.ToLower(suffix))
	}
	return strings.EqualFold(pattern, domain)
}

// Match reports whether the rule applies to address (which may be a bare
// domain or host name).
func (r RetryRule) Match(address string) bool {
	if r.Pattern == "*" {
		return true
	}
	local, domain := exigo.SplitAddress(address)
	if !strings.Contains(address, "@") {
		local, domain = "", address
	}
	pl, pd, isAddr := strings.Cut(r.Pattern, "@")
	if !isAddr {
		return matchDomain(r.Pattern, domain)
	}
	if !strings.Contains(address, "@") {
		return false
	}
	if pl != "*" && !strings.EqualFold(pl, local) {
		return false
	}
	if pd == "" {
		pd = "*"
	}
	return matchDomain(pd, domain)
}

// findRule returns the first rule matching one of the names, tried in
// order, and whether one matched.
func findRule(rules []RetryRule, names ...string) (RetryRule, bool) {
	for _, n := range names {
		if n == "" {
			continue
		}
		for _, r := range rules {
			if r.Match(n) {
				return r, true
			}
		}
	}
	return RetryRule{}, false
}

// nextRetry computes the retry record after a failure at now, given the
// previous record (nil for a first failure), as Exim's retry rules do:
// the step is the first whose cutoff the failing time has not passed
// (the last one past all cutoffs, when the record also expires); F gives
// its interval, G and H grow the last interval (the shorter of the one
// planned and the one that elapsed) by the factor, never below their
// starting interval; maxInterval caps the result.
func nextRetry(rule RetryRule, old *hints.Retry, now time.Time, maxInterval time.Duration, text string) hints.Retry {
	r := hints.Retry{FirstFailed: now, LastTry: now, Text: text}
	if old != nil && !old.FirstFailed.IsZero() && !old.FirstFailed.After(now) {
		r.FirstFailed = old.FirstFailed
	}
	if len(rule.Steps) == 0 {
		r.NextTry, r.Expired = now, true
		return r
	}
	failing := now.Sub(r.FirstFailed)
	step := rule.Steps[len(rule.Steps)-1]
	for _, s := range rule.Steps {
		if failing <= s.Cutoff {
			step = s
			break
		}
	}
	r.Expired = failing > rule.FinalCutoff()
	gap := step.Interval
	if step.Kind != 'F' && old != nil && !old.LastTry.IsZero() {
		last := min(old.NextTry.Sub(old.LastTry), now.Sub(old.LastTry))
		if last > 0 {
			hi := time.Duration(math.Min(float64(last)*step.Factor, float64(365*24*time.Hour)))
			g := hi
			if step.Kind == 'H' && hi > last {
				g = last + time.Duration(rand.Int64N(int64(hi-last)+1))
			}
			gap = max(gap, g)
		}
	}
	if maxInterval > 0 && gap > maxInterval {
		gap = maxInterval
	}
	r.NextTry = now.Add(gap)
	return r
}

// Retry keys, after Exim's: "T:" for hosts, "R:" for routing (by domain)
// and for addresses.

// hostKey returns the retry key of a host: "T:name:ip", "T:name" for a
// host without an address, "T:[ip]" for one without a name; a port other
// than 0 and 25 is appended as "+port".
func hostKey(h transport.Host) string {
	var b strings.Builder
	b.WriteString("T:")
	switch {
	case h.Name != "" && h.Addr.IsValid():
		b.WriteString(strings.ToLower(h.Name))
		b.WriteByte(':')
		b.WriteString(h.Addr.Unmap().String())
	case h.Name != "":
		b.WriteString(strings.ToLower(h.Name))
	default:
		b.WriteString("[" + h.Addr.Unmap().String() + "]")
	}
	if h.Port != 0 && h.Port != 25 {
		b.WriteString("+" + strconv.Itoa(h.Port))
	}
	return clampKey(b.String())
}

// hostLabel formats a host for logs: "name [ip]:port".
func hostLabel(h transport.Host, remote netip.AddrPort) string {
	var b strings.Builder
	b.WriteString(h.Name)
	addr, port := h.Addr, h.Port
	if remote.IsValid() {
		addr, port = remote.Addr(), int(remote.Port())
	}
	if addr.IsValid() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("[" + addr.Unmap().String() + "]")
		if port != 0 {
			b.WriteString(":" + strconv.Itoa(port))
		}
	}
	return b.String()
}

func routeKey(domain string) string { return clampKey("R:" + strings.ToLower(domain)) }

// addressKey returns the key of an address's own retry data: "R:addr"
// for a local delivery, "R:addr:<sender>" for a remote one (Exim's
// address_retry_include_sender, so that greylisting of one sender does
// not hold back the others).
func addressKey(addr, sender string, remote bool) string {
	if !remote {
		return clampKey("R:" + addr)
	}
	return clampKey("R:" + addr + ":<" + sender + ">")
}

// clampKey keeps a key within hints.MaxKeyLen (with the retry prefix)
// by replacing its tail with a hash.
func clampKey(k string) string {
	limit := hints.MaxKeyLen - len(hints.RetryPrefix)
	if len(k) <= limit {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	h := "#" + hex.EncodeToString(sum[:16])
	return k[:limit-len(h)] + h
}
