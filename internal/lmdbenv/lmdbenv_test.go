package lmdbenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

func open(t *testing.T, path string, o Options) *Env {
	t.Helper()
	e, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func put(t *testing.T, st *State, k, v string) {
	t.Helper()
	dbi, err := st.DBI("", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(txn *mdb.Txn) error { return txn.Put(dbi, []byte(k), []byte(v), 0) }, 1<<30); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, st *State, k string) (string, error) {
	t.Helper()
	dbi, err := st.DBI("", false)
	if err != nil {
		return "", err
	}
	var v string
	err = st.Read(func(txn *mdb.Txn) error {
		b, err := txn.Get(dbi, []byte(k))
		v = string(b)
		return err
	})
	return v, err
}

// TestShared: one Env per file, whatever the spelling of its path; the
// last Close closes it; writing a file open read-only is refused.
func TestShared(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	w := open(t, path, Options{Writable: true, CheckInterval: Never})
	put(t, w.State(), "k", "v")
	if err := os.Symlink(path, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, _ := filepath.Rel(wd, path)
	for _, p := range []string{rel, filepath.Join(dir, "link"), filepath.Join(dir, ".", "db")} {
		e := open(t, p, Options{})
		if e != w || e.Path() != path {
			t.Errorf("%s: another Env (%s)", p, e.Path())
		}
		e.Close()
	}
	w.Close()
	if w.State() != nil {
		t.Fatal("open after the last Close")
	}
	r := open(t, path, Options{CheckInterval: Never})
	defer r.Close()
	if v, err := get(t, r.State(), "k"); v != "v" || err != nil {
		t.Errorf("get = %q %v", v, err)
	}
	if _, err := Open(path, Options{Writable: true}); !errors.Is(err, ErrShared) || err.Error() != "open "+path+" for writing: "+ErrShared.Error() {
		t.Errorf("writable over read-only: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestLastTxnID: the meta pages give what mdb_env_info gives, after
// writes in this process and by mdb_load in another.
func TestLastTxnID(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	e := open(t, path, Options{Writable: true, CheckInterval: Never})
	defer e.Close()
	st := e.State()
	if st.meta == nil {
		t.Fatal("meta pages not mapped")
	}
	check := func(want uint64) {
		t.Helper()
		info, err := st.Env().Info()
		if err != nil {
			t.Fatal(err)
		}
		if got := st.LastTxnID(); got != uint64(info.LastTxnID) || got != want {
			t.Fatalf("LastTxnID = %d, mdb_env_info %d, want %d", got, info.LastTxnID, want)
		}
	}
	check(0)
	for i := range 5 {
		put(t, st, "k", strconv.Itoa(i))
		check(uint64(i + 1))
	}
	testpeer.Need(t, "mdb_load", "lmdb-utils")
	for i := range 3 {
		cmd := exec.Command("mdb_load", "-n", "-T", path)
		cmd.Stdin = strings.NewReader("k\nx\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mdb_load: %v: %s", err, out)
		}
		check(uint64(6 + i))
	}
}

// TestReadWhileResizing: lock-free reads run while writes grow the map
// from 64 KiB (exclusive: every slot and the lock), under -race.
func TestReadWhileResizing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	e := open(t, path, Options{Writable: true, MapSize: 64 << 10, CheckInterval: Never})
	defer e.Close()
	st := e.State()
	put(t, st, "fixed", "value")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v, err := get(t, st, "fixed"); v != "value" || err != nil {
					t.Errorf("get = %q %v", v, err)
					return
				}
			}
		}()
	}
	big := make([]byte, 4000)
	dbi, _ := st.DBI("", true)
	for i := range 200 {
		if err := st.Update(func(txn *mdb.Txn) error { return txn.Put(dbi, fmt.Appendf(nil, "k%d", i), big, 0) }, 1<<30); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	info, _ := st.Env().Info()
	if info.MapSize <= 64<<10 {
		t.Errorf("map not grown: %d", info.MapSize)
	}
	if err := st.Update(func(txn *mdb.Txn) error { return txn.Put(dbi, []byte("huge"), make([]byte, 2<<20), 0) }, info.MapSize); !errors.Is(err, ErrFull) {
		t.Errorf("over the limit: %v", err)
	}
}

// TestRefresh: a replaced file is opened by Refresh; the old State is
// closed (ErrClosed) once its reads are done; MaybeRefresh waits for its
// interval.
func TestRefresh(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	mk := func(p, v string) {
		w := open(t, p, Options{Writable: true, CheckInterval: Never})
		put(t, w.State(), "k", v)
		w.Close()
	}
	mk(path, "one")
	e := open(t, path, Options{CheckInterval: time.Hour})
	defer e.Close()
	old := e.State()
	if v, _ := get(t, old, "k"); v != "one" {
		t.Fatalf("got %q", v)
	}
	mk(filepath.Join(dir, "tmp"), "two")
	if err := os.Rename(filepath.Join(dir, "tmp"), path); err != nil {
		t.Fatal(err)
	}
	if err := e.MaybeRefresh(); err != nil || e.State() != old {
		t.Fatalf("MaybeRefresh before the interval: %v, changed %v", err, e.State() != old)
	}
	e.due.Store(true) // as the timer does
	if err := e.MaybeRefresh(); err != nil || e.State() == old {
		t.Fatalf("MaybeRefresh when due: %v, changed %v", err, e.State() != old)
	}
	if _, err := get(t, old, "k"); !errors.Is(err, ErrClosed) {
		t.Errorf("old state: %v", err)
	}
	if old.LastTxnID() != 1 {
		t.Errorf("old state's LastTxnID = %d", old.LastTxnID())
	}
	st := e.State()
	if v, err := get(t, st, "k"); v != "two" || err != nil || st.Gen() == old.Gen() {
		t.Errorf("new state: %q %v", v, err)
	}
	if err := e.Refresh(); err != nil || e.State() != st {
		t.Errorf("Refresh of an unchanged file: %v", err)
	}
	if err := st.View(context.Background(), func(*mdb.Txn) error { return nil }); err != nil {
		t.Error(err)
	}
}

// TestPinnedSnapshot: a read transaction stays active on the last
// snapshot between Reads, is renewed by the first Read after a commit,
// and is reset by the reaper when it is idle on an old snapshot.
func TestPinnedSnapshot(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	e := open(t, path, Options{Writable: true, MaxReaders: 2, CheckInterval: Never})
	defer e.Close()
	st := e.State()
	if len(st.slots) != 1 {
		t.Fatalf("%d slots", len(st.slots))
	}
	put(t, st, "k", "one")
	// slot returns a copy of slot 0's reader, claiming it as Read does.
	slot := func() reader {
		t.Helper()
		s := &st.slots[0].p
		for {
			r := s.Load()
			if r == nil || r == closedMark {
				t.Fatalf("slot 0: %p", r)
			}
			if r != busy && s.CompareAndSwap(r, busy) {
				c := *r
				s.Store(r)
				return c
			}
		}
	}
	if v, err := get(t, st, "k"); v != "one" || err != nil {
		t.Fatalf("get = %q %v", v, err)
	}
	r := slot()
	if !r.active || r.id != 1 {
		t.Fatalf("after a Read: active %v id %d", r.active, r.id)
	}
	put(t, st, "k", "two")
	if v, err := get(t, st, "k"); v != "two" || err != nil {
		t.Fatalf("after a commit: %q %v", v, err)
	}
	if r := slot(); !r.active || r.id != 2 {
		t.Fatalf("after a Read: active %v id %d", r.active, r.id)
	}
	put(t, st, "k", "three")
	deadline := time.Now().Add(10 * reapInterval)
	for slot().active && time.Now().Before(deadline) {
		time.Sleep(reapInterval / 10)
	}
	if r := slot(); r.active {
		t.Fatal("idle transaction on an old snapshot not reset")
	}
	if v, err := get(t, st, "k"); v != "three" || err != nil {
		t.Fatalf("after the reset: %q %v", v, err)
	}
}
