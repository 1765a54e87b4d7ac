package dnsdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ErrDefer marks a lookup that could not be completed: a timeout,
// SERVFAIL, REFUSED or any other failure of every server, an
// unauthenticated answer under dnssec_strict, or a cancelled context.
// Test with errors.Is; Exim defers such a lookup.
var ErrDefer = errors.New("dnsdb: temporary DNS failure")

// ErrInsecure is the cause of the failure of an answer without the AD bit
// under dnssec_strict. Errors wrapping it also wrap [ErrDefer].
var ErrInsecure = errors.New("answer not authenticated by DNSSEC (dnssec_strict)")

// ErrUnsupported is returned for the csa pseudo-type, which is not
// implemented.
var ErrUnsupported = errors.New("dnsdb: unsupported record type")

// Error is a temporary failure of one DNS query. It wraps [ErrDefer] and
// the cause.
type Error struct {
	Name string // the name queried
	Type string // the DNS record type, e.g. "MX"
	Err  error  // the cause: the last server's error or rcode, ErrInsecure, a context error
}

func (e *Error) Error() string {
	return "dnsdb: " + e.Type + " lookup of " + e.Name + ": " + e.Err.Error()
}

// Unwrap returns ErrDefer and the cause.
func (e *Error) Unwrap() []error { return []error{ErrDefer, e.Err} }

// Exchanger sends one DNS query to one server and returns the answer,
// whatever its rcode. It must honour ctx's deadline. The default sends
// the query over UDP, and again over TCP when the answer is truncated.
type Exchanger interface {
	Exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error)
}

// ExchangerFunc adapts a function to an [Exchanger].
type ExchangerFunc func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error)

// Exchange calls f.
func (f ExchangerFunc) Exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	return f(ctx, m, server)
}

// netExchanger is the default Exchanger, on github.com/miekg/dns.
type netExchanger struct{ udpSize uint16 }

func (e netExchanger) Exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", UDPSize: e.udpSize}
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = max(time.Until(dl), time.Millisecond)
	}
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, server)
		if err == nil && resp.Truncated {
			err = errors.New("truncated answer over TCP")
		}
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Defaults of a DB.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultAttempts = 2
	DefaultUDPSize  = 1232
)

// DB performs dnsdb lookups. It is safe for concurrent use.
type DB struct {
	servers  []string
	timeout  time.Duration
	attempts int
	udpSize  uint16
	ex       Exchanger
}

type options struct {
	servers    []string
	resolvConf string
	timeout    time.Duration
	attempts   int
	udpSize    int
	ex         Exchanger
}

// Option configures a DB.
type Option func(*options)

// WithServers sets the recursive servers to ask, in order, as "host:port"
// or a bare IP address (port 53). A server that fails is followed by the
// next. Without servers, the nameserver lines of /etc/resolv.conf are
// used.
func WithServers(addrs ...string) Option {
	return func(o *options) { o.servers = append([]string(nil), addrs...) }
}

// WithResolvConf names the resolv.conf file read when there is no
// WithServers option (default /etc/resolv.conf). Its timeout and
// attempts options are used unless WithTimeout and WithAttempts are
// given.
func WithResolvConf(path string) Option { return func(o *options) { o.resolvConf = path } }

// WithTimeout sets the timeout of each query to one server (Exim's
// dns_retrans; default 5 seconds). The retrans_ modifier overrides it.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithAttempts sets how many times each server is tried (Exim's
// dns_retry; default 2). The retry_ modifier overrides it.
func WithAttempts(n int) Option { return func(o *options) { o.attempts = n } }

// WithEDNS sets the EDNS0 UDP payload size advertised (default 1232);
// 0 sends queries without EDNS0, and then DNSSEC is requested with the
// AD bit of the query only (RFC 6840 section 5.7).
func WithEDNS(size int) Option { return func(o *options) { o.udpSize = size } }

// WithExchanger replaces the network client, for tests.
func WithExchanger(ex Exchanger) Option { return func(o *options) { o.ex = ex } }

// New returns a DB. It reads resolv.conf when no servers are given.
func New(opts ...Option) (*DB, error) {
	o := options{udpSize: DefaultUDPSize}
	for _, opt := range opts {
		opt(&o)
	}
	db := &DB{timeout: o.timeout, attempts: o.attempts, ex: o.ex}
	if o.udpSize < 0 || o.udpSize > 65535 || (o.udpSize > 0 && o.udpSize < dns.MinMsgSize) {
		return nil, fmt.Errorf("dnsdb: invalid EDNS0 payload size %d", o.udpSize)
	}
	db.udpSize = uint16(o.udpSize)
	if o.timeout < 0 || o.attempts < 0 {
		return nil, errors.New("dnsdb: negative timeout or attempts")
	}
	if len(o.servers) == 0 {
		file := o.resolvConf
		if file == "" {
			file = "/etc/resolv.conf"
		}
		cc, err := dns.ClientConfigFromFile(file)
		if err != nil {
			return nil, fmt.Errorf("dnsdb: reading %s: %w", file, err)
		}
		for _, s := range cc.Servers {
			db.servers = append(db.servers, net.JoinHostPort(s, cc.Port))
		}
		if len(db.servers) == 0 {
			return nil, fmt.Errorf("dnsdb: no nameserver in %s", file)
		}
		if db.timeout == 0 && cc.Timeout > 0 {
			db.timeout = time.Duration(cc.Timeout) * time.Second
		}
		if db.attempts == 0 && cc.Attempts > 0 {
			db.attempts = cc.Attempts
		}
	}
	for _, s := range o.servers {
		if a, err := netip.ParseAddr(s); err == nil {
			s = net.JoinHostPort(a.String(), "53")
		} else if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("dnsdb: server %q: %w", s, err)
		}
		db.servers = append(db.servers, s)
	}
	if db.timeout == 0 {
		db.timeout = DefaultTimeout
	}
	if db.attempts == 0 {
		db.attempts = DefaultAttempts
	}
	if db.ex == nil {
		db.ex = netExchanger{udpSize: max(db.udpSize, dns.MinMsgSize)}
	}
	return db, nil
}

// Result is the outcome of a dnsdb query.
type Result struct {
	// Value is the data, formatted and joined as Exim does.
	Value string
	// Found reports that Value is not empty. As in Exim, records whose
	// data is empty (a TXT record of one empty string) are not found.
	Found bool
	// Authenticated reports that DNSSEC was requested (not
	// dnssec_never), that at least one server answered, and that every
	// answer had the AD bit. Exim's $lookup_dnssec_authenticated is ""
	// under dnssec_never, else "yes" when Authenticated, else "no".
	Authenticated bool
	// Deferred holds the temporary failures that did not defer the
	// lookup (under defer_lax when other names gave data, and under
	// defer_never), for logging.
	Deferred []error
}

// Lookup performs the dnsdb query in key and returns its data, as
// [lookup.Lookup] asks: ("", false, nil) when nothing is found, an error
// wrapping [ErrDefer] when the lookup defers, and a *[SyntaxError] or
// [ErrUnsupported] for a query that cannot be performed.
//
// [lookup.Lookup]: https://pkg.go.dev/github.com/exigo-mta/exigo/lookup#Lookup
func (db *DB) Lookup(ctx context.Context, key string) (string, bool, error) {
	r, err := db.Query(ctx, key)
	if err != nil {
		return "", false, err
	}
	return r.Value, r.Found, nil
}

// Query parses and performs a dnsdb query.
func (db *DB) Query(ctx context.Context, query string) (Result, error) {
	q, err := Parse(query)
	if err != nil {
		return Result{}, err
	}
	return db.Do(ctx, q)
}

// errInvalidName marks a name that cannot be sent in a query; it is
// treated as not found.
var errInvalidName = errors.New("invalid domain name")

// maxCNAME bounds the CNAME chains followed, as Exim does.
const maxCNAME = 10

// Do performs a parsed query.
func (db *DB) Do(ctx context.Context, q *Query) (Result, error) {
	if q.Type == CSA {
		return Result{}, fmt.Errorf("%w: csa", ErrUnsupported)
	}
	if q.Type < 0 || int(q.Type) >= len(typeNames) {
		return Result{}, fmt.Errorf("%w: %v", ErrUnsupported, q.Type)
	}
	fs, fsSet := q.FieldSep, q.FieldSepSet
	if !fsSet {
		switch q.Type {
		case SPF:
			fs, fsSet = "", true
		case MX, SRV, TLSA:
			fs, fsSet = " ", true
		}
	}
	var (
		res      Result
		out      []byte
		answered bool
		allAD    = true
	)
	for _, item := range q.Domains {
		name := item
		if q.Type == PTR {
			if a, ok := parseIP(item); ok {
				name = reverseName(a)
			}
		}
		for _, qtype := range dnsTypes(q.Type) {
			if err := ctx.Err(); err != nil {
				return Result{}, &Error{Name: name, Type: dns.TypeToString[qtype], Err: err}
			}
			var (
				rrs []dns.RR
				ad  bool
				err error
			)
			if q.Type == ZNS || q.Type == SOA {
				rrs, ad, err = db.walk(ctx, name, qtype, q)
			} else {
				rrs, ad, err = db.lookupType(ctx, name, qtype, q)
			}
			if errors.Is(err, errInvalidName) {
				continue
			}
			if err == nil {
				answered = true
				allAD = allAD && ad
				if len(rrs) > 0 && !ad && q.DNSSEC == DNSSECStrict {
					err = &Error{Name: name, Type: dns.TypeToString[qtype], Err: ErrInsecure}
				}
			}
			if err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return Result{}, &Error{Name: name, Type: dns.TypeToString[qtype], Err: cerr}
				}
				if q.Defer == DeferStrict {
					return Result{}, err
				}
				res.Deferred = append(res.Deferred, err)
				continue
			}
			for _, rr := range rrs {
				out = appendRR(out, rr, q, fs, fsSet)
			}
		}
	}
	res.Value = string(out)
	res.Found = len(out) > 0
	res.Authenticated = q.DNSSEC != DNSSECNever && answered && allAD
	if !res.Found && q.Defer == DeferLax && len(res.Deferred) > 0 {
		if len(res.Deferred) == 1 {
			return Result{}, res.Deferred[0]
		}
		return Result{}, errors.Join(res.Deferred...)
	}
	return res, nil
}

// dnsTypes returns the DNS types queried for t.
func dnsTypes(t Type) []uint16 {
	switch t {
	case A:
		return []uint16{dns.TypeA}
	case AAAA:
		return []uint16{dns.TypeAAAA}
	case APlus:
		return []uint16{dns.TypeAAAA, dns.TypeA}
	case CNAME:
		return []uint16{dns.TypeCNAME}
	case MX, MXH:
		return []uint16{dns.TypeMX}
	case NS, ZNS:
		return []uint16{dns.TypeNS}
	case PTR:
		return []uint16{dns.TypePTR}
	case SOA:
		return []uint16{dns.TypeSOA}
	case SPF:
		return []uint16{dns.TypeSPF}
	case SRV:
		return []uint16{dns.TypeSRV}
	case TLSA:
		return []uint16{dns.TypeTLSA}
	}
	return []uint16{dns.TypeTXT}
}

// walk looks up qtype at name, then at its parents while the answer is
// "no data", up to the top-level domain (never the root): Exim's zns
// and soa.
func (db *DB) walk(ctx context.Context, name string, qtype uint16, q *Query) ([]dns.RR, bool, error) {
	if len(name) > 1 && strings.HasSuffix(name, ".") && !strings.HasSuffix(name, `\.`) {
		name = name[:len(name)-1]
	}
	ad := true
	for {
		rrs, a, err := db.lookupType(ctx, name, qtype, q)
		if err != nil {
			return nil, false, err
		}
		ad = ad && a
		if len(rrs) > 0 {
			return rrs, ad, nil
		}
		off, end := dns.NextLabel(name, 0)
		if end || off >= len(name) {
			return nil, ad, nil
		}
		name = name[off:]
	}
}

// lookupType returns the records of type qtype in the answer to a query
// for name, following a CNAME chain when the answer has no such records,
// and whether every answer had the AD bit. Not found (NXDOMAIN or no
// data) is no records and no error; a temporary failure is an *Error.
func (db *DB) lookupType(ctx context.Context, name string, qtype uint16, q *Query) ([]dns.RR, bool, error) {
	ad := true
	for range maxCNAME {
		fq := dns.Fqdn(name)
		if _, ok := dns.IsDomainName(fq); !ok || len(fq) > 255 {
			return nil, false, errInvalidName
		}
		resp, err := db.exchange(ctx, fq, qtype, q)
		if err != nil {
			return nil, false, err
		}
		ad = ad && resp.AuthenticatedData
		if resp.Rcode == dns.RcodeNameError {
			return nil, ad, nil
		}
		var (
			rrs   []dns.RR
			cname string
		)
		for _, rr := range resp.Answer {
			if rr == nil {
				continue
			}
			h := rr.Header()
			if h.Rrtype == qtype {
				rrs = append(rrs, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && cname == "" && strings.EqualFold(dns.Fqdn(h.Name), fq) {
				cname = c.Target
			}
		}
		if len(rrs) > 0 || cname == "" {
			return rrs, ad, nil
		}
		name = cname
	}
	return nil, false, &Error{Name: name, Type: dns.TypeToString[qtype], Err: errors.New("CNAME chain too long")}
}

// exchange asks the servers in turn, db.attempts times over, until one
// answers NOERROR or NXDOMAIN.
func (db *DB) exchange(ctx context.Context, fq string, qtype uint16, q *Query) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(fq, qtype)
	dnssec := q.DNSSEC != DNSSECNever
	if db.udpSize > 0 {
		m.SetEdns0(db.udpSize, dnssec)
	}
	m.AuthenticatedData = dnssec
	timeout := db.timeout
	if q.Retrans > 0 {
		timeout = min(q.Retrans, MaxRetrans)
	}
	attempts := db.attempts
	if q.Retry > 0 {
		attempts = min(q.Retry, MaxRetry)
	}
	fail := func(err error) error { return &Error{Name: fq, Type: dns.TypeToString[qtype], Err: err} }
	var last error
	for range attempts {
		for _, srv := range db.servers {
			if err := ctx.Err(); err != nil {
				return nil, fail(err)
			}
			m.Id = dns.Id()
			actx, cancel := context.WithTimeout(ctx, timeout)
			resp, err := db.ex.Exchange(actx, m, srv)
			cancel()
			switch {
			case err != nil:
				last = fmt.Errorf("server %s: %w", srv, err)
				continue
			case resp == nil:
				last = fmt.Errorf("server %s: no answer", srv)
				continue
			case len(resp.Question) > 0 && (resp.Question[0].Qtype != qtype || !strings.EqualFold(resp.Question[0].Name, fq)):
				last = fmt.Errorf("server %s: answer to another question", srv)
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				return resp, nil
			}
			rc := dns.RcodeToString[resp.Rcode]
			if rc == "" {
				rc = "rcode " + strconv.Itoa(resp.Rcode)
			}
			last = fmt.Errorf("server %s: %s", srv, rc)
		}
	}
	if last == nil {
		last = errors.New("no servers")
	}
	return nil, fail(last)
}

// appendRR appends the data of rr to out, after q.Sep unless out is
// empty (as Exim does).
func appendRR(out []byte, rr dns.RR, q *Query, fs string, fsSet bool) []byte {
	if len(out) > 0 {
		out = append(out, q.Sep)
	}
	switch v := rr.(type) {
	case *dns.A:
		a, _ := netip.AddrFromSlice(v.A)
		out = append(out, a.Unmap().String()...)
	case *dns.AAAA:
		a, _ := netip.AddrFromSlice(v.AAAA)
		out = append(out, a.String()...)
	case *dns.TXT:
		out = appendStrings(out, v.Txt, fs, fsSet)
	case *dns.SPF:
		out = appendStrings(out, v.Txt, fs, fsSet)
	case *dns.MX:
		if q.Type == MX {
			out = strconv.AppendUint(out, uint64(v.Preference), 10)
			out = append(out, fs...)
		}
		out = appendName(out, v.Mx)
	case *dns.SRV:
		for _, n := range []uint16{v.Priority, v.Weight, v.Port} {
			out = strconv.AppendUint(out, uint64(n), 10)
			out = append(out, fs...)
		}
		out = appendName(out, v.Target)
	case *dns.TLSA:
		for _, n := range []uint8{v.Usage, v.Selector, v.MatchingType} {
			out = strconv.AppendUint(out, uint64(n), 10)
			out = append(out, fs...)
		}
		out = append(out, strings.ToLower(v.Certificate)...)
	case *dns.CNAME:
		out = appendName(out, v.Target)
	case *dns.NS:
		out = appendName(out, v.Ns)
	case *dns.PTR:
		out = appendName(out, v.Ptr)
	case *dns.SOA:
		out = appendName(out, v.Ns)
		if fsSet {
			out = append(out, fs...)
			out = appendName(out, v.Mbox)
			for _, n := range []uint32{v.Serial, v.Refresh, v.Retry, v.Expire, v.Minttl} {
				out = append(out, fs...)
				out = strconv.AppendUint(out, uint64(n), 10)
			}
		}
	}
	return out
}

// appendStrings appends the character strings of a TXT or SPF record:
// the first only without a field separator, else all, joined by fs.
func appendStrings(out []byte, txt []string, fs string, fsSet bool) []byte {
	for i, s := range txt {
		if i > 0 {
			if !fsSet {
				break
			}
			out = append(out, fs...)
		}
		out = unescape(out, s, nil)
	}
	return out
}

// unescape appends s, in github.com/miekg/dns presentation format
// (\DDD and \c escapes), to out as raw bytes. When labels is not nil,
// each unescaped '.' ends a label: its offset in out is appended to
// *labels.
func unescape(out []byte, s string, labels *[]int) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]):
			v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			out = append(out, byte(v))
			i += 3
		case c == '\\' && i+1 < len(s):
			out = append(out, s[i+1])
			i++
		case c == '.' && labels != nil:
			*labels = append(*labels, len(out))
		default:
			out = append(out, c)
		}
	}
	return out
}

// appendName appends a domain name as the C library's dn_expand
// presents it: without the final dot (the root is empty), with
// `"().;@$\` escaped by a backslash and other bytes outside 0x21-0x7e
// as \DDD.
func appendName(out []byte, name string) []byte {
	var ends []int
	raw := unescape(nil, name, &ends)
	start := 0
	first := true
	for _, end := range append(ends, len(raw)) {
		label := raw[start:end]
		start = end
		if len(label) == 0 {
			continue
		}
		if !first {
			out = append(out, '.')
		}
		first = false
		for _, c := range label {
			switch {
			case strings.IndexByte(`"().;@$\`, c) >= 0:
				out = append(out, '\\', c)
			case c <= ' ' || c >= 0x7f:
				out = append(out, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
			default:
				out = append(out, c)
			}
		}
	}
	return out
}
