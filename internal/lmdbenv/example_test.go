package lmdbenv_test

import (
	"fmt"
	"os"
	"path/filepath"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"

	"github.com/exigo-mta/exigo/internal/lmdbenv"
)

func Example() {
	dir, _ := os.MkdirTemp("", "lmdbenv")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "db")

	w, _ := lmdbenv.Open(path, lmdbenv.Options{Writable: true, CheckInterval: lmdbenv.Never})
	defer w.Close()
	st := w.State()
	dbi, _ := st.DBI("", true)
	_ = st.Update(func(txn *mdb.Txn) error { return txn.Put(dbi, []byte("k"), []byte("v"), 0) }, 1<<30)

	r, _ := lmdbenv.Open(path, lmdbenv.Options{}) // the same environment
	defer r.Close()
	var v []byte
	_ = r.State().Read(func(txn *mdb.Txn) error {
		b, err := txn.Get(dbi, []byte("k"))
		v = append(v, b...)
		return err
	})
	fmt.Println(r == w, string(v), r.State().LastTxnID())
	// Output: true v 1
}
