package lmdbenv_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints"
	hintslmdb "github.com/exigo-mta/exigo/hints/lmdb"
	"github.com/exigo-mta/exigo/internal/lmdbenv"
	"github.com/exigo-mta/exigo/lookup/lmdb"
)

// TestHintsAndLookupShare: hints/lmdb and lookup/lmdb on one file in one
// process use one environment: each sees the other's writes, closing one
// leaves the other working, and a file open read-only by lookup/lmdb
// cannot be opened by hints/lmdb (which writes).
func TestHintsAndLookupShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.mdb")
	h, err := hintslmdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Put(ctx, "k", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	l, err := lmdb.Open(path, lmdb.WithCache(8))
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := l.LookupBytes(ctx, []byte("k"), nil)
	if want := hints.EncodeRecord([]byte("v"), time.Time{}); err != nil || !ok || string(got) != string(want) {
		t.Fatalf("lookup of the hints record = %q %v %v, want %q", got, ok, err, want)
	}
	w, err := lmdb.Open(path, lmdb.Writable()) // the env is writable: shared
	if err != nil {
		t.Fatal(err)
	}
	rec := hints.EncodeRecord([]byte("from lookup"), time.Time{})
	if err := w.Put(ctx, []byte("k"), rec); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := h.Get(ctx, "k"); err != nil || !ok || string(v) != "from lookup" {
		t.Errorf("hints Get after lookup's Put = %q %v %v", v, ok, err)
	}
	if got, _, _ := l.LookupBytes(ctx, []byte("k"), nil); string(got) != string(rec) {
		t.Errorf("cached lookup after Put = %q", got)
	}
	w.Close()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := l.LookupBytes(ctx, []byte("k"), nil); err != nil || !ok || string(got) != string(rec) {
		t.Errorf("lookup after hints closed = %q %v %v", got, ok, err)
	}
	l.Close()

	ro, err := lmdb.Open(path) // read-only first
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := hintslmdb.Open(path); !errors.Is(err, lmdbenv.ErrShared) {
		t.Errorf("hints over a read-only lookup: %v", err)
	}
}
