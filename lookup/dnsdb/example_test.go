package dnsdb_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exigo-mta/exigo/lookup/dnsdb"
	"github.com/exigo-mta/exigo/mailtest"
)

func Example() {
	srv, err := mailtest.NewDNSServer(mailtest.DNSZone{
		"example.com":            {MX: []mailtest.MX{{Pref: 10, Host: "mx1.example.com"}, {Pref: 20, Host: "mx2.example.com"}}},
		"mx1.example.com":        {A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}, Authenticated: true},
		"mx2.example.com":        {A: []string{"192.0.2.2"}, Authenticated: true},
		"2.2.0.192.in-addr.arpa": {PTR: []string{"mx2.example.com"}},
		"broken.example":         {Fail: mailtest.DNSServFail},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	db, err := dnsdb.New(dnsdb.WithServers(srv.Addr()), dnsdb.WithTimeout(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, q := range []string{
		"mx=example.com",
		">: mxh=example.com",
		">; a+=mx1.example.com:mx2.example.com",
		"ptr=192.0.2.2",
		"a=nowhere.example",
		"a=broken.example:mx2.example.com", // defer_lax: one name gave data
	} {
		v, found, err := db.Lookup(ctx, q)
		fmt.Printf("%s => %q %v %v\n", q, v, found, err)
	}

	// defer_strict: any temporary failure defers the lookup.
	_, _, err = db.Lookup(ctx, "defer_strict,a=broken.example:mx2.example.com")
	fmt.Println(errors.Is(err, dnsdb.ErrDefer))

	// dnssec_strict: data must carry the AD bit.
	r, err := db.Query(ctx, "dnssec_strict,a=mx2.example.com")
	fmt.Println(r.Value, r.Authenticated, err)
	_, err = db.Query(ctx, "dnssec_strict,mx=example.com")
	fmt.Println(errors.Is(err, dnsdb.ErrInsecure))
	// Output:
	// mx=example.com => "10 mx1.example.com\n20 mx2.example.com" true <nil>
	// >: mxh=example.com => "mx1.example.com:mx2.example.com" true <nil>
	// >; a+=mx1.example.com:mx2.example.com => "2001:db8::1;192.0.2.1;192.0.2.2" true <nil>
	// ptr=192.0.2.2 => "mx2.example.com" true <nil>
	// a=nowhere.example => "" false <nil>
	// a=broken.example:mx2.example.com => "192.0.2.2" true <nil>
	// true
	// 192.0.2.2 true <nil>
	// true
}
