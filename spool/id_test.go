package spool

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestParseID(t *testing.T) {
	info, err := ParseID("1xUm1a-0000hS-2z")
	if err != nil {
		t.Fatal(err)
	}
	// 2z = 2*62+61 = 185 units of 500 µs.
	if info.Format != IDShort || info.Time.Unix() != 1795271106 || info.Time.Nanosecond() != 185*500_000 || info.PID != 2694 || info.Frac != 185 {
		t.Errorf("short: %+v %d", info, info.Time.Unix())
	}
	tm := time.Unix(1795271106, 926302000)
	long := FormatID(IDLong, tm, 4194303)
	if long != "1xUm1a-0000000Hb83-3syM" {
		t.Errorf("FormatID long = %q", long)
	}
	info, err = ParseID(long)
	if err != nil || info.Format != IDLong || !info.Time.Equal(tm) || info.PID != 4194303 {
		t.Errorf("long: %+v %v", info, err)
	}
	if got := FormatID(IDShort, tm, 2214); got != "1xUm1a-0000Zi-Ts" {
		t.Errorf("FormatID short = %q", got)
	}
	for _, bad := range []string{"", "1xUm1a-0000hS-2", "1xUm1a_0000hS-2z", "1xUm1a-0000hS_2z", "1xUm1a-0000h!-2z", "1xUm1a-0000hS-2z-", "zzzzzz-zzzzzzzzzzz-zzzz0"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q) = %v", bad, err)
		}
	}
	// A fraction beyond one second (localhost_number) is ignored.
	if info, err := ParseID("1xUm1a-0000hS-zz"); err != nil || info.Time.Nanosecond() != 0 {
		t.Errorf("big fraction: %+v %v", info, err)
	}
}

func TestIDGenUnique(t *testing.T) {
	for _, f := range []IDFormat{IDShort, IDLong} {
		g := &idGen{format: f, pid: 12345, now: time.Now}
		var mu sync.Mutex
		seen := make(map[string]bool)
		var wg sync.WaitGroup
		start := time.Now()
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 250 {
					id, _ := g.next()
					info, err := ParseID(id)
					if err != nil || info.PID != 12345 || time.Now().Before(info.Time.Add(f.resolution())) {
						t.Errorf("id %s: %+v %v: clock not past its tick", id, info, err)
					}
					mu.Lock()
					if seen[id] {
						t.Errorf("duplicate %s", id)
					}
					seen[id] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		// 2,000 short IDs need at least one second of ticks.
		if el := time.Since(start); f == IDShort && el < 990*time.Millisecond {
			t.Errorf("2000 short IDs in %v: faster than the clock allows", el)
		}
	}
}
