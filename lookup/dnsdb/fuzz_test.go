package dnsdb

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var fuzzSeeds = []string{
	"a.example",
	"mx=a.b.example",
	">: a=host1.example:host2.example",
	">\n,: txt=a.b.example",
	">\n; txt=a.b.example",
	">:,; soa=a.b.example.com",
	"defer_strict,a=one.host.com:two.host.com",
	"defer_lax, dnssec_strict, retrans_5s, retry_2, a=host1.example:host2.example",
	"retrans_1m30s,retry_0x3,aaaa=x",
	"ptr = <; 1.2.3.4 ; 4.5.6.8",
	"ptr=2001:db8::1",
	"a+=<\n x\n\ny",
	"a=<| a || b | c",
	"zns=xxx.quercite.com",
	"csa=helo.example",
	"mxh=a::b:",
	">",
	">:,",
	"retry_-1,x",
	"defer_lax dnssec_strict a=x",
}

// FuzzParse checks that Parse never panics, that what it accepts is
// well-formed, and that String gives the same query back.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			se, ok := err.(*SyntaxError)
			if !ok || se.Offset < 0 || se.Offset > len(s) || se.Query != s {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
			return
		}
		if q.Type < 0 || int(q.Type) >= len(typeNames) || q.Retry < 0 || q.Retry > MaxRetry ||
			q.Retrans < 0 || q.Retrans > MaxRetrans || len(q.FieldSep) > 1 {
			t.Fatalf("Parse(%q) = %+v", s, q)
		}
		for _, d := range q.Domains {
			if d == "" || isSpace(d[0]) {
				t.Fatalf("Parse(%q): bad name %q", s, d)
			}
		}
		enc := q.String()
		all := strings.Join(q.Domains, "")
		if strings.Contains(enc, "=<:") && strings.Contains(all, ":") {
			return // no free separator: doubled colons are ambiguous
		}
		back, err := Parse(enc)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v; Parse(String() = %q): %v", s, q, enc, err)
		}
		if !reflect.DeepEqual(q, back) {
			t.Fatalf("Parse(%q) = %+v; String() = %q parses as %+v", s, q, enc, back)
		}
	})
}

// fuzzExchanger answers every query with records of every type.
var fuzzExchanger = ExchangerFunc(func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	r := new(dns.Msg)
	r.SetReply(m)
	name := m.Question[0].Name
	switch {
	case strings.HasPrefix(name, "fail"):
		r.Rcode = dns.RcodeServerFailure
		return r, nil
	case strings.HasPrefix(name, "nx"):
		r.Rcode = dns.RcodeNameError
		return r, nil
	}
	r.AuthenticatedData = strings.HasPrefix(name, "s")
	for _, rr := range []string{
		"A 192.0.2.1", "AAAA 2001:db8::1", `TXT "a" "b\255\"" ""`, `SPF "v=spf1" " -all"`,
		`MX 10 m\.x\@.example.`, "MX 0 .", "SRV 1 2 3 t.example.", "TLSA 3 1 1 ABCDEF",
		"NS ns.example.", "PTR p.example.", "SOA ns. host\\.master. 1 2 3 4 5", "CNAME c.example.",
	} {
		x, err := dns.NewRR(name + " 60 IN " + rr)
		if err != nil {
			return nil, err
		}
		r.Answer = append(r.Answer, x)
	}
	return r, nil
})

// FuzzQuery runs whole queries against canned answers: no panic, and
// the result agrees with its Found flag.
func FuzzQuery(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Add("dnssec_strict,a=s1:u2:fail3:nx4")
	f.Add(">;,| a+=sa:fail")
	db, err := New(WithServers("192.0.2.53"), WithExchanger(fuzzExchanger), WithAttempts(1), WithTimeout(time.Second))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := db.Query(context.Background(), s)
		if err != nil {
			return
		}
		if r.Found != (r.Value != "") {
			t.Fatalf("Query(%q) = %+v", s, r)
		}
	})
}
