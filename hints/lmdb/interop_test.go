package lmdb_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints/lmdb"
	"github.com/exigo-mta/exigo/internal/testpeer"
)

// needPythonLMDB returns the python3 that can import lmdb (Debian's
// python3-lmdb, built on the system's liblmdb).
func needPythonLMDB(t *testing.T) string {
	t.Helper()
	py := testpeer.Need(t, "python3", "python3", "/usr/bin")
	if err := exec.Command(py, "-c", "import lmdb").Run(); err != nil {
		testpeer.Missing(t, "python3 cannot import lmdb: apt-get install python3-lmdb")
	}
	return py
}

// TestOtherProcess shares a file with another process using another LMDB
// binding: it grows the map beyond ours (we must adopt the new size) and
// reads our records in their documented encoding.
func TestOtherProcess(t *testing.T) {
	py := needPythonLMDB(t)
	t.Parallel()
	p := filepath.Join(t.TempDir(), "hints.mdb")
	db := open(t, p, lmdb.WithMapSize(64<<10))
	defer db.Close()
	if err := db.Put(ctx, "mine", []byte("1"), time.Unix(0, 0x0102030405060708)); err != nil {
		t.Fatal(err)
	}
	script := `
import lmdb, sys
env = lmdb.open(sys.argv[1], subdir=False, map_size=8<<20)
with env.begin(write=True) as txn:
    txn.put(b'theirs', b'\x01' + bytes(8) + b'x' * (2<<20))
with env.begin() as txn:
    print(txn.get(b'mine').hex())
print(env.info()['map_size'])
`
	out, err := exec.Command(py, "-c", script, p).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	if got, want := string(out), "01010203040506070831\n8388608\n"; got != want {
		t.Errorf("python3 saw %q, want %q", got, want)
	}
	v, ok, err := db.Get(ctx, "theirs")
	if err != nil || !ok || !bytes.Equal(v, bytes.Repeat([]byte("x"), 2<<20)) {
		t.Fatalf("Get(theirs): %d bytes, %v, %v", len(v), ok, err)
	}
	if err := db.Put(ctx, "after", []byte(strings.Repeat("y", 100)), time.Time{}); err != nil {
		t.Fatalf("Put after the other process grew the map: %v", err)
	}
	if v, ok, err := db.Get(ctx, "after"); err != nil || !ok || len(v) != 100 {
		t.Errorf("Get(after): %q %v %v", v, ok, err)
	}
}
