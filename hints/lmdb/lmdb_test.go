package lmdb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/hints/hintstest"
	"github.com/exigo-mta/exigo/hints/lmdb"
	"github.com/exigo-mta/exigo/internal/testpeer"
)

var ctx = context.Background()

func open(t testing.TB, path string, opts ...lmdb.Option) *lmdb.DB {
	t.Helper()
	db, err := lmdb.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	hintstest.Run(t, func(t testing.TB, dir string, now func() time.Time) hints.DB {
		return open(t, filepath.Join(dir, "hints.mdb"), lmdb.WithClock(now))
	}, true)
}

// TestConformanceTinyMap runs the suite with a map that must grow many
// times (the 1 MiB value and the 1000-record ranges do not fit in 64 KiB).
func TestConformanceTinyMap(t *testing.T) {
	t.Parallel()
	hintstest.Run(t, func(t testing.TB, dir string, now func() time.Time) hints.DB {
		return open(t, filepath.Join(dir, "hints.mdb"), lmdb.WithClock(now), lmdb.WithMapSize(64<<10))
	}, true)
}

func TestFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "hints.mdb")
	db := open(t, p)
	defer db.Close()
	if err := db.Put(ctx, "k", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if db.Path() != p {
		t.Errorf("Path() = %q", db.Path())
	}
	for _, name := range []string{"hints.mdb", "hints.mdb-lock"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a 0600 regular file", name, fi.Mode())
		}
	}
	// Relative paths name the same file.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, p)
	if err != nil {
		t.Fatal(err)
	}
	db2 := open(t, rel)
	v, ok, err := db2.Get(ctx, "k")
	if err != nil || !ok || string(v) != "v" {
		t.Errorf("second handle: %q %v %v", v, ok, err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing the second handle leaves the first working.
	if v, ok, err := db.Get(ctx, "k"); err != nil || !ok || string(v) != "v" {
		t.Errorf("after closing the other handle: %q %v %v", v, ok, err)
	}
	if _, err := lmdb.Open(filepath.Join(dir, "no", "such", "dir", "h.mdb")); err == nil || !strings.Contains(err.Error(), "hints/lmdb: open ") {
		t.Errorf("bad path: err = %v", err)
	}
	junk := filepath.Join(dir, "junk.mdb")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not an LMDB file\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := lmdb.Open(junk); err == nil || err.Error() != "hints/lmdb: open "+junk+": mdb_env_open: MDB_INVALID: File is not an LMDB file" {
		t.Errorf("junk file: err = %v", err)
	}
}

func TestMapFull(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "hints.mdb")
	db := open(t, p, lmdb.WithMapSize(64<<10), lmdb.WithMaxMapSize(256<<10))
	defer db.Close()
	big := bytes.Repeat([]byte("x"), 32<<10)
	var err error
	n := 0
	for ; n < 100; n++ {
		if err = db.Put(ctx, fmt.Sprintf("k%03d", n), big, time.Time{}); err != nil {
			break
		}
	}
	if !errors.Is(err, hints.ErrFull) || n < 3 || n >= 8 {
		t.Fatalf("after %d puts: err = %v, want ErrFull after 3 to 7", n, err)
	}
	// What was written is intact, and deleting makes room again.
	for i := range n {
		v, ok, err := db.Get(ctx, fmt.Sprintf("k%03d", i))
		if err != nil || !ok || !bytes.Equal(v, big) {
			t.Fatalf("k%03d: %d bytes, %v, %v", i, len(v), ok, err)
		}
	}
	if err := db.Delete(ctx, "k000"); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, "small", []byte("s"), time.Time{}); err != nil {
		t.Errorf("after delete: %v", err)
	}
}

func TestCorruptRecord(t *testing.T) {
	testpeer.Need(t, "mdb_load", "lmdb-utils")
	t.Parallel()
	p := filepath.Join(t.TempDir(), "hints.mdb")
	// A database written by another program, with a record that is not in
	// exigo's encoding.
	dump := "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n bad\n xyz\n good\n \\01\\00\\00\\00\\00\\00\\00\\00\\00ok\nDATA=END\n"
	cmd := exec.Command("mdb_load", "-n", "-f", "/dev/stdin", p)
	cmd.Stdin = strings.NewReader(dump)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mdb_load: %v\n%s", err, out)
	}
	db := open(t, p)
	defer db.Close()
	if v, ok, err := db.Get(ctx, "good"); err != nil || !ok || string(v) != "ok" {
		t.Errorf("good: %q %v %v", v, ok, err)
	}
	_, _, err := db.Get(ctx, "bad")
	if !errors.Is(err, hints.ErrCorrupt) {
		t.Fatalf("bad: err = %v", err)
	}
	if want := `hints/lmdb: get ` + p + ` key "bad": hints: corrupt record: 3 bytes`; err.Error() != want {
		t.Errorf("err = %q\nwant %q", err, want)
	}
	if err := db.Range(ctx, "", func(string, []byte, time.Time) bool { return true }); !errors.Is(err, hints.ErrCorrupt) {
		t.Errorf("Range: err = %v", err)
	}
	if n, err := db.Purge(ctx); err != nil || n != 0 {
		t.Errorf("Purge: %d %v", n, err)
	}
}

// TestDumpFormat checks the stored bytes with LMDB's own tool.
func TestDumpFormat(t *testing.T) {
	testpeer.Need(t, "mdb_dump", "lmdb-utils")
	t.Parallel()
	p := filepath.Join(t.TempDir(), "hints.mdb")
	db := open(t, p)
	if err := db.Put(ctx, "R:example.com", []byte("hi"), time.Unix(0, 0x0102030405060708)); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, "T:mx:192.0.2.1", nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mdb_dump", "-n", "-p", p).CombinedOutput()
	if err != nil {
		t.Fatalf("mdb_dump: %v\n%s", err, out)
	}
	data := string(out)[strings.Index(string(out), "HEADER=END\n")+len("HEADER=END\n"):]
	want := " R:example.com\n \\01\\01\\02\\03\\04\\05\\06\\07\\08hi\n T:mx:192.0.2.1\n \\01\\00\\00\\00\\00\\00\\00\\00\\00\nDATA=END\n"
	if data != want {
		t.Errorf("mdb_dump:\n%s\nwant\n%s", data, want)
	}
}
