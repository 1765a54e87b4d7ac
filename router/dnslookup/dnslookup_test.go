package dnslookup_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/dnslookup"
	"github.com/exigo-mta/exigo/transport"
)

func keepOrder(n int) int { return n - 1 }

// testZone is shared by the tests; each test starts its own server.
func testZone() mailtest.DNSZone {
	return mailtest.DNSZone{
		"example.com": {MX: []mailtest.MX{
			{Pref: 20, Host: "mx-b.example.com"},
			{Pref: 10, Host: "mx-a.example.com"},
			{Pref: 30, Host: "mx-c.example.com"},
			{Pref: 10, Host: "mx-d.example.com"},
		}, Authenticated: true},
		"mx-a.example.com": {A: []string{"192.0.2.1", "192.0.2.2"}, AAAA: []string{"2001:db8::1"}, Authenticated: true},
		"mx-b.example.com": {A: []string{"192.0.2.20"}},
		"mx-c.example.com": {A: []string{"192.0.2.30"}, Authenticated: true},
		"mx-d.example.com": {AAAA: []string{"2001:db8::4"}, Authenticated: true},

		"implicit.example":   {A: []string{"198.51.100.7"}, AAAA: []string{"2001:db8::7"}},
		"nullmx.example":     {MX: []mailtest.MX{{Pref: 0, Host: "."}}, A: []string{"198.51.100.8"}},
		"nullplus.example":   {MX: []mailtest.MX{{Pref: 0, Host: "."}, {Pref: 10, Host: "mx-c.example.com"}}},
		"dangling.example":   {MX: []mailtest.MX{{Pref: 10, Host: "missing.example"}, {Pref: 20, Host: "mx-c.example.com"}}},
		"allmissing.example": {MX: []mailtest.MX{{Pref: 10, Host: "missing.example"}, {Pref: 20, Host: "noaddr.example"}}},
		"noaddr.example":     {TXT: []string{"no addresses here"}},
		"loopback.example":   {MX: []mailtest.MX{{Pref: 10, Host: "lo.example"}, {Pref: 20, Host: "mx-c.example.com"}}},
		"lo.example":         {A: []string{"127.0.0.1"}},
		"onlylo.example":     {MX: []mailtest.MX{{Pref: 10, Host: "lo.example"}, {Pref: 20, Host: "zero.example"}}},
		"zero.example":       {A: []string{"0.0.0.0"}},
		"mxfail.example":     {MX: []mailtest.MX{{Pref: 10, Host: "mx-c.example.com"}}, A: []string{"198.51.100.9"}, Fail: mailtest.DNSServFail, FailTypes: []string{"MX"}},
		"mxslow.example":     {Fail: mailtest.DNSTimeout},
		"hostfail.example":   {MX: []mailtest.MX{{Pref: 10, Host: "broken.example"}, {Pref: 20, Host: "mx-c.example.com"}}},
		"allfail.example":    {MX: []mailtest.MX{{Pref: 10, Host: "broken.example"}}},
		"broken.example":     {A: []string{"192.0.2.99"}, Fail: mailtest.DNSServFail},
		"v6fail.example":     {MX: []mailtest.MX{{Pref: 10, Host: "half.example"}}},
		"half.example":       {A: []string{"192.0.2.50"}, AAAA: []string{"2001:db8::50"}, Fail: mailtest.DNSServFail, FailTypes: []string{"AAAA"}},
		"cname.example":      {MX: []mailtest.MX{{Pref: 5, Host: "alias.example"}}, Authenticated: true},
		"alias.example":      {CNAME: "mx-c.example.com", Authenticated: true},
		"mxip.example":       {MX: []mailtest.MX{{Pref: 10, Host: "192.0.2.77"}, {Pref: 20, Host: "mx-c.example.com"}}},
		"adpartial.example":  {MX: []mailtest.MX{{Pref: 10, Host: "mx-b.example.com"}}, Authenticated: true},
	}
}

func start(t *testing.T, zone mailtest.DNSZone) (*mailtest.DNSServer, *dnslookup.Resolver) {
	t.Helper()
	s, err := mailtest.NewDNSServer(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &dnslookup.Resolver{Servers: []string{s.Addr()}, Timeout: time.Second, Attempts: 1}
}

func fmtHosts(hs []transport.Host) string {
	var parts []string
	for _, h := range hs {
		s := fmt.Sprintf("%s/%s/%d", h.Name, h.Addr, h.Pref)
		if h.Port != 0 {
			s += fmt.Sprintf("/port=%d", h.Port)
		}
		if h.DNSSEC {
			s += "/ad"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func fmtResult(res router.Result, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	s := res.Outcome.String()
	if res.Transport != "" {
		s += " T=" + res.Transport
	}
	if len(res.Hosts) > 0 {
		s += " " + fmtHosts(res.Hosts)
	}
	if res.Reply != nil {
		s += " [" + res.Reply.Error() + "]"
	}
	if res.Freeze {
		s += " freeze"
	}
	return s
}

func routeDomain(r *dnslookup.Router, domain string) string {
	a := &router.Address{Recipient: &exigo.Recipient{Address: "user@" + domain}, Domain: domain, LocalPart: "user", Router: "dnslookup"}
	return fmtResult(r.Route(context.Background(), a))
}

func TestRoute(t *testing.T) {
	t.Parallel()
	_, res := start(t, testZone())
	r := &dnslookup.Router{Transport: "remote_smtp", Resolver: res, Rand: keepOrder}
	tests := []struct{ domain, want string }{
		// MX preference order; IPv6 addresses before IPv4 ones; AD bit
		// only when both the MX and the address answers had it.
		{"example.com", "accept T=remote_smtp mx-a.example.com/2001:db8::1/10/ad mx-a.example.com/192.0.2.1/10/ad mx-a.example.com/192.0.2.2/10/ad " +
			"mx-d.example.com/2001:db8::4/10/ad mx-b.example.com/192.0.2.20/20 mx-c.example.com/192.0.2.30/30/ad"},
		{"EXAMPLE.COM.", "accept T=remote_smtp mx-a.example.com/2001:db8::1/10/ad mx-a.example.com/192.0.2.1/10/ad mx-a.example.com/192.0.2.2/10/ad " +
			"mx-d.example.com/2001:db8::4/10/ad mx-b.example.com/192.0.2.20/20 mx-c.example.com/192.0.2.30/30/ad"},
		{"implicit.example", "accept T=remote_smtp implicit.example/2001:db8::7/-1 implicit.example/198.51.100.7/-1"},
		{"nullmx.example", "fail [556 5.1.10 Recipient address has null MX]"},
		{"nullplus.example", "accept T=remote_smtp mx-c.example.com/192.0.2.30/10"},
		{"nonexistent.example", "decline"},
		{"bad..domain", "decline"},
		{"[192.0.2.1]", "decline"},
		{"dangling.example", "accept T=remote_smtp mx-c.example.com/192.0.2.30/20"},
		{"allmissing.example", "decline"},
		{"mxfail.example", "defer"},
		{"mxslow.example", "defer"},
		{"hostfail.example", "accept T=remote_smtp mx-c.example.com/192.0.2.30/20"},
		{"allfail.example", "defer"},
		{"v6fail.example", "accept T=remote_smtp half.example/192.0.2.50/10"},
		{"cname.example", "accept T=remote_smtp alias.example/192.0.2.30/5/ad"},
		{"mxip.example", "accept T=remote_smtp mx-c.example.com/192.0.2.30/20"},
		{"adpartial.example", "accept T=remote_smtp mx-b.example.com/192.0.2.20/10"},
	}
	for _, tt := range tests {
		if got := routeDomain(r, tt.domain); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.domain, got, tt.want)
		}
	}
}

func TestRouteOptions(t *testing.T) {
	t.Parallel()
	_, res := start(t, testZone())
	ign := acl.Must(acl.ParseHostList(dnslookup.DefaultIgnoreTargetHosts, nil))
	tests := []struct {
		name   string
		r      dnslookup.Router
		domain string
		want   string
	}{
		{"ipv4 only", dnslookup.Router{Family: dnslookup.IPv4Only}, "implicit.example", "accept T=t implicit.example/198.51.100.7/-1"},
		{"ipv6 only", dnslookup.Router{Family: dnslookup.IPv6Only}, "implicit.example", "accept T=t implicit.example/2001:db8::7/-1"},
		{"ipv4 first", dnslookup.Router{Family: dnslookup.IPv4First}, "implicit.example", "accept T=t implicit.example/198.51.100.7/-1 implicit.example/2001:db8::7/-1"},
		{"ignore_target_hosts", dnslookup.Router{IgnoreTargetHosts: ign}, "loopback.example", "accept T=t mx-c.example.com/192.0.2.30/20"},
		{"ignore_target_hosts: all ignored", dnslookup.Router{IgnoreTargetHosts: ign}, "onlylo.example", "decline"},
		{"ignore_target_hosts unset", dnslookup.Router{}, "onlylo.example", "accept T=t lo.example/127.0.0.1/10 zero.example/0.0.0.0/20"},
		{"fail_defer_domains", dnslookup.Router{FailDeferDomains: acl.Must(acl.ParseDomainList("*.example", nil))}, "nonexistent.example", "defer"},
		{"fail_defer_domains: all ignored", dnslookup.Router{IgnoreTargetHosts: ign, FailDeferDomains: acl.Must(acl.ParseDomainList("onlylo.example", nil))}, "onlylo.example", "defer"},
		{"mx_domains", dnslookup.Router{MXDomains: acl.Must(acl.ParseDomainList("*.example", nil))}, "implicit.example", "decline"},
		{"mx_fail_domains", dnslookup.Router{MXFailDomains: acl.Must(acl.ParseDomainList("mxfail.example", nil))}, "mxfail.example", "accept T=t mxfail.example/198.51.100.9/-1"},
		{"pass_on_timeout", dnslookup.Router{PassOnTimeout: true}, "mxslow.example", "pass"},
		{"allow_mx_to_ip", dnslookup.Router{AllowMXToIP: true}, "mxip.example", "accept T=t 192.0.2.77/192.0.2.77/10 mx-c.example.com/192.0.2.30/20"},
		// Equal preferences in random order: with a source that always
		// returns 0, the pair (mx-a, mx-d) is swapped; so are mx-a's two
		// IPv4 addresses.
		{"shuffle", dnslookup.Router{Rand: func(int) int { return 0 }}, "example.com",
			"accept T=t mx-d.example.com/2001:db8::4/10/ad mx-a.example.com/2001:db8::1/10/ad mx-a.example.com/192.0.2.2/10/ad mx-a.example.com/192.0.2.1/10/ad " +
				"mx-b.example.com/192.0.2.20/20 mx-c.example.com/192.0.2.30/30/ad"},
	}
	for _, tt := range tests {
		r := tt.r
		r.Transport, r.Resolver = "t", res
		if r.Rand == nil {
			r.Rand = keepOrder
		}
		if got := routeDomain(&r, tt.domain); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestSelfMX(t *testing.T) {
	t.Parallel()
	_, res := start(t, testZone())
	local := func(addrs ...string) *router.LocalHost {
		l := &router.LocalHost{}
		for _, a := range addrs {
			l.Addrs = append(l.Addrs, netip.MustParseAddr(a))
		}
		return l
	}
	tests := []struct {
		name   string
		r      dnslookup.Router
		domain string
		want   string
	}{
		// This host is mx-b (20): it and mx-c (30) are dropped.
		{"secondary", dnslookup.Router{Local: local("192.0.2.20")}, "example.com",
			"accept T=t mx-a.example.com/2001:db8::1/10/ad mx-a.example.com/192.0.2.1/10/ad mx-a.example.com/192.0.2.2/10/ad mx-d.example.com/2001:db8::4/10/ad"},
		{"secondary by name", dnslookup.Router{Local: &router.LocalHost{Names: acl.Must(acl.ParseDomainList("mx-c.example.com", nil))}}, "example.com",
			"accept T=t mx-a.example.com/2001:db8::1/10/ad mx-a.example.com/192.0.2.1/10/ad mx-a.example.com/192.0.2.2/10/ad mx-d.example.com/2001:db8::4/10/ad mx-b.example.com/192.0.2.20/20"},
		{"check_secondary_mx, found", dnslookup.Router{Local: local("192.0.2.20"), CheckSecondaryMX: true}, "example.com",
			"accept T=t mx-a.example.com/2001:db8::1/10/ad mx-a.example.com/192.0.2.1/10/ad mx-a.example.com/192.0.2.2/10/ad mx-d.example.com/2001:db8::4/10/ad"},
		{"check_secondary_mx, not found", dnslookup.Router{CheckSecondaryMX: true}, "example.com", "decline"},
		// This host is one of the most preferred: self applies.
		{"self = freeze", dnslookup.Router{Local: local("2001:db8::4")}, "example.com", "defer [451 4.0.0 lowest numbered MX record points to local host] freeze"},
		{"self = defer", dnslookup.Router{Local: local("192.0.2.2"), Self: router.SelfDefer}, "example.com", "defer [451 4.0.0 lowest numbered MX record points to local host]"},
		{"self = fail", dnslookup.Router{Local: local("192.0.2.2"), Self: router.SelfFail}, "example.com", "fail [550 5.0.0 lowest numbered MX record points to local host]"},
		{"self = pass", dnslookup.Router{Local: local("192.0.2.2"), Self: router.SelfPass}, "example.com", "pass"},
		{"self = send", dnslookup.Router{Local: local("192.0.2.30"), Self: router.SelfSend}, "dangling.example", "accept T=t mx-c.example.com/192.0.2.30/20"},
		{"implicit MX to self", dnslookup.Router{Local: local("198.51.100.7"), Self: router.SelfFail}, "implicit.example", "fail [550 5.0.0 remote host address is the local host]"},
	}
	for _, tt := range tests {
		r := tt.r
		r.Transport, r.Resolver, r.Rand = "t", res, keepOrder
		if got := routeDomain(&r, tt.domain); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestSelfErr(t *testing.T) {
	t.Parallel()
	_, res := start(t, testZone())
	r := &dnslookup.Router{Transport: "t", Resolver: res, Rand: keepOrder, Self: router.SelfDefer,
		Local: &router.LocalHost{Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::4")}}}
	a := &router.Address{Recipient: &exigo.Recipient{Address: "u@example.com"}, Domain: "example.com"}
	got, err := r.Route(context.Background(), a)
	if err != nil || got.Err == nil || got.Err.Error() != "router: lowest numbered MX record points to local host (mx-d.example.com)" {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestFindHostsErrors(t *testing.T) {
	t.Parallel()
	_, res := start(t, testZone())
	r := &dnslookup.Router{Resolver: res}
	ctx := context.Background()
	tests := []struct {
		domain string
		is     error
		want   string
	}{
		{"nonexistent.example", dnslookup.ErrNotFound, "dns MX lookup of nonexistent.example: no such domain"},
		{"nullmx.example", dnslookup.ErrNullMX, "domain has a null MX record: nullmx.example"},
		{"allmissing.example", dnslookup.ErrNoHosts, "no usable hosts for allmissing.example"},
		{"a..b", dnslookup.ErrInvalidDomain, `invalid domain name: "a..b"`},
		{"mxfail.example", dnslookup.ErrTemporary, "dns MX lookup of mxfail.example: server " + res.Servers[0] + ": SERVFAIL"},
		{"allfail.example", dnslookup.ErrTemporary, ""},
	}
	for _, tt := range tests {
		_, err := r.FindHosts(ctx, tt.domain)
		if !errors.Is(err, tt.is) {
			t.Errorf("%s: error %v, want %v", tt.domain, err, tt.is)
			continue
		}
		if tt.want != "" && err.Error() != tt.want {
			t.Errorf("%s: error %q, want %q", tt.domain, err, tt.want)
		}
	}
	// Temporary failures are not "not found", and the reverse.
	_, err := r.FindHosts(ctx, "mxslow.example")
	if !errors.Is(err, dnslookup.ErrTemporary) || errors.Is(err, dnslookup.ErrNotFound) {
		t.Errorf("timeout: %v", err)
	}
	_, err = r.FindHosts(ctx, "nonexistent.example")
	if errors.Is(err, dnslookup.ErrTemporary) {
		t.Errorf("NXDOMAIN is temporary: %v", err)
	}
	h, err := r.FindHosts(ctx, "implicit.example")
	if err != nil || !h.ImplicitMX || h.Self != "" || h.LocalRemoved {
		t.Errorf("implicit: %+v %v", h, err)
	}
}

func TestRouteNoTransport(t *testing.T) {
	t.Parallel()
	_, res := start(t, testZone())
	r := &dnslookup.Router{Resolver: res, Rand: keepOrder}
	if got, want := routeDomain(r, "implicit.example"), "error: dnslookup: no transport set"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	a := &router.Address{Recipient: &exigo.Recipient{Address: "u@implicit.example"}, Domain: "implicit.example", Verify: true}
	if got, want := fmtResult(r.Route(context.Background(), a)), "accept implicit.example/2001:db8::7/-1 implicit.example/198.51.100.7/-1"; got != want {
		t.Errorf("verify: got %s, want %s", got, want)
	}
}

func TestResolverTCPFallbackAndServers(t *testing.T) {
	t.Parallel()
	var mxs []mailtest.MX
	for i := range 60 {
		mxs = append(mxs, mailtest.MX{Pref: uint16(i), Host: fmt.Sprintf("mx%02d.many.example", i)})
	}
	s, _ := start(t, mailtest.DNSZone{"many.example": {MX: mxs}})
	// The first server does not exist: nothing listens on that port.
	res := &dnslookup.Resolver{Servers: []string{"127.0.0.1:1", s.Addr()}, Timeout: time.Second, Attempts: 1}
	got, _, err := res.LookupMX(context.Background(), "many.example")
	if err != nil || len(got) != 60 || got[59].Mx != "mx59.many.example." {
		t.Fatalf("LookupMX: %d records, %v", len(got), err)
	}
	var nets []string
	for _, q := range s.Queries() {
		nets = append(nets, q.Net+" "+q.Type+" "+q.Name)
		if !q.DO {
			t.Errorf("query without DO bit: %+v", q)
		}
	}
	if want := "udp MX many.example. tcp MX many.example."; strings.Join(nets, " ") != want {
		t.Errorf("queries %q, want %q", strings.Join(nets, " "), want)
	}
}

func TestResolverConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(file, []byte("# no servers\nsearch example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		file:                          "dns MX lookup of conf.example: dnslookup: no nameserver in " + file,
		filepath.Join(dir, "missing"): "dns MX lookup of conf.example: dnslookup: reading " + filepath.Join(dir, "missing") + ": open " + filepath.Join(dir, "missing") + ": no such file or directory",
	} {
		res := &dnslookup.Resolver{ConfigFile: name}
		_, _, err := res.LookupMX(context.Background(), "conf.example")
		if err == nil || err.Error() != want || !errors.Is(err, dnslookup.ErrTemporary) {
			t.Errorf("%s: got %v, want %s", name, err, want)
		}
	}
}

func TestResolverNoDNSSEC(t *testing.T) {
	t.Parallel()
	s, res := start(t, testZone())
	_, ad, err := res.LookupMX(context.Background(), "example.com")
	if err != nil || !ad {
		t.Fatalf("with DNSSEC: ad %v, %v", ad, err)
	}
	plain := &dnslookup.Resolver{Servers: res.Servers, NoDNSSEC: true, Timeout: time.Second}
	_, ad, err = plain.LookupMX(context.Background(), "example.com")
	if err != nil || ad {
		t.Errorf("without DNSSEC: ad %v, %v", ad, err)
	}
	qs := s.Queries()
	if len(qs) != 2 || !qs[0].DO || qs[1].DO {
		t.Errorf("queries %+v", qs)
	}
}
