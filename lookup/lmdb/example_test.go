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

// A DB with a cache of hot keys still sees every commit: here one by
// another DB of the same file in this process.
func ExampleWithCache() {
	dir, _ := os.MkdirTemp("", "lmdb-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "senders.mdb")
	ctx := context.Background()

	w, err := lmdb.Open(path, lmdb.Writable())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	_ = w.Put(ctx, []byte("alice@example.com"), []byte("ok"))

	db, err := lmdb.Open(path, lmdb.WithCache(10000))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	buf := make([]byte, 0, 64)
	for range 2 { // the second lookup is a cache hit
		buf, _, _ = db.LookupBytes(ctx, []byte("alice@example.com"), buf[:0])
		fmt.Printf("%s\n", buf)
	}
	_ = w.Put(ctx, []byte("alice@example.com"), []byte("blocked"))
	buf, _, _ = db.LookupBytes(ctx, []byte("alice@example.com"), buf[:0])
	fmt.Printf("%s\n", buf)
	// Output:
	// ok
	// ok
	// blocked
}
