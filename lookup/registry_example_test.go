package lookup_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/exigo-mta/exigo/lookup"
)

// ExampleRegistry_Do shows the ${lookup} forms in Go.
func ExampleRegistry_Do() {
	dir, err := os.MkdirTemp("", "lookup")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	routes := filepath.Join(dir, "routes")
	_ = os.WriteFile(routes, []byte("*.example.com: smarthost.example.net\nexample.org: mx.example.org\n"), 0o644)

	reg := lookup.NewRegistry()
	defer reg.Close()
	// One cache per SMTP transaction or delivery.
	ctx := lookup.WithCache(context.Background(), &lookup.Cache{})

	// ${lookup{www.example.com}partial-lsearch{routes}}
	res, err := reg.Do(ctx, lookup.Query{Spec: lookup.MustParseSpec("partial-lsearch"), Source: routes, Key: "www.example.com"})
	fmt.Printf("%q %q %q %v\n", res.Or(""), res.Key, res.Wild, err)

	// ${lookup{example.net}lsearch{routes}{$value}{none}}
	res, _ = reg.Do(ctx, lookup.Query{Spec: lookup.Spec{Type: "lsearch"}, Source: routes, Key: "example.net"})
	fmt.Println(res.Or("none"))

	// ${lookup{example.net}lsearch{routes}{$value}fail}
	_, err = res.OrFail()
	fmt.Println(errors.Is(err, lookup.ErrForcedFail))

	// ${lookup{EXAMPLE.org}lsearch,ret=key{routes}}
	res, _ = reg.Do(ctx, lookup.Query{Spec: lookup.MustParseSpec("lsearch,ret=key"), Source: routes, Key: "EXAMPLE.org"})
	fmt.Println(res.Value)
	// Output:
	// "smarthost.example.net" "*.example.com" "www" <nil>
	// none
	// true
	// EXAMPLE.org
}

// ExampleRegistry_RegisterQuery registers a query-style type: the query
// is the key.
func ExampleRegistry_RegisterQuery() {
	reg := lookup.NewRegistry()
	reg.RegisterQuery("static", lookup.Map{"GET greeting": "hello"})
	res, err := reg.Do(context.Background(), lookup.Query{Spec: lookup.Spec{Type: "static"}, Key: "GET greeting"})
	fmt.Println(res.Value, res.Found, err)
	_, err = reg.Do(context.Background(), lookup.Query{Spec: lookup.MustParseSpec("partial-static"), Key: "x"})
	fmt.Println(err)
	// Output:
	// hello true <nil>
	// lookup: bad lookup type: partial matching is not permitted for query-style type "static"
}
