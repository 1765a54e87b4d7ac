package lmdb_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/exigo-mta/exigo/hints/lmdb"
)

func Example() {
	dir, err := os.MkdirTemp("", "hints")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	db, err := lmdb.Open(filepath.Join(dir, "hints.mdb"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// A retry hint for a host, kept for a day.
	if err := db.Put(ctx, "T:mx.example.com:192.0.2.25", []byte("451 try later"), time.Now().Add(24*time.Hour)); err != nil {
		log.Fatal(err)
	}
	v, ok, err := db.Get(ctx, "T:mx.example.com:192.0.2.25")
	fmt.Printf("%s %v %v\n", v, ok, err)
	// Output: 451 try later true <nil>
}
