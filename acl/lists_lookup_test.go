package acl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/exigo-mta/exigo/lookup"
)

// queryLog is a fake query-style lookup: it answers the queries in
// answers and records every query.
type queryLog struct {
	mu      sync.Mutex
	answers map[string]string
	queries []string
}

func (q *queryLog) Lookup(_ context.Context, query string) (string, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queries = append(q.queries, query)
	if query == "fail" {
		return "", false, errors.New("server down")
	}
	v, ok := q.answers[query]
	return v, ok, nil
}

func (q *queryLog) log() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.queries)
}

// registryConfig is a ListConfig with a lookup.Registry serving "map"
// (the single-key test map, counted), "wild" (a map of partial keys) and
// "dnsdb" (a queryLog).
func registryConfig() *ListConfig {
	cfg, _, _ := registryConfigWith()
	return cfg
}

func registryConfigWith() (*ListConfig, *queryLog, *[]string) {
	reg := &lookup.Registry{}
	var mu sync.Mutex
	var keys []string
	reg.Register("map", lookup.SingleKey, func(source string, options []string) (lookup.Lookup, error) {
		if len(options) > 0 {
			return nil, fmt.Errorf("map: unknown options %q", options)
		}
		m := testLookups["map"]
		return lookup.Func(func(ctx context.Context, key string) (string, bool, error) {
			mu.Lock()
			keys = append(keys, source+":"+key)
			mu.Unlock()
			return m.Lookup(ctx, key)
		}), nil
	})
	reg.Register("wild", lookup.SingleKey, func(string, []string) (lookup.Lookup, error) {
		return lookup.Map{
			"*.example.com":   "wild-com",
			"*.a.example.org": "wild-a-org",
			".dot.example":    "dot",
			"*@lp.example":    "at-lp",
			"*":               "star",
		}, nil
	})
	q := &queryLog{answers: map[string]string{
		"a=client.example.net":       "192.0.2.1",
		"ptr=192.0.2.1":              "client.example.net",
		"mx=relay.example":           "mx.relay.example",
		"user=nimrod@jaeger.example": "hunter",
		"lp=postmaster":              "role",
	}}
	reg.RegisterQuery("dnsdb", q)
	cfg := &ListConfig{PrimaryHostname: "mx.test.example", Resolver: newFakeResolver(), Lookups: reg}
	return cfg, q, &keys
}

func TestListPartialAndDefaults(t *testing.T) {
	t.Parallel()
	cfg := registryConfig()
	ctx := context.Background()
	tests := []struct {
		list, subject string
		ok            bool
		data          string
	}{
		{"partial-wild;x", "www.example.com", true, "wild-com"},
		{"partial-wild;x", "example.com", true, "wild-com"},
		{"partial-wild;x", "x.y.a.example.org", true, "wild-a-org"},
		{"partial3-wild;x", "x.y.a.example.org", true, "wild-a-org"},
		{"partial4-wild;x", "x.y.a.example.org", false, ""},
		{"partial(.)wild;x", "www.dot.example", true, "dot"},
		{"partial-wild;x", "www.dot.example", false, ""},
		{"wild;x", "www.example.com", false, ""},
		{"wild*;x", "www.example.net", true, "star"},
		{"partial-wild,ret=key;x", "WWW.Example.COM", true, "www.example.com"},
		{"!partial-wild;x : *", "a.example.com", false, ""},
		{"!partial-wild;x : *", "a.example.net", true, "*"},
		{"map*;x", "nothing.example", true, "star"},
		{"map,ret=key;x", "relay.example", true, "relay.example"},
		{"dnsdb;mx=$domain", "Relay.Example", true, "mx.relay.example"},
		{"dnsdb;mx=${domain}", "other.example", false, ""},
	}
	for _, tc := range tests {
		l, err := ParseDomainList(tc.list, cfg)
		if err != nil {
			t.Errorf("%q: %v", tc.list, err)
			continue
		}
		ok, data, err := l.Match(ctx, tc.subject)
		if err != nil || ok != tc.ok || data != tc.data {
			t.Errorf("%q ~ %q: %v %q %v; want %v %q", tc.list, tc.subject, ok, data, err, tc.ok, tc.data)
		}
	}

	// Address lists: partial matching applies to the domain part's
	// lookups, "*@" to whole-address lookups.
	addr := []struct {
		list, subject string
		ok            bool
		data          string
	}{
		{"*@partial-wild;x", "joe@www.example.com", true, "wild-com"},
		{"wild*@;x", "joe@lp.example", true, "at-lp"},
		{"wild*@;x", "joe@else.example", true, "star"},
		{"dnsdb;user=$local_part@$domain", "nimrod@JAEGER.example", true, "hunter"},
		{"dnsdb;user=$local_part@$domain", "Nimrod@jaeger.example", false, ""},
		{"postmaster@dnsdb;mx=$domain", "postmaster@relay.example", true, "mx.relay.example"},
	}
	for _, tc := range addr {
		ok, data, err := Must(ParseAddressList(tc.list, cfg)).Match(ctx, tc.subject)
		if err != nil || ok != tc.ok || data != tc.data {
			t.Errorf("%q ~ %q: %v %q %v; want %v %q", tc.list, tc.subject, ok, data, err, tc.ok, tc.data)
		}
	}
	ok, data, err := Must(ParseLocalPartList("dnsdb;lp=$local_part", cfg)).Match(ctx, "postmaster")
	if !ok || data != "role" || err != nil {
		t.Errorf("local part query: %v %q %v", ok, data, err)
	}
}

func TestListQueryStyleHosts(t *testing.T) {
	t.Parallel()
	cfg, q, _ := registryConfigWith()
	ctx := context.Background()
	l := Must(ParseHostList("dnsdb;ptr=$sender_host_address : dnsdb;a=${sender_host_name}", cfg))
	h := &Host{Addr: netip.MustParseAddr("192.0.2.1")}
	ok, data, err := l.Match(ctx, h)
	if !ok || data != "client.example.net" || err != nil {
		t.Errorf("ptr: %v %q %v", ok, data, err)
	}
	if h.Name != "" {
		t.Errorf("host name looked up for an address query: %q", h.Name)
	}
	l = Must(ParseHostList("dnsdb;a=$sender_host_name", cfg))
	ok, data, err = l.Match(ctx, h)
	if !ok || data != "192.0.2.1" || err != nil || h.Name != "client.example.net" {
		t.Errorf("a: %v %q %v name %q", ok, data, err, h.Name)
	}
	// No host name: the item is unknown, so the list does not match.
	ok, _, err = l.Match(ctx, &Host{Addr: netip.MustParseAddr("198.51.100.7")})
	if ok || err != nil {
		t.Errorf("no name: %v %v", ok, err)
	}
	want := []string{"ptr=192.0.2.1", "a=client.example.net"}
	if got := q.log(); !slices.Equal(got, want) {
		t.Errorf("queries %q, want %q", got, want)
	}
	// A failing query defers, unless +ignore_defer.
	_, _, err = Must(ParseHostList("dnsdb;fail", cfg)).Match(ctx, h)
	if err == nil || err.Error() != `acl: host list lookup of "fail": server down` {
		t.Errorf("failing query: %v", err)
	}
	ok, _, err = Must(ParseHostList("+ignore_defer : dnsdb;fail : 192.0.2.1", cfg)).Match(ctx, h)
	if !ok || err != nil {
		t.Errorf("ignore_defer: %v %v", ok, err)
	}
}

func TestNamedLists(t *testing.T) {
	t.Parallel()
	cfg := registryConfig()
	ctx := context.Background()
	cfg.DomainLists = map[string]*DomainList{}
	cfg.DomainLists["local_domains"] = Must(ParseDomainList("@ : localhost : map;x", cfg))
	cfg.DomainLists["relay_to_domains"] = Must(ParseDomainList("*.partner.example : !bad.example : +local_domains", cfg))
	cfg.HostLists = map[string]*HostList{"relay_from_hosts": Must(ParseHostList("<; 127.0.0.1 ; ::1 ; 192.168.0.0/16", cfg))}
	cfg.AddressLists = map[string]*AddressList{"vips": Must(ParseAddressList("boss@example.com : *@+local_domains", cfg))}
	cfg.LocalPartLists = map[string]*LocalPartList{"roles": Must(ParseLocalPartList("postmaster : abuse : +caseful : Admin", cfg))}

	domains := []struct {
		list, subject string
		ok            bool
		data          string
	}{
		{"+relay_to_domains", "www.partner.example", true, "*.partner.example"},
		{"+relay_to_domains", "MX.test.example", true, "mx.test.example"},
		{"+relay_to_domains", "relay.example", true, "relay-domain"},
		{"+relay_to_domains", "bad.example", false, ""},
		{"+relay_to_domains", "other.example", false, ""},
		{"!+relay_to_domains : *", "localhost", false, ""},
		{"!+relay_to_domains : *", "other.example", true, "*"},
		{"!+relay_to_domains", "other.example", true, ""},
		{"!+local_domains : +relay_to_domains", "www.partner.example", true, "*.partner.example"},
		{"!+local_domains : +relay_to_domains", "localhost", false, ""},
	}
	for _, tc := range domains {
		ok, data, err := Must(ParseDomainList(tc.list, cfg)).Match(ctx, tc.subject)
		if err != nil || ok != tc.ok || data != tc.data {
			t.Errorf("%q ~ %q: %v %q %v; want %v %q", tc.list, tc.subject, ok, data, err, tc.ok, tc.data)
		}
	}
	hosts := Must(ParseHostList("!192.168.0.66 : +relay_from_hosts", cfg))
	for a, want := range map[string]bool{"127.0.0.1": true, "::1": true, "192.168.3.4": true, "192.168.0.66": false, "10.0.0.1": false} {
		if ok, _, err := hosts.Match(ctx, &Host{Addr: netip.MustParseAddr(a)}); ok != want || err != nil {
			t.Errorf("hosts ~ %s: %v %v", a, ok, err)
		}
	}
	addrs := Must(ParseAddressList("+vips : *@+relay_to_domains", cfg))
	for a, want := range map[string]bool{"boss@example.com": true, "x@localhost": true, "x@www.partner.example": true, "x@bad.example": true /* a local domain (map), so a vip */, "x@nobad.example": false, "x@example.com": false} {
		if ok, _, err := addrs.Match(ctx, a); ok != want || err != nil {
			t.Errorf("addresses ~ %s: %v %v", a, ok, err)
		}
	}
	lps := Must(ParseLocalPartList("!+roles : *", cfg))
	for a, want := range map[string]bool{"PostMaster": false, "Admin": false, "admin": true, "joe": true} {
		if ok, _, err := lps.Match(ctx, a); ok != want || err != nil {
			t.Errorf("local parts ~ %s: %v %v", a, ok, err)
		}
	}
	// A reference is resolved when the list is built.
	l := Must(ParseDomainList("+local_domains", cfg))
	cfg.DomainLists["local_domains"] = Must(ParseDomainList("changed.example", cfg))
	if ok, _, _ := l.Match(ctx, "localhost"); !ok {
		t.Errorf("named list reference not resolved at build time")
	}
}

func TestListLookupCache(t *testing.T) {
	t.Parallel()
	cfg, q, keys := registryConfigWith()
	l := Must(ParseDomainList("map;/one : dnsdb;mx=$domain : map,cache=no_rd;/one", cfg))
	var c lookup.Cache
	ctx := lookup.WithCache(context.Background(), &c)
	for range 3 {
		if ok, data, err := l.Match(ctx, "relay.example"); !ok || data != "relay-domain" || err != nil {
			t.Fatalf("match: %v %q %v", ok, data, err)
		}
		if ok, _, err := l.Match(ctx, "x.example"); ok || err != nil {
			t.Fatalf("x.example: %v %v", ok, err)
		}
	}
	// Each distinct lookup is done once per transaction, except the
	// cache=no_rd item, which always reads.
	want := []string{"/one:relay.example", "/one:x.example", "/one:x.example", "/one:x.example", "/one:x.example"}
	if !slices.Equal(*keys, want) {
		t.Errorf("map lookups %q, want %q", *keys, want)
	}
	if got := q.log(); !slices.Equal(got, []string{"mx=x.example"}) {
		t.Errorf("queries %q", got)
	}
	if c.Len() != 3 {
		t.Errorf("cache holds %d results", c.Len())
	}
	// A new transaction looks up again.
	c.Reset()
	Must(ParseDomainList("map;/one", cfg)).Match(ctx, "relay.example")
	if n := strings.Count(strings.Join(*keys, " "), "/one:relay.example"); n != 2 {
		t.Errorf("after Reset: %d lookups of relay.example", n)
	}
}

func TestListDecorationsWithOpenLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var kinds []string
	cfg := &ListConfig{OpenLookup: func(kind, arg string) (lookup.Lookup, error) {
		kinds = append(kinds, kind+"|"+arg)
		return lookup.Map{"*.example.com": "wild", "*": "star"}, nil
	}}
	tests := []struct {
		list, subject string
		ok            bool
		data          string
	}{
		{"partial-m;a", "www.example.com", true, "wild"},
		{"partial-m,ret=key,cache=no_rd,x=y;b", "www.Example.com", true, "www.example.com"},
		{"m;c", "www.example.com", false, ""},
		{"m*;d", "www.example.net", true, "star"},
	}
	for _, tc := range tests {
		ok, data, err := Must(ParseDomainList(tc.list, cfg)).Match(ctx, tc.subject)
		if err != nil || ok != tc.ok || data != tc.data {
			t.Errorf("%q ~ %q: %v %q %v; want %v %q", tc.list, tc.subject, ok, data, err, tc.ok, tc.data)
		}
	}
	// OpenLookup sees the type and the options it must handle, not the
	// decorations.
	if want := []string{"m|a", "m,x=y|b", "m|c", "m|d"}; !slices.Equal(kinds, want) {
		t.Errorf("OpenLookup saw %q, want %q", kinds, want)
	}

	// A Go item decorated with lookup.NewSource.
	src, err := lookup.NewSource(lookup.MustParseSpec("partial-x"), lookup.SingleKey, lookup.Map{"*.example.com": "wild"})
	if err != nil {
		t.Fatal(err)
	}
	l := Must(NewDomainList(nil, Item{Lookup: src}))
	if ok, data, err := l.Match(ctx, "a.b.example.com"); !ok || data != "wild" || err != nil {
		t.Errorf("Go item: %v %q %v", ok, data, err)
	}
	// A failing query in a domain list names the query.
	cfg2 := registryConfig()
	_, _, err = Must(ParseDomainList("dnsdb;fail", cfg2)).Match(ctx, "x")
	if err == nil || err.Error() != `acl: list lookup of "fail": server down` {
		t.Errorf("failing query: %v", err)
	}
}

// quotingLookup is a query-style lookup whose query language takes
// white space as a separator: it records the queries and quotes values
// with a backslash, as quote_redis does.
type quotingLookup struct {
	mu      sync.Mutex
	queries []string
}

func (q *quotingLookup) Quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, " ", `\ `).Replace(s)
}

func (q *quotingLookup) Lookup(_ context.Context, query string) (string, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queries = append(q.queries, query)
	return "", false, nil
}

func TestListQueryQuotesSubject(t *testing.T) {
	t.Parallel()
	reg := lookup.NewRegistry()
	q := &quotingLookup{}
	reg.RegisterQuery("kv", q)
	cfg := &ListConfig{Lookups: reg}
	ctx := context.Background()
	if _, _, err := Must(ParseLocalPartList("kv;SISMEMBER users $local_part", cfg)).Match(ctx, `a b\c`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Must(ParseDomainList("kv;GET $domain", cfg)).Match(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	want := []string{`SISMEMBER users a\ b\\c`, `GET example.com`}
	if !slices.Equal(q.queries, want) {
		t.Errorf("queries %q, want %q", q.queries, want)
	}
}
