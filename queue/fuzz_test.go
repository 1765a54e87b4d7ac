package queue

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzParseRetryRules checks that the retry rule parser never panics,
// fails only with ErrRetrySyntax, and that what it accepts formats back
// to text that parses to the same rules.
func FuzzParseRetryRules(f *testing.F) {
	for _, s := range []string{
		"* * F,2h,15m; G,16h,1h,1.5; F,4d,6h",
		"*.example.com * F,1h,10m; G,2d,30m,1.5\n# comment\n\nbob@example.net *\n",
		"* * H,1d,5m,2",
		"* * f,1h30m,90",
		"* * G,1h,10m,0.5",
		"a@b * F,1w,1d;;",
		"* timeout F,1h,1m",
		"* * F,99999999999w,1s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := ParseRetryRules(s)
		if err != nil {
			if !errors.Is(err, ErrRetrySyntax) {
				t.Fatalf("error %v does not wrap ErrRetrySyntax", err)
			}
			return
		}
		var text string
		for _, r := range rules {
			for _, st := range r.Steps {
				if st.Cutoff <= 0 || st.Interval <= 0 || (st.Kind != 'F' && st.Factor < 1) {
					t.Fatalf("accepted a bad step %+v from %q", st, s)
				}
				if st.Cutoff%time.Second != 0 || st.Interval%time.Second != 0 {
					t.Fatalf("sub-second time in %+v", st)
				}
			}
			text += r.String() + "\n"
		}
		again, err := ParseRetryRules(text)
		if err != nil {
			t.Fatalf("formatted rules %q do not parse: %v", text, err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(rules)) {
			t.Fatalf("round trip changed the rules:\n%+v\n%+v", rules, again)
		}
	})
}

func normalize(rs []RetryRule) []RetryRule {
	out := make([]RetryRule, len(rs))
	for i, r := range rs {
		out[i] = r
		if len(r.Steps) == 0 {
			out[i].Steps = nil
		}
	}
	return out
}

// FuzzParseDuration checks ParseDuration against FormatDuration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15m", "4d", "1h30m", "90", "1w2d3h4m5s", "1h30", "", "5300w", "20000w", "5214w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !errors.Is(err, ErrRetrySyntax) {
				t.Fatalf("error %v does not wrap ErrRetrySyntax", err)
			}
			return
		}
		if d < 0 || d%time.Second != 0 {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
		if d == 0 {
			return
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	})
}
