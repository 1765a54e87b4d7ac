package lmdb

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

// TestLookupWhileOtherProcessWrites reads while python3-lmdb rewrites
// every record of the file in place, 300 times: each lookup must see a
// whole value of some generation, never an older one than a lookup of
// the same key saw before, and never block; with and without the cache.
func TestLookupWhileOtherProcessWrites(t *testing.T) {
	t.Parallel()
	t.Run("nocache", func(t *testing.T) { t.Parallel(); lookupWhileOtherProcessWrites(t) })
	t.Run("cache", func(t *testing.T) { t.Parallel(); lookupWhileOtherProcessWrites(t, WithCache(64)) })
}

func lookupWhileOtherProcessWrites(t *testing.T, opts ...Option) {
	testpeer.Need(t, "/usr/bin/python3", "python3-lmdb")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	var text strings.Builder
	for i := range 100 {
		text.WriteString("k" + strconv.Itoa(i) + "\ngen0-" + strconv.Itoa(i) + "\n")
	}
	w, err := Open(path, Writable())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Load(ctx, strings.NewReader(text.String())); err != nil {
		t.Fatal(err)
	}
	w.Close()
	script := `import lmdb, sys
env = lmdb.open(sys.argv[1], subdir=False)
for g in range(1, 301):
    with env.begin(write=True) as txn:
        for i in range(100):
            txn.put(b"k%d" % i, b"gen%d-%d" % (g, i))
print("done")
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	db, err := Open(path, append(opts, CheckInterval(0))...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	lookups, last := 0, 0
	var seen [100]int // the latest generation seen per key
	var buf []byte
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("python: %v: %s", err, out.String())
			}
			running = false
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatal("writer did not finish in 60 s")
		default:
		}
		i := lookups % 100
		var found bool
		buf, found, err = db.LookupBytes(ctx, []byte("k"+strconv.Itoa(i)), buf[:0])
		if err != nil || !found {
			t.Fatalf("lookup %d: %v %v", lookups, found, err)
		}
		gen, rest, ok := strings.Cut(string(buf), "-")
		g, _ := strconv.Atoi(strings.TrimPrefix(gen, "gen"))
		if !ok || !strings.HasPrefix(gen, "gen") || rest != strconv.Itoa(i) || g < 0 || g > 300 {
			t.Fatalf("lookup k%d = %q", i, buf)
		}
		if g < seen[i] {
			t.Fatalf("lookup k%d = %q after generation %d", i, buf, seen[i])
		}
		seen[i] = g
		last = max(last, g)
		lookups++
	}
	if v, _, _ := db.Lookup(ctx, "k7"); v != "gen300-7" || out.String() != "done\n" {
		t.Errorf("after writer: %q, python said %q", v, out.String())
	}
	t.Logf("%d lookups, saw generations up to %d", lookups, last)
}
