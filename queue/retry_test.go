package queue

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/transport"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"15m", 15 * time.Minute},
		{"4d", 96 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"90", 90 * time.Second},
		{"2d12h", 60 * time.Hour},
		{"30s", 30 * time.Second},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "h", "1x", "1h30", "-1h", "1.5h", "9999999999h", "5300w", "20000w"} {
		if _, err := ParseDuration(in); !errors.Is(err, ErrRetrySyntax) {
			t.Errorf("ParseDuration(%q): %v, want ErrRetrySyntax", in, err)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{96 * time.Hour, "4d"}, {90 * time.Minute, "1h30m"}, {90 * time.Second, "1m30s"}, {8 * 24 * time.Hour, "1w1d"}, {0, "0s"}} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestParseRetryRules(t *testing.T) {
	t.Parallel()
	rules, err := ParseRetryRules(`
# Address or Domain    Error       Retries
*.example.com          *           F,1h,10m; G,2d,30m,1.5
bob@example.net        *
*                      *           F,2h,15m; G,16h,1h,1.5; F,4d,6h
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.String())
	}
	lines(t, "rules", got, []string{
		"*.example.com * F,1h,10m; G,2d,30m,1.5",
		"bob@example.net * ",
		"* * F,2h,15m; G,16h,1h,1.5; F,4d,6h",
	})
	eq(t, "default", DefaultRetryRules()[0].String(), rules[2].String())
	eq(t, "final cutoff", rules[0].FinalCutoff(), 48*time.Hour)
	eq(t, "no steps", rules[1].FinalCutoff(), time.Duration(0))

	for _, bad := range []string{
		"*",
		"* timeout F,1h,10m",
		"* * X,1h,10m",
		"* * F,1h",
		"* * G,1h,10m",
		"* * G,1h,10m,0.5",
		"* * G,1h,10m,NaN",
		"* * F,0s,10m",
		"* * F,1h,abc",
		"* * FF,1h,10m",
	} {
		if _, err := ParseRetryRules(bad); !errors.Is(err, ErrRetrySyntax) {
			t.Errorf("ParseRetryRules(%q): %v, want ErrRetrySyntax", bad, err)
		}
	}
	if _, err := ParseRetryRules("* * F,1h,10m\n* * F,1h"); err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Errorf("error without its line: %v", err)
	}
}

func TestRuleMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, addr string
		want          bool
	}{
		{"*", "anything", true},
		{"example.com", "bob@Example.COM", true},
		{"example.com", "example.com", true},
		{"example.com", "mx.example.com", false},
		{"*.example.com", "mx.example.com", true},
		{"*.example.com", "bob@sub.EXAMPLE.com", true},
		{"*.example.com", "example.com", false},
		{"*example.com", "example.com", true},
		{"bob@example.com", "BOB@example.com", true},
		{"bob@example.com", "ann@example.com", false},
		{"bob@example.com", "example.com", false},
		{"*@example.com", "ann@example.com", true},
		{"bob@*.example.com", "bob@a.example.com", true},
		{"bob@", "bob@anywhere", true},
	} {
		if got := (RetryRule{Pattern: tc.pattern}).Match(tc.addr); got != tc.want {
			t.Errorf("%q matching %q: %v, want %v", tc.pattern, tc.addr, got, tc.want)
		}
	}
	rules := []RetryRule{{Pattern: "mx.example.com"}, {Pattern: "*"}}
	r, ok := findRule(rules, "", "mx.example.com", "bob@example.com")
	eq(t, "host name first", []any{r.Pattern, ok}, []any{"mx.example.com", true})
	_, ok = findRule(rules[:1], "bob@example.com")
	eq(t, "no match", ok, false)
}

// TestDefaultRetrySchedule follows Exim's default rule when every retry
// happens exactly at its retry time.
func TestDefaultRetrySchedule(t *testing.T) {
	t.Parallel()
	rule := DefaultRetryRules()[0]
	var rec *hints.Retry
	now := t0
	var gaps []string
	for range 40 {
		r := nextRetry(rule, rec, now, 24*time.Hour, "refused")
		if r.Expired {
			gaps = append(gaps, "expired at "+FormatDuration(now.Sub(t0)))
			break
		}
		gaps = append(gaps, FormatDuration(r.NextTry.Sub(now)))
		rec, now = &r, r.NextTry
	}
	eq(t, "first failed kept", rec.FirstFailed, t0)
	eq(t, "intervals", strings.Join(gaps, " "),
		"15m 15m 15m 15m 15m 15m 15m 15m 15m "+ // to 2h15m: 2h is still within F,2h
			"1h 1h30m 2h15m 3h22m30s 5h3m45s "+ // G from 2h15m to 15h26m15s
			"7h35m37s "+ // 1.5 × 5h3m45s at 15h26m15s, still within 16h
			"6h 6h 6h 6h 6h 6h 6h 6h 6h 6h 6h 6h 6h "+ // F,4d,6h from 23h1m52s to 95h1m52s
			"expired at 4d5h1m52s")
}

func TestNextRetryDetails(t *testing.T) {
	t.Parallel()
	rule := RetryRule{Pattern: "*", Steps: []RetryStep{{Kind: 'G', Cutoff: 24 * time.Hour, Interval: time.Hour, Factor: 2}}}
	// The interval grows from the shorter of the planned and the actual
	// gap: a try 5h after a failure planned for 1h later grows 1h.
	old := &hints.Retry{FirstFailed: t0, LastTry: t0, NextTry: t0.Add(time.Hour)}
	r := nextRetry(rule, old, t0.Add(5*time.Hour), 0, "x")
	eq(t, "next", r.NextTry.Sub(t0), 7*time.Hour)
	// The maximum interval caps it.
	old = &hints.Retry{FirstFailed: t0, LastTry: t0, NextTry: t0.Add(20 * time.Hour)}
	r = nextRetry(rule, old, t0.Add(20*time.Hour), 3*time.Hour, "x")
	eq(t, "capped", r.NextTry.Sub(t0), 23*time.Hour)
	// H stays between the last interval and last × factor.
	hr := RetryRule{Pattern: "*", Steps: []RetryStep{{Kind: 'H', Cutoff: 24 * time.Hour, Interval: time.Minute, Factor: 3}}}
	old = &hints.Retry{FirstFailed: t0, LastTry: t0, NextTry: t0.Add(time.Hour)}
	for range 50 {
		r = nextRetry(hr, old, t0.Add(time.Hour), 0, "x")
		if g := r.NextTry.Sub(t0.Add(time.Hour)); g < time.Hour || g > 3*time.Hour {
			t.Fatalf("H interval %v out of [1h, 3h]", g)
		}
	}
	// A rule without steps expires at once.
	r = nextRetry(RetryRule{Pattern: "*"}, nil, t0, 0, "x")
	eq(t, "no steps", []any{r.Expired, r.NextTry.Equal(t0)}, []any{true, true})
	// A first-failure time in the future (clock moved back) restarts.
	r = nextRetry(rule, &hints.Retry{FirstFailed: t0.Add(time.Hour)}, t0, 0, "x")
	eq(t, "first failed", r.FirstFailed, t0)
}

func TestRetryKeys(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr("192.0.2.25")
	v6 := netip.MustParseAddr("2001:db8::25")
	for _, tc := range []struct {
		h    transport.Host
		want string
	}{
		{transport.Host{Name: "MX.example.com", Addr: a}, "T:mx.example.com:192.0.2.25"},
		{transport.Host{Name: "mx.example.com", Addr: v6, Port: 587}, "T:mx.example.com:2001:db8::25+587"},
		{transport.Host{Name: "mx.example.com", Port: 25}, "T:mx.example.com"},
		{transport.Host{Addr: netip.MustParseAddr("::ffff:192.0.2.25")}, "T:[192.0.2.25]"},
	} {
		eq(t, "hostKey", hostKey(tc.h), tc.want)
	}
	eq(t, "route", routeKey("Example.COM"), "R:example.com")
	eq(t, "local", addressKey("bob@example.com", "a@b", false), "R:bob@example.com")
	eq(t, "remote", addressKey("bob@example.com", "a@b", true), "R:bob@example.com:<a@b>")
	long := addressKey(strings.Repeat("x", 600)+"@example.com", "a@b", true)
	eq(t, "long key length", len(hints.RetryPrefix+long), hints.MaxKeyLen)
	if long == addressKey(strings.Repeat("x", 600)+"@example.net", "a@b", true) {
		t.Error("two long keys collide")
	}
}
