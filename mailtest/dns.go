package mailtest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNSZone is the data a [DNSServer] answers from: records by owner name.
// Names are compared without regard to case, with or without the final
// dot; an owner "*.example.com" is a wildcard (RFC 4592) for names below
// example.com that have no records of their own.
type DNSZone map[string]DNSRecords

// DNSRecords are the records of one name, and how queries for it behave.
type DNSRecords struct {
	A     []string // IPv4 addresses, "192.0.2.1"
	AAAA  []string // IPv6 addresses, "2001:db8::1"
	MX    []MX
	TXT   []string // one record each; split into 255-byte strings on the wire
	CNAME string   // the canonical name; answers for other types follow it
	PTR   []string
	TLSA  []TLSA
	// Other holds further records as "TYPE rdata" in zone file syntax,
	// e.g. "SRV 0 5 25 mx.example.com." or "CAA 0 issue \"ca.example\"".
	Other []string
	// TTL is the TTL of every record (default 300).
	TTL uint32
	// Authenticated sets the AD bit on answers about this name, as a
	// validating resolver does for DNSSEC-signed data, when the query
	// sets the DO or AD bit. An answer that follows CNAMEs is
	// authenticated only when every name on the way is.
	Authenticated bool
	// Fail makes queries for this name fail.
	Fail DNSFailure
	// FailTypes limits Fail to queries of these types ("MX", "AAAA",
	// ...); empty means all types.
	FailTypes []string
}

// MX is an MX record.
type MX struct {
	Pref uint16
	Host string // "." for a null MX (RFC 7505)
}

// TLSA is a TLSA record (RFC 6698).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          string // the certificate association data in hex
}

// DNSFailure is an injected failure.
type DNSFailure int

const (
	// DNSNoFailure answers normally.
	DNSNoFailure DNSFailure = iota
	// DNSServFail answers with SERVFAIL.
	DNSServFail
	// DNSRefused answers with REFUSED.
	DNSRefused
	// DNSTimeout never answers: the client times out.
	DNSTimeout
)

// DNSQuery is a query the server received.
type DNSQuery struct {
	Name string // as asked, lower case, with the final dot
	Type string // "MX", "A", ...
	Net  string // "udp" or "tcp"
	DO   bool   // the DNSSEC OK bit was set
}

// DNSServer is a recursive DNS server for tests that answers from Go
// values, on 127.0.0.1 over UDP and TCP on the same port. It behaves like
// a caching resolver: it follows CNAMEs in its answers, answers NXDOMAIN
// for names it does not know (and that have no names below them), NODATA
// for known names without records of the type asked, sets the AD bit for
// authenticated data, and truncates UDP answers larger than the client's
// buffer (512 bytes without EDNS0) so that clients retry over TCP. Use
// [DNSServer.Addr] as the client's server address. It is safe for
// concurrent use.
type DNSServer struct {
	udp, tcp *dns.Server
	addr     string

	mu      sync.Mutex
	zone    map[string][]dns.RR // by lower-case FQDN; compiled records
	meta    map[string]DNSRecords
	queries []DNSQuery
}

// NewDNSServer starts a server answering from zone. Close it when done.
func NewDNSServer(zone DNSZone) (*DNSServer, error) {
	s := &DNSServer{zone: make(map[string][]dns.RR), meta: make(map[string]DNSRecords)}
	for name, recs := range zone {
		if err := s.set(name, recs); err != nil {
			return nil, err
		}
	}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("mailtest: dns server: %w", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("mailtest: dns server: no port free for both UDP and TCP: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: notify, ReadTimeout: 2 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- s.udp.ActivateAndServe() }()
	go func() { errc <- s.tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			s.Close()
			return nil, fmt.Errorf("mailtest: dns server: %w", err)
		}
	}
	return s, nil
}

// Addr returns the server's address, "127.0.0.1:port", for both UDP and
// TCP.
func (s *DNSServer) Addr() string { return s.addr }

// Close stops the server.
func (s *DNSServer) Close() error {
	var errs []error
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		if srv != nil {
			if err := srv.Shutdown(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Set replaces the records of name.
func (s *DNSServer) Set(name string, recs DNSRecords) error { return s.set(name, recs) }

// Delete removes name: it no longer exists.
func (s *DNSServer) Delete(name string) {
	key := canonical(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.zone, key)
	delete(s.meta, key)
}

// Queries returns the queries received so far, in order.
func (s *DNSServer) Queries() []DNSQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DNSQuery(nil), s.queries...)
}

func canonical(name string) string { return dns.CanonicalName(name) }

// set compiles recs into resource records.
func (s *DNSServer) set(name string, recs DNSRecords) error {
	key := canonical(name)
	if _, ok := dns.IsDomainName(key); !ok {
		return fmt.Errorf("mailtest: invalid DNS name %q", name)
	}
	rrs, err := compile(key, recs)
	if err != nil {
		return err
	}
	for _, t := range recs.FailTypes {
		if _, ok := dns.StringToType[strings.ToUpper(t)]; !ok {
			return fmt.Errorf("mailtest: %s: unknown record type %q in FailTypes", name, t)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[key] = rrs
	s.meta[key] = recs
	return nil
}

func compile(owner string, r DNSRecords) ([]dns.RR, error) {
	ttl := r.TTL
	if ttl == 0 {
		ttl = 300
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	bad := func(what string, v any) error {
		return fmt.Errorf("mailtest: %s: invalid %s %q", owner, what, v)
	}
	var out []dns.RR
	for _, a := range r.A {
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is4() {
			return nil, bad("A address", a)
		}
		b := ip.As4()
		out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: net.IP(b[:])})
	}
	for _, a := range r.AAAA {
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return nil, bad("AAAA address", a)
		}
		b := ip.As16()
		out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.IP(b[:])})
	}
	for _, mx := range r.MX {
		host := dns.Fqdn(mx.Host)
		if _, ok := dns.IsDomainName(host); !ok {
			return nil, bad("MX host", mx.Host)
		}
		out = append(out, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: mx.Pref, Mx: host})
	}
	for _, t := range r.TXT {
		var chunks []string
		for len(t) > 255 {
			chunks = append(chunks, t[:255])
			t = t[255:]
		}
		chunks = append(chunks, t)
		out = append(out, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: chunks})
	}
	if r.CNAME != "" {
		target := dns.Fqdn(r.CNAME)
		if _, ok := dns.IsDomainName(target); !ok {
			return nil, bad("CNAME", r.CNAME)
		}
		out = append(out, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: target})
	}
	for _, p := range r.PTR {
		target := dns.Fqdn(p)
		if _, ok := dns.IsDomainName(target); !ok {
			return nil, bad("PTR", p)
		}
		out = append(out, &dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: target})
	}
	for _, t := range r.TLSA {
		if _, err := hex.DecodeString(t.Data); err != nil || t.Data == "" {
			return nil, bad("TLSA data", t.Data)
		}
		out = append(out, &dns.TLSA{Hdr: hdr(dns.TypeTLSA), Usage: t.Usage, Selector: t.Selector,
			MatchingType: t.MatchingType, Certificate: strings.ToLower(t.Data)})
	}
	for _, o := range r.Other {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s", owner, ttl, o))
		if err != nil || rr == nil {
			return nil, fmt.Errorf("mailtest: %s: invalid record %q: %v", owner, o, err)
		}
		out = append(out, rr)
	}
	return out, nil
}

// find returns the records of name (lower case FQDN), through a wildcard
// if needed, with the owner rewritten to name.
func (s *DNSServer) find(name string) ([]dns.RR, DNSRecords, bool) {
	if rrs, ok := s.zone[name]; ok {
		return rrs, s.meta[name], true
	}
	labels := dns.SplitDomainName(name)
	for i := 1; i < len(labels); i++ {
		wild := "*." + strings.Join(labels[i:], ".") + "."
		if rrs, ok := s.zone[wild]; ok {
			// A name with names below it is not covered by the wildcard.
			if s.hasDescendant(name) {
				return nil, DNSRecords{}, false
			}
			out := make([]dns.RR, len(rrs))
			for j, rr := range rrs {
				c := dns.Copy(rr)
				c.Header().Name = name
				out[j] = c
			}
			return out, s.meta[wild], true
		}
	}
	return nil, DNSRecords{}, false
}

func (s *DNSServer) hasDescendant(name string) bool {
	for k := range s.zone {
		if strings.HasSuffix(k, "."+name) {
			return true
		}
	}
	return false
}

func failsFor(m DNSRecords, qtype uint16) bool {
	if m.Fail == DNSNoFailure {
		return false
	}
	if len(m.FailTypes) == 0 {
		return true
	}
	for _, t := range m.FailTypes {
		if dns.StringToType[strings.ToUpper(t)] == qtype {
			return true
		}
	}
	return false
}

func (s *DNSServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		resp.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	opt := req.IsEdns0()
	do := opt != nil && opt.Do()
	netw := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		netw = "tcp"
	}
	name := canonical(q.Name)

	s.mu.Lock()
	s.queries = append(s.queries, DNSQuery{Name: name, Type: dns.TypeToString[q.Qtype], Net: netw, DO: do})
	resp.SetReply(req)
	resp.RecursionAvailable = true
	ad := true
	cur := name
	for hop := 0; ; hop++ {
		rrs, meta, ok := s.find(cur)
		if ok && failsFor(meta, q.Qtype) {
			s.mu.Unlock()
			switch meta.Fail {
			case DNSTimeout:
				return
			case DNSRefused:
				resp.Rcode = dns.RcodeRefused
			default:
				resp.Rcode = dns.RcodeServerFailure
			}
			resp.Answer = nil
			_ = w.WriteMsg(resp)
			return
		}
		if !ok {
			if hop > 0 || !s.hasDescendant(cur) {
				resp.Rcode = dns.RcodeNameError
			}
			ad = false
			break
		}
		ad = ad && meta.Authenticated
		var cname dns.RR
		found := false
		for _, rr := range rrs {
			switch t := rr.Header().Rrtype; {
			case t == q.Qtype || q.Qtype == dns.TypeANY:
				resp.Answer = append(resp.Answer, rr)
				found = true
			case t == dns.TypeCNAME:
				cname = rr
			}
		}
		if found || cname == nil || hop >= 8 {
			break
		}
		resp.Answer = append(resp.Answer, cname)
		cur = canonical(cname.(*dns.CNAME).Target)
	}
	s.mu.Unlock()

	resp.AuthenticatedData = ad && (do || req.AuthenticatedData) && resp.Rcode == dns.RcodeSuccess
	if opt != nil {
		resp.SetEdns0(opt.UDPSize(), do)
	}
	if netw == "udp" {
		size := dns.MinMsgSize
		if opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp)
}
