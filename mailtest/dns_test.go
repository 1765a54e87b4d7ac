package mailtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/mailtest"
	"github.com/miekg/dns"
)

func startDNS(t *testing.T, zone mailtest.DNSZone) *mailtest.DNSServer {
	t.Helper()
	s, err := mailtest.NewDNSServer(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ask sends one query and returns the answer's text form: the rcode, the
// flags AD and TC when set, then the answer records.
func ask(t *testing.T, s *mailtest.DNSServer, netw, name string, qtype uint16, do bool, edns bool) string {
	t.Helper()
	return askWithin(t, s, netw, name, qtype, do, edns, 2*time.Second)
}

// askWithin is ask with a timeout for the answer.
func askWithin(t *testing.T, s *mailtest.DNSServer, netw, name string, qtype uint16, do bool, edns bool, timeout time.Duration) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns {
		m.SetEdns0(1232, do)
	}
	c := &dns.Client{Net: netw, Timeout: timeout}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Second)
	defer cancel()
	r, _, err := c.ExchangeContext(ctx, m, s.Addr())
	if err != nil {
		return "error"
	}
	var b strings.Builder
	b.WriteString(dns.RcodeToString[r.Rcode])
	if r.AuthenticatedData {
		b.WriteString(" ad")
	}
	if r.Truncated {
		b.WriteString(" tc")
	}
	for _, rr := range r.Answer {
		b.WriteString("\n" + strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return b.String()
}

func TestDNSServerAnswers(t *testing.T) {
	t.Parallel()
	s := startDNS(t, mailtest.DNSZone{
		"example.com": {
			MX:            []mailtest.MX{{Pref: 10, Host: "mx1.example.com"}, {Pref: 20, Host: "mx2.example.com."}},
			TXT:           []string{"v=spf1 -all"},
			Authenticated: true,
		},
		"MX1.example.com":          {A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}, Authenticated: true},
		"www.example.com":          {CNAME: "mx1.example.com", TTL: 60, Authenticated: true},
		"alias.example.com":        {CNAME: "www.example.com"},
		"dangling.example.com":     {CNAME: "nowhere.example.com"},
		"a.b.deep.example.com":     {A: []string{"192.0.2.9"}},
		"_25._tcp.mx1.example.com": {TLSA: []mailtest.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: "ABCDEF"}}},
		"1.2.0.192.in-addr.arpa":   {PTR: []string{"mx1.example.com"}},
		"*.wild.example.com":       {A: []string{"192.0.2.7"}},
		"x.wild.example.com":       {TXT: []string{"own"}},
		"srv.example.com":          {Other: []string{"SRV 0 5 25 mx1.example.com."}},
	})
	tests := []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"example.com", dns.TypeMX, "NOERROR ad\nexample.com. 300 IN MX 10 mx1.example.com.\nexample.com. 300 IN MX 20 mx2.example.com."},
		{"EXAMPLE.COM.", dns.TypeTXT, "NOERROR ad\nexample.com. 300 IN TXT \"v=spf1 -all\""},
		{"example.com", dns.TypeA, "NOERROR ad"}, // NODATA
		{"mx1.example.com", dns.TypeAAAA, "NOERROR ad\nmx1.example.com. 300 IN AAAA 2001:db8::1"},
		{"www.example.com", dns.TypeA, "NOERROR ad\nwww.example.com. 60 IN CNAME mx1.example.com.\nmx1.example.com. 300 IN A 192.0.2.1"},
		{"www.example.com", dns.TypeCNAME, "NOERROR ad\nwww.example.com. 60 IN CNAME mx1.example.com."},
		// Not authenticated: one name on the chain is not.
		{"alias.example.com", dns.TypeA, "NOERROR\nalias.example.com. 300 IN CNAME www.example.com.\nwww.example.com. 60 IN CNAME mx1.example.com.\nmx1.example.com. 300 IN A 192.0.2.1"},
		{"dangling.example.com", dns.TypeA, "NXDOMAIN\ndangling.example.com. 300 IN CNAME nowhere.example.com."},
		{"nowhere.example.com", dns.TypeA, "NXDOMAIN"},
		{"deep.example.com", dns.TypeA, "NOERROR"}, // empty non-terminal
		{"_25._tcp.mx1.example.com", dns.TypeTLSA, "NOERROR\n_25._tcp.mx1.example.com. 300 IN TLSA 3 1 1 abcdef"},
		{"1.2.0.192.in-addr.arpa", dns.TypePTR, "NOERROR\n1.2.0.192.in-addr.arpa. 300 IN PTR mx1.example.com."},
		{"any.wild.example.com", dns.TypeA, "NOERROR\nany.wild.example.com. 300 IN A 192.0.2.7"},
		{"x.wild.example.com", dns.TypeA, "NOERROR"},
		{"srv.example.com", dns.TypeSRV, "NOERROR\nsrv.example.com. 300 IN SRV 0 5 25 mx1.example.com."},
	}
	for _, tt := range tests {
		if got := ask(t, s, "udp", tt.name, tt.qtype, true, true); got != tt.want {
			t.Errorf("%s %s:\n got %q\nwant %q", dns.TypeToString[tt.qtype], tt.name, got, tt.want)
		}
	}
	// Without DO (or AD) in the query there is no AD bit.
	if got, want := ask(t, s, "udp", "example.com", dns.TypeTXT, false, true), "NOERROR\nexample.com. 300 IN TXT \"v=spf1 -all\""; got != want {
		t.Errorf("without DO: got %q, want %q", got, want)
	}
}

func TestDNSServerFailures(t *testing.T) {
	t.Parallel()
	s := startDNS(t, mailtest.DNSZone{
		"fail.example":    {A: []string{"192.0.2.1"}, Fail: mailtest.DNSServFail},
		"refused.example": {Fail: mailtest.DNSRefused},
		"slow.example":    {A: []string{"192.0.2.1"}, Fail: mailtest.DNSTimeout},
		"mxonly.example":  {A: []string{"192.0.2.2"}, Fail: mailtest.DNSServFail, FailTypes: []string{"mx"}},
		"cname.example":   {CNAME: "fail.example"},
	})
	tests := []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"fail.example", dns.TypeA, "SERVFAIL"},
		{"refused.example", dns.TypeMX, "REFUSED"},
		{"slow.example", dns.TypeA, "error"},
		{"mxonly.example", dns.TypeMX, "SERVFAIL"},
		{"mxonly.example", dns.TypeA, "NOERROR\nmxonly.example. 300 IN A 192.0.2.2"},
		{"cname.example", dns.TypeA, "SERVFAIL"},
	}
	for _, tt := range tests {
		timeout := 2 * time.Second
		if tt.want == "error" {
			timeout = 300 * time.Millisecond // the server never answers
		}
		if got := askWithin(t, s, "udp", tt.name, tt.qtype, false, true, timeout); got != tt.want {
			t.Errorf("%s %s: got %q, want %q", dns.TypeToString[tt.qtype], tt.name, got, tt.want)
		}
	}
	if got := askWithin(t, s, "tcp", "slow.example", dns.TypeA, false, true, 300*time.Millisecond); got != "error" {
		t.Errorf("timeout over TCP: got %q", got)
	}
}

func TestDNSServerTruncation(t *testing.T) {
	t.Parallel()
	var txt []string
	for i := range 12 {
		txt = append(txt, strings.Repeat(string(rune('a'+i)), 60))
	}
	s := startDNS(t, mailtest.DNSZone{"big.example": {TXT: txt}})
	udp := ask(t, s, "udp", "big.example", dns.TypeTXT, false, false)
	if !strings.HasPrefix(udp, "NOERROR tc") || strings.Count(udp, "\n") >= 12 {
		t.Errorf("UDP without EDNS0: got %d records, header %q", strings.Count(udp, "\n"), strings.SplitN(udp, "\n", 2)[0])
	}
	tcp := ask(t, s, "tcp", "big.example", dns.TypeTXT, false, false)
	if !strings.HasPrefix(tcp, "NOERROR\n") || strings.Count(tcp, "\n") != 12 {
		t.Errorf("TCP: got %d records, header %q", strings.Count(tcp, "\n"), strings.SplitN(tcp, "\n", 2)[0])
	}
	if got := ask(t, s, "udp", "big.example", dns.TypeTXT, false, true); strings.Count(got, "\n") != 12 || strings.Contains(got, " tc") {
		t.Errorf("UDP with a 1232-byte buffer: got %d records", strings.Count(got, "\n"))
	}
	// A TXT string longer than 255 bytes is split on the wire.
	long := strings.Repeat("x", 300)
	if err := s.Set("long.example", mailtest.DNSRecords{TXT: []string{long}}); err != nil {
		t.Fatal(err)
	}
	want := "NOERROR\nlong.example. 300 IN TXT \"" + strings.Repeat("x", 255) + "\" \"" + strings.Repeat("x", 45) + "\""
	if got := ask(t, s, "tcp", "long.example", dns.TypeTXT, false, false); got != want {
		t.Errorf("long TXT: got %q", got)
	}
}

func TestDNSServerChangesAndQueries(t *testing.T) {
	t.Parallel()
	s := startDNS(t, mailtest.DNSZone{"a.example": {A: []string{"192.0.2.1"}}})
	if got, want := ask(t, s, "udp", "a.example", dns.TypeA, true, true), "NOERROR\na.example. 300 IN A 192.0.2.1"; got != want {
		t.Errorf("before Set: got %q", got)
	}
	if err := s.Set("A.example.", mailtest.DNSRecords{A: []string{"192.0.2.2"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := ask(t, s, "tcp", "a.example", dns.TypeA, false, true), "NOERROR\na.example. 300 IN A 192.0.2.2"; got != want {
		t.Errorf("after Set: got %q", got)
	}
	s.Delete("a.example")
	if got := ask(t, s, "udp", "a.example", dns.TypeA, false, false); got != "NXDOMAIN" {
		t.Errorf("after Delete: got %q", got)
	}
	want := []mailtest.DNSQuery{
		{Name: "a.example.", Type: "A", Net: "udp", DO: true},
		{Name: "a.example.", Type: "A", Net: "tcp"},
		{Name: "a.example.", Type: "A", Net: "udp"},
	}
	got := s.Queries()
	if len(got) != len(want) {
		t.Fatalf("Queries() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("query %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDNSServerInvalidData(t *testing.T) {
	t.Parallel()
	bad := []struct {
		name string
		recs mailtest.DNSRecords
		want string
	}{
		{"a.example", mailtest.DNSRecords{A: []string{"2001:db8::1"}}, `mailtest: a.example.: invalid A address "2001:db8::1"`},
		{"a.example", mailtest.DNSRecords{AAAA: []string{"192.0.2.1"}}, `mailtest: a.example.: invalid AAAA address "192.0.2.1"`},
		{"a.example", mailtest.DNSRecords{TLSA: []mailtest.TLSA{{Data: "xyz"}}}, `mailtest: a.example.: invalid TLSA data "xyz"`},
		{"a.example", mailtest.DNSRecords{FailTypes: []string{"NOPE"}}, `mailtest: a.example: unknown record type "NOPE" in FailTypes`},
		{"a..example", mailtest.DNSRecords{}, `mailtest: invalid DNS name "a..example"`},
	}
	for _, b := range bad {
		_, err := mailtest.NewDNSServer(mailtest.DNSZone{b.name: b.recs})
		if err == nil || err.Error() != b.want {
			t.Errorf("%+v: got error %v, want %q", b.recs, err, b.want)
		}
	}
}
