// Package lookups assembles a [lookup.Registry] with every lookup type
// exigo implements, including those whose packages depend on package
// lookup (and so cannot be registered by it without an import cycle):
// the Go analogue of the lookup types compiled into an Exim binary
// (Exim specification, chapter 9 "File and database lookups").
//
// [New] registers:
//
//   - lsearch, wildlsearch, nwildlsearch, iplsearch, dsearch (package
//     lookup; see [lookup.Open] for their options);
//   - lmdb (package lookup/lmdb): "lmdb;/path/to/file.mdb", opened
//     read-only as Exim does, once per Registry.
//
// Query-style types need configuration (a resolver, servers) before they
// can take queries, so New does not register them: a program builds them
// and adds them with [lookup.Registry.RegisterQuery], for example
//
//	reg := lookups.New()
//	db, _ := dnsdb.New()                     // package lookup/dnsdb; resolv.conf's servers
//	reg.RegisterQuery("dnsdb", db)          // "mx=example.com"
//	rl, _ := redis.New([]string{"127.0.0.1:6379/0"}) // package lookup/redis
//	reg.RegisterQuery("redis", rl)          // "GET foo"
//
// after which "${lookup dnsdb{mx=example.com}}" is
// reg.Do(ctx, lookup.Query{Spec: lookup.Spec{Type: "dnsdb"}, Key: "mx=example.com"})
// and the host list item "dnsdb;a=$sender_host_name" works in package acl.
package lookups

import (
	"fmt"

	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/lookup/lmdb"
)

// New returns a Registry with the single-key types listed in the package
// documentation. opts apply to the lsearch family (file size and line
// limits, check interval).
func New(opts ...lookup.Option) *lookup.Registry {
	r := lookup.NewRegistry(opts...)
	r.Register("lmdb", lookup.SingleKey, openLMDB)
	return r
}

// openLMDB opens an lmdb source; lmdb takes no options.
func openLMDB(source string, options []string) (lookup.Lookup, error) {
	if len(options) > 0 {
		return nil, fmt.Errorf("lmdb: %w: options %q", lookup.ErrUnsupported, options)
	}
	db, err := lmdb.Open(source)
	if err != nil {
		return nil, err // not a nil *lmdb.DB in a non-nil Lookup
	}
	return db, nil
}
