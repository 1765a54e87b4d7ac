package lookup_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/exigo-mta/exigo/lookup"
)

func Example() {
	dir, err := os.MkdirTemp("", "lookup")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	aliases := filepath.Join(dir, "aliases")
	relay := filepath.Join(dir, "relay")
	_ = os.WriteFile(aliases, []byte("# aliases\npostmaster:   root,\n              hostmaster\n\"a key: with colon\"  data\n"), 0o644)
	_ = os.WriteFile(relay, []byte("192.0.2.0/24: office\n\"2001:db8::/32\": vpn\n"), 0o644)

	ctx := context.Background()
	al := lookup.LSearch(aliases)
	v, ok, err := al.Lookup(ctx, "POSTMASTER")
	fmt.Printf("%q %v %v\n", v, ok, err)
	v, ok, err = al.Lookup(ctx, "a key: with colon")
	fmt.Printf("%q %v %v\n", v, ok, err)

	ip := lookup.IPLSearch(relay)
	v, ok, err = ip.Lookup(ctx, "2001:db8::25")
	fmt.Printf("%q %v %v\n", v, ok, err)
	v, ok, err = ip.Lookup(ctx, "198.51.100.1")
	fmt.Printf("%q %v %v\n", v, ok, err)

	// Exim's "type;argument" notation, with options.
	l, _ := lookup.Open("dsearch,ret=full", dir)
	v, ok, err = l.Lookup(ctx, "relay")
	fmt.Println(v == relay, ok, err)
	// Output:
	// "root, hostmaster" true <nil>
	// "data" true <nil>
	// "vpn" true <nil>
	// "" false <nil>
	// true true <nil>
}
