package lmdb

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

func newDB(t *testing.T, text string) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, Writable())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if text != "" {
		if _, err := db.Load(context.Background(), strings.NewReader(text)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestLookupAndDump(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, "k1\nv\\00x\\5c\\\\\nk2\n\nk\\ff\r\nhi there\n")
	for _, tc := range []struct {
		key, val string
		found    bool
	}{
		{"k1", "v\x00x\\\\", true},
		{"k2", "", true},
		{"k\xff\r", "hi there", true},
		{"k3", "", false},
		{"", "", false},
		{strings.Repeat("x", 512), "", false},
	} {
		v, found, err := db.Lookup(ctx, tc.key)
		if err != nil || found != tc.found || v != tc.val {
			t.Errorf("Lookup(%q) = %q %v %v, want %q %v", tc.key, v, found, err, tc.val, tc.found)
		}
		b, found, err := db.LookupBytes(ctx, []byte(tc.key), []byte("pre:"))
		if err != nil || found != tc.found || string(b) != "pre:"+tc.val {
			t.Errorf("LookupBytes(%q) = %q %v %v", tc.key, b, found, err)
		}
	}
	var out bytes.Buffer
	if err := db.Dump(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := "VERSION=3\nformat=print\ntype=btree\nmapsize=67108864\nmaxreaders=126\ndb_pagesize=4096\nHEADER=END\n" +
		" k1\n v\\00x\\5c\\5c\n k2\n \n k\\ff\\0d\n hi there\nDATA=END\n"
	if out.String() != want {
		t.Errorf("dump:\n%s\nwant:\n%s", out.String(), want)
	}
	// The dump loads back (header and leading spaces stripped).
	if err := db.Delete(ctx, []byte("k1")); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := db.Lookup(ctx, "k1"); found {
		t.Error("k1 still there after Delete")
	}
	if err := db.Put(ctx, []byte("k1"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := db.Lookup(ctx, "k1"); v != "new" {
		t.Errorf("after Put: %q", v)
	}
}

func TestReadOnlyAndErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	w := newDB(t, "a\nb\n")
	_, err := Open(w.Path(), WithDatabase("nope"))
	if err == nil || !strings.Contains(err.Error(), `database "nope"`) {
		t.Errorf("missing sub-database: %v", err)
	}
	r, err := Open(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Put(ctx, []byte("x"), []byte("y")); err != ErrReadOnly {
		t.Errorf("Put on read-only: %v", err)
	}
	if v, ok, err := r.Lookup(ctx, "a"); v != "b" || !ok || err != nil {
		t.Errorf("shared lookup: %q %v %v", v, ok, err)
	}
	r.Close()
	if _, _, err := r.Lookup(ctx, "a"); err != ErrClosed {
		t.Errorf("after Close: %v", err)
	}
	if _, err := w.Load(ctx, strings.NewReader("a\n")); !errors.Is(err, ErrSyntax) || err.Error() != "lmdb: bad mdb_load text: line 2: key without a value line" {
		t.Errorf("odd lines: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := w.Lookup(cctx, "a"); err != context.Canceled {
		t.Errorf("canceled: %v", err)
	}
}

func TestNamedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	w, err := Open(path, Writable(), WithDatabase("sub"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Put(ctx, []byte("k"), []byte("sub value")); err != nil {
		t.Fatal(err)
	}
	main, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	r, err := Open(path, WithDatabase("sub"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, ok, err := r.Lookup(ctx, "k"); v != "sub value" || !ok || err != nil {
		t.Errorf("sub: %q %v %v", v, ok, err)
	}
	if _, ok, err := main.Lookup(ctx, "k"); ok || err != nil {
		t.Errorf("main has k: %v %v", ok, err)
	}
}

func TestReplacedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	for _, val := range []string{"one", "two"} {
		tmp := filepath.Join(dir, "tmp"+val)
		w, err := Open(tmp, Writable())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, []byte("k"), []byte(val)); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Remove(path + "-lock")
	r, err := Open(path, CheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, _, _ := r.Lookup(ctx, "k"); v != "two" {
		t.Fatalf("got %q", v)
	}
	tmp := filepath.Join(dir, "tmp3")
	w, err := Open(tmp, Writable())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, []byte("k"), []byte("three")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := r.Lookup(ctx, "k"); v != "three" || !ok || err != nil {
		t.Errorf("after replace: %q %v %v", v, ok, err)
	}
}

// mdbLoad runs the real mdb_load -T on text.
func mdbLoad(t *testing.T, path, text string) {
	t.Helper()
	testpeer.Need(t, "mdb_load", "lmdb-utils")
	cmd := exec.Command("mdb_load", "-n", "-T", path)
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mdb_load: %v: %s", err, out)
	}
}

func mdbDump(t *testing.T, path string) string {
	t.Helper()
	testpeer.Need(t, "mdb_dump", "lmdb-utils")
	out, err := exec.Command("mdb_dump", "-n", "-p", path).Output()
	if err != nil {
		t.Fatalf("mdb_dump: %v", err)
	}
	return string(out)
}

const interopText = "alice@example.com\n:fail: gone\nbin\\00ary\n\\01\\02\\ff\\00tail\nsp ace\nv\\0d\n"

func TestInteropMdbLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	mdbLoad(t, path, interopText)
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, want := range map[string]string{"alice@example.com": ":fail: gone", "bin\x00ary": "\x01\x02\xff\x00tail", "sp ace": "v\r"} {
		if v, ok, err := db.Lookup(ctx, k); v != want || !ok || err != nil {
			t.Errorf("Lookup(%q) = %q %v %v, want %q", k, v, ok, err, want)
		}
	}
	var out bytes.Buffer
	if err := db.Dump(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if got := mdbDump(t, path); out.String() != got {
		t.Errorf("exigo dump:\n%s\nmdb_dump:\n%s", out.String(), got)
	}
}

func TestInteropWrittenByExigo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
	db, err := Open(ours, Writable(), WithMapSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Load(context.Background(), strings.NewReader(interopText)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	mdbLoad(t, theirs, interopText)
	a, b := mdbDump(t, ours), mdbDump(t, theirs)
	if a != b || !strings.Contains(a, " bin\\00ary\n \\01\\02\\ff\\00tail\n") {
		t.Errorf("mdb_dump of exigo's file:\n%s\nof mdb_load's:\n%s", a, b)
	}
}

func TestInteropPython(t *testing.T) {
	t.Parallel()
	testpeer.Need(t, "/usr/bin/python3", "python3-lmdb")
	path := filepath.Join(t.TempDir(), "db")
	script := `import lmdb, sys
env = lmdb.open(sys.argv[1], subdir=False, max_dbs=2)
with env.begin(write=True) as txn:
    txn.put(b"py\x00key", b"value\xff\x00x")
    txn.put(b"k2", b"v2")
sub = env.open_db(b"named")
with env.begin(write=True, db=sub) as txn:
    txn.put(b"k", b"in named")
env.close()
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, path).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "No module named 'lmdb'") {
			t.Skip("python3-lmdb is not installed")
		}
		t.Fatalf("python: %v: %s", err, out)
	}
	ctx := context.Background()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, ok, err := db.Lookup(ctx, "py\x00key"); v != "value\xff\x00x" || !ok || err != nil {
		t.Errorf("python key: %q %v %v", v, ok, err)
	}
	sub, err := Open(path, WithDatabase("named"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if v, ok, err := sub.Lookup(ctx, "k"); v != "in named" || !ok || err != nil {
		t.Errorf("named: %q %v %v", v, ok, err)
	}
}
