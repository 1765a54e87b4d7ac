package dnsdb_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/lookup/dnsdb"
	"github.com/exigo-mta/exigo/mailtest"
)

var _ lookup.Lookup = (*dnsdb.DB)(nil)

const v6rev = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"

func testZone() mailtest.DNSZone {
	return mailtest.DNSZone{
		"a.test":         {A: []string{"192.0.2.1", "192.0.2.2"}, AAAA: []string{"2001:db8::1"}, Authenticated: true},
		"b.test":         {A: []string{"192.0.2.3"}, Authenticated: true},
		"v6only.test":    {AAAA: []string{"2001:db8::6", "::ffff:192.0.2.9"}},
		"mx.test":        {MX: []mailtest.MX{{Pref: 10, Host: "mx1.mx.test"}, {Pref: 20, Host: "mx2.mx.test"}}},
		"null.test":      {MX: []mailtest.MX{{Pref: 0, Host: "."}}},
		"txt.test":       {Other: []string{`TXT "v=one" "part2" "part3"`, `TXT "second"`}},
		"bin.test":       {Other: []string{`TXT "a\"b\\c\009d\255"`}},
		"empty.test":     {TXT: []string{""}},
		"spf.test":       {Other: []string{`SPF "v=spf1 " "-all"`}},
		"_sip._tcp.test": {Other: []string{"SRV 10 60 5060 sip.test.", "SRV 20 0 5061 ."}},
		"_25._tcp.mx1.mx.test": {TLSA: []mailtest.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: "ABCDEF0123"}},
			Authenticated: true},
		"cname.test":             {CNAME: "a.test", Authenticated: true},
		"ns.test":                {Other: []string{"NS ns1.ns.test.", "NS ns2.ns.test."}},
		"zone.test":              {Other: []string{"NS ns.zone.test.", "SOA ns.zone.test. hostmaster.zone.test. 2026112101 7200 3600 1209600 300"}},
		"1.2.0.192.in-addr.arpa": {PTR: []string{"host.test"}},
		v6rev:                    {PTR: []string{"v6host.test"}},
		"servfail.test":          {Fail: mailtest.DNSServFail},
		"refused.test":           {Fail: mailtest.DNSRefused},
		"timeout.test":           {Fail: mailtest.DNSTimeout},
		"aaaafail.test":          {A: []string{"192.0.2.7"}, Fail: mailtest.DNSServFail, FailTypes: []string{"AAAA"}},
		"signed.test":            {TXT: []string{"ok"}, Authenticated: true},
		"unsigned.test":          {TXT: []string{"plain"}},
		"never.test":             {TXT: []string{"n"}, Authenticated: true},
		"laxdo.test":             {TXT: []string{"l"}, Authenticated: true},
		"retry.test":             {Fail: mailtest.DNSServFail},
		"retry2.test":            {Fail: mailtest.DNSServFail},
		"esc.test":               {Other: []string{`MX 5 we\@ird\032host\.x.test.`}},
		"big.test": {TXT: []string{strings.Repeat("x", 200), strings.Repeat("y", 200),
			strings.Repeat("z", 200)}},
	}
}

var (
	srvOnce sync.Once
	srv     *mailtest.DNSServer
	srvErr  error
)

// server returns the fake DNS server shared by the tests of this file.
func server(t *testing.T) *mailtest.DNSServer {
	t.Helper()
	srvOnce.Do(func() { srv, srvErr = mailtest.NewDNSServer(testZone()) })
	if srvErr != nil {
		t.Fatal(srvErr)
	}
	return srv
}

// ownServer returns a fake DNS server for one test, for tests that count
// the queries it receives (the shared server keeps those of every test
// and every -count run).
func ownServer(t *testing.T) *mailtest.DNSServer {
	t.Helper()
	s, err := mailtest.NewDNSServer(testZone())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newDB(t *testing.T, opts ...dnsdb.Option) *dnsdb.DB {
	t.Helper()
	return newDBAt(t, server(t), opts...)
}

// newDBAt returns a DB asking s.
func newDBAt(t *testing.T, s *mailtest.DNSServer, opts ...dnsdb.Option) *dnsdb.DB {
	t.Helper()
	opts = append([]dnsdb.Option{dnsdb.WithServers(s.Addr()), dnsdb.WithTimeout(300 * time.Millisecond),
		dnsdb.WithAttempts(1)}, opts...)
	db, err := dnsdb.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestLookupFound(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	tests := []struct{ query, want string }{
		{"a=a.test", "192.0.2.1\n192.0.2.2"},
		{">: a=a.test", "192.0.2.1:192.0.2.2"},
		{">  a=a.test", "192.0.2.1 192.0.2.2"},
		{"aaaa=a.test", "2001:db8::1"},
		{"aaaa=v6only.test", "2001:db8::6\n::ffff:192.0.2.9"},
		{"a+=a.test", "2001:db8::1\n192.0.2.1\n192.0.2.2"},
		{">; a+=a.test:b.test", "2001:db8::1;192.0.2.1;192.0.2.2;192.0.2.3"},
		{">, a=a.test:b.test", "192.0.2.1,192.0.2.2,192.0.2.3"},
		{"a=<; a.test ; nx.test; b.test", "192.0.2.1\n192.0.2.2\n192.0.2.3"},
		{"A=A.TEST.", "192.0.2.1\n192.0.2.2"},
		{"mx=mx.test", "10 mx1.mx.test\n20 mx2.mx.test"},
		{">|,: mx=mx.test", "10:mx1.mx.test|20:mx2.mx.test"},
		{">|; mx=mx.test", "10mx1.mx.test|20mx2.mx.test"},
		{"mxh=mx.test", "mx1.mx.test\nmx2.mx.test"},
		{">:,= mxh=mx.test", "mx1.mx.test:mx2.mx.test"},
		{"mx=null.test", "0 "},
		{"txt.test", "v=one\nsecond"},
		{"txt=txt.test", "v=one\nsecond"},
		{">\n,: txt=txt.test", "v=one:part2:part3\nsecond"},
		{">\n; txt=txt.test", "v=onepart2part3\nsecond"},
		{">|,  txt=txt.test", "v=one part2 part3|second"},
		{"txt=bin.test", "a\"b\\c\td\xff"},
		{"spf=spf.test", "v=spf1 -all"},
		{">\n,+ spf=spf.test", "v=spf1 +-all"},
		{"srv=_sip._tcp.test", "10 60 5060 sip.test\n20 0 5061 "},
		{">:,/ srv=_sip._tcp.test", "10/60/5060/sip.test:20/0/5061/"},
		{"tlsa=_25._tcp.mx1.mx.test", "3 1 1 abcdef0123"},
		{">\n,: tlsa=_25._tcp.mx1.mx.test", "3:1:1:abcdef0123"},
		{"cname=cname.test", "a.test"},
		{"a=cname.test", "192.0.2.1\n192.0.2.2"},
		{"ns=ns.test", "ns1.ns.test\nns2.ns.test"},
		{"zns=deep.sub.zone.test", "ns.zone.test"},
		{"zns=zone.test.", "ns.zone.test"},
		{"soa=x.zone.test", "ns.zone.test"},
		{">:,| soa=zone.test", "ns.zone.test|hostmaster.zone.test|2026112101|7200|3600|1209600|300"},
		{"ptr=192.0.2.1", "host.test"},
		{"ptr=1.2.0.192.in-addr.arpa", "host.test"},
		{"ptr=2001:db8::1", "v6host.test"},
		{"ptr=<; 192.0.2.1 ; 2001:db8::1", "host.test\nv6host.test"},
		{"ptr=192.0.2.1:" + v6rev, "host.test\nv6host.test"},
		{"defer_never,dnssec_never,retrans_2s,retry_1,mx=mx.test", "10 mx1.mx.test\n20 mx2.mx.test"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			v, found, err := db.Lookup(context.Background(), tt.query)
			if err != nil || !found || v != tt.want {
				t.Fatalf("Lookup(%q) = %q, %v, %v; want %q, true, nil", tt.query, v, found, err, tt.want)
			}
		})
	}
}

func TestLookupNotFound(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	for _, q := range []string{
		"a=nx.test",               // NXDOMAIN
		"mx=a.test",               // no data
		"aaaa=b.test",             // no data
		"txt=empty.test",          // a record, but no data: Exim fails it
		"a=",                      // no names
		"a=:",                     // only empty names
		"ptr=192.0.2.99",          // NXDOMAIN
		"zns=nothing.nx",          // no NS up to the top
		"soa=a.b.nx",              // no SOA up to the top
		"dnssec_strict,a=nx.test", // NXDOMAIN is not an unauthenticated answer
		"a=bad..name",             // not a valid name: never sent
		"a=" + strings.Repeat("x", 64) + ".test",
	} {
		v, found, err := db.Lookup(context.Background(), q)
		if err != nil || found || v != "" {
			t.Errorf("Lookup(%q) = %q, %v, %v; want not found", q, v, found, err)
		}
	}
}

func TestDeferModes(t *testing.T) {
	t.Parallel()
	s := server(t)
	db := newDB(t)
	addr := s.Addr()
	servfail := "dnsdb: A lookup of servfail.test.: server " + addr + ": SERVFAIL"
	timeout := "dnsdb: A lookup of timeout.test.: server " + addr + ": "
	tests := []struct {
		query    string
		want     string // value; "" means not found
		err      string // error text, or its prefix ending in ": "
		deferred int    // len(Result.Deferred)
	}{
		{query: "a=servfail.test", err: servfail},
		{query: "defer_lax,a=servfail.test", err: servfail},
		{query: "defer_strict,a=servfail.test", err: servfail},
		{query: "defer_never,a=servfail.test", deferred: 1},
		{query: "a=servfail.test:b.test", want: "192.0.2.3", deferred: 1},
		{query: "a=b.test:servfail.test", want: "192.0.2.3", deferred: 1},
		{query: "defer_strict,a=b.test:servfail.test", err: servfail},
		{query: "defer_never,a=servfail.test:b.test", want: "192.0.2.3", deferred: 1},
		{query: "a=servfail.test:nx.test", err: servfail},
		{query: "a=refused.test", err: "dnsdb: A lookup of refused.test.: server " + addr + ": REFUSED"},
		{query: "a=timeout.test", err: timeout},
		{query: "defer_strict,a=timeout.test", err: timeout},
		{query: "defer_never,a=timeout.test", deferred: 1},
		{query: "a=timeout.test:b.test", want: "192.0.2.3", deferred: 1},
		{query: "defer_strict,a=b.test:timeout.test", err: timeout},
		{query: "defer_never,a=timeout.test:b.test", want: "192.0.2.3", deferred: 1},
		// a+: the AAAA lookup fails, the A lookup gives data.
		{query: "a+=aaaafail.test", want: "192.0.2.7", deferred: 1},
		{query: "defer_strict,a+=aaaafail.test", err: "dnsdb: AAAA lookup of aaaafail.test.: server " + addr + ": SERVFAIL"},
		// Two failures under defer_lax: both reported.
		{query: "a=servfail.test:refused.test", err: servfail + "\ndnsdb: A lookup of refused.test.: server " + addr + ": REFUSED"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			r, err := db.Query(context.Background(), tt.query)
			if tt.err != "" {
				if err == nil || !errors.Is(err, dnsdb.ErrDefer) {
					t.Fatalf("Query(%q) = %+v, %v; want an error wrapping ErrDefer", tt.query, r, err)
				}
				if strings.HasSuffix(tt.err, ": ") && !strings.HasPrefix(err.Error(), tt.err) ||
					!strings.HasSuffix(tt.err, ": ") && err.Error() != tt.err {
					t.Fatalf("Query(%q) error\n %q, want\n %q", tt.query, err, tt.err)
				}
				var de *dnsdb.Error
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *dnsdb.Error", err)
				}
				_, found, lerr := db.Lookup(context.Background(), tt.query)
				if found || lerr == nil || !errors.Is(lerr, dnsdb.ErrDefer) {
					t.Fatalf("Lookup(%q) = %v, %v", tt.query, found, lerr)
				}
				return
			}
			if err != nil || r.Value != tt.want || r.Found != (tt.want != "") || len(r.Deferred) != tt.deferred {
				t.Fatalf("Query(%q) = %+v, %v; want %q with %d deferred", tt.query, r, err, tt.want, tt.deferred)
			}
			for _, d := range r.Deferred {
				if !errors.Is(d, dnsdb.ErrDefer) {
					t.Errorf("deferred error %v does not wrap ErrDefer", d)
				}
			}
		})
	}
}

func TestDNSSEC(t *testing.T) {
	t.Parallel()
	s := server(t)
	db := newDB(t)
	tests := []struct {
		query, want string
		auth        bool
		insecure    bool
	}{
		{query: "dnssec_strict,txt=signed.test", want: "ok", auth: true},
		{query: "dnssec_strict,txt=unsigned.test", insecure: true},
		{query: "defer_strict,dnssec_strict,txt=signed.test:unsigned.test", insecure: true},
		{query: "dnssec_strict,txt=unsigned.test:signed.test", want: "ok"},
		{query: "dnssec_strict,defer_never,txt=unsigned.test"},
		{query: "dnssec_lax,txt=unsigned.test", want: "plain"},
		{query: "dnssec_lax,txt=signed.test", want: "ok", auth: true},
		{query: "txt=signed.test", want: "ok", auth: true},
		{query: "dnssec_never,txt=signed.test", want: "ok"},
		{query: "dnssec_strict,a=cname.test", want: "192.0.2.1\n192.0.2.2", auth: true},
		{query: "dnssec_strict,tlsa=_25._tcp.mx1.mx.test", want: "3 1 1 abcdef0123", auth: true},
		{query: "dnssec_strict,mx=mx.test", insecure: true},
		{query: "a+=a.test", want: "2001:db8::1\n192.0.2.1\n192.0.2.2", auth: true},
		{query: "a=a.test:nx.test", want: "192.0.2.1\n192.0.2.2"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			r, err := db.Query(context.Background(), tt.query)
			if tt.insecure {
				if !errors.Is(err, dnsdb.ErrInsecure) || !errors.Is(err, dnsdb.ErrDefer) {
					t.Fatalf("Query(%q) = %+v, %v; want ErrInsecure", tt.query, r, err)
				}
				return
			}
			if err != nil || r.Value != tt.want || r.Authenticated != tt.auth {
				t.Fatalf("Query(%q) = %+v, %v; want %q authenticated %v", tt.query, r, err, tt.want, tt.auth)
			}
		})
	}
	t.Run("DO bit", func(t *testing.T) {
		t.Parallel()
		for _, q := range []string{"dnssec_never,txt=never.test", "txt=laxdo.test"} {
			if _, _, err := db.Lookup(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range s.Queries() {
			switch q.Name {
			case "never.test.":
				if q.DO {
					t.Errorf("dnssec_never query %+v has the DO bit", q)
				}
			case "laxdo.test.":
				if !q.DO {
					t.Errorf("dnssec_lax query %+v lacks the DO bit", q)
				}
			}
		}
	})
}

func countQueries(s *mailtest.DNSServer, name string) int {
	n := 0
	for _, q := range s.Queries() {
		if q.Name == name {
			n++
		}
	}
	return n
}

func TestRetry(t *testing.T) {
	t.Parallel()
	s := ownServer(t)
	db := newDBAt(t, s, dnsdb.WithAttempts(2))
	if _, _, err := db.Lookup(context.Background(), "retry_3,a=retry.test"); !errors.Is(err, dnsdb.ErrDefer) {
		t.Fatal(err)
	}
	if n := countQueries(s, "retry.test."); n != 3 {
		t.Errorf("retry_3: %d queries, want 3", n)
	}
	if _, _, err := db.Lookup(context.Background(), "a=retry2.test"); !errors.Is(err, dnsdb.ErrDefer) {
		t.Fatal(err)
	}
	if n := countQueries(s, "retry2.test."); n != 2 {
		t.Errorf("default attempts: %d queries, want 2", n)
	}
}

func TestRetrans(t *testing.T) {
	t.Parallel()
	db := newDB(t, dnsdb.WithTimeout(10*time.Second))
	start := time.Now()
	_, _, err := db.Lookup(context.Background(), "retrans_1s,retry_1,a=timeout.test")
	if !errors.Is(err, dnsdb.ErrDefer) {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("retrans_1s took %v", d)
	}
}

func TestFailover(t *testing.T) {
	t.Parallel()
	good := server(t)
	bad, err := mailtest.NewDNSServer(mailtest.DNSZone{"*.test": {Fail: mailtest.DNSServFail}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	db, err := dnsdb.New(dnsdb.WithServers(bad.Addr(), good.Addr()), dnsdb.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	v, found, err := db.Lookup(context.Background(), "a=b.test")
	if err != nil || !found || v != "192.0.2.3" {
		t.Fatalf("Lookup = %q, %v, %v", v, found, err)
	}
	if n := countQueries(bad, "b.test."); n != 1 {
		t.Errorf("bad server got %d queries, want 1", n)
	}
}

func TestTruncationWithoutEDNS(t *testing.T) {
	t.Parallel()
	s := ownServer(t)
	db := newDBAt(t, s, dnsdb.WithEDNS(0))
	v, found, err := db.Lookup(context.Background(), ">| txt=big.test")
	want := strings.Repeat("x", 200) + "|" + strings.Repeat("y", 200) + "|" + strings.Repeat("z", 200)
	if err != nil || !found || v != want {
		t.Fatalf("Lookup = %q, %v, %v", v, found, err)
	}
	var nets []string
	for _, q := range s.Queries() {
		if q.Name == "big.test." {
			nets = append(nets, q.Net)
		}
	}
	if strings.Join(nets, ",") != "udp,tcp" {
		t.Errorf("queries over %v, want udp then tcp", nets)
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := db.Lookup(ctx, "defer_never,a=a.test")
	if !errors.Is(err, dnsdb.ErrDefer) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	_, _, err := db.Lookup(context.Background(), "defer_lax dnssec_strict a=x")
	var se *dnsdb.SyntaxError
	if !errors.As(err, &se) || errors.Is(err, dnsdb.ErrDefer) || se.Offset != 10 {
		t.Fatalf("err = %v", err)
	}
	_, _, err = db.Lookup(context.Background(), "csa=host.test")
	if !errors.Is(err, dnsdb.ErrUnsupported) || err.Error() != "dnsdb: unsupported record type: csa" {
		t.Fatalf("err = %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		opts []dnsdb.Option
		want string
	}{
		{[]dnsdb.Option{dnsdb.WithServers("127.0.0.1:53"), dnsdb.WithEDNS(100)}, "dnsdb: invalid EDNS0 payload size 100"},
		{[]dnsdb.Option{dnsdb.WithServers("127.0.0.1:53"), dnsdb.WithTimeout(-1)}, "dnsdb: negative timeout or attempts"},
		{[]dnsdb.Option{dnsdb.WithServers("no port")}, `dnsdb: server "no port": address no port: missing port in address`},
		{[]dnsdb.Option{dnsdb.WithResolvConf(dir + "/none")}, "dnsdb: reading " + dir + "/none: open " + dir + "/none: no such file or directory"},
	} {
		db, err := dnsdb.New(tt.opts...)
		if err == nil || err.Error() != tt.want {
			t.Errorf("New = %v, %v; want error %q", db, err, tt.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/resolv.conf"
	if err := os.WriteFile(file, []byte("nameserver 192.0.2.10\nnameserver 2001:db8::10\noptions timeout:1 attempts:3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		calls []string
	)
	ex := dnsdb.ExchangerFunc(func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
		dl, _ := ctx.Deadline()
		mu.Lock()
		calls = append(calls, server+" "+time.Until(dl).Round(time.Second).String())
		mu.Unlock()
		r := new(dns.Msg)
		r.SetRcode(m, dns.RcodeServerFailure)
		return r, nil
	})
	db, err := dnsdb.New(dnsdb.WithResolvConf(file), dnsdb.WithExchanger(ex))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Lookup(context.Background(), "a=x.test"); !errors.Is(err, dnsdb.ErrDefer) {
		t.Fatal(err)
	}
	const want = "192.0.2.10:53 1s,[2001:db8::10]:53 1s,192.0.2.10:53 1s,[2001:db8::10]:53 1s,192.0.2.10:53 1s,[2001:db8::10]:53 1s"
	if got := strings.Join(calls, ","); got != want {
		t.Errorf("calls:\n %s, want\n %s", got, want)
	}
	empty := t.TempDir() + "/empty.conf"
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dnsdb.New(dnsdb.WithResolvConf(empty)); err == nil || err.Error() != "dnsdb: no nameserver in "+empty {
		t.Fatalf("New with empty resolv.conf: %v", err)
	}
}

// fake answers queries from a function, for answers the fake server
// cannot give.
func fake(answer func(q dns.Question, m *dns.Msg)) dnsdb.Exchanger {
	return dnsdb.ExchangerFunc(func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
		r := new(dns.Msg)
		r.SetReply(m)
		answer(m.Question[0], r)
		return r, nil
	})
}

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestExchanger(t *testing.T) {
	t.Parallel()
	ex := fake(func(q dns.Question, m *dns.Msg) {
		switch strings.ToLower(q.Name) {
		case "alias.test.": // a CNAME the server did not follow
			m.Answer = append(m.Answer, rr(t, "alias.test. 60 IN CNAME target.test."))
		case "target.test.":
			if q.Qtype == dns.TypeMX {
				m.Answer = append(m.Answer, rr(t, `target.test. 60 IN MX 5 we\@ird\032host\.x.test.`))
			}
		case "loop.test.":
			m.Answer = append(m.Answer, rr(t, "loop.test. 60 IN CNAME loop.test."))
		case "other.test.":
			m.Question[0].Name = "different.test."
		case "rcode.test.":
			m.Rcode = dns.RcodeNotImplemented
		default:
			m.Rcode = dns.RcodeNameError
		}
	})
	db, err := dnsdb.New(dnsdb.WithServers("192.0.2.53", "[2001:db8::53]:5353"), dnsdb.WithExchanger(ex), dnsdb.WithAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, found, err := db.Lookup(ctx, "mx=alias.test"); err != nil || !found || v != `5 we\@ird\032host\.x.test` {
		t.Errorf("mx=alias.test: %q, %v, %v", v, found, err)
	}
	if v, found, err := db.Lookup(ctx, "cname=alias.test"); err != nil || !found || v != "target.test" {
		t.Errorf("cname=alias.test: %q, %v, %v", v, found, err)
	}
	_, _, err = db.Lookup(ctx, "a=loop.test")
	if !errors.Is(err, dnsdb.ErrDefer) || err.Error() != "dnsdb: A lookup of loop.test.: CNAME chain too long" {
		t.Errorf("a=loop.test: %v", err)
	}
	_, _, err = db.Lookup(ctx, "a=other.test")
	want := "dnsdb: A lookup of other.test.: server [2001:db8::53]:5353: answer to another question"
	if !errors.Is(err, dnsdb.ErrDefer) || err.Error() != want {
		t.Errorf("a=other.test: %v", err)
	}
	_, _, err = db.Lookup(ctx, "a=rcode.test")
	want = "dnsdb: A lookup of rcode.test.: server [2001:db8::53]:5353: NOTIMP"
	if !errors.Is(err, dnsdb.ErrDefer) || err.Error() != want {
		t.Errorf("a=rcode.test: %v", err)
	}

	failing := dnsdb.ExchangerFunc(func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
		return nil, errors.New("boom")
	})
	db, err = dnsdb.New(dnsdb.WithServers("192.0.2.53"), dnsdb.WithExchanger(failing), dnsdb.WithAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = db.Lookup(ctx, "a=x.test")
	if !errors.Is(err, dnsdb.ErrDefer) || err.Error() != "dnsdb: A lookup of x.test.: server 192.0.2.53:53: boom" {
		t.Errorf("failing exchanger: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, found, err := db.Lookup(context.Background(), ">, a+=a.test:b.test")
			if err != nil || !found || v != "2001:db8::1,192.0.2.1,192.0.2.2,192.0.2.3" {
				errs <- errors.New(v)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error("concurrent lookup:", err)
	}
}
