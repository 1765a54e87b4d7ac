package router_test

import (
	"context"
	"fmt"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/manualroute"
	"github.com/exigo-mta/exigo/router/redirect"
)

func Example() {
	local := acl.Must(acl.ParseDomainList("example.com", nil))
	aliases := lookup.Map{
		"postmaster": "alice, bob@example.net",
		"former":     ":fail: 550 5.1.6 Former employee, no forwarding address",
	}
	relay, err := manualroute.Smarthost("remote_smtp", "[192.0.2.25]:587")
	if err != nil {
		fmt.Println(err)
		return
	}
	chain, err := router.NewChain([]router.Entry{
		{Name: "aliases", Domains: local, Router: &redirect.Router{Data: redirect.ByLocalPart(aliases), AllowFail: true}},
		{Name: "users", Domains: local, LocalParts: acl.Must(acl.ParseLocalPartList("alice : carol", nil)), Router: router.AcceptTo("maildir")},
		{Name: "remote", Domains: acl.Must(acl.ParseDomainList("! example.com", nil)), Router: relay},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := &exigo.Message{Envelope: exigo.Envelope{Sender: "sender@example.org"}}
	for _, addr := range []string{"postmaster@example.com", "former@example.com", "dave@example.com"} {
		for _, r := range chain.Route(context.Background(), msg, &exigo.Recipient{Address: addr}) {
			fmt.Printf("%s: %s by %q", r.Recipient.Address, r.Outcome, r.Router)
			if r.Transport != "" {
				fmt.Printf(" to %s", r.Transport)
				for _, h := range r.Hosts {
					fmt.Printf(" [%s]:%d", h.Addr, h.Port)
				}
			}
			if r.Reply != nil {
				fmt.Printf(" (%v)", r.Reply)
			}
			if r.Recipient.Parent != nil {
				fmt.Printf(" from %s", r.Recipient.Parent.Address)
			}
			fmt.Println()
		}
	}
	// Output:
	// alice@example.com: accept by "users" to maildir from postmaster@example.com
	// bob@example.net: accept by "remote" to remote_smtp [192.0.2.25]:587 from postmaster@example.com
	// former@example.com: fail by "aliases" (550 5.1.6 Former employee, no forwarding address)
	// dave@example.com: fail by "" (550 5.1.1 Unrouteable address)
}
