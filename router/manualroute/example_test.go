package manualroute_test

import (
	"context"
	"fmt"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/manualroute"
)

func ExampleParseRouteList() {
	rules, err := manualroute.ParseRouteList(`
		*.internal.example  "</ [192.0.2.1]:2525 / [2001:db8::1]:2525"  lmtp ;
		*                   "[198.51.100.1]::587 : [198.51.100.2]::587"  randomize`, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := &manualroute.Router{Rules: rules, Transport: "remote_smtp", Rand: func(int) int { return 0 }}
	for _, addr := range []string{"u@db.internal.example", "u@example.org"} {
		local, domain := exigo.SplitAddress(addr)
		res, err := r.Route(context.Background(), &router.Address{
			Recipient: &exigo.Recipient{Address: addr}, LocalPart: local, Domain: domain})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Print(addr, " -> ", res.Transport)
		for _, h := range res.Hosts {
			fmt.Printf(" [%s]:%d", h.Addr, h.Port)
		}
		fmt.Println()
	}
	// Output:
	// u@db.internal.example -> lmtp [192.0.2.1]:2525 [2001:db8::1]:2525
	// u@example.org -> remote_smtp [198.51.100.2]:587 [198.51.100.1]:587
}
