package acl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/exigo-mta/exigo/lookup"
)

func TestSplitList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"a", []string{"a"}},
		{"a : b", []string{"a", "b"}},
		{"a:b", []string{"a", "b"}},
		{"  a  :  b  ", []string{"a", "b"}},
		{":", []string{""}},
		{" : ", []string{""}},
		{"a :", []string{"a"}},
		{"a : :", []string{"a", ""}},
		{"a : : b", []string{"a", "", "b"}},
		{"a :: b", []string{"a : b"}},
		{"a:::b", []string{"a:", "b"}},
		{"::::1 : 127.0.0.1", []string{"::1", "127.0.0.1"}},
		{"127.0.0.1 : ::::1", []string{"127.0.0.1", "::1"}},
		{"127.0.0.1::1", []string{"127.0.0.1:1"}},
		{"3ffe::ffff::836f::::/48", []string{"3ffe:ffff:836f::/48"}},
		{"<; 127.0.0.1 ; ::1", []string{"127.0.0.1", "::1"}},
		{"<;a;;b", []string{"a;b"}},
		{"<, a , b,", []string{"a", "b"}},
		{"<\n a\n\nb", []string{"a", "", "b"}},
		{"<\na\n\n", []string{"a", ""}},
		{"<>", []string{"<>"}},
		{"<> : x@y", []string{"<>", "x@y"}},
		{"<a", []string{"<a"}},
		{"< ; a", []string{"< ; a"}},
		{"<: a : <b", []string{"a", "<b"}},
		{"!10.0.0.1 : ! 10.0.0.2", []string{"!10.0.0.1", "! 10.0.0.2"}},
	}
	for _, tc := range tests {
		if got := SplitList(tc.in); !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("SplitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestJoinListRoundTrip(t *testing.T) {
	t.Parallel()
	for _, items := range [][]string{
		{"a"}, {""}, {"a", ""}, {"", "a"}, {"::1", "127.0.0.1"}, {"<;x", "y"}, {"a:", ":b"}, {"<>"},
	} {
		if got := SplitList(joinList(items)); !slices.Equal(got, items) {
			t.Errorf("%q -> %q -> %q", items, joinList(items), got)
		}
	}
}

// fakeResolver resolves from maps; names in temp fail temporarily.
type fakeResolver struct {
	forward map[string][]string
	reverse map[string][]string
	temp    map[string]bool

	mu    sync.Mutex
	calls []string
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.calls = append(r.calls, "A "+host)
	r.mu.Unlock()
	if r.temp[host] {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	addrs, ok := r.forward[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func (r *fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	r.mu.Lock()
	r.calls = append(r.calls, "PTR "+addr)
	r.mu.Unlock()
	names, ok := r.reverse[addr]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
	}
	return names, nil
}

func (r *fakeResolver) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// testLookups serves the lookup types "map" and "broken" for tests.
var testLookups = map[string]lookup.Lookup{
	"map": lookup.Map{
		"192.0.2.1":    "addr-v4",
		"192.0.2.0/24": "net-v4",
		"2001.0db8.0000.0000.0000.0000.0000.0001":    "addr-v6-dots",
		"2001:0db8:0000:0000:0000:0000:0000:0001":    "addr-v6-colons",
		"2001.0db8.0000.0000.0000.0000.0000.0000/32": "net-v6",
		"client.example.net":                         "by-name",
		"relay.example":                              "relay-domain",
		"list-admin":                                 "lp-data",
		"nimrod@jaeger.example":                      "whole",
		"*@wild.example":                             "star-at",
		"*":                                          "star",
		"bad.example":                                "bad-domain",
	},
	"broken": lookup.Func(func(context.Context, string) (string, bool, error) {
		return "", false, errors.New("database locked")
	}),
}

func testConfig(res Resolver) *ListConfig {
	return &ListConfig{
		PrimaryHostname: "mx.test.example",
		Resolver:        res,
		OpenLookup: func(kind, arg string) (lookup.Lookup, error) {
			l, ok := testLookups[kind]
			if !ok {
				return nil, fmt.Errorf("unknown lookup type %q", kind)
			}
			return l, nil
		},
	}
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{
		forward: map[string][]string{
			"mx.test.example":    {"198.51.100.1", "2001:db8::25"},
			"mx.example.net":     {"192.0.2.1"},
			"client.example.net": {"192.0.2.1"},
			"liar.example.net":   {"203.0.113.9"},
		},
		reverse: map[string][]string{
			"192.0.2.1":    {"client.example.net."},
			"192.0.2.66":   {"liar.example.net."},
			"2001:db8::25": {"mx.test.example."},
		},
		temp: map[string]bool{"dns.fail.example": true},
	}
}

func TestHostList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		list   string
		addr   string // "" for no remote host
		name   string
		want   bool
		data   string
		err    string
		gotNam string // host name after the match
	}{
		{list: "192.168.0.0/16 : !10.0.0.1 : 10.0.0.0/8", addr: "192.168.5.5", want: true},
		{list: "192.168.0.0/16 : !10.0.0.1 : 10.0.0.0/8", addr: "10.0.0.1", want: false},
		{list: "192.168.0.0/16 : !10.0.0.1 : 10.0.0.0/8", addr: "10.0.0.2", want: true},
		{list: "192.168.0.0/16 : !10.0.0.1 : 10.0.0.0/8", addr: "172.16.0.1", want: false},
		{list: "10.0.0.0/8 : !10.0.0.1", addr: "10.0.0.1", want: true},
		{list: "!10.0.0.1", addr: "192.0.2.1", want: true},
		{list: "!10.0.0.1", addr: "10.0.0.1", want: false},
		{list: "!10.0.0.1 : !10.0.0.2", addr: "10.0.0.3", want: true},
		{list: "10.1.2.99/24", addr: "10.1.2.3", want: true},
		{list: "192.168.23.236/31", addr: "192.168.23.237", want: true},
		{list: "192.168.23.236/31", addr: "192.168.23.238", want: false},
		{list: "0.0.0.0/0", addr: "203.0.113.5", want: true},
		{list: "0.0.0.0/0", addr: "2001:db8::1", want: false},
		{list: "<; 2001:db8::/32 ; ::1", addr: "2001:db8::5", want: true},
		{list: "<; 2001:db8::/32 ; ::1", addr: "::1", want: true},
		{list: "<; 2001:db8::/32 ; ::1", addr: "2001:db9::", want: false},
		{list: "::::1 : 2001::db8::::/32", addr: "2001:db8:1::1", want: true},
		{list: "::::1 : 2001::db8::::/32", addr: "::1", want: true},
		{list: "::::/0", addr: "2001:db8::1", want: true},
		{list: "127.0.0.1", addr: "::ffff:127.0.0.1", want: true},
		{list: "<; ::ffff:127.0.0.1", addr: "127.0.0.1", want: true},
		{list: "<; ::ffff:127.0.0.1", addr: "::ffff:127.0.0.1", want: true},
		{list: "<; ::ffff:127.0.0.0/104", addr: "127.0.0.1", want: true},
		{list: "<; ::ffff:0:0/96", addr: "198.51.100.7", want: true},
		{list: "<; ::ffff:0:0/96", addr: "2001:db8::1", want: false},
		{list: "127.0.0.1", addr: "::1", want: false},
		{list: "*", addr: "192.0.2.1", want: true},
		{list: "*", addr: "", want: true},
		{list: ":", addr: "", want: true},
		{list: ":", addr: "192.0.2.1", want: false},
		{list: "127.0.0.1 : *.example.net", addr: "", want: false},
		{list: "", addr: "192.0.2.1", want: false},
		// Host names: the verified name comes from the session or DNS.
		{list: "*.example.net", addr: "192.0.2.1", name: "Client.Example.NET", want: true, gotNam: "Client.Example.NET"},
		{list: "*.example.net", addr: "192.0.2.1", want: true, gotNam: "client.example.net"},
		{list: `^client\.example\.(net|org)$`, addr: "192.0.2.1", want: true, gotNam: "client.example.net"},
		{list: `^CLIENT\.`, addr: "192.0.2.1", want: true, gotNam: "client.example.net"},
		{list: "*.example.org", addr: "192.0.2.1", want: false, gotNam: "client.example.net"},
		{list: "*.example.net", addr: "192.0.2.66", want: false}, // reverse name does not resolve back
		{list: "*.example.net : 192.0.2.66", addr: "192.0.2.66", want: false},
		{list: "192.0.2.66 : *.example.net", addr: "192.0.2.66", want: true},
		{list: "+ignore_unknown : *.example.net : 192.0.2.66", addr: "192.0.2.66", want: true},
		{list: "+include_unknown : *.example.net", addr: "192.0.2.99", want: true},
		{list: "+include_unknown : !*.example.net", addr: "192.0.2.99", want: true},
		{list: "+include_unknown : +ignore_unknown : *.example.net", addr: "192.0.2.99", want: false},
		{list: "mx.example.net", addr: "192.0.2.1", want: true},
		{list: "mx.example.net", addr: "192.0.2.2", want: false},
		{list: "nosuch.example : 192.0.2.1", addr: "192.0.2.1", want: false},
		{list: "+ignore_unknown : nosuch.example : 192.0.2.1", addr: "192.0.2.1", want: true},
		{list: "dns.fail.example : 192.0.2.1", addr: "192.0.2.1", err: "acl: looking up dns.fail.example: lookup dns.fail.example: server misbehaving"},
		{list: "+ignore_defer : dns.fail.example : 192.0.2.1", addr: "192.0.2.1", want: true},
		{list: "+include_defer : dns.fail.example", addr: "192.0.2.9", want: true},
		{list: "@", addr: "198.51.100.1", want: true},
		{list: "@", addr: "2001:db8::25", want: true},
		{list: "@", addr: "198.51.100.2", want: false},
		// Lookups by address and by name.
		{list: "net-map;", addr: "192.0.2.1", want: true, data: "addr-v4"},
		{list: "net-map;", addr: "::ffff:192.0.2.1", want: true, data: "addr-v4"},
		{list: "net24-map;", addr: "192.0.2.200", want: true, data: "net-v4"},
		{list: "net-map;", addr: "192.0.2.2", want: false},
		{list: "net-map;", addr: "2001:db8::1", want: true, data: "addr-v6-dots"},
		{list: "net32-map;", addr: "2001:db8::77", want: true, data: "net-v6"},
		{list: "net-map*;", addr: "203.0.113.1", want: true, data: "star"},
		{list: "map;", addr: "192.0.2.1", want: true, data: "by-name", gotNam: "client.example.net"},
		{list: "!net-map; : 192.0.2.0/24", addr: "192.0.2.1", want: false},
		{list: "net-broken; : 192.0.2.1", addr: "192.0.2.1", err: `acl: host list lookup of "192.0.2.1": database locked`},
		{list: "+ignore_defer : net-broken; : 192.0.2.1", addr: "192.0.2.1", want: true},
	}
	for _, tc := range tests {
		res := newFakeResolver()
		l, err := ParseHostList(tc.list, testConfig(res))
		if err != nil {
			t.Errorf("ParseHostList(%q): %v", tc.list, err)
			continue
		}
		h := Host{Name: tc.name}
		if tc.addr != "" {
			h.Addr = netip.MustParseAddr(tc.addr)
		}
		ok, data, err := l.Match(ctx, &h)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if ok != tc.want || data != tc.data || gotErr != tc.err {
			t.Errorf("%q ~ %s: got %v %q %q, want %v %q %q", tc.list, tc.addr, ok, data, gotErr, tc.want, tc.data, tc.err)
		}
		if tc.gotNam != "" && h.Name != tc.gotNam {
			t.Errorf("%q ~ %s: host name %q, want %q", tc.list, tc.addr, h.Name, tc.gotNam)
		}
	}
}

func TestHostListNameLookedUpOnce(t *testing.T) {
	t.Parallel()
	res := newFakeResolver()
	l := Must(ParseHostList("*.example.org : *.example.com : ^x", testConfig(res)))
	h := Host{Addr: netip.MustParseAddr("192.0.2.99")}
	for range 2 {
		if ok, _, err := l.Match(context.Background(), &h); ok || err != nil {
			t.Fatalf("got %v %v", ok, err)
		}
	}
	if !h.NameLookupFailed || h.Name != "" {
		t.Fatalf("host %+v", h)
	}
	if got, want := res.Calls(), []string{"PTR 192.0.2.99"}; !slices.Equal(got, want) {
		t.Fatalf("DNS calls %q, want %q", got, want)
	}
}

func TestHostListItems(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := lookup.Map{"2001:db8::1": "canonical", "2001:0db8:0000:0000:0000:0000:0000:0001": "colons", "192.0.2.0/24": "masked"}
	l := Must(NewHostList(nil,
		Item{Pattern: "2001:db8::dead"},
		Item{Pattern: "10.0.0.0/8", Not: true},
		Item{Lookup: m, HostKey: KeyHostIP},
		Item{Lookup: m, HostKey: KeyHostAddrColons},
		Item{Lookup: m, HostKey: KeyHostIP, Mask: 24},
	))
	for _, tc := range []struct {
		addr string
		want bool
		data string
	}{
		{"2001:db8::dead", true, ""},
		{"10.1.1.1", false, ""},
		{"2001:db8::1", true, "canonical"},
		{"192.0.2.77", true, "masked"},
		{"198.51.100.1", false, ""},
	} {
		ok, data, err := l.Match(ctx, &Host{Addr: netip.MustParseAddr(tc.addr)})
		if ok != tc.want || data != tc.data || err != nil {
			t.Errorf("%s: %v %q %v", tc.addr, ok, data, err)
		}
	}
	l = Must(NewHostList(nil, Item{Lookup: m, HostKey: KeyHostAddrColons}))
	if ok, data, _ := l.Match(ctx, &Host{Addr: netip.MustParseAddr("2001:db8::1")}); !ok || data != "colons" {
		t.Errorf("colon key: %v %q", ok, data)
	}
	l = Must(ParseHostList("net-iplsearch;x", &ListConfig{OpenLookup: func(kind, arg string) (lookup.Lookup, error) {
		if kind != "iplsearch" || arg != "x" {
			return nil, fmt.Errorf("got %q %q", kind, arg)
		}
		return m, nil
	}}))
	if ok, data, _ := l.Match(ctx, &Host{Addr: netip.MustParseAddr("2001:db8::1")}); !ok || data != "colons" {
		t.Errorf("iplsearch key: %v %q", ok, data)
	}
	var nilList *HostList
	if ok, _, err := nilList.Match(ctx, &Host{}); ok || err != nil {
		t.Errorf("nil list: %v %v", ok, err)
	}
}

func TestHostKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		key  HostKey
		mask int
		want string
	}{
		{"192.0.2.1", KeyHostAddr, 0, "192.0.2.1"},
		{"192.0.2.1", KeyHostAddr, 24, "192.0.2.0/24"},
		{"192.0.2.1", KeyHostAddr, 32, "192.0.2.1/32"},
		{"192.0.2.1", KeyHostAddr, 40, "192.0.2.1/40"},
		{"192.0.2.1", KeyHostAddr, -1, "0.0.0.0/0"},
		{"2001:db8::1", KeyHostAddr, 0, "2001.0db8.0000.0000.0000.0000.0000.0001"},
		{"2001:db8::1", KeyHostAddrColons, 0, "2001:0db8:0000:0000:0000:0000:0000:0001"},
		{"2001:db8::1", KeyHostAddr, 48, "2001.0db8.0000.0000.0000.0000.0000.0000/48"},
		{"2001:db8::1", KeyHostIP, 0, "2001:db8::1"},
		{"2001:db8::1", KeyHostIP, 64, "2001:db8::/64"},
	} {
		if got := hostKey(netip.MustParseAddr(tc.addr), tc.key, tc.mask); got != tc.want {
			t.Errorf("%s %d %d: %q, want %q", tc.addr, tc.key, tc.mask, got, tc.want)
		}
	}
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil)
	m := lookup.Map{}
	tests := []struct {
		kind  string
		list  string
		items []Item
		cfg   *ListConfig
		want  string
	}{
		{"host", "10.0.0.0/33", nil, cfg, `acl: host list item 1 "10.0.0.0/33": bad mask /33`},
		{"host", "10.0.0.1 : 1.2.3/24", nil, cfg, `acl: host list item 2 "1.2.3/24": malformed IPv4 address or address mask`},
		{"host", "1.2.3.4.5", nil, cfg, `acl: host list item 1 "1.2.3.4.5": malformed IPv4 address or address mask`},
		{"host", "10.0.0.0/x", nil, cfg, `acl: host list item 1 "10.0.0.0/x": bad mask /x`},
		{"host", "<; fe80::1%eth0", nil, cfg, `acl: host list item 1 "fe80::1%eth0": an IPv6 zone is not allowed`},
		{"host", "::::g", nil, cfg, `acl: host list item 1 "::g": malformed IPv6 address or address mask`},
		{"host", "127.0.0.1 : ::1", nil, cfg, `acl: host list item 2 ":1": malformed IPv6 address or address mask`},
		{"host", "^(", nil, cfg, "acl: host list item 1 \"^(\": bad regular expression: error parsing regexp: missing closing ): `^(`"},
		{"host", "+relay_hosts", nil, cfg, `acl: host list item 1 "+relay_hosts": unknown named host list "+relay_hosts"`},
		{"host", "+relay-hosts", nil, cfg, `acl: host list item 1 "+relay-hosts": bad named list reference (want +name, name of letters, digits and _)`},
		{"host", "!+", nil, cfg, `acl: host list item 1 "!+": bad named list reference (want +name, name of letters, digits and _)`},
		{"host", "partial(x)map;x", nil, cfg, `acl: host list item 1 "partial(x)map;x": not an IP address, host name or host name pattern`},
		{"host", "partial(.map;x", nil, cfg, `acl: host list item 1 "partial(.map;x": not an IP address, host name or host name pattern`},
		{"host", "partial-map*x;x", nil, cfg, `acl: host list item 1 "partial-map*x;x": not an IP address, host name or host name pattern`},
		{"host", "partial-map,ret=;x", nil, cfg, `acl: host list item 1 "partial-map,ret=;x": opening map lookup: unknown lookup type "map,ret="`},
		{"host", "partial7-map@;x", nil, cfg, `acl: host list item 1 "partial7-map@;x": lookup: bad lookup type "partial7-map@": unexpected "@" after the type`},
		{"host", "net-map;x : dnsdb;a=$domain", nil, registryConfig(), `acl: host list item 2 "dnsdb;a=$domain": query "a=$domain": unknown variable $domain (this list offers $sender_host_address, $sender_host_name)`},
		{"host", "net-dnsdb;x", nil, registryConfig(), `acl: host list item 1 "net-dnsdb;x": net- does not apply to query-style lookups (use $sender_host_address in the query)`},
		{"host", "partial-dnsdb;x", nil, registryConfig(), `acl: host list item 1 "partial-dnsdb;x": lookup: bad lookup type: partial matching is not permitted for query-style type "dnsdb"`},
		{"host", "dnsdb*;x", nil, registryConfig(), `acl: host list item 1 "dnsdb*;x": lookup: bad lookup type: defaults "*" and "*@" are not permitted for query-style type "dnsdb"`},
		{"host", "cdb;x", nil, registryConfig(), `acl: host list item 1 "cdb;x": unknown lookup type "cdb"`},
		{"domain", "dnsdb;a=${domain", nil, registryConfig(), `acl: domain list item 1 "dnsdb;a=${domain": query "a=${domain": only variables (${name}) can be expanded in a list's lookup query`},
		{"domain", "dnsdb;a=$ x", nil, registryConfig(), `acl: domain list item 1 "dnsdb;a=$ x": query "a=$ x": "$" without a variable name (write \$ for a dollar sign)`},
		{"domain", "+rel : x", nil, registryConfig(), `acl: domain list item 1 "+rel": unknown named domain list "+rel"`},
		{"address", "*@+nosuch", nil, registryConfig(), `acl: address list item 1 "*@+nosuch": unknown named domain list "+nosuch"`},
		{"address", "+nosuch", nil, registryConfig(), `acl: address list item 1 "+nosuch": unknown named address list "+nosuch"`},
		{"local part", "+nosuch", nil, registryConfig(), `acl: local part list item 1 "+nosuch": unknown named local part list "+nosuch"`},
		{"host", "!+include_unknown", nil, cfg, `acl: host list item 1 "!+include_unknown": a control item cannot be negated`},
		{"host", "@", nil, nil, `acl: host list item 1 "@": "@" needs ListConfig.PrimaryHostname`},
		{"host", "@[]", nil, cfg, `acl: host list item 1 "@[]": "@[]" items are not supported`},
		{"host", "/etc/relay", nil, cfg, `acl: host list item 1 "/etc/relay": file name items are not supported: read the file and build the list in Go`},
		{"host", "lsearch;/etc/relay", nil, nil, `acl: host list item 1 "lsearch;/etc/relay": lookup items need ListConfig.Lookups or ListConfig.OpenLookup (lookup type "lsearch")`},
		{"host", "net-nosuch;x", nil, cfg, `acl: host list item 1 "net-nosuch;x": opening nosuch lookup: unknown lookup type "nosuch"`},
		{"host", "net200-map;", nil, cfg, `acl: host list item 1 "net200-map;": bad mask net200-`},
		{"host", "a b", nil, cfg, `acl: host list item 1 "a b": not an IP address, host name or host name pattern`},
		{"host", "", []Item{{Pattern: "x", Lookup: m}}, cfg, `acl: host list item 1 "x": an item cannot have both a Pattern and a Lookup`},
		{"host", "", []Item{{Lookup: m, Mask: 24}}, cfg, `acl: host list item 1 "": a Mask needs a HostKey that is an address`},
		{"host", "", []Item{{Lookup: m, HostKey: KeyHostIP, Mask: 129}}, cfg, `acl: host list item 1 "": mask 129 out of range 0-128`},
		{"host", "", []Item{{Pattern: "1.2.3.4", HostKey: KeyHostAddr}}, cfg, `acl: host list item 1 "1.2.3.4": HostKey and Mask apply to lookup items only`},
		{"domain", "example.com : ^[", nil, cfg, "acl: domain list item 2 \"^[\": bad regular expression: error parsing regexp: missing closing ]: `[`"},
		{"domain", "@mx_any/ignore=127.0.0.1", nil, cfg, `acl: domain list item 1 "@mx_any/ignore=127.0.0.1": "@mx_any/ignore=127.0.0.1" items are not supported`},
		{"domain", "+local_domains", nil, cfg, `acl: domain list item 1 "+local_domains": unknown named domain list "+local_domains"`},
		{"domain", "+caseful", nil, cfg, `acl: domain list item 1 "+caseful": unknown named domain list "+caseful"`},
		{"domain", "@", nil, nil, `acl: domain list item 1 "@": "@" needs ListConfig.PrimaryHostname`},
		{"domain", "cdb;/etc/domains", nil, nil, `acl: domain list item 1 "cdb;/etc/domains": lookup items need ListConfig.Lookups or ListConfig.OpenLookup (lookup type "cdb")`},
		{"local part", "+include_unknown", nil, cfg, `acl: local part list item 1 "+include_unknown": unknown named local part list "+include_unknown"`},
		{"local part", "/etc/users", nil, cfg, `acl: local part list item 1 "/etc/users": file name items are not supported: read the file and build the list in Go`},
		{"address", "@@lsearch;/etc/x", nil, cfg, `acl: address list item 1 "@@lsearch;/etc/x": @@lookup items are not supported`},
		{"address", "a@b : *@^(", nil, cfg, "acl: address list item 2 \"*@^(\": bad regular expression: error parsing regexp: missing closing ): `^(`"},
		{"address", "^(", nil, cfg, "acl: address list item 1 \"^(\": bad regular expression: error parsing regexp: missing closing ): `^(`"},
		{"address", "partial-map;x", nil, cfg, `acl: address list item 1 "partial-map;x": partial matching does not apply to whole-address lookups`},
		{"address", "x@@[]", nil, cfg, `acl: address list item 1 "x@@[]": "@[]" items are not supported`},
	}
	for _, tc := range tests {
		items := tc.items
		if items == nil {
			items = stringItems(tc.list)
		}
		var err error
		switch tc.kind {
		case "host":
			_, err = NewHostList(tc.cfg, items...)
		case "domain":
			_, err = NewDomainList(tc.cfg, items...)
		case "local part":
			_, err = NewLocalPartList(tc.cfg, items...)
		case "address":
			_, err = NewAddressList(tc.cfg, items...)
		}
		if err == nil {
			t.Errorf("%s list %q: no error, want %q", tc.kind, tc.list, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s list %q:\n got %s\nwant %s", tc.kind, tc.list, err, tc.want)
		}
		var le *ListError
		if !errors.As(err, &le) {
			t.Errorf("%s list %q: not a *ListError", tc.kind, tc.list)
		}
	}
	_, err := ParseDomainList("@mx_primary", nil)
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("@mx_primary: %v does not wrap ErrUnsupported", err)
	}
}

type strCase struct {
	subject string
	want    bool
	data    string
}

func checkStrList(t *testing.T, list string, match func(context.Context, string) (bool, string, error), cases []strCase) {
	t.Helper()
	for _, c := range cases {
		ok, data, err := match(context.Background(), c.subject)
		if err != nil || ok != c.want || data != c.data {
			t.Errorf("%q ~ %q: got %v %q %v, want %v %q", list, c.subject, ok, data, err, c.want, c.data)
		}
	}
}

func TestDomainList(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil)
	for _, tc := range []struct {
		list  string
		cases []strCase
	}{
		{`@ : example.com : *.example.com : !bad.example.net : ^[0-9]+\.test$`, []strCase{
			{"Example.COM", true, "example.com"},
			{"mx.TEST.example", true, "mx.test.example"},
			{"a.b.Example.com", true, "*.example.com"},
			{"bad.example.net", false, ""},
			{"123.TEST", true, `^[0-9]+\.test$`},
			{"12a.test", false, ""},
			{"other.net", false, ""},
			{"", false, ""},
		}},
		{"!a.b.c : *.b.c", []strCase{{"a.b.c", false, ""}, {"x.b.c", true, "*.b.c"}, {"x.y", false, ""}}},
		{"!a.b.c", []strCase{{"a.b.c", false, ""}, {"x.y", true, ""}}},
		{"*key.ex", []strCase{{"donkey.ex", true, "*key.ex"}, {"cipher.KEY.ex", true, "*key.ex"}, {"key.exx", false, ""}}},
		{"*", []strCase{{"anything", true, "*"}, {"", true, "*"}}},
		{":", []strCase{{"", true, ""}, {"x", false, ""}}},
		{"", []strCase{{"", false, ""}, {"x", false, ""}}},
		{"EXAMPLE.org", []strCase{{"example.ORG", true, "EXAMPLE.org"}}},
		{"map;", []strCase{{"Relay.Example", true, "relay-domain"}, {"other.example", false, ""}}},
		{"!map; : *.example", []strCase{{"bad.example", false, ""}, {"good.example", true, "*.example"}}},
		{"map*;", []strCase{{"unknown.example", true, "star"}}},
		{"@foo", []strCase{{"@foo", true, "@foo"}, {"foo", false, ""}}},
	} {
		l, err := ParseDomainList(tc.list, cfg)
		if err != nil {
			t.Errorf("%q: %v", tc.list, err)
			continue
		}
		checkStrList(t, tc.list, l.Match, tc.cases)
	}
	l := Must(ParseDomainList("broken; : x", cfg))
	if _, _, err := l.Match(context.Background(), "x"); err == nil || err.Error() != `acl: list lookup of "x": database locked` {
		t.Errorf("lookup error: %v", err)
	}
	l = Must(NewDomainList(nil, Item{Lookup: lookup.Map{"go.example": "v"}}, Item{Pattern: "!*.example"}))
	checkStrList(t, "items", l.Match, []strCase{{"GO.example", true, "v"}, {"x.example", false, ""}, {"x.org", true, ""}})
	var nilList *DomainList
	checkStrList(t, "nil", nilList.Match, []strCase{{"x", false, ""}})
}

func TestLocalPartList(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil)
	for _, tc := range []struct {
		list  string
		cases []strCase
	}{
		{"postmaster : ^[0-9]+$ : *-owner : +caseful : Bob : *-Admin : ^Z", []strCase{
			{"PostMaster", true, "postmaster"},
			{"123", true, "^[0-9]+$"},
			{"list-OWNER", true, "*-owner"},
			{"Bob", true, "Bob"},
			{"bob", false, ""},
			{"x-Admin", true, "*-Admin"},
			{"x-admin", false, ""},
			{"Zed", true, "^Z"},
			{"zed", false, ""},
		}},
		{"@ : !root : *", []strCase{{"@", true, "@"}, {"ROOT", false, ""}, {"joe", true, "*"}}},
		{"map;", []strCase{{"List-Admin", true, "lp-data"}}},
		{"+caseful : map;", []strCase{{"List-Admin", false, ""}, {"list-admin", true, "lp-data"}}},
	} {
		l, err := ParseLocalPartList(tc.list, cfg)
		if err != nil {
			t.Errorf("%q: %v", tc.list, err)
			continue
		}
		checkStrList(t, tc.list, l.Match, tc.cases)
	}
}

func TestAddressList(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil)
	for _, tc := range []struct {
		list  string
		cases []strCase
	}{
		{`postmaster@example.com : *@spam.example : ^.*\.biz$ : *.enemy.example : enemy.example`, []strCase{
			{"PostMaster@Example.COM", true, "postmaster@example.com"},
			{"anyone@SPAM.example", true, "*@spam.example"},
			{"x@shop.BIZ", true, `^.*\.biz$`},
			{"a@b.enemy.example", true, "*.enemy.example"},
			{"a@enemy.example", true, "enemy.example"},
			{"a@example.com", false, ""},
			{"", false, ""},
		}},
		{":", []strCase{{"", true, ""}, {"a@b", false, ""}}},
		{"<>", []strCase{{"", true, "<>"}, {"a@b", false, ""}}},
		{"a@b : <> : c@d", []strCase{{"", true, "<>"}, {"c@d", true, "c@d"}}},
		{"", []strCase{{"", false, ""}, {"a@b", false, ""}}},
		{"^$", []strCase{{"", true, "^$"}, {"a@b", false, ""}}},
		{"*", []strCase{{"a@b", true, "*"}, {"", false, ""}}},
		{"*b@x", []strCase{{"ab@x", true, "*b@x"}, {"a@x", false, ""}, {"ab@y", false, ""}}},
		{"*@*.example", []strCase{{"a@b.example", true, "*@*.example"}, {"a@example", false, ""}}},
		{"postmaster@@", []strCase{{"postmaster@mx.test.example", true, "postmaster@@"}, {"postmaster@other", false, ""}}},
		{"*@map;", []strCase{{"x@Relay.Example", true, "relay-domain"}, {"x@other.example", false, ""}}},
		{"map;", []strCase{{"Nimrod@Jaeger.example", true, "whole"}, {"other@jaeger.example", false, ""}, {"", false, ""}}},
		{"map*@;", []strCase{{"nimrod@jaeger.example", true, "whole"}, {"who@wild.example", true, "star-at"}, {"who@else.example", true, "star"}}},
		{"+caseful : User@example.com", []strCase{{"User@Example.COM", true, "User@example.com"}, {"user@example.com", false, ""}}},
		{"+caseful : User@EXAMPLE.com : ^Abc@", []strCase{{"User@Example.COM", true, "User@EXAMPLE.com"}, {"Abc@X", true, "^Abc@"}, {"abc@x", false, ""}}},
		{"+caseful : *@EXAMPLE.com", []strCase{{"User@Example.COM", true, "*@EXAMPLE.com"}}},
		{"!*@example.com : *@*", []strCase{{"a@example.com", false, ""}, {"a@example.org", true, "*@*"}}},
		{"local", []strCase{{"local", false, ""}, {"a@local", true, "local"}}},
	} {
		l, err := ParseAddressList(tc.list, cfg)
		if err != nil {
			t.Errorf("%q: %v", tc.list, err)
			continue
		}
		checkStrList(t, tc.list, l.Match, tc.cases)
	}
	l := Must(NewAddressList(nil, Item{Lookup: lookup.Map{"a@b.example": "found"}}, Item{Pattern: "*@b.example", Not: true}))
	checkStrList(t, "items", l.Match, []strCase{{"A@B.example", true, "found"}, {"c@b.example", false, ""}, {"c@d", true, ""}})
}

func TestListsConcurrent(t *testing.T) {
	t.Parallel()
	hl := Must(ParseHostList("10.0.0.0/8 : !10.0.0.1 : *.example.net", testConfig(newFakeResolver())))
	al := Must(ParseAddressList("+caseful : ^A : *@x", nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				h := Host{Addr: netip.AddrFrom4([4]byte{10, 0, byte(i), byte(j)})}
				if ok, _, err := hl.Match(context.Background(), &h); !ok || err != nil {
					t.Errorf("%v: %v %v", h.Addr, ok, err)
					return
				}
				if ok, _, _ := al.Match(context.Background(), "Abc@y"); !ok {
					t.Errorf("address list")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestItemEquivalence(t *testing.T) {
	t.Parallel()
	a := Must(ParseDomainList("! bad.example : *.example", nil))
	b := Must(NewDomainList(nil, Item{Pattern: "!bad.example"}, Item{Pattern: " *.example "}))
	for _, d := range []string{"bad.example", "good.example", "x.org"} {
		ra, da, _ := a.Match(context.Background(), d)
		rb, db, _ := b.Match(context.Background(), d)
		if ra != rb || da != db {
			t.Errorf("%s: %v %q vs %v %q", d, ra, da, rb, db)
		}
	}
	if !reflect.DeepEqual(stringItems("a : !b"), []Item{{Pattern: "a"}, {Pattern: "!b"}}) {
		t.Errorf("stringItems")
	}
}
