package dnslookup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ErrNotFound means the name does not exist (NXDOMAIN).
var ErrNotFound = errors.New("no such domain")

// ErrTemporary marks a lookup that could not be completed: a timeout,
// SERVFAIL, REFUSED or an unreachable server. Test with errors.Is.
var ErrTemporary = errors.New("temporary DNS failure")

// Error is a failed DNS lookup. It wraps [ErrNotFound], or [ErrTemporary]
// and the cause.
type Error struct {
	Name string // the name looked up
	Type string // the record type, e.g. "MX"
	Err  error  // ErrNotFound, or the cause of a temporary failure
}

func (e *Error) Error() string {
	return "dns " + e.Type + " lookup of " + e.Name + ": " + e.Err.Error()
}

// Unwrap returns the cause, and ErrTemporary unless the name does not
// exist.
func (e *Error) Unwrap() []error {
	if errors.Is(e.Err, ErrNotFound) {
		return []error{e.Err}
	}
	return []error{ErrTemporary, e.Err}
}

// Resolver sends DNS queries to recursive servers with
// github.com/miekg/dns: over UDP with EDNS0, again over TCP when the
// answer is truncated, with the DNSSEC OK bit set so that a validating
// resolver reports authenticated answers with the AD bit. Its zero value
// reads the servers from /etc/resolv.conf. A Resolver is safe for
// concurrent use; do not copy one after first use.
type Resolver struct {
	// Servers are the servers to ask, in order, as "host:port" or a bare
	// IP address (port 53). When empty, the nameserver lines of
	// ConfigFile are used.
	Servers []string
	// ConfigFile is the resolv.conf to read when Servers is empty;
	// "" means /etc/resolv.conf.
	ConfigFile string
	// Timeout bounds each query to one server (default 5 seconds).
	Timeout time.Duration
	// Attempts is how many times each server is tried (default 2).
	Attempts int
	// NoDNSSEC leaves the DO bit unset (Exim's dnssec_request_domains
	// unset); answers are then never marked authenticated.
	NoDNSSEC bool

	once    sync.Once
	servers []string
	confErr error
}

// Answer is the answer to one query.
type Answer struct {
	// Records are the records of the type asked for, owned by the name
	// asked or by the end of the CNAME chain the server returned.
	Records []dns.RR
	// Canonical is the name the records belong to, fully qualified: the
	// name asked unless CNAMEs were followed.
	Canonical string
	// Authenticated reports the AD bit: the server validated the answer
	// with DNSSEC.
	Authenticated bool
}

func (r *Resolver) serverList() ([]string, error) {
	r.once.Do(func() {
		list := r.Servers
		if len(list) == 0 {
			file := r.ConfigFile
			if file == "" {
				file = "/etc/resolv.conf"
			}
			cc, err := dns.ClientConfigFromFile(file)
			if err != nil {
				r.confErr = fmt.Errorf("dnslookup: reading %s: %w", file, err)
				return
			}
			for _, s := range cc.Servers {
				r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
			}
			if len(r.servers) == 0 {
				r.confErr = fmt.Errorf("dnslookup: no nameserver in %s", file)
			}
			return
		}
		for _, s := range list {
			if a, err := netip.ParseAddr(s); err == nil {
				s = net.JoinHostPort(a.String(), "53")
			}
			r.servers = append(r.servers, s)
		}
	})
	return r.servers, r.confErr
}

// Query asks for records of type qtype (dns.TypeMX, dns.TypeA, ...) at
// name. A name that does not exist is an *Error wrapping ErrNotFound; a
// name without records of the type gives an Answer without Records. Each
// server is tried in turn, Attempts times over, until one answers
// NOERROR or NXDOMAIN; when none does, the error wraps ErrTemporary.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	tname := dns.TypeToString[qtype]
	if tname == "" {
		tname = fmt.Sprintf("TYPE%d", qtype)
	}
	fail := func(err error) error { return &Error{Name: name, Type: tname, Err: err} }
	servers, err := r.serverList()
	if err != nil {
		return nil, fail(err)
	}
	fq := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fq); !ok {
		return nil, fail(fmt.Errorf("%w: invalid name", ErrNotFound))
	}
	m := new(dns.Msg)
	m.SetQuestion(fq, qtype)
	m.SetEdns0(1232, !r.NoDNSSEC)
	m.AuthenticatedData = !r.NoDNSSEC
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = 2
	}
	var last error
	for range attempts {
		for _, srv := range servers {
			if err := ctx.Err(); err != nil {
				return nil, fail(err)
			}
			resp, err := exchange(ctx, m, srv, timeout)
			if err != nil {
				last = fmt.Errorf("server %s: %w", srv, err)
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess:
				return answer(resp, fq, qtype), nil
			case dns.RcodeNameError:
				return nil, fail(ErrNotFound)
			default:
				last = fmt.Errorf("server %s: %s", srv, dns.RcodeToString[resp.Rcode])
			}
		}
	}
	return nil, fail(last)
}

// exchange sends m over UDP, and over TCP when the answer is truncated.
func exchange(ctx context.Context, m *dns.Msg, srv string, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: timeout, UDPSize: 1232}
	resp, _, err := c.ExchangeContext(ctx, m, srv)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, srv)
	}
	if err != nil {
		return nil, err
	}
	if resp.Truncated {
		return nil, errors.New("truncated answer over TCP")
	}
	return resp, nil
}

// answer picks the records of qtype for name out of resp, following the
// CNAME chain in the answer section.
func answer(resp *dns.Msg, name string, qtype uint16) *Answer {
	a := &Answer{Canonical: name, Authenticated: resp.AuthenticatedData}
	target := name
	for hop := 0; hop < 16; hop++ {
		var cname string
		for _, rr := range resp.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, target) {
				continue
			}
			if h.Rrtype == qtype {
				a.Records = append(a.Records, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME && cname == "" {
				cname = c.Target
			}
		}
		if len(a.Records) > 0 || cname == "" {
			break
		}
		target = cname
		a.Canonical = cname
	}
	return a
}

// LookupMX returns the MX records of domain as received, and whether the
// answer was authenticated. A domain without MX records gives none and
// no error.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]*dns.MX, bool, error) {
	ans, err := r.Query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	var out []*dns.MX
	for _, rr := range ans.Records {
		out = append(out, rr.(*dns.MX))
	}
	return out, ans.Authenticated, nil
}

// Family selects the address families looked up for a host.
type Family int

const (
	// IPv6First looks up AAAA and A records, IPv6 addresses first (Exim's
	// default order).
	IPv6First Family = iota
	// IPv4First looks up both, IPv4 addresses first (ipv4_prefer).
	IPv4First
	// IPv4Only looks up A records only (ipv4_only).
	IPv4Only
	// IPv6Only looks up AAAA records only.
	IPv6Only
)

// LookupIP returns the addresses of host in the families f selects, in
// the order f gives, and whether every answer used was authenticated.
// When one family's lookup fails temporarily but the other finds
// addresses, those are returned; when none are found and a lookup
// failed, the error wraps ErrTemporary; when the name does not exist, it
// wraps ErrNotFound. A name that exists without addresses gives none and
// no error.
func (r *Resolver) LookupIP(ctx context.Context, host string, f Family) ([]netip.Addr, bool, error) {
	var types []uint16
	switch f {
	case IPv4Only:
		types = []uint16{dns.TypeA}
	case IPv6Only:
		types = []uint16{dns.TypeAAAA}
	case IPv4First:
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	default:
		types = []uint16{dns.TypeAAAA, dns.TypeA}
	}
	var (
		out      []netip.Addr
		ad       = true
		tempErr  error
		notFound error
	)
	for _, t := range types {
		ans, err := r.Query(ctx, host, t)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				notFound = err
			} else {
				tempErr = err
			}
			continue
		}
		ad = ad && ans.Authenticated
		for _, rr := range ans.Records {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				if t == dns.TypeA {
					a = a.Unmap()
				}
				out = append(out, a)
			}
		}
	}
	switch {
	case len(out) > 0:
		return out, ad, nil
	case tempErr != nil:
		return nil, false, tempErr
	case notFound != nil:
		return nil, false, notFound
	}
	return nil, ad, nil
}
