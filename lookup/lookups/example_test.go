package lookups_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/lookup/lmdb"
	"github.com/exigo-mta/exigo/lookup/lookups"
)

func Example() {
	dir, err := os.MkdirTemp("", "lookups")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "relay.mdb")
	ctx := context.Background()
	w, err := lmdb.Open(path, lmdb.Writable())
	if err != nil {
		log.Fatal(err)
	}
	_ = w.Put(ctx, []byte("*.example.com"), []byte("relay"))
	_ = w.Close()

	reg := lookups.New()
	defer reg.Close()
	// ${lookup{mail.example.com}partial-lmdb{relay.mdb}{$value}{no}}
	res, err := reg.Do(ctx, lookup.Query{Spec: lookup.MustParseSpec("partial-lmdb"), Source: path, Key: "mail.example.com"})
	fmt.Println(res.Or("no"), err)
	// Output:
	// relay <nil>
}
