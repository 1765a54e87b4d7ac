package dnslookup_test

import (
	"context"
	"fmt"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/dnslookup"
)

func ExampleRouter() {
	// A fake DNS server stands in for the recursive resolver.
	dns, err := mailtest.NewDNSServer(mailtest.DNSZone{
		"example.com": {MX: []mailtest.MX{
			{Pref: 20, Host: "backup.example.com"},
			{Pref: 10, Host: "mx.example.com"},
			{Pref: 30, Host: "bogus.example.com"},
		}, Authenticated: true},
		"mx.example.com":     {A: []string{"192.0.2.10"}, AAAA: []string{"2001:db8::10"}, Authenticated: true},
		"backup.example.com": {A: []string{"198.51.100.20"}},
		"bogus.example.com":  {A: []string{"127.0.0.1"}},
		"nomail.example":     {MX: []mailtest.MX{{Pref: 0, Host: "."}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dns.Close()

	r := &dnslookup.Router{
		Transport:         "remote_smtp",
		Resolver:          &dnslookup.Resolver{Servers: []string{dns.Addr()}, Timeout: time.Second},
		IgnoreTargetHosts: acl.Must(acl.ParseHostList(dnslookup.DefaultIgnoreTargetHosts, nil)),
	}
	chain, err := router.NewChain([]router.Entry{{Name: "dnslookup", Router: r, NoMore: true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, addr := range []string{"user@example.com", "user@nomail.example", "user@nonexistent.example"} {
		res := chain.Route(context.Background(), &exigo.Message{}, &exigo.Recipient{Address: addr})[0]
		fmt.Println(addr, res.Outcome, res.Reply)
		for _, h := range res.Hosts {
			fmt.Printf("  %s [%s] pref %d dnssec %v\n", h.Name, h.Addr, h.Pref, h.DNSSEC)
		}
	}
	// Output:
	// user@example.com accept <nil>
	//   mx.example.com [2001:db8::10] pref 10 dnssec true
	//   mx.example.com [192.0.2.10] pref 10 dnssec true
	//   backup.example.com [198.51.100.20] pref 20 dnssec false
	// user@nomail.example fail 556 5.1.10 Recipient address has null MX
	// user@nonexistent.example fail 550 5.1.1 Unrouteable address
}
