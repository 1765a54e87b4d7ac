package acl_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
)

// Named lists and lookups in lists: the Go form of Exim's
//
//	domainlist local_domains    = @ : localhost
//	domainlist relay_to_domains = partial-lsearch;/etc/exim/relay
//	hostlist   relay_from_hosts = <; 127.0.0.1 ; ::1
//	domains = +local_domains : +relay_to_domains
func ExampleListConfig() {
	dir, err := os.MkdirTemp("", "lists")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	relay := filepath.Join(dir, "relay")
	_ = os.WriteFile(relay, []byte("*.partner.example: partner\nclient.example: client\n"), 0o644)

	reg := lookup.NewRegistry() // or lookups.New() for lmdb as well
	defer reg.Close()
	cfg := &acl.ListConfig{PrimaryHostname: "mx.example.com", Lookups: reg}
	cfg.DomainLists = map[string]*acl.DomainList{
		"local_domains":    acl.Must(acl.ParseDomainList("@ : localhost", cfg)),
		"relay_to_domains": acl.Must(acl.ParseDomainList("partial-lsearch;"+relay, cfg)),
	}
	cfg.HostLists = map[string]*acl.HostList{
		"relay_from_hosts": acl.Must(acl.ParseHostList("<; 127.0.0.1 ; ::1", cfg)),
	}
	domains := acl.Must(acl.ParseDomainList("+local_domains : +relay_to_domains", cfg))
	hosts := acl.Must(acl.ParseHostList("!+relay_from_hosts : 0.0.0.0/0", cfg))

	// One lookup cache per SMTP transaction.
	ctx := lookup.WithCache(context.Background(), &lookup.Cache{})
	for _, d := range []string{"MX.example.com", "www.partner.example", "partner.example", "client.example", "other.example"} {
		ok, data, err := domains.Match(ctx, d)
		fmt.Println(d, ok, data, err)
	}
	ok, _, _ := hosts.Match(ctx, &acl.Host{Addr: netip.MustParseAddr("127.0.0.1")})
	fmt.Println("127.0.0.1 outside:", ok)
	// Output:
	// MX.example.com true mx.example.com <nil>
	// www.partner.example true partner <nil>
	// partner.example true partner <nil>
	// client.example true client <nil>
	// other.example false  <nil>
	// 127.0.0.1 outside: false
}
