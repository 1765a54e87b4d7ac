package manualroute_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/dnslookup"
	"github.com/exigo-mta/exigo/router/manualroute"
)

func fmtItems(items []manualroute.HostItem) string {
	var parts []string
	for _, it := range items {
		parts = append(parts, it.String())
	}
	return strings.Join(parts, " ")
}

func TestParseHost(t *testing.T) {
	t.Parallel()
	ok := []struct{ in, want string }{
		{"mail.example.net", "mail.example.net"},
		{"Mail.Example.NET.", "mail.example.net"},
		{"mail.example.net:587", "mail.example.net:587"},
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[192.0.2.1]:2525", "[192.0.2.1]:2525"},
		{"[2001:db8::1]:25", "[2001:db8::1]:25"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"example.com/MX", "example.com/MX"},
		{"example.com/mx:1225", "example.com/MX:1225"},
		{"+", "+"},
	}
	for _, tt := range ok {
		h, err := manualroute.ParseHost(tt.in)
		if err != nil || h.String() != tt.want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", tt.in, h.String(), err, tt.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "manualroute: empty host item"},
		{"host:0", `manualroute: host item "host:0": port 0 out of range`},
		{"host:65536", `manualroute: host item "host:65536": port 65536 out of range`},
		{"host:x", `manualroute: host item "host:x": invalid port "x"`},
		{"host:", `manualroute: host item "host:": invalid port ""`},
		{"[192.0.2.1", `manualroute: host item "[192.0.2.1": missing ]`},
		{"[host]:25", `manualroute: host item "[host]:25": not an IP address in brackets`},
		{"[192.0.2.1]x", `manualroute: host item "[192.0.2.1]x": unexpected text after ]`},
		{"192.0.2.1:25", `manualroute: host item "192.0.2.1:25": an IP address with a port must be in brackets`},
		{"192.0.2.1/MX", `manualroute: host item "192.0.2.1/MX": /MX needs a host name`},
		{"bad_host!", `manualroute: host item "bad_host!": invalid host name`},
		{"a..b", `manualroute: host item "a..b": invalid host name`},
		{"fe80::1%eth0", `manualroute: host item "fe80::1%eth0": IPv6 zones are not allowed`},
	}
	for _, tt := range bad {
		_, err := manualroute.ParseHost(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseHost(%q): error %v, want %s", tt.in, err, tt.want)
		}
	}
}

func TestParseHosts(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"host1.tld::1225 : host2.tld::1226", "host1.tld:1225 host2.tld:1226"},
		{"<+ host1.tld:1225 + host2.tld:1226", "host1.tld:1225 host2.tld:1226"},
		{"</ [10.1.1.1]:1225 / [::1]:1226", "[10.1.1.1]:1225 [::1]:1226"},
		{"[::::1]::25 : ::::1", "[::1]:25 ::1"},
		{"x.y.z:p.q.r/MX:e.f.g", "x.y.z p.q.r/MX e.f.g"},
		{"host1:host2:host3:+:host4:host5", "host1 host2 host3 + host4 host5"},
		{"dom1.tld/mx::1225", "dom1.tld/MX:1225"},
		{"", ""},
	}
	for _, tt := range tests {
		items, err := manualroute.ParseHosts(tt.in)
		if err != nil || fmtItems(items) != tt.want {
			t.Errorf("ParseHosts(%q) = %q, %v; want %q", tt.in, fmtItems(items), err, tt.want)
		}
	}
}

func fmtRule(r manualroute.Rule) string {
	s := r.Pattern + " [" + fmtItems(r.Hosts) + "]"
	if r.Transport != "" {
		s += " T=" + r.Transport
	}
	switch r.Randomize {
	case manualroute.Yes:
		s += " randomize"
	case manualroute.No:
		s += " no_randomize"
	}
	if r.ByName {
		s += " byname"
	}
	if r.IPv4Only {
		s += " ipv4_only"
	}
	if r.IPv4Prefer {
		s += " ipv4_prefer"
	}
	return s
}

func TestParseRouteList(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"dict.ref.example  mail-1.ref.example:mail-2.ref.example ; thes.ref.example  mail-3.ref.example:mail-4.ref.example",
			"dict.ref.example [mail-1.ref.example mail-2.ref.example] | thes.ref.example [mail-3.ref.example mail-4.ref.example]"},
		{`* "host1.tld::1225 : host2.tld::1226"`, "* [host1.tld:1225 host2.tld:1226]"},
		{`* "<+ host1.tld:1225 + host2.tld:1226"`, "* [host1.tld:1225 host2.tld:1226]"},
		{"domain1  host1:host2:host3  randomize bydns; domain2  host4:host5",
			"domain1 [host1 host2 host3] randomize | domain2 [host4 host5]"},
		{"*.example  mx.example  no_randomize byname ipv4_only ipv4_prefer lmtp ; ", "*.example [mx.example] T=lmtp no_randomize byname ipv4_only ipv4_prefer"},
		{"<, a.example h1 , b.example h2 smtp", "a.example [h1] | b.example [h2] T=smtp"},
		{"local.example", "local.example []"},
		{`^dom(\d+)\.example$ h.example`, `^dom(\d+)\.example$ [h.example]`},
		{" ; ; ", ""},
	}
	for _, tt := range tests {
		rules, err := manualroute.ParseRouteList(tt.in, nil)
		if err != nil {
			t.Errorf("ParseRouteList(%q): %v", tt.in, err)
			continue
		}
		var parts []string
		for _, r := range rules {
			parts = append(parts, fmtRule(r))
		}
		if got := strings.Join(parts, " | "); got != tt.want {
			t.Errorf("ParseRouteList(%q) =\n %s\nwant\n %s", tt.in, got, tt.want)
		}
	}
	bad := []struct{ in, want string }{
		{`* "host1`, `manualroute: rule "* \"host1": unterminated quoted string`},
		{`* "host1"x`, `manualroute: rule "* \"host1\"x": text after a quoted string`},
		{"* host1 smtp lmtp", `manualroute: rule "* host1 smtp lmtp": unknown option "lmtp" (transport already "smtp")`},
		{"* host1 bad/option", `manualroute: rule "* host1 bad/option": invalid option or transport name "bad/option"`},
		{"* host::x", `manualroute: rule "* host::x": manualroute: host item "host:x": invalid port "x"`},
		{"^[ host", "manualroute: rule \"^[ host\": "},
	}
	for _, tt := range bad {
		_, err := manualroute.ParseRouteList(tt.in, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParseRouteList(%q): error %v, want %s", tt.in, err, tt.want)
		}
	}
}

func FuzzParseRouteList(f *testing.F) {
	for _, s := range []string{
		"dict.ref.example  mail-1.ref.example:mail-2.ref.example ; thes.ref.example  mail-3.ref.example",
		`* "host1.tld::1225 : host2.tld::1226" randomize smtp`,
		`* "</ [10.1.1.1]:1225 / [::1]:1226"`,
		"<, a.example h1 , b.example h2/MX::25 lmtp",
		"* x.y.z:p.q.r/MX:e.f.g:+:[192.0.2.1]::25",
		`"quoted pattern" "h"`, "^dom(\\d+)$ h", "* [", "* host::99999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := manualroute.ParseRouteList(s, nil)
		if err != nil {
			return
		}
		for _, r := range rules {
			// Every host item prints in a form ParseHost reads back.
			for _, h := range r.Hosts {
				again, err := manualroute.ParseHost(h.String())
				if err != nil || again != h {
					t.Fatalf("%q: host %q reparsed as %q, %v", s, h.String(), again.String(), err)
				}
			}
		}
	})
}

func zone() mailtest.DNSZone {
	return mailtest.DNSZone{
		"smart.example":  {A: []string{"192.0.2.25"}, AAAA: []string{"2001:db8::25"}},
		"smart2.example": {A: []string{"192.0.2.26"}},
		"lo.example":     {A: []string{"127.0.0.1"}},
		"me.example":     {A: []string{"192.0.2.100"}},
		"slow.example":   {Fail: mailtest.DNSServFail},
		"mxdom.example":  {MX: []mailtest.MX{{Pref: 10, Host: "smart2.example"}, {Pref: 20, Host: "smart.example"}}},
		"mxself.example": {MX: []mailtest.MX{{Pref: 10, Host: "me.example"}, {Pref: 20, Host: "smart.example"}}},
	}
}

func startDNS(t *testing.T) *dnslookup.Resolver {
	t.Helper()
	s, err := mailtest.NewDNSServer(zone())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &dnslookup.Resolver{Servers: []string{s.Addr()}, Timeout: 2 * time.Second, Attempts: 1}
}

func routeIt(r *manualroute.Router, addr string, verify bool) string {
	local, domain := exigo.SplitAddress(addr)
	a := &router.Address{Recipient: &exigo.Recipient{Address: addr}, LocalPart: local, Domain: domain, Verify: verify, Router: "manual"}
	res, err := r.Route(context.Background(), a)
	if err != nil {
		return "error: " + err.Error()
	}
	s := res.Outcome.String()
	if res.Transport != "" {
		s += " T=" + res.Transport
	}
	for _, h := range res.Hosts {
		s += fmt.Sprintf(" %s/%s", h.Name, h.Addr)
		if h.Port != 0 {
			s += fmt.Sprintf(":%d", h.Port)
		}
		if h.Pref >= 0 {
			s += fmt.Sprintf("/%d", h.Pref)
		}
	}
	if res.Reply != nil {
		s += " [" + res.Reply.Error() + "]"
	}
	if res.Freeze {
		s += " freeze"
	}
	return s
}

func TestRoute(t *testing.T) {
	t.Parallel()
	res := startDNS(t)
	keep := func(n int) int { return n - 1 }
	first := func(int) int { return 0 }
	me := &router.LocalHost{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	rules := func(s string) []manualroute.Rule { return acl.Must(manualroute.ParseRouteList(s, nil)) }
	tests := []struct {
		name string
		r    manualroute.Router
		addr string
		want string
	}{
		{"smarthost with port", manualroute.Router{Rules: rules(`* "smart.example::587 : [192.0.2.9]::2525"`)}, "u@any.example",
			"accept T=smtp smart.example/2001:db8::25:587 smart.example/192.0.2.25:587 /192.0.2.9:2525"},
		{"no rule matches", manualroute.Router{Rules: rules("a.example smart.example")}, "u@b.example", "decline"},
		{"rule order and transport", manualroute.Router{Rules: rules("*.a.example smart.example lmtp ; *.example smart2.example")}, "u@x.a.example",
			"accept T=lmtp smart.example/2001:db8::25 smart.example/192.0.2.25"},
		{"second rule", manualroute.Router{Rules: rules("*.a.example smart.example lmtp ; *.example smart2.example")}, "u@x.b.example",
			"accept T=smtp smart2.example/192.0.2.26"},
		{"ipv4_only", manualroute.Router{Rules: rules("* smart.example ipv4_only")}, "u@x.example", "accept T=smtp smart.example/192.0.2.25"},
		{"ipv4_prefer", manualroute.Router{Rules: rules("* smart.example ipv4_prefer")}, "u@x.example", "accept T=smtp smart.example/192.0.2.25 smart.example/2001:db8::25"},
		{"local transport, no hosts", manualroute.Router{Rules: rules("* \"\" maildir")}, "u@x.example", "accept T=maildir"},
		{"verify needs no lookups", manualroute.Router{Rules: rules("* missing.example")}, "u@x.example", "verify:accept T=smtp"},
		{"/MX item", manualroute.Router{Rules: rules("* mxdom.example/MX::26")}, "u@x.example",
			"accept T=smtp smart2.example/192.0.2.26:26/10 smart.example/2001:db8::25:26/20 smart.example/192.0.2.25:26/20"},
		{"host_find_failed default freeze", manualroute.Router{Rules: rules("* missing.example")}, "u@x.example", "defer freeze"},
		{"host_find_failed = fail", manualroute.Router{Rules: rules("* missing.example"), HostFindFailed: manualroute.ActionFail}, "u@x.example",
			`fail [550 5.0.0 lookup of host "missing.example" failed in manual router]`},
		{"host_find_failed = decline", manualroute.Router{Rules: rules("* missing.example"), HostFindFailed: manualroute.ActionDecline}, "u@x.example", "decline"},
		{"host_find_failed = pass", manualroute.Router{Rules: rules("* missing.example"), HostFindFailed: manualroute.ActionPass}, "u@x.example", "pass"},
		{"host_find_failed = ignore", manualroute.Router{Rules: rules("* missing.example:smart2.example"), HostFindFailed: manualroute.ActionIgnore}, "u@x.example",
			"accept T=smtp smart2.example/192.0.2.26"},
		{"host_find_failed = ignore, all missing", manualroute.Router{Rules: rules("* missing.example"), HostFindFailed: manualroute.ActionIgnore}, "u@x.example", "defer"},
		{"host_all_ignored = fail", manualroute.Router{Rules: rules("* missing.example"), HostFindFailed: manualroute.ActionIgnore, HostAllIgnored: manualroute.ActionFail}, "u@x.example",
			"fail [550 5.0.0 all hosts were ignored]"},
		{"ignore_target_hosts", manualroute.Router{Rules: rules("* lo.example:smart2.example"), IgnoreTargetHosts: acl.Must(acl.ParseHostList(dnslookup.DefaultIgnoreTargetHosts, nil))}, "u@x.example",
			"accept T=smtp smart2.example/192.0.2.26"},
		{"ignore_target_hosts, all", manualroute.Router{Rules: rules("* lo.example"), IgnoreTargetHosts: acl.Must(acl.ParseHostList("127.0.0.0/8", nil))}, "u@x.example", "defer"},
		{"temporary failure", manualroute.Router{Rules: rules("* slow.example")}, "u@x.example", "defer"},
		{"pass_on_timeout", manualroute.Router{Rules: rules("* slow.example"), PassOnTimeout: true}, "u@x.example", "pass"},
		{"self first, freeze", manualroute.Router{Rules: rules("* me.example:smart.example"), Local: me}, "u@x.example",
			"defer [451 4.0.0 remote host address is the local host] freeze"},
		{"self first, send", manualroute.Router{Rules: rules("* me.example:smart2.example"), Local: me, Self: router.SelfSend}, "u@x.example",
			"accept T=smtp me.example/192.0.2.100 smart2.example/192.0.2.26"},
		{"self after an ignored host counts as first", manualroute.Router{Rules: rules("* lo.example:me.example:smart2.example"), Local: me, Self: router.SelfFail,
			IgnoreTargetHosts: acl.Must(acl.ParseHostList("127.0.0.0/8", nil))}, "u@x.example",
			"fail [550 5.0.0 remote host address is the local host]"},
		{"self later: dropped with the rest", manualroute.Router{Rules: rules("* smart2.example:[192.0.2.100]:smart.example"), Local: me}, "u@x.example",
			"accept T=smtp smart2.example/192.0.2.26"},
		{"self as most preferred MX", manualroute.Router{Rules: rules("* mxself.example/MX"), Local: me, Self: router.SelfFail}, "u@x.example",
			"fail [550 5.0.0 lowest numbered MX record points to local host]"},
		{"randomize", manualroute.Router{Rules: rules("* smart.example:smart2.example:[192.0.2.1]:+:[192.0.2.2]:[192.0.2.3] ipv4_only"), Randomize: true, Rand: first}, "u@x.example",
			"accept T=smtp smart2.example/192.0.2.26 /192.0.2.1 smart.example/192.0.2.25 /192.0.2.3 /192.0.2.2"},
		{"no_randomize in the rule", manualroute.Router{Rules: rules("* [192.0.2.1]:[192.0.2.2] no_randomize"), Randomize: true, Rand: first}, "u@x.example",
			"accept T=smtp /192.0.2.1 /192.0.2.2"},
		{"randomize in the rule", manualroute.Router{Rules: rules("* [192.0.2.1]:[192.0.2.2] randomize"), Rand: first}, "u@x.example",
			"accept T=smtp /192.0.2.2 /192.0.2.1"},
		{"route_data", manualroute.Router{RouteData: func(_ context.Context, a *router.Address) (string, error) {
			v, _, err := lookup.Map{"x.example": `"smart2.example::2525" lmtp`}.Lookup(context.Background(), a.Domain)
			return v, err
		}}, "u@x.example", "accept T=lmtp smart2.example/192.0.2.26:2525"},
		{"route_data empty", manualroute.Router{RouteData: func(context.Context, *router.Address) (string, error) { return "", nil }}, "u@x.example", "decline"},
		{"route_data malformed", manualroute.Router{RouteData: func(context.Context, *router.Address) (string, error) { return "h::x", nil }}, "u@x.example",
			`error: manualroute: route data "h::x": manualroute: host item "h:x": invalid port "x"`},
	}
	for _, tt := range tests {
		r := tt.r
		r.Resolver = res
		if r.Transport == "" {
			r.Transport = "smtp"
		}
		if r.Rand == nil {
			r.Rand = keep
		}
		want, verify := tt.want, false
		if rest, ok := strings.CutPrefix(want, "verify:"); ok {
			want, verify = rest, true
		}
		if got := routeIt(&r, tt.addr, verify); got != want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, want)
		}
	}
}

func TestSmarthost(t *testing.T) {
	t.Parallel()
	res := startDNS(t)
	r, err := manualroute.Smarthost("relay", "smart2.example:587", "[2001:db8::9]:25", "missing.example")
	if err != nil {
		t.Fatal(err)
	}
	r.Resolver = res
	if got, want := routeIt(r, "u@anywhere.example", false), "defer"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	r, _ = manualroute.Smarthost("relay", "smart2.example:587", "[2001:db8::9]:25")
	r.Resolver = res
	if got, want := routeIt(r, "u@anywhere.example", false), "accept T=relay smart2.example/192.0.2.26:587 /2001:db8::9:25"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := manualroute.Smarthost("relay"); err == nil || err.Error() != "manualroute: smarthost needs at least one host" {
		t.Errorf("no hosts: %v", err)
	}
	if _, err := manualroute.Smarthost("relay", "host::25"); err == nil || err.Error() != `manualroute: host item "host::25": invalid host name` {
		t.Errorf("doubled colon: %v", err)
	}
	r, _ = manualroute.Smarthost("", "[192.0.2.1]")
	if got, want := routeIt(r, "u@x.example", false), "error: manualroute: no transport set"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
