package lookup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeFile writes data to a new file in a test directory and returns its
// path.
func writeFile(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	value string
	found bool
}

// check looks each key up and compares the results exactly.
func check(t *testing.T, l Lookup, want map[string]result) {
	t.Helper()
	for key, w := range want {
		v, ok, err := l.Lookup(context.Background(), key)
		if err != nil {
			t.Errorf("Lookup(%q): %v", key, err)
			continue
		}
		if v != w.value || ok != w.found {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", key, v, ok, w.value, w.found)
		}
	}
}

func found(v string) result { return result{v, true} }

var missing = result{}

const lsearchData = `# aliases
foo: bar
Key1   value one
  cont line
	cont2
# comment
	after comment
next: x
"quoted key": qv
baduser:  :fail:
FOO: second
"": empty
sp   :   spaced  
`

func TestLSearch(t *testing.T) {
	t.Parallel()
	l := LSearch(writeFile(t, lsearchData))
	check(t, l, map[string]result{
		"foo":          found("bar"),
		"FOO":          found("bar"),
		"key1":         found("value one cont line cont2"),
		"KEY1":         found("value one cont line cont2"),
		"next":         found("x"),
		"quoted key":   found("qv"),
		"QUOTED KEY":   found("qv"),
		"quoted":       missing,
		"baduser":      found(":fail:"),
		"sp":           found("spaced"),
		"":             missing,
		"missing":      missing,
		"#":            missing,
		"after":        missing,
		"foo ":         missing,
		"foo: bar":     missing,
		"quoted key ":  missing,
		"value":        missing,
		"cont":         missing,
		"comment":      missing,
		"# aliases":    missing,
		"foo\x00":      missing,
		"\u212aey1":    missing, // Kelvin sign: not an ASCII K
		"KEY1\n":       missing,
		"Key1   value": missing,
	})
	if got, want := l.String(), "lsearch;"+l.Path(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()

	_, _, err := LSearch(filepath.Join(dir, "nonexistent")).Lookup(ctx, "k")
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, fs.ErrNotExist) || fe.Line != 0 {
		t.Errorf("missing file: err = %v", err)
	}
	if want := "lookup: " + filepath.Join(dir, "nonexistent") + ": open " + filepath.Join(dir, "nonexistent") + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing file: err = %q, want %q", err, want)
	}

	_, _, err = IPLSearch(dir).Lookup(ctx, "192.0.2.1")
	if !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: err = %v", err)
	}
	if want := "lookup: " + dir + ": not a regular file (iplsearch lookup)"; err == nil || err.Error() != want {
		t.Errorf("directory: err = %q, want %q", err, want)
	}

	p := writeFile(t, "a: b\n"+strings.Repeat("c", 100)+"\n")
	_, _, err = LSearch(p, MaxLineLength(50)).Lookup(ctx, "a")
	if !errors.As(err, &fe) || fe.Line != 2 || fe.Path != p || !errors.Is(err, ErrLineTooLong) {
		t.Errorf("long line: err = %v", err)
	}
	if want := "lookup: " + p + ":2: line too long (100 bytes, limit 50)"; err == nil || err.Error() != want {
		t.Errorf("long line: err = %q, want %q", err, want)
	}
	_, _, err = LSearch(p, MaxFileSize(50)).Lookup(ctx, "a")
	if !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("large file: err = %v", err)
	}
	if want := "lookup: " + p + ": file too large (106 bytes, limit 50)"; err == nil || err.Error() != want {
		t.Errorf("large file: err = %q, want %q", err, want)
	}
	check(t, LSearch(p, MaxFileSize(106), MaxLineLength(100)), map[string]result{"a": found("b")})

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := LSearch(p).Lookup(cctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	if err := LSearch(p).Load(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Load: err = %v", err)
	}
	if err := LSearch(p, MaxLineLength(10)).Load(ctx); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("Load: err = %v", err)
	}
}

// fakeClock is a manual monotonic clock for CheckInterval tests.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func withClock(c *fakeClock) Option          { return func(o *fileOptions) { o.now = c.now } }
func lookupValue(t *testing.T, l Lookup, key string) string {
	t.Helper()
	v, ok, err := l.Lookup(context.Background(), key)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", key, err)
	}
	if !ok {
		return "<missing>"
	}
	return v
}

func TestFileReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	write := func(data string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("k: one\n")
	var clk fakeClock
	l := LSearch(p, CheckInterval(time.Second), withClock(&clk))
	if got := lookupValue(t, l, "k"); got != "one" {
		t.Fatalf("first: %q", got)
	}

	// Rewritten in place with the same size: within the interval the old
	// index is used; after it the change is seen (ctime, mtime).
	write("k: two\n")
	clk.advance(500 * time.Millisecond)
	if got := lookupValue(t, l, "k"); got != "one" {
		t.Errorf("within interval: %q, want the cached one", got)
	}
	clk.advance(600 * time.Millisecond)
	if got := lookupValue(t, l, "k"); got != "two" {
		t.Errorf("after interval: %q, want two", got)
	}

	// Replaced by rename.
	tmp := filepath.Join(dir, "tmp")
	if err := os.WriteFile(tmp, []byte("k: three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Second)
	if got := lookupValue(t, l, "k"); got != "three" {
		t.Errorf("after rename: %q, want three", got)
	}

	// Removed: an error, not stale data.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Second)
	if _, _, err := l.Lookup(context.Background(), "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after remove: err = %v", err)
	}
	// Back again, and broken: the error names the line.
	write("k: four\n" + strings.Repeat("x", 100) + "\n")
	l2 := LSearch(p, CheckInterval(0), MaxLineLength(80))
	if _, _, err := l2.Lookup(context.Background(), "k"); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("broken: err = %v", err)
	}
	write("k: five\n")
	if got := lookupValue(t, l2, "k"); got != "five" {
		t.Errorf("repaired: %q", got)
	}

	// A negative interval never checks again.
	l3 := LSearch(p, CheckInterval(-1))
	if got := lookupValue(t, l3, "k"); got != "five" {
		t.Fatalf("l3: %q", got)
	}
	write("k: six\n")
	if got := lookupValue(t, l3, "k"); got != "five" {
		t.Errorf("l3 after change: %q, want five", got)
	}
	// but Load does.
	if err := l3.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := lookupValue(t, l3, "k"); got != "six" {
		t.Errorf("l3 after Load: %q, want six", got)
	}
}

// TestFileReadsOnce checks that an unchanged file is parsed only once,
// however many lookups there are.
func TestFileReadsOnce(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "k: v\n")
	l := LSearch(p, CheckInterval(0))
	first := lookupValue(t, l, "k")
	s1 := l.cur.Load()
	for range 100 {
		if got := lookupValue(t, l, "k"); got != first {
			t.Fatalf("got %q", got)
		}
	}
	if s2 := l.cur.Load(); s1 != s2 {
		t.Error("unchanged file was parsed again")
	}
}

// TestFileConcurrent runs lookups from many goroutines while the file is
// replaced; every answer must be one of the versions' answers.
func TestFileConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	version := func(n int) string {
		var b strings.Builder
		for i := range 200 {
			fmt.Fprintf(&b, "key%d: v%d-%d\n", i, n, i)
		}
		return b.String()
	}
	if err := os.WriteFile(p, []byte(version(0)), 0o644); err != nil {
		t.Fatal(err)
	}
	l := LSearch(p, CheckInterval(0))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := (g*31 + i) % 200
				v, ok, err := l.Lookup(context.Background(), fmt.Sprintf("KEY%d", k))
				var n, j int
				if err == nil && ok {
					_, err = fmt.Sscanf(v, "v%d-%d", &n, &j)
				}
				if err != nil || !ok || j != k {
					errs <- fmt.Errorf("key%d: %q %v %v", k, v, ok, err)
					return
				}
			}
		}()
	}
	for n := 1; n <= 20; n++ {
		tmp := filepath.Join(dir, fmt.Sprintf("tmp%d", n))
		if err := os.WriteFile(tmp, []byte(version(n)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := lookupValue(t, l, "key7"); got != "v20-7" {
		t.Errorf("final: %q", got)
	}
}

func TestMapAndFunc(t *testing.T) {
	t.Parallel()
	check(t, Map{"a": "1", "": "e"}, map[string]result{"a": found("1"), "A": missing, "": found("e")})
	f := Func(func(_ context.Context, k string) (string, bool, error) { return k + "!", k != "", nil })
	check(t, f, map[string]result{"x": found("x!"), "": {"!", false}})
}
