package acl

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/lookup"
)

// TestNamedListsAgainstExim defines the same named lists (with lookups,
// partial matching, defaults and nested references) in an Exim
// configuration and in a ListConfig, and requires the same answers from
// Exim's match_domain, match_ip, match_address and match_local_part and
// from this package, for a few hundred generated subjects.
func TestNamedListsAgainstExim(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"local":  "localhost.example: here\n",
		"relay":  "*.partner.example: partner\nrelay.example: relay\n*.a.example: a-wild\n",
		"wild":   "*.b.example: b\n*: star\n",
		"dot":    ".c.example: dot\n",
		"nets":   "192.168.7.0/24: net7\n10.1.2.0/24: net10\n",
		"ips":    "10.9.9.9: ip\n\"192.168.1.0/28\": small\n",
		"addr":   "joe@example.com: joe\n*@atdom.example: atdom\n",
		"lp":     "hostmaster: hm\nAnn: ann\n",
		"notwho": "*: all\n",
	}
	path := map[string]string{}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		path[name] = p
	}
	expand := func(s string) string {
		for name, p := range path {
			s = strings.ReplaceAll(s, "FILE_"+strings.ToUpper(name), p)
		}
		return s
	}
	type def struct{ kind, name, list string }
	defs := []def{
		{"domain", "local_domains", "@ : localhost : lsearch;FILE_LOCAL"},
		{"domain", "relay_to_domains", "*.partner.example : !bad.partner.example : +local_domains : partial-lsearch;FILE_RELAY"},
		{"domain", "wild", "partial1-lsearch*;FILE_WILD"},
		{"domain", "dotted", "partial(.)lsearch;FILE_DOT"},
		{"domain", "not_local", "!+local_domains : *"},
		{"host", "relay_hosts", "<; 127.0.0.1 ; ::1 ; 192.168.0.0/16 ; net24-lsearch;;FILE_NETS"},
		{"host", "blocked", "!192.168.1.1 : 192.168.1.0/24 : net-iplsearch;FILE_IPS"},
		{"host", "combo", "!+blocked : +relay_hosts"},
		{"local_part", "roles", "postmaster : abuse : lsearch;FILE_LP"},
		{"address", "vips", "boss@example.com : *@+local_domains : lsearch*@;FILE_ADDR"},
		{"address", "combo_addr", "!+vips : *@+relay_to_domains"},
	}
	var conf strings.Builder
	for _, d := range defs {
		kw := map[string]string{"domain": "domainlist", "host": "hostlist", "local_part": "localpartlist", "address": "addresslist"}[d.kind]
		fmt.Fprintf(&conf, "%s %s = %s\n", kw, d.name, expand(d.list))
	}
	ex := testpeer.NewExim(t, conf.String())

	cfg := &ListConfig{PrimaryHostname: "test.example", Lookups: lookup.NewRegistry(),
		DomainLists: map[string]*DomainList{}, HostLists: map[string]*HostList{},
		AddressLists: map[string]*AddressList{}, LocalPartLists: map[string]*LocalPartList{}}
	for _, d := range defs {
		l := expand(d.list)
		var err error
		switch d.kind {
		case "domain":
			cfg.DomainLists[d.name], err = ParseDomainList(l, cfg)
		case "host":
			cfg.HostLists[d.name], err = ParseHostList(l, cfg)
		case "local_part":
			cfg.LocalPartLists[d.name], err = ParseLocalPartList(l, cfg)
		case "address":
			cfg.AddressLists[d.name], err = ParseAddressList(l, cfg)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", d.kind, d.name, err)
		}
	}

	lists := map[string][]string{
		"domain": {"+local_domains", "!+local_domains", "+relay_to_domains", "!+relay_to_domains : *", "+wild", "+dotted",
			"+not_local", "!+not_local", "+dotted : +wild", "!+dotted : +relay_to_domains",
			"partial-lsearch;FILE_RELAY", "partial0-lsearch;FILE_RELAY", "partial2(.)lsearch*;FILE_DOT", "lsearch*;FILE_WILD",
			"partial-lsearch,ret=key;FILE_RELAY", "!partial1-lsearch;FILE_WILD : *.example"},
		"host":       {"+relay_hosts", "!+relay_hosts", "+blocked", "+combo", "!+combo : 10.0.0.0/8", "+blocked : +relay_hosts", "net16-lsearch;FILE_NETS"},
		"local_part": {"+roles", "!+roles : *", "!+roles", "lsearch*;FILE_NOTWHO"},
		"address": {"+vips", "!+vips : *@*", "+combo_addr", "*@+relay_to_domains",
			"*@partial-lsearch;FILE_RELAY", "lsearch*@;FILE_ADDR", "joe@+wild"},
	}

	rng := rand.New(rand.NewPCG(4, 96))
	comps := []string{"a", "b", "c", "x", "partner", "bad"}
	domain := func() string {
		switch rng.IntN(8) {
		case 0:
			return pick(rng, "test.example", "localhost", "LOCALHOST.example", "relay.example", "example.com", "atdom.example")
		}
		n := 1 + rng.IntN(3)
		parts := make([]string, n, n+1)
		for i := range parts {
			parts[i] = pick(rng, comps...)
		}
		return strings.Join(append(parts, "example"), ".")
	}
	localPart := func() string {
		return pick(rng, "boss", "joe", "Joe", "postmaster", "hostmaster", "ann", "Ann", "abuse", "zed")
	}
	ip := func() string {
		switch rng.IntN(4) {
		case 0:
			return pick(rng, "127.0.0.1", "::1", "10.9.9.9", "192.168.1.1", "2001:db8::1")
		case 1:
			return fmt.Sprintf("192.168.%d.%d", pick(rng, 0, 1, 7), rng.IntN(20))
		case 2:
			return fmt.Sprintf("10.1.%d.%d", rng.IntN(3), rng.IntN(256))
		}
		return fmt.Sprintf("%d.%d.%d.%d", pick(rng, 10, 172, 192), rng.IntN(256), rng.IntN(4), rng.IntN(256))
	}

	type tcase struct{ kind, subject, list string }
	var cases []tcase
	for _, kind := range []string{"domain", "host", "local_part", "address"} {
		for _, l := range lists[kind] {
			for range 12 {
				var s string
				switch kind {
				case "domain":
					s = domain()
				case "host":
					s = ip()
				case "local_part":
					s = localPart()
				case "address":
					s = localPart() + "@" + domain()
				}
				cases = append(cases, tcase{kind, s, expand(l)})
			}
		}
	}
	var in strings.Builder
	for _, c := range cases {
		cond := map[string]string{"domain": "match_domain", "local_part": "match_local_part", "address": "match_address", "host": "match_ip"}[c.kind]
		fmt.Fprintf(&in, "${if %s{%s}{\\N%s\\N}{yes}{no}}\n", cond, c.subject, c.list)
	}
	out, err := ex.Run(in.String(), "-be")
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	for _, line := range strings.Split(out, "\n") {
		if a, ok := strings.CutPrefix(line, "> "); ok && a != "" {
			answers = append(answers, a)
		}
	}
	if len(answers) != len(cases) {
		t.Fatalf("exim gave %d answers for %d cases:\n%s", len(answers), len(cases), out)
	}
	ctx := lookup.WithCache(context.Background(), &lookup.Cache{})
	yes := 0
	for i, c := range cases {
		var ok bool
		var err error
		switch c.kind {
		case "domain":
			ok, _, err = Must(ParseDomainList(c.list, cfg)).Match(ctx, c.subject)
		case "local_part":
			ok, _, err = Must(ParseLocalPartList(c.list, cfg)).Match(ctx, c.subject)
		case "address":
			ok, _, err = Must(ParseAddressList(c.list, cfg)).Match(ctx, c.subject)
		case "host":
			ok, _, err = Must(ParseHostList(c.list, cfg)).Match(ctx, &Host{Addr: netip.MustParseAddr(c.subject)})
		}
		if err != nil {
			t.Errorf("%s %q in %q: %v", c.kind, c.subject, c.list, err)
			continue
		}
		if answers[i] != "yes" && answers[i] != "no" {
			t.Errorf("%s %q in %q: exim said %q", c.kind, c.subject, c.list, answers[i])
			continue
		}
		if ok {
			yes++
		}
		if ok != (answers[i] == "yes") {
			t.Errorf("%s %q in %q: exigo %v, exim %s", c.kind, c.subject, c.list, ok, answers[i])
		}
	}
	t.Logf("%d cases, %d in the list", len(cases), yes)
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }
