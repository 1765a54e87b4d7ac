package acl

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo/lookup"
)

// FuzzLookupLists parses lists with lookup items (decorated single-key
// lookups, query-style lookups with variables, named lists) as each kind
// of list and matches subjects: nothing may panic, and for a one-item
// domain or local part list L (not a control item), "!L : *" must give
// the opposite answer.
func FuzzLookupLists(f *testing.F) {
	for _, s := range []string{
		"partial-wild;x", "partial0(.)wild*;x : !map;y", "partial3-map*@,ret=key;z", "wild*@;x",
		"dnsdb;mx=$domain", "dnsdb;a=${sender_host_name} : net24-map;", "dnsdb;user=$local_part@$domain",
		"+relay_to_domains : !+local_domains", "*@+local_domains : +vips", "!+relay_hosts : +roles",
		"partial(lsearch;x", "dnsdb;\\$x$", "partial-dnsdb;x", "map,cache=no_rd;/one",
		"<; net-dnsdb;;x ; +x", "*@partial-wild;x", "+caseful : +roles",
	} {
		f.Add(s, "www.Example.com")
	}
	cfg := registryConfig()
	cfg.DomainLists = map[string]*DomainList{
		"local_domains":    Must(ParseDomainList("@ : localhost : map;x", cfg)),
		"relay_to_domains": Must(ParseDomainList("partial-wild;x : !bad.example", cfg)),
	}
	cfg.HostLists = map[string]*HostList{"relay_hosts": Must(ParseHostList("127.0.0.1 : net-map;x", cfg))}
	cfg.AddressLists = map[string]*AddressList{"vips": Must(ParseAddressList("boss@example.com : wild*@;x", cfg))}
	cfg.LocalPartLists = map[string]*LocalPartList{"roles": Must(ParseLocalPartList("postmaster : dnsdb;lp=$local_part", cfg))}
	f.Fuzz(func(t *testing.T, s, subject string) {
		ctx := lookup.WithCache(context.Background(), &lookup.Cache{})
		if l, err := ParseDomainList(s, cfg); err == nil {
			ok, _, err := l.Match(ctx, subject)
			checkNegation(t, s, err, ok, func(list string) (bool, error) {
				nl, err := ParseDomainList(list, cfg)
				if err != nil {
					return false, err
				}
				ok, _, err := nl.Match(ctx, subject)
				return ok, err
			})
		}
		if l, err := ParseLocalPartList(s, cfg); err == nil {
			ok, _, err := l.Match(ctx, subject)
			checkNegation(t, s, err, ok, func(list string) (bool, error) {
				nl, err := ParseLocalPartList(list, cfg)
				if err != nil {
					return false, err
				}
				ok, _, err := nl.Match(ctx, subject)
				return ok, err
			})
		}
		if l, err := ParseAddressList(s, cfg); err == nil {
			l.Match(ctx, subject)
			l.Match(ctx, "joe@"+subject)
			l.Match(ctx, "")
		}
		if l, err := ParseHostList(s, cfg); err == nil {
			for _, a := range []string{"192.0.2.1", "127.0.0.1", "2001:db8::1"} {
				l.Match(ctx, &Host{Addr: netip.MustParseAddr(a)})
			}
			if a, err := netip.ParseAddr(subject); err == nil {
				l.Match(ctx, &Host{Addr: a})
			}
		}
	})
}

// checkNegation checks that "!L : *" answers the opposite of L for a
// one-item list L.
func checkNegation(t *testing.T, s string, err error, ok bool, match func(string) (bool, error)) {
	t.Helper()
	items := SplitList(s)
	if err != nil || len(items) != 1 || strings.HasPrefix(items[0], "!") || strings.HasPrefix(items[0], "+") && !strings.ContainsAny(items[0], ";@") {
		return
	}
	neg := joinList([]string{"!" + items[0], "*"})
	nok, nerr := match(neg)
	if nerr != nil {
		return // "!" may make another item ("!<" ...)
	}
	if nok == ok {
		t.Fatalf("%q and %q both %v", s, neg, ok)
	}
}
