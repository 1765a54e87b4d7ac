package acl

import (
	"context"
	"errors"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var base = time.Date(2026, 11, 21, 14, 0, 0, 0, time.UTC)

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestParseRatelimit(t *testing.T) {
	t.Parallel()
	store := &MemoryRateStore{}
	for _, tc := range []struct {
		spec string
		want Ratelimit
	}{
		{"100 / 1h", Ratelimit{Limit: 100, Period: time.Hour}},
		{"0/5m/strict", Ratelimit{Period: 5 * time.Minute, Update: RateStrict}},
		{"100 / 1d / strict / $authenticated_id", Ratelimit{Limit: 100, Period: 24 * time.Hour, Update: RateStrict, Key: "$authenticated_id"}},
		{"2.5 / 30 / per_rcpt / leaky / count=2", Ratelimit{Limit: 2.5, Period: 30 * time.Second, Per: PerRcpt, Update: RateLeaky, Count: "2"}},
		{"10K / 1h30m / per_byte", Ratelimit{Limit: 10240, Period: 90 * time.Minute, Per: PerByte}},
		{"1M / 1w / PER_CONN / readonly", Ratelimit{Limit: 1 << 20, Period: 7 * 24 * time.Hour, Per: PerConn, Update: RateReadOnly}},
		{"1g / 1s / per_cmd / noupdate / strict", Ratelimit{Limit: 1 << 30, Period: time.Second, Per: PerCmd, Update: RateReadOnly}},
		{"5 / 1h / per_mail / per_mail / a/b / $sender_address", Ratelimit{Limit: 5, Period: time.Hour, Key: "a/b/$sender_address"}},
		{"5 / 1h / a//b", Ratelimit{Limit: 5, Period: time.Hour, Key: "a/b"}},
		{"5 / 1h / count=$acl_m_weight", Ratelimit{Limit: 5, Period: time.Hour, Count: "$acl_m_weight"}},
	} {
		r, err := NewRatelimit(tc.spec, store)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		got := *r
		got.Store, got.limitText, got.periodText = nil, "", ""
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.spec, got, tc.want)
		}
	}
	for _, tc := range []struct {
		spec string
		want string
	}{
		{"", "acl: ratelimit: sender rate limit not set"},
		{"100", `acl: ratelimit: "" is not a time value`},
		{"-1 / 1h", `acl: ratelimit: "-1" is not a positive number`},
		{"x / 1h", `acl: ratelimit: "x" is not a positive number`},
		{"NaN / 1h", `acl: ratelimit: "NaN" is not a positive number`},
		{"10 / 0", `acl: ratelimit: "0" is not a time value`},
		{"10 / 1x", `acl: ratelimit: "1x" is not a time value`},
		{"10 / h", `acl: ratelimit: "h" is not a time value`},
		{"10 / 1h / leaky / strict", "acl: ratelimit: conflicting update modes"},
		{"10 / 1h / per_mail / per_rcpt", "acl: ratelimit: conflicting per_* options"},
		{"10 / 1h / per_addr", `acl: ratelimit: "per_addr" is not supported`},
		{"10 / 1h / unique=$local_part", `acl: ratelimit: "unique=$local_part" is not supported`},
		{"10 / 1h / count=-2", `acl: ratelimit: "count=-2" is not a positive number`},
	} {
		_, err := NewRatelimit(tc.spec, store)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %q", tc.spec, err, tc.want)
		}
	}
	if _, err := NewRatelimit("1/1h", nil); err == nil || err.Error() != "acl: ratelimit: no store" {
		t.Errorf("nil store: %v", err)
	}
}

func TestEximTime(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]time.Duration{"30": 30 * time.Second, "1h30m": 90 * time.Minute, "2d": 48 * time.Hour, "1w1s": 7*24*time.Hour + time.Second, "5m": 5 * time.Minute} {
		if got, err := ParseEximTime(s); got != want || err != nil {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"", "1", "h", "1h3", "1y", "99999999999999999999", "99999999999999w"} {
		if s == "1" {
			continue
		}
		if _, err := ParseEximTime(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", time.Hour: "1h", 90 * time.Minute: "1h30m", 8*24*time.Hour + 5*time.Second: "1w1d5s", 1500 * time.Millisecond: "1s", time.Millisecond: "0s"} {
		if got := formatEximTime(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// event runs r at stage st at time at, on a new transaction (so a new
// message) unless tx is given, and returns the condition's value and
// $sender_rate.
func event(t *testing.T, r *Ratelimit, clock *fakeClock, at time.Duration, tx *Tx) (bool, string) {
	t.Helper()
	clock.Set(base.Add(at))
	if tx == nil {
		tx, _ = newTx(StageMail)
	}
	ok, err := r.Eval(context.Background(), tx)
	if err != nil {
		t.Fatalf("at %v: %v", at, err)
	}
	return ok, tx.Expand("$sender_rate")
}

func TestRatelimitLeakyAndStrict(t *testing.T) {
	t.Parallel()
	// Expected values computed independently from the formula in the
	// Exim specification: one message every 60 s, limit 3 per hour.
	leaky := []struct {
		over   bool
		rate   string
		stored float64 // the stored rate afterwards
	}{
		{false, "1.0", 1},
		{false, "2.0", 1.9751842245245679},
		{false, "2.9", 2.9342500715616513},
		{true, "3.9", 2.9342500715616513},
		{true, "3.8", 2.9342500715616513},
		{true, "3.8", 2.9342500715616513},
		{true, "3.7", 2.9342500715616513},
	}
	strict := []struct {
		over   bool
		rate   string
		stored float64
	}{
		{false, "1.0", 1},
		{false, "2.0", 1.9751842245245679},
		{false, "2.9", 2.9342500715616513},
		{true, "3.9", 3.877463954457873},
		{true, "4.8", 4.8050878831345525},
		{true, "5.7", 5.717379536869927},
		{true, "6.6", 6.614592335878385},
	}
	for name, want := range map[string][]struct {
		over   bool
		rate   string
		stored float64
	}{"leaky": leaky, "strict": strict} {
		store := &MemoryRateStore{}
		clock := &fakeClock{}
		r := Must(NewRatelimit("3 / 1h / "+name, store))
		r.Now = clock.Now
		for i, w := range want {
			over, rate := event(t, r, clock, time.Duration(i)*time.Minute, nil)
			rec := store.m["1h/per_mail/192.0.2.1"]
			if over != w.over || rate != w.rate || !close(rec.Rate, w.stored) {
				t.Errorf("%s event %d: over %v rate %s stored %v, want %v %s %v", name, i, over, rate, rec.Rate, w.over, w.rate, w.stored)
			}
		}
		if store.Len() != 1 {
			t.Errorf("%s: %d keys", name, store.Len())
		}
	}
}

func TestRatelimitBurstAndDecay(t *testing.T) {
	t.Parallel()
	store := &MemoryRateStore{}
	clock := &fakeClock{}
	// per_rcpt at RCPT counts each recipient; a burst at one instant
	// reaches the limit after limit events.
	r := Must(NewRatelimit("3 / 1h / per_rcpt / strict", store))
	r.Now = clock.Now
	tx0, _ := newTx(StageRcpt)
	for i, want := range []struct {
		over bool
		rate string
	}{{false, "1.0"}, {false, "2.0"}, {true, "3.0"}, {true, "4.0"}} {
		tx, _ := newTx(StageRcpt)
		tx.Message = tx0.Message
		over, rate := event(t, r, clock, 0, tx)
		if over != want.over || rate != want.rate {
			t.Errorf("burst %d: %v %s", i, over, rate)
		}
	}
	if got := store.m["1h/per_rcpt/192.0.2.1"].Rate; !close(got, 4.000000248219446) {
		t.Errorf("stored %v", got)
	}
	// After more than a period, the rate restarts at the event's size.
	store.m["1h/per_mail/192.0.2.1"] = RateRecord{Time: base, Rate: 2.5, Period: time.Hour}
	m := Must(NewRatelimit("3 / 1h", store))
	m.Now = clock.Now
	if over, rate := event(t, m, clock, 2*time.Hour, nil); over || rate != "1.0" {
		t.Errorf("after a gap: %v %s", over, rate)
	}
	// Read-only: the stored rate decays and nothing is counted.
	store.m["1h/per_mail/192.0.2.1"] = RateRecord{Time: base, Rate: 2.5, Period: time.Hour}
	ro := Must(NewRatelimit("2 / 1h / readonly", store))
	ro.Now = clock.Now
	over, rate := event(t, ro, clock, 30*time.Minute, nil)
	if over || rate != "1.5" || store.m["1h/per_mail/192.0.2.1"].Rate != 2.5 {
		t.Errorf("readonly: %v %s %v", over, rate, store.m["1h/per_mail/192.0.2.1"])
	}
}

func TestRatelimitCounts(t *testing.T) {
	t.Parallel()
	store := &MemoryRateStore{}
	clock := &fakeClock{}
	store.m = map[string]RateRecord{"1h/per_mail/192.0.2.1": {Time: base, Rate: 5000, Period: time.Hour}}
	// per_byte counts the message size: the SIZE= value before data.
	r := Must(NewRatelimit("6K / 1h / per_byte / strict", store))
	r.Now = clock.Now
	tx, _ := newTx(StageRcpt)
	tx.Message.Envelope.Size = 2000
	over, rate := event(t, r, clock, 10*time.Minute, tx)
	if over || rate != "6074.6" || tx.Expand("$sender_rate_limit/$sender_rate_period") != "6K/1h" {
		t.Errorf("per_byte: %v %s %s", over, rate, tx.Expand("$sender_rate_limit/$sender_rate_period"))
	}
	// per_rcpt after RCPT counts all the recipients at once.
	p := Must(NewRatelimit("10 / 1h / per_rcpt", store))
	p.Now = clock.Now
	tx, _ = newTx(StageData)
	tx.Message.Envelope.AddRecipient("a@x")
	tx.Message.Envelope.AddRecipient("b@x")
	tx.Message.Envelope.AddRecipient("c@x")
	if over, rate := event(t, p, clock, 0, tx); over || rate != "3.0" {
		t.Errorf("per_rcpt at data: %v %s", over, rate)
	}
	// count= with a variable.
	c := Must(NewRatelimit("10 / 1h / per_cmd / count=$acl_m_weight / $acl_m_who", store))
	c.Now = clock.Now
	tx, _ = newTx(StageMail)
	tx.Message.Vars = map[string]string{"acl_m_weight": "2.5", "acl_m_who": "joe"}
	if over, rate := event(t, c, clock, 0, tx); over || rate != "2.5" {
		t.Errorf("count=: %v %s", over, rate)
	}
	if _, ok := store.m["1h/per_cmd/joe"]; !ok {
		t.Errorf("keys %v", store.m)
	}
	tx.Message.Vars["acl_m_weight"] = "lots"
	tx.rates = nil
	if _, err := c.Eval(context.Background(), tx); err == nil || err.Error() != `acl: ratelimit: "count=lots" is not a positive number` {
		t.Errorf("bad count: %v", err)
	}
}

func TestRatelimitCaching(t *testing.T) {
	t.Parallel()
	store := &MemoryRateStore{}
	clock := &fakeClock{}
	r := Must(NewRatelimit("10 / 1h / strict", store))
	r.Now = clock.Now
	// Per message: testing twice in the same message (even in another
	// command) counts once.
	tx1, _ := newTx(StageMail)
	event(t, r, clock, 0, tx1)
	tx2, _ := newTx(StageRcpt)
	tx2.Message = tx1.Message
	if _, rate := event(t, r, clock, time.Second, tx2); rate != "1.0" {
		t.Errorf("same message: %s", rate)
	}
	if _, rate := event(t, r, clock, time.Second, nil); rate != "2.0" {
		t.Errorf("next message: %s", rate)
	}
	// Per connection: once per session.
	c := Must(NewRatelimit("10 / 1h / per_conn / strict", store))
	c.Now = clock.Now
	s := &exigo.Session{}
	for i := range 3 {
		tx := &Tx{Stage: StageConnect, Session: s}
		if i > 0 {
			tx.Stage = StageMail
			tx.Message = &exigo.Message{}
		}
		if _, rate := event(t, c, clock, time.Duration(i)*time.Second, tx); rate != "1.0" {
			t.Errorf("per_conn %d: %s", i, rate)
		}
	}
	// Per command: every Tx counts.
	p := Must(NewRatelimit("10 / 1h / per_cmd / strict", store))
	p.Now = clock.Now
	tx, _ := newTx(StageHelo)
	event(t, p, clock, 0, tx)
	event(t, p, clock, 0, tx) // same command: cached
	tx, _ = newTx(StageHelo)
	if _, rate := event(t, p, clock, 0, tx); rate != "2.0" {
		t.Errorf("per_cmd: %s", rate)
	}
}

func TestRatelimitStages(t *testing.T) {
	t.Parallel()
	store := &MemoryRateStore{}
	clock := &fakeClock{}
	store.m = map[string]RateRecord{"1h/per_mail/192.0.2.1": {Time: base, Rate: 4, Period: time.Hour}}
	// per_mail at connect: read-only by default.
	r := Must(NewRatelimit("3 / 1h", store))
	r.Now = clock.Now
	tx, _ := newTx(StageConnect)
	over, rate := event(t, r, clock, 0, tx)
	if !over || rate != "4.0" || store.m["1h/per_mail/192.0.2.1"].Time != base {
		t.Errorf("connect: %v %s %v", over, rate, store.m)
	}
	// ... and an error with leaky or strict.
	for _, spec := range []string{"3 / 1h / strict", "3 / 1h / per_rcpt / leaky"} {
		s := Must(NewRatelimit(spec, store))
		tx, _ := newTx(StageConnect)
		if _, err := s.Eval(context.Background(), tx); err == nil {
			t.Errorf("%q at connect accepted", spec)
		}
	}
	tx, _ = newTx(StageMail)
	_, err := Must(NewRatelimit("3 / 1h / per_rcpt / strict", store)).Eval(context.Background(), tx)
	if err == nil || err.Error() != "acl: ratelimit: per_rcpt must not have leaky or strict, or cannot be used at the mail stage" {
		t.Errorf("per_rcpt strict at mail: %v", err)
	}
	// The Go form needs a store and a period.
	for _, bad := range []*Ratelimit{{Limit: 1, Period: time.Hour}, {Limit: 1, Store: store}, {Limit: 1, Period: time.Hour, Store: store, Per: RatePer(42)}} {
		if _, err := bad.Eval(context.Background(), tx); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	// Go-built: the variables show the limit and period in Exim's form.
	g := &Ratelimit{Limit: 2.5, Period: 90 * time.Minute, Store: store, Now: clock.Now}
	tx, _ = newTx(StageMail)
	event(t, g, clock, 0, tx)
	if got := tx.Expand("$sender_rate/$sender_rate_limit/$sender_rate_period"); got != "1.0/2.5/1h30m" {
		t.Errorf("variables %q", got)
	}
	if _, ok := store.m["1h30m/per_mail/192.0.2.1"]; !ok {
		t.Errorf("key missing: %v", store.m)
	}
}

type brokenStore struct{}

func (brokenStore) Update(context.Context, string, func(RateRecord, bool) (RateRecord, bool)) error {
	return errors.New("hints db locked")
}

func TestRatelimitInList(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	store := &MemoryRateStore{}
	r := Must(NewRatelimit("2 / 1h / strict", store))
	r.Now = clock.Now
	list := List{{Verb: Defer, Conditions: cs(r), Message: "450 4.7.0 Sender rate $sender_rate exceeds $sender_rate_limit per $sender_rate_period"}, {Verb: Accept}}
	var replies []string
	for i := range 3 {
		clock.Set(base.Add(time.Duration(i) * time.Second))
		tx, _ := newTx(StageMail)
		res := list.Run(context.Background(), tx)
		replies = append(replies, res.Verdict.String()+" "+replyString(res.Reply))
	}
	// The second rate is 1.99958..., under the limit though shown as 2.0.
	want := []string{"accept <nil>", "accept <nil>", "defer 450 4.7.0 Sender rate 3.0 exceeds 2 per 1h"}
	if !reflect.DeepEqual(replies, want) {
		t.Errorf("got %q", replies)
	}
	b := Must(NewRatelimit("2 / 1h", brokenStore{}))
	tx, _ := newTx(StageMail)
	res := List{{Verb: Deny, Conditions: cs(b)}, {Verb: Accept}}.Run(context.Background(), tx)
	if res.Verdict != VerdictDefer || res.LogMessage != "acl: ratelimit database not available: hints db locked" {
		t.Errorf("broken store: %v %q", res.Verdict, res.LogMessage)
	}
}

func TestMemoryRateStorePrune(t *testing.T) {
	t.Parallel()
	s := &MemoryRateStore{}
	ctx := context.Background()
	put := func(key string, rec RateRecord) {
		s.Update(ctx, key, func(RateRecord, bool) (RateRecord, bool) { return rec, true })
	}
	put("old", RateRecord{Time: base, Rate: 10, Period: time.Hour})
	put("recent", RateRecord{Time: base.Add(9 * time.Hour), Rate: 10, Period: time.Hour})
	put("noperiod", RateRecord{Time: base, Rate: 10})
	for i := range 1020 {
		put("filler", RateRecord{Time: base.Add(10 * time.Hour), Rate: float64(i), Period: time.Hour})
	}
	if s.Len() != 4 {
		t.Fatalf("pruned too early: %d", s.Len())
	}
	put("filler", RateRecord{Time: base.Add(10 * time.Hour), Rate: 1, Period: time.Hour}) // the 1024th update
	_, old := s.m["old"]
	_, recent := s.m["recent"]
	_, noperiod := s.m["noperiod"]
	if old || !recent || !noperiod || s.Len() != 3 {
		t.Fatalf("after prune: old %v recent %v noperiod %v len %d", old, recent, noperiod, s.Len())
	}
	// A store call with a cancelled context fails.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Update(cctx, "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
