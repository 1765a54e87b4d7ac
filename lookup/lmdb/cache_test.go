package lmdb

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

func mustLookup(t *testing.T, db *DB, key, want string, wantFound bool) {
	t.Helper()
	v, found, err := db.LookupBytes(context.Background(), []byte(key), nil)
	if err != nil || found != wantFound || string(v) != want {
		t.Fatalf("LookupBytes(%q) = %q %v %v, want %q %v", key, v, found, err, want, wantFound)
	}
}

// TestCacheSeesWritesInProcess: a Put, a Delete and a new key by exigo's
// writer (its own DB, sharing the environment) are seen by the next
// lookup of a DB with a cache, which serves repeated lookups from it.
func TestCacheSeesWritesInProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	w, err := Open(path, Writable())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Put(ctx, []byte("a"), []byte("one")); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, WithCache(16))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 3 {
		mustLookup(t, r, "a", "one", true)
		mustLookup(t, r, "b", "", false)
	}
	h, err := r.handle()
	if err != nil {
		t.Fatal(err)
	}
	st := h.st
	if _, e := r.cache.get([]byte("a"), st.Gen(), st.LastTxnID()); e == nil || string(e.val) != "one" {
		t.Fatalf("a not cached: %+v", e)
	}
	if _, e := r.cache.get([]byte("b"), st.Gen(), st.LastTxnID()); e == nil || e.found {
		t.Fatalf("b not cached as missing: %+v", e)
	}
	if err := w.Put(ctx, []byte("a"), []byte("two")); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, r, "a", "two", true)
	if err := w.Put(ctx, []byte("b"), []byte("bee")); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, r, "b", "bee", true)
	mustLookup(t, r, "a", "two", true)
	if err := w.Delete(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, r, "a", "", false)
	// The writable DB's own cache too.
	wc, err := Open(path, Writable(), WithCache(16))
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	mustLookup(t, wc, "b", "bee", true)
	if err := wc.Put(ctx, []byte("b"), []byte("bzz")); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, wc, "b", "bzz", true)
	mustLookup(t, r, "b", "bzz", true)
}

// TestCacheSeesOtherProcess: writes by mdb_load and python3-lmdb, other
// processes, are seen as soon as they have committed (exited).
func TestCacheSeesOtherProcess(t *testing.T) {
	t.Parallel()
	testpeer.Need(t, "/usr/bin/python3", "python3-lmdb")
	path := filepath.Join(t.TempDir(), "db")
	mdbLoad(t, path, "k\nv1\n")
	r, err := Open(path, WithCache(16))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mustLookup(t, r, "k", "v1", true)
	mustLookup(t, r, "k", "v1", true)
	mustLookup(t, r, "new", "", false)
	mdbLoad(t, path, "k\nv2\nnew\nfresh\n")
	mustLookup(t, r, "k", "v2", true)
	mustLookup(t, r, "new", "fresh", true)
	for i := 3; i < 6; i++ {
		script := `import lmdb, sys
env = lmdb.open(sys.argv[1], subdir=False)
with env.begin(write=True) as txn:
    txn.put(b"k", sys.argv[2].encode())
`
		v := "v" + strconv.Itoa(i)
		if out, err := exec.Command("/usr/bin/python3", "-c", script, path, v).CombinedOutput(); err != nil {
			t.Fatalf("python: %v: %s", err, out)
		}
		mustLookup(t, r, "k", v, true)
		mustLookup(t, r, "k", v, true)
	}
}

// TestCacheReplacedFile: a file replaced by rename is seen (with the
// check at every lookup), though the new file's transaction id may be
// the same as the old one's.
func TestCacheReplacedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	write := func(name, val string) {
		w, err := Open(filepath.Join(dir, name), Writable())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, []byte("k"), []byte(val)); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	write("db", "one")
	r, err := Open(path, CheckInterval(0), WithCache(16))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mustLookup(t, r, "k", "one", true)
	mustLookup(t, r, "k", "one", true)
	write("tmp", "two") // one transaction, as the first file
	if err := os.Rename(filepath.Join(dir, "tmp"), path); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, r, "k", "two", true)
	mustLookup(t, r, "k", "two", true)
}

// TestCacheBounded: many more keys than entries; every result right,
// and the cache holds at most its size (rounded up to whole sets).
func TestCacheBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	w, err := Open(path, Writable(), WithCache(10))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.update(ctx, "fill", func(txn *mdb.Txn, dbi mdb.DBI) error {
		for i := range 1000 {
			if err := txn.Put(dbi, []byte("key"+strconv.Itoa(i)), []byte("val"+strconv.Itoa(i)), 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range 1000 {
			mustLookup(t, w, "key"+strconv.Itoa(i), "val"+strconv.Itoa(i), true)
			if i%7 == round {
				mustLookup(t, w, "nokey"+strconv.Itoa(i), "", false)
			}
		}
	}
	n := 0
	for i := range w.cache.buckets {
		for j := range w.cache.buckets[i].e {
			if w.cache.buckets[i].h[j].Load() != 0 {
				n++
			}
		}
	}
	if len(w.cache.buckets) != 4 || n > 16 || n < 8 {
		t.Errorf("%d sets, %d entries; want 4 sets, at most 16 entries", len(w.cache.buckets), n)
	}
	// Values longer than MaxCachedValue are not cached.
	big := make([]byte, MaxCachedValue+1)
	if err := w.Put(ctx, []byte("big"), big); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, w, "big", string(big), true)
	h, _ := w.handle()
	if _, e := w.cache.get([]byte("big"), h.st.Gen(), h.st.LastTxnID()); e != nil {
		t.Error("big value cached")
	}
}

// TestCacheConcurrent: readers with a cache while a writer commits new
// generations; each reader sees, per key, whole values and never an
// older generation than it saw before (-race checks the cache).
func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	w, err := Open(path, Writable())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const keys, gens = 20, 200
	put := func(g int) {
		if err := w.update(ctx, "gen", func(txn *mdb.Txn, dbi mdb.DBI) error {
			for k := range keys {
				if err := txn.Put(dbi, []byte("k"+strconv.Itoa(k)), fmt.Appendf(nil, "%d-%d", g, k), 0); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	put(0)
	r, err := Open(path, WithCache(8)) // smaller than the key set: evictions too
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seen [keys]int
			buf := make([]byte, 0, 64)
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				k := (n*7 + g) % keys
				var found bool
				var err error
				buf, found, err = r.LookupBytes(ctx, []byte("k"+strconv.Itoa(k)), buf[:0])
				var gen, kk int
				if _, serr := fmt.Sscanf(string(buf), "%d-%d", &gen, &kk); err != nil || !found || serr != nil || kk != k || gen < seen[k] {
					t.Errorf("k%d = %q %v %v (after generation %d)", k, buf, found, err, seen[k])
					return
				}
				seen[k] = gen
			}
		}()
	}
	for g := 1; g <= gens; g++ {
		put(g)
	}
	close(done)
	wg.Wait()
	for k := range keys {
		mustLookup(t, r, "k"+strconv.Itoa(k), fmt.Sprintf("%d-%d", gens, k), true)
	}
}

// TestLookupBytesAllocs: no allocation per lookup, with the cache (hits)
// and without.
func TestLookupBytesAllocs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	w, err := Open(path, Writable())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Put(ctx, []byte("key"), []byte("value")); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]Option{nil, {WithCache(16)}} {
		r, err := Open(path, opts...)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 16)
		key := []byte("key")
		r.LookupBytes(ctx, key, buf) // fill the reader slot and the cache
		if n := testing.AllocsPerRun(1000, func() {
			v, ok, err := r.LookupBytes(ctx, key, buf[:0])
			if !ok || err != nil || string(v) != "value" {
				t.Fatalf("%q %v %v", v, ok, err)
			}
		}); n != 0 {
			t.Errorf("cache %v: %v allocations per lookup", r.cache != nil, n)
		}
		r.Close()
	}
}
