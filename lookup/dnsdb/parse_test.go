package dnsdb

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Query
	}{
		{"a.example", Query{Sep: '\n', Domains: []string{"a.example"}}},
		{"  mx = a.example ", Query{Sep: '\n', Type: MX, Domains: []string{"a.example"}}},
		{"MXH=a.example", Query{Sep: '\n', Type: MXH, Domains: []string{"a.example"}}},
		{"A+=h1:h2", Query{Sep: '\n', Type: APlus, Domains: []string{"h1", "h2"}}},
		{">: a=host1.example", Query{Sep: ':', Type: A, Domains: []string{"host1.example"}}},
		{">  a=x", Query{Sep: ' ', Type: A, Domains: []string{"x"}}},
		{">\n,: txt=a.b.example", Query{Sep: '\n', FieldSep: ":", FieldSepSet: true, Domains: []string{"a.b.example"}}},
		{">\n; txt=a.b.example", Query{Sep: '\n', FieldSepSet: true, Domains: []string{"a.b.example"}}},
		{">:,; soa=a.b.example.com", Query{Sep: ':', FieldSep: ";", FieldSepSet: true, Type: SOA, Domains: []string{"a.b.example.com"}}},
		{">,,, mx=m", Query{Sep: ',', FieldSep: ",", FieldSepSet: true, Type: MX, Domains: []string{"m"}}},
		{"defer_strict,a=one.host.com:two.host.com", Query{Sep: '\n', Defer: DeferStrict, Type: A, Domains: []string{"one.host.com", "two.host.com"}}},
		{"DEFER_NEVER , Dnssec_Strict,a=x", Query{Sep: '\n', Defer: DeferNever, DNSSEC: DNSSECStrict, Type: A, Domains: []string{"x"}}},
		{">:; defer_lax, dnssec_never, retrans_5s, retry_2, a=host1.example:host2.example",
			Query{Sep: ':', FieldSep: "", FieldSepSet: true, Defer: DeferLax, DNSSEC: DNSSECNever, Retrans: 5 * time.Second, Retry: 2, Type: A, Domains: []string{"host1.example", "host2.example"}}},
		{"retrans_0m30s,retry_0x3,txt", Query{Sep: '\n', Retrans: 30 * time.Second, Retry: 3, Domains: []string{"txt"}}},
		{"retrans_1h,retry_010,x", Query{Sep: '\n', Retrans: MaxRetrans, Retry: 8, Domains: []string{"x"}}},
		{"retry_99,retry_ ,x", Query{Sep: '\n', Domains: []string{"x"}}},
		{"retry_99,x", Query{Sep: '\n', Retry: MaxRetry, Domains: []string{"x"}}},
		{"ptr = <; 1.2.3.4 ; 4.5.6.8", Query{Sep: '\n', Type: PTR, Domains: []string{"1.2.3.4", "4.5.6.8"}}},
		{"ptr=2001:db8::1", Query{Sep: '\n', Type: PTR, Domains: []string{"2001:db8::1"}}},
		{"ptr=2001:db8::1 ", Query{Sep: '\n', Type: PTR, Domains: []string{"2001", "db8:1"}}},
		{"a=2001:db8::1", Query{Sep: '\n', Type: A, Domains: []string{"2001", "db8:1"}}},
		{"a= x : : y :", Query{Sep: '\n', Type: A, Domains: []string{"x", "y"}}},
		{"a=<\n x\n\ny", Query{Sep: '\n', Type: A, Domains: []string{"x", "y"}}},
		{"a=<| a || b | c", Query{Sep: '\n', Type: A, Domains: []string{"a | b", "c"}}},
		{`a=x\ :y`, Query{Sep: '\n', Type: A, Domains: []string{`x\ `, "y"}}},
		{"a=", Query{Sep: '\n', Type: A}},
		{"", Query{Sep: '\n'}},
		{"<a:b", Query{Sep: '\n', Domains: []string{"<a", "b"}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("Parse(%q) =\n %+v, want\n %+v", tt.in, *got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{">", `dnsdb: missing separator after '>' at offset 1 of query ">"`},
		{">:,", `dnsdb: missing field separator after ',' at offset 3 of query ">:,"`},
		{"defer_sometimes,a=x", `dnsdb: unsupported dnsdb defer behaviour at offset 6 of query "defer_sometimes,a=x"`},
		{"dnssec_always,a=x", `dnsdb: unsupported dnsdb dnssec behaviour at offset 7 of query "dnssec_always,a=x"`},
		{"defer_lax dnssec_strict a=x", `dnsdb: dnsdb modifier syntax error at offset 10 of query "defer_lax dnssec_strict a=x"`},
		{"defer_strictly,a=x", `dnsdb: dnsdb modifier syntax error at offset 12 of query "defer_strictly,a=x"`},
		{"defer_lax", `dnsdb: dnsdb modifier syntax error at offset 9 of query "defer_lax"`},
		{"retrans_5,a=x", `dnsdb: unsupported dnsdb timeout value at offset 8 of query "retrans_5,a=x"`},
		{"retrans_0s,a=x", `dnsdb: unsupported dnsdb timeout value at offset 8 of query "retrans_0s,a=x"`},
		{"retrans_5s ,a=x", `dnsdb: unsupported dnsdb timeout value at offset 8 of query "retrans_5s ,a=x"`},
		{"retrans_5s", `dnsdb: dnsdb modifier syntax error at offset 10 of query "retrans_5s"`},
		{"retrans_99999999999s,a=x", `dnsdb: unsupported dnsdb timeout value at offset 8 of query "retrans_99999999999s,a=x"`},
		{"retry_-1,a=x", `dnsdb: unsupported dnsdb retry count at offset 6 of query "retry_-1,a=x"`},
		{"retry_3x,a=x", `dnsdb: dnsdb modifier syntax error at offset 7 of query "retry_3x,a=x"`},
		{"retry_99999999999,a=x", `dnsdb: unsupported dnsdb retry count at offset 6 of query "retry_99999999999,a=x"`},
		// A space after ">:" ends the separators: ",;" then starts the type.
		{">: ,; defer_lax, a=x", `dnsdb: unsupported DNS record type at offset 3 of query ">: ,; defer_lax, a=x"`},
		{"any=x", `dnsdb: unsupported DNS record type at offset 0 of query "any=x"`},
		{"x.example:a=b", `dnsdb: unsupported DNS record type at offset 0 of query "x.example:a=b"`},
	}
	for _, tt := range tests {
		q, err := Parse(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %+v, %v; want a *SyntaxError", tt.in, q, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error\n %s, want\n %s", tt.in, err, tt.want)
		}
	}
}

func TestQueryString(t *testing.T) {
	t.Parallel()
	q := &Query{Sep: '|', FieldSep: ":", FieldSepSet: true, Defer: DeferStrict, DNSSEC: DNSSECNever,
		Retrans: 3 * time.Second, Retry: 2, Type: MXH, Domains: []string{"a:b", "c;d", "e"}}
	const want = ">|,: defer_strict,dnssec_never,retrans_3s,retry_2,mxh=<,a:b,c;d,e"
	if got := q.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	back, err := Parse(want)
	if err != nil || !reflect.DeepEqual(back, q) {
		t.Fatalf("Parse(String()) = %+v, %v", back, err)
	}
	q = &Query{Sep: '\n', FieldSepSet: true, Type: TXT}
	if got := q.String(); got != ">\n; defer_lax,dnssec_lax,txt=<:" {
		t.Fatalf("String() = %q", got)
	}
}

func TestTypeString(t *testing.T) {
	t.Parallel()
	if APlus.String() != "a+" || ZNS.String() != "zns" || Type(99).String() != "Type(99)" {
		t.Fatal(APlus.String(), ZNS.String(), Type(99).String())
	}
	if DeferNever.String() != "defer_never" || DNSSECStrict.String() != "dnssec_strict" {
		t.Fatal(DeferNever, DNSSECStrict)
	}
}

func TestReverse(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"192.0.2.1", "1.2.0.192.in-addr.arpa"},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"},
		{"fe80::a%eth0", "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa"},
		{"::ffff:192.0.2.1", "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"},
	}
	for _, tt := range tests {
		a, ok := parseIP(tt.in)
		if !ok {
			t.Errorf("parseIP(%q) failed", tt.in)
			continue
		}
		if got := reverseName(a); got != tt.want {
			t.Errorf("reverseName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.0004", "1..2.3", "host.example", "192.0.2.001", "010.0.0.1", "1.2.3.4 ", "", "2001:db8::g"} {
		if a, ok := parseIP(bad); ok {
			t.Errorf("parseIP(%q) = %v, want failure", bad, a)
		}
	}
	if _, ok := parseIP("10.0.0.1"); !ok {
		t.Error("parseIP(10.0.0.1) failed")
	}
	_ = netip.Addr{}
}

func TestAppendName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"mx.example.com.", "mx.example.com"},
		{".", ""},
		{"", ""},
		{`a\.b.example.`, `a\.b.example`},
		{`a\032b\@c.example.`, `a\032b\@c.example`},
		{`x\"y\$z\(\).`, `x\"y\$z\(\)`},
		{`\255\000.`, `\255\000`},
		{`under_score.Example.`, `under_score.Example`},
	}
	for _, tt := range tests {
		if got := string(appendName(nil, tt.in)); got != tt.want {
			t.Errorf("appendName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := string(unescape(nil, `a\"b\\c\009\255`, nil)); got != "a\"b\\c\t\xff" {
		t.Errorf("unescape = %q", got)
	}
}

func TestParseDocExample(t *testing.T) {
	t.Parallel()
	q, err := Parse(">|,: defer_strict, dnssec_lax, retrans_2s, retry_1, mx=<;example.com;example.net")
	want := Query{Sep: '|', FieldSep: ":", FieldSepSet: true, Defer: DeferStrict, Retrans: 2 * time.Second, Retry: 1,
		Type: MX, Domains: []string{"example.com", "example.net"}}
	if err != nil || !reflect.DeepEqual(*q, want) {
		t.Fatalf("Parse = %+v, %v", q, err)
	}
}
