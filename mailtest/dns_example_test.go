package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/router/dnslookup"
)

func ExampleDNSServer() {
	srv, err := mailtest.NewDNSServer(mailtest.DNSZone{
		"example.com":     {MX: []mailtest.MX{{Pref: 10, Host: "mx.example.com"}}, Authenticated: true},
		"mx.example.com":  {A: []string{"192.0.2.25"}, Authenticated: true},
		"broken.example":  {Fail: mailtest.DNSServFail},
		"timeout.example": {Fail: mailtest.DNSTimeout, FailTypes: []string{"MX"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	res := &dnslookup.Resolver{Servers: []string{srv.Addr()}, Timeout: 2 * time.Second}
	impatient := &dnslookup.Resolver{Servers: []string{srv.Addr()}, Timeout: 100 * time.Millisecond, Attempts: 1}
	ctx := context.Background()
	mxs, ad, _ := res.LookupMX(ctx, "example.com")
	fmt.Println(mxs[0].Preference, mxs[0].Mx, "authenticated:", ad)
	addrs, _, _ := res.LookupIP(ctx, "mx.example.com", dnslookup.IPv4Only)
	fmt.Println(addrs)
	_, _, err = res.LookupMX(ctx, "broken.example")
	fmt.Println(errors.Is(err, dnslookup.ErrTemporary))
	_, _, err = impatient.LookupMX(ctx, "timeout.example")
	fmt.Println(errors.Is(err, dnslookup.ErrTemporary))
	_, _, err = res.LookupMX(ctx, "nonexistent.example")
	fmt.Println(err)
	// Output:
	// 10 mx.example.com. authenticated: true
	// [192.0.2.25]
	// true
	// true
	// dns MX lookup of nonexistent.example: no such domain
}
