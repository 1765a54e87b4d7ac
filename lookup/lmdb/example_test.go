package lmdb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/exigo-mta/exigo/lookup/lmdb"
)

func Example() {
	dir, _ := os.MkdirTemp("", "lmdb-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "aliases.mdb")
	ctx := context.Background()

	w, err := lmdb.Open(path, lmdb.Writable())
	if err != nil {
		fmt.Println(err)
		return
	}
	// mdb_load -T text: key line, value line.
	if _, err := w.Load(ctx, strings.NewReader("postmaster\nroot\nbin\\00ary\nx\\00y\n")); err != nil {
		fmt.Println(err)
	}
	w.Close()

	db, err := lmdb.Open(path) // read-only, as Exim opens it
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	v, found, err := db.Lookup(ctx, "postmaster")
	fmt.Printf("%q %v %v\n", v, found, err)
	v, found, _ = db.Lookup(ctx, "bin\x00ary")
	fmt.Printf("%q %v\n", v, found)
	_, found, _ = db.Lookup(ctx, "nobody")
	fmt.Println(found)
	buf, _, _ := db.LookupBytes(ctx, []byte("postmaster"), make([]byte, 0, 64))
	fmt.Printf("%s\n", buf)
	// Output:
	// "root" true <nil>
	// "x\x00y" true
	// false
	// root
}
