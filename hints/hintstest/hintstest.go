// Package hintstest is the conformance suite for hints.DB
// implementations: each implementation's tests call Run with a function
// that opens it. It checks exact values, expiry against an injected
// clock, prefix iteration order and bounds, concurrent use (run it with
// -race) and, for persistent implementations, that data survives Close
// and reopening.
package hintstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints"
)

// Opener opens the database kept in dir, a directory that belongs to one
// subtest; opening the same dir again must find the same data when the
// implementation is persistent. The database must read the time from now.
type Opener func(t testing.TB, dir string, now func() time.Time) hints.DB

// Clock is a manual clock for expiry tests.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var start = time.Date(2026, 11, 21, 14, 25, 6, 0, time.UTC)

type env struct {
	t     *testing.T
	dir   string
	clock *Clock
	open  Opener
}

func (e *env) db() hints.DB {
	db := e.open(e.t, e.dir, e.clock.Now)
	e.t.Cleanup(func() { _ = db.Close() })
	return db
}

// Run runs the suite. persistent says whether reopening dir must find the
// data written before Close.
func Run(t *testing.T, open Opener, persistent bool) {
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"GetPutExact", testGetPut},
		{"Keys", testKeys},
		{"Delete", testDelete},
		{"Expiry", testExpiry},
		{"RangeOrder", testRangeOrder},
		{"RangeBounds", testRangeBounds},
		{"RangeCallback", testRangeCallback},
		{"Context", testContext},
		{"Closed", testClosed},
		{"Concurrent", testConcurrent},
	}
	if persistent {
		tests = append(tests, struct {
			name string
			fn   func(*env)
		}{"Reopen", testReopen})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(&env{t: t, dir: t.TempDir(), clock: NewClock(start), open: open})
		})
	}
}

var ctx = context.Background()

func mustPut(t testing.TB, db hints.DB, key string, value []byte, exp time.Time) {
	t.Helper()
	if err := db.Put(ctx, key, value, exp); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func expectGet(t testing.TB, db hints.DB, key string, want []byte, wantFound bool) {
	t.Helper()
	v, ok, err := db.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if ok != wantFound || !bytes.Equal(v, want) || (ok && v == nil) || (!ok && v != nil) {
		t.Fatalf("Get(%q) = %q (nil %v), %v; want %q, %v", key, v, v == nil, ok, want, wantFound)
	}
}

func testGetPut(e *env) {
	t, db := e.t, e.db()
	expectGet(t, db, "missing", nil, false)
	values := map[string][]byte{
		"R:example.com":          []byte("retry"),
		"empty":                  {},
		"binary":                 {0, 1, 2, 0xff, 0, '\n'},
		"T:mx.example:192.0.2.1": bytes.Repeat([]byte("0123456789abcdef"), 1<<16), // 1 MiB
	}
	for k, v := range values {
		mustPut(t, db, k, v, time.Time{})
	}
	for k, v := range values {
		expectGet(t, db, k, v, true)
	}
	// Overwrite, and the stored value is a copy.
	buf := []byte("first")
	mustPut(t, db, "k", buf, time.Time{})
	copy(buf, "XXXXX")
	expectGet(t, db, "k", []byte("first"), true)
	mustPut(t, db, "k", []byte("second, longer"), time.Time{})
	expectGet(t, db, "k", []byte("second, longer"), true)
	// Get returns the caller's own copy.
	v, _, _ := db.Get(ctx, "k")
	copy(v, "ZZZZ")
	expectGet(t, db, "k", []byte("second, longer"), true)
	// nil stores an empty value.
	mustPut(t, db, "nil", nil, time.Time{})
	expectGet(t, db, "nil", []byte{}, true)
}

func testKeys(e *env) {
	t, db := e.t, e.db()
	long := strings.Repeat("k", hints.MaxKeyLen)
	mustPut(t, db, long, []byte("max"), time.Time{})
	expectGet(t, db, long, []byte("max"), true)
	for _, k := range []string{"", long + "k"} {
		if err := db.Put(ctx, k, []byte("x"), time.Time{}); !errors.Is(err, hints.ErrInvalidKey) {
			t.Errorf("Put(%d-byte key): err = %v, want ErrInvalidKey", len(k), err)
		}
		if _, _, err := db.Get(ctx, k); !errors.Is(err, hints.ErrInvalidKey) {
			t.Errorf("Get(%d-byte key): err = %v, want ErrInvalidKey", len(k), err)
		}
		if err := db.Delete(ctx, k); !errors.Is(err, hints.ErrInvalidKey) {
			t.Errorf("Delete(%d-byte key): err = %v, want ErrInvalidKey", len(k), err)
		}
	}
	// Keys are bytes: case, NUL and non-UTF-8 are significant.
	for i, k := range []string{"a", "A", "a\x00", "a\x00b", "\xff\xfe", "é"} {
		mustPut(t, db, k, []byte{byte(i)}, time.Time{})
	}
	for i, k := range []string{"a", "A", "a\x00", "a\x00b", "\xff\xfe", "é"} {
		expectGet(t, db, k, []byte{byte(i)}, true)
	}
}

func testDelete(e *env) {
	t, db := e.t, e.db()
	mustPut(t, db, "a", []byte("1"), time.Time{})
	mustPut(t, db, "ab", []byte("2"), time.Time{})
	if err := db.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	expectGet(t, db, "a", nil, false)
	expectGet(t, db, "ab", []byte("2"), true)
	if err := db.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if err := db.Delete(ctx, "never"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

func testExpiry(e *env) {
	t, db := e.t, e.db()
	now := e.clock.Now()
	mustPut(t, db, "x:never", []byte("n"), time.Time{})
	mustPut(t, db, "x:soon", []byte("s"), now.Add(10*time.Second))
	mustPut(t, db, "x:later", []byte("l"), now.Add(time.Hour))
	mustPut(t, db, "x:past", []byte("p"), now.Add(-time.Nanosecond))
	mustPut(t, db, "x:1900", []byte("o"), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))
	expectGet(t, db, "x:past", nil, false)
	expectGet(t, db, "x:1900", nil, false)

	e.clock.Advance(10*time.Second - time.Nanosecond)
	expectGet(t, db, "x:soon", []byte("s"), true)
	got := rangeAll(t, db, "x:")
	want := fmt.Sprintf("x:later=l@%d x:never=n@0 x:soon=s@%d", now.Add(time.Hour).UnixNano(), now.Add(10*time.Second).UnixNano())
	if got != want {
		t.Errorf("Range before expiry:\n got %s\nwant %s", got, want)
	}

	e.clock.Advance(time.Nanosecond) // exactly the expiry time: expired
	expectGet(t, db, "x:soon", nil, false)
	want = fmt.Sprintf("x:later=l@%d x:never=n@0", now.Add(time.Hour).UnixNano())
	if got := rangeAll(t, db, "x:"); got != want {
		t.Errorf("Range after expiry:\n got %s\nwant %s", got, want)
	}
	n, err := db.Purge(ctx)
	if err != nil || n != 3 {
		t.Errorf("Purge = %d, %v; want 3 (soon, past, 1900)", n, err)
	}
	if n, err := db.Purge(ctx); err != nil || n != 0 {
		t.Errorf("second Purge = %d, %v; want 0", n, err)
	}
	// A purged record is gone even if the clock went back.
	e.clock.Advance(-time.Minute)
	expectGet(t, db, "x:soon", nil, false)
	// Re-putting an expired key revives it with the new expiry.
	mustPut(t, db, "x:past", []byte("again"), time.Time{})
	expectGet(t, db, "x:past", []byte("again"), true)

	e.clock.Advance(2 * time.Hour)
	if n, err := db.Purge(ctx); err != nil || n != 1 {
		t.Errorf("Purge after an hour = %d, %v; want 1", n, err)
	}
	if got, want := rangeAll(t, db, ""), "x:never=n@0 x:past=again@0"; got != want {
		t.Errorf("Range: %s, want %s", got, want)
	}
	// The expiry comes back as the same instant.
	exp := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	mustPut(t, db, "y", []byte("v"), exp)
	if err := db.Range(ctx, "y", func(_ string, _ []byte, got time.Time) bool {
		if !got.Equal(exp) {
			t.Errorf("expiry %v, want %v", got, exp)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Range(ctx, "x:never", func(_ string, _ []byte, got time.Time) bool {
		if !got.IsZero() {
			t.Errorf("no-expiry record has expiry %v", got)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
}

// rangeAll renders Range's output as "key=value@expiryns ...".
func rangeAll(t testing.TB, db hints.DB, prefix string) string {
	t.Helper()
	var parts []string
	err := db.Range(ctx, prefix, func(k string, v []byte, exp time.Time) bool {
		ns := int64(0)
		if !exp.IsZero() {
			ns = exp.UnixNano()
		}
		parts = append(parts, fmt.Sprintf("%s=%s@%d", k, v, ns))
		return true
	})
	if err != nil {
		t.Fatalf("Range(%q): %v", prefix, err)
	}
	return strings.Join(parts, " ")
}

func testRangeOrder(e *env) {
	t, db := e.t, e.db()
	keys := []string{"b", "a", "ab", "abc", "a\x00", "a\xff", "B", "aa", "ab\x00", "b\x00", "c", "\x01", "\xff\xff"}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		mustPut(t, db, k, []byte(k), time.Time{})
	}
	// Add many more so that implementations that iterate in batches
	// cross batch boundaries.
	for i := range 1000 {
		mustPut(t, db, fmt.Sprintf("n:%04d", (i*7919)%1000), []byte{byte(i)}, time.Time{})
	}
	var got []string
	if err := db.Range(ctx, "", func(k string, v []byte, _ time.Time) bool {
		if !strings.HasPrefix(k, "n:") {
			got = append(got, k)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"\x01", "B", "a", "a\x00", "aa", "ab", "ab\x00", "abc", "a\xff", "b", "b\x00", "c", "\xff\xff"}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
	n := 0
	if err := db.Range(ctx, "n:", func(k string, v []byte, _ time.Time) bool {
		if want := fmt.Sprintf("n:%04d", n); k != want {
			t.Fatalf("record %d: key %q, want %q", n, k, want)
		}
		n++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1000 {
		t.Errorf("Range(n:) gave %d records, want 1000", n)
	}
}

func testRangeBounds(e *env) {
	t, db := e.t, e.db()
	for _, k := range []string{"a", "ab", "abc", "abd", "ac", "b", "a\xff", "a\xff\xff", "\xff", "\xff\xff"} {
		mustPut(t, db, k, []byte("v"), time.Time{})
	}
	for prefix, want := range map[string]string{
		"ab":       "ab=v@0 abc=v@0 abd=v@0",
		"abc":      "abc=v@0",
		"abcd":     "",
		"a\xff":    "a\xff=v@0 a\xff\xff=v@0",
		"\xff":     "\xff=v@0 \xff\xff=v@0",
		"\xff\xff": "\xff\xff=v@0",
		"aa":       "",
		"0":        "",
		"c":        "",
	} {
		if got := rangeAll(t, db, prefix); got != want {
			t.Errorf("Range(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func testRangeCallback(e *env) {
	t, db := e.t, e.db()
	for i := range 600 {
		mustPut(t, db, fmt.Sprintf("k%03d", i), []byte{byte(i)}, time.Time{})
	}
	// Early stop.
	n := 0
	if err := db.Range(ctx, "k", func(string, []byte, time.Time) bool { n++; return n < 5 }); err != nil || n != 5 {
		t.Errorf("early stop: %d calls, %v", n, err)
	}
	// fn may write to the database (no deadlock) and keep the values.
	var kept [][]byte
	if err := db.Range(ctx, "k", func(k string, v []byte, _ time.Time) bool {
		kept = append(kept, v)
		if err := db.Delete(ctx, k); err != nil {
			t.Errorf("Delete in Range: %v", err)
			return false
		}
		if err := db.Put(ctx, "z"+k, v, time.Time{}); err != nil {
			t.Errorf("Put in Range: %v", err)
			return false
		}
		_, _, err := db.Get(ctx, "z"+k)
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 600 {
		t.Fatalf("Range with writes saw %d records, want 600", len(kept))
	}
	for i, v := range kept {
		if !bytes.Equal(v, []byte{byte(i)}) {
			t.Fatalf("kept value %d = %v", i, v)
		}
	}
	if got := rangeAll(t, db, "k"); got != "" {
		t.Errorf("k records left: %.80s", got)
	}
	expectGet(t, db, "zk599", []byte{byte(599 % 256)}, true)
}

func testContext(e *env) {
	t, db := e.t, e.db()
	mustPut(t, db, "a", []byte("1"), time.Time{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := db.Get(cctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: %v", err)
	}
	if err := db.Put(cctx, "a", nil, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: %v", err)
	}
	if err := db.Delete(cctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: %v", err)
	}
	if _, err := db.Purge(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Purge: %v", err)
	}
	if err := db.Range(cctx, "", func(string, []byte, time.Time) bool { return true }); !errors.Is(err, context.Canceled) {
		t.Errorf("Range: %v", err)
	}
	// Cancelled during a Range: it stops and says so.
	for i := range 300 {
		mustPut(t, db, fmt.Sprintf("r%03d", i), nil, time.Time{})
	}
	rctx, rcancel := context.WithCancel(ctx)
	n := 0
	err := db.Range(rctx, "r", func(string, []byte, time.Time) bool {
		n++
		if n == 10 {
			rcancel()
		}
		return true
	})
	if !errors.Is(err, context.Canceled) || n < 10 || n == 300 {
		t.Errorf("Range cancelled at 10: %d calls, %v", n, err)
	}
	expectGet(t, db, "a", []byte("1"), true)
}

func testClosed(e *env) {
	t := e.t
	db := e.open(t, e.dir, e.clock.Now)
	mustPut(t, db, "a", []byte("1"), time.Time{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := db.Get(ctx, "a"); !errors.Is(err, hints.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := db.Put(ctx, "a", nil, time.Time{}); !errors.Is(err, hints.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if err := db.Delete(ctx, "a"); !errors.Is(err, hints.ErrClosed) {
		t.Errorf("Delete after Close: %v", err)
	}
	if _, err := db.Purge(ctx); !errors.Is(err, hints.ErrClosed) {
		t.Errorf("Purge after Close: %v", err)
	}
	if err := db.Range(ctx, "", func(string, []byte, time.Time) bool { return true }); !errors.Is(err, hints.ErrClosed) {
		t.Errorf("Range after Close: %v", err)
	}
}

func testConcurrent(e *env) {
	t, db := e.t, e.db()
	const goroutines, ops = 8, 150
	var wg sync.WaitGroup
	errc := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				own := fmt.Sprintf("g%d:%03d", g, i)
				if err := db.Put(ctx, own, []byte(own), time.Time{}); err != nil {
					errc <- err
					return
				}
				// A shared counter-ish key that everyone overwrites.
				if err := db.Put(ctx, "shared", []byte(own), e.clock.Now().Add(time.Hour)); err != nil {
					errc <- err
					return
				}
				v, ok, err := db.Get(ctx, own)
				if err != nil || !ok || string(v) != own {
					errc <- fmt.Errorf("Get(%s) = %q, %v, %v", own, v, ok, err)
					return
				}
				if v, ok, err := db.Get(ctx, "shared"); err != nil || !ok || !strings.HasPrefix(string(v), "g") {
					errc <- fmt.Errorf("Get(shared) = %q, %v, %v", v, ok, err)
					return
				}
				if i%3 == 0 {
					if err := db.Delete(ctx, own); err != nil {
						errc <- err
						return
					}
				}
				if i%50 == 0 {
					if err := db.Range(ctx, fmt.Sprintf("g%d:", g), func(string, []byte, time.Time) bool { return true }); err != nil {
						errc <- err
						return
					}
					if _, err := db.Purge(ctx); err != nil {
						errc <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for g := range goroutines {
		n := 0
		if err := db.Range(ctx, fmt.Sprintf("g%d:", g), func(k string, v []byte, _ time.Time) bool {
			if k != string(v) {
				t.Errorf("%s = %q", k, v)
			}
			n++
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if want := ops - (ops+2)/3; n != want {
			t.Errorf("goroutine %d left %d records, want %d", g, n, want)
		}
	}
}

func testReopen(e *env) {
	t := e.t
	db := e.open(t, e.dir, e.clock.Now)
	mustPut(t, db, "keep", []byte("kept"), time.Time{})
	mustPut(t, db, "exp", []byte("e"), e.clock.Now().Add(time.Minute))
	mustPut(t, db, "gone", []byte("g"), time.Time{})
	if err := db.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := e.db()
	expectGet(t, db2, "keep", []byte("kept"), true)
	expectGet(t, db2, "exp", []byte("e"), true)
	expectGet(t, db2, "gone", nil, false)
	e.clock.Advance(time.Minute)
	expectGet(t, db2, "exp", nil, false)
	// Two handles on the same file at once see each other's writes.
	db3 := e.db()
	mustPut(t, db3, "from3", []byte("3"), time.Time{})
	expectGet(t, db2, "from3", []byte("3"), true)
	if err := db3.Close(); err != nil {
		t.Fatal(err)
	}
	expectGet(t, db2, "keep", []byte("kept"), true)
}
