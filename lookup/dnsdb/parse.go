package dnsdb

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Type is a dnsdb record type: a DNS type or one of Exim's pseudo-types.
type Type int

// The record types of a dnsdb query, named as Exim names them.
const (
	TXT   Type = iota // "txt", the default
	A                 // "a"
	AAAA              // "aaaa"
	APlus             // "a+": AAAA then A records
	CNAME             // "cname"
	CSA               // "csa": Client SMTP Authorization (parsed, not performed)
	MX                // "mx": "preference host"
	MXH               // "mxh": MX host names only
	NS                // "ns"
	PTR               // "ptr": an IP address is reversed automatically
	SOA               // "soa": walks up the name until an SOA is found
	SPF               // "spf": the obsolete SPF record type 99
	SRV               // "srv": "priority weight port target"
	TLSA              // "tlsa": "usage selector type hexdata"
	ZNS               // "zns": NS records of the name or its nearest parent
)

var typeNames = [...]string{
	TXT: "txt", A: "a", AAAA: "aaaa", APlus: "a+", CNAME: "cname", CSA: "csa",
	MX: "mx", MXH: "mxh", NS: "ns", PTR: "ptr", SOA: "soa", SPF: "spf",
	SRV: "srv", TLSA: "tlsa", ZNS: "zns",
}

// String returns Exim's name of t ("txt", "a+", "mxh", ...).
func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// DeferMode says what a temporary DNS failure does to the lookup.
type DeferMode int

const (
	// DeferLax (defer_lax, the default) defers the lookup only when no
	// other name of the list gave data.
	DeferLax DeferMode = iota
	// DeferStrict (defer_strict) defers the lookup on any temporary
	// failure.
	DeferStrict
	// DeferNever (defer_never) treats temporary failures as "no data".
	DeferNever
)

func (m DeferMode) String() string {
	switch m {
	case DeferStrict:
		return "defer_strict"
	case DeferNever:
		return "defer_never"
	}
	return "defer_lax"
}

// DNSSECMode says whether DNSSEC is requested and required.
type DNSSECMode int

const (
	// DNSSECLax (dnssec_lax, the default in Exim 4.96) requests DNSSEC
	// (the DO and AD bits) but accepts unauthenticated answers.
	DNSSECLax DNSSECMode = iota
	// DNSSECStrict (dnssec_strict) requests DNSSEC and treats an answer
	// with data but without the AD bit as a temporary failure.
	DNSSECStrict
	// DNSSECNever (dnssec_never) does not request DNSSEC.
	DNSSECNever
)

func (m DNSSECMode) String() string {
	switch m {
	case DNSSECStrict:
		return "dnssec_strict"
	case DNSSECNever:
		return "dnssec_never"
	}
	return "dnssec_lax"
}

// Limits on the retrans_ and retry_ modifiers. Exim has none; larger
// values are clamped so that a query cannot keep a caller waiting for
// hours.
const (
	MaxRetrans = time.Minute
	MaxRetry   = 10
)

// Query is a parsed dnsdb query.
type Query struct {
	// Sep separates records, and the data of the names of the list
	// (">c"; default newline).
	Sep byte
	// FieldSep separates the fields of a record (",c"), or is empty to
	// concatenate them (";"); it is used only when FieldSepSet. Without
	// it MX, SRV and TLSA fields are separated by a space, the strings
	// of an SPF record are concatenated, only the first string of a TXT
	// record is returned, and only the primary server of an SOA.
	FieldSep    string
	FieldSepSet bool
	Defer       DeferMode
	DNSSEC      DNSSECMode
	// Retrans is the timeout of each DNS query (retrans_); zero means
	// the DB's timeout.
	Retrans time.Duration
	// Retry is the number of attempts of each server (retry_); zero
	// means the DB's setting.
	Retry int
	Type  Type
	// Domains are the names (or, for PTR, IP addresses) to look up,
	// without empty items.
	Domains []string
}

// SyntaxError is a query that cannot be parsed. Exim defers such a
// lookup; it is a configuration error, not a temporary failure.
type SyntaxError struct {
	Query  string
	Offset int // byte offset in Query where the problem was found
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("dnsdb: %s at offset %d of query %q", e.Msg, e.Offset, e.Query)
}

// C-locale character classes, as Exim uses them.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isCntrl(c byte) bool { return c < 0x20 || c == 0x7f }
func isPunct(c byte) bool {
	return c > ' ' && c < 0x7f && !isDigit(c) && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Parse parses the text of an Exim dnsdb query (the part between the
// braces of ${lookup dnsdb{...}}, after expansion):
//
//	[>c[,d|;]] [modifier,]... [type=] name[:name]...
//
// where the modifiers are defer_strict, defer_lax, defer_never,
// dnssec_strict, dnssec_lax, dnssec_never, retrans_<time> (an Exim time
// such as 5s or 1m30s) and retry_<n>, each followed by a comma; the type
// is one of the names of [Type], in any case (default txt); and the names
// are an Exim list, colon-separated unless it begins with "<c".
func Parse(query string) (*Query, error) {
	q := &Query{Sep: '\n'}
	p := 0
	fail := func(msg string) (*Query, error) {
		return nil, &SyntaxError{Query: query, Offset: p, Msg: msg}
	}
	skip := func() {
		for p < len(query) && isSpace(query[p]) {
			p++
		}
	}
	skip()
	if p < len(query) && query[p] == '>' {
		if p+1 >= len(query) {
			p++
			return fail("missing separator after '>'")
		}
		q.Sep = query[p+1]
		p += 2
		if p < len(query) && query[p] == ',' {
			if p+1 >= len(query) {
				p++
				return fail("missing field separator after ','")
			}
			q.FieldSep, q.FieldSepSet = query[p+1:p+2], true
			p += 2
		} else if p < len(query) && query[p] == ';' {
			q.FieldSepSet = true
			p++
		}
		skip()
	}

mods:
	for {
		rest := query[p:]
		switch {
		case hasPrefixFold(rest, "defer_"):
			p += 6
			switch rest = query[p:]; {
			case hasPrefixFold(rest, "strict"):
				q.Defer, p = DeferStrict, p+6
			case hasPrefixFold(rest, "lax"):
				q.Defer, p = DeferLax, p+3
			case hasPrefixFold(rest, "never"):
				q.Defer, p = DeferNever, p+5
			default:
				return fail("unsupported dnsdb defer behaviour")
			}
		case hasPrefixFold(rest, "dnssec_"):
			p += 7
			switch rest = query[p:]; {
			case hasPrefixFold(rest, "strict"):
				q.DNSSEC, p = DNSSECStrict, p+6
			case hasPrefixFold(rest, "lax"):
				q.DNSSEC, p = DNSSECLax, p+3
			case hasPrefixFold(rest, "never"):
				q.DNSSEC, p = DNSSECNever, p+5
			default:
				return fail("unsupported dnsdb dnssec behaviour")
			}
		case hasPrefixFold(rest, "retrans_"):
			p += 8
			secs, n, ok := parseEximTime(query[p:])
			if !ok || secs <= 0 {
				return fail("unsupported dnsdb timeout value")
			}
			p += n
			q.Retrans = min(time.Duration(secs)*time.Second, MaxRetrans)
		case hasPrefixFold(rest, "retry_"):
			p += 6
			n, used, ok := parseCLong(query[p:])
			if !ok || n < 0 || n > math.MaxInt32 {
				return fail("unsupported dnsdb retry count")
			}
			p += used
			q.Retry = int(min(n, MaxRetry))
		default:
			break mods
		}
		skip()
		if p >= len(query) || query[p] != ',' {
			return fail("dnsdb modifier syntax error")
		}
		p++
		skip()
	}

	if eq := strings.IndexByte(query[p:], '='); eq >= 0 {
		name := strings.TrimRightFunc(query[p:p+eq], func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
		found := false
		for t, tn := range typeNames {
			if strings.EqualFold(name, tn) {
				q.Type, found = Type(t), true
				break
			}
		}
		if !found {
			return fail("unsupported DNS record type")
		}
		p += eq + 1
		skip()
	}

	list := query[p:]
	if q.Type == PTR && !strings.HasPrefix(list, "<") && isIPAddress(list) {
		// Exim's compatibility rule: a single IPv6 address is not a list.
		q.Domains = []string{list}
		return q, nil
	}
	for _, item := range splitList(list) {
		if item != "" {
			q.Domains = append(q.Domains, item)
		}
	}
	return q, nil
}

// parseEximTime parses an Exim time ("5s", "1m30s", "2h", "1d", "1w")
// ending at a comma or at the end of s. It returns the seconds and the
// bytes used (up to the comma).
func parseEximTime(s string) (secs int64, n int, ok bool) {
	for {
		if n >= len(s) || !isDigit(s[n]) {
			return 0, 0, false
		}
		var v int64
		for n < len(s) && isDigit(s[n]) {
			v = v*10 + int64(s[n]-'0')
			if v > math.MaxInt32 {
				return 0, 0, false
			}
			n++
		}
		if n >= len(s) {
			return 0, 0, false
		}
		switch s[n] {
		case 'w':
			v *= 7 * 24 * 3600
		case 'd':
			v *= 24 * 3600
		case 'h':
			v *= 3600
		case 'm':
			v *= 60
		case 's':
		default:
			return 0, 0, false
		}
		n++
		secs += v
		if secs > math.MaxInt32 {
			return 0, 0, false
		}
		if n == len(s) || s[n] == ',' {
			return secs, n, true
		}
	}
}

// parseCLong parses an integer as C's strtol(s, &end, 0) does: leading
// white space, an optional sign, then hexadecimal after "0x", octal
// after "0", else decimal. Without digits it returns 0 and used 0.
// ok is false on overflow.
func parseCLong(s string) (v int64, used int, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := int64(10)
	if i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && hexVal(s[i+2]) >= 0 {
		base, i = 16, i+2
	} else if i < len(s) && s[i] == '0' {
		base = 8
	}
	start := i
	for i < len(s) {
		d := hexVal(s[i])
		if d < 0 || int64(d) >= base {
			break
		}
		v = v*base + int64(d)
		if v > math.MaxInt32+1 {
			return 0, 0, false
		}
		i++
	}
	if i == start {
		return 0, 0, true
	}
	if neg {
		v = -v
	}
	return v, i, true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// splitList splits an Exim list: colon-separated unless it begins with
// "<" and a punctuation or control character, which becomes the
// separator; a doubled separator stands for itself (not for control
// characters); items lose leading and trailing white space (a trailing
// space after a backslash stays).
func splitList(s string) []string {
	sep := byte(':')
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	if len(s) >= 2 && s[0] == '<' && (isPunct(s[1]) || isCntrl(s[1])) {
		sep, s = s[1], s[2:]
	}
	special := isCntrl(sep)
	var items []string
	for {
		for len(s) > 0 && isSpace(s[0]) && s[0] != sep {
			s = s[1:]
		}
		if s == "" {
			return items
		}
		if s[0] == sep {
			s = s[1:]
			if s == "" || s[0] != sep || special {
				items = append(items, "")
				continue
			}
		}
		var b strings.Builder
		for {
			j := 1 + strings.IndexByte(s[1:], sep)
			if j == 0 {
				j = len(s)
			}
			b.WriteString(s[:j])
			s = s[j:]
			if s == "" {
				break
			}
			s = s[1:]
			if s == "" || s[0] != sep || special {
				break
			}
		}
		item := b.String()
		for len(item) > 0 && isSpace(item[len(item)-1]) && (len(item) == 1 || item[len(item)-2] != '\\') {
			item = item[:len(item)-1]
		}
		items = append(items, item)
	}
}

// parseIP parses an IP address: IPv4 in dotted-decimal form without
// leading zeros (Exim 4.96 does not reverse "192.0.2.001"), or IPv6 (an
// interface suffix "%name" is ignored).
func parseIP(s string) (netip.Addr, bool) {
	if i := strings.IndexByte(s, '%'); i >= 0 && strings.IndexByte(s, ':') >= 0 {
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

func isIPAddress(s string) bool { _, ok := parseIP(s); return ok }

// reverseName returns the in-addr.arpa or ip6.arpa name of a.
func reverseName(a netip.Addr) string {
	const hexdig = "0123456789abcdef"
	var b strings.Builder
	if a.Is4() {
		v := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(v[i])))
			b.WriteByte('.')
		}
		b.WriteString("in-addr.arpa")
		return b.String()
	}
	v := a.As16()
	for i := 15; i >= 0; i-- {
		b.WriteByte(hexdig[v[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hexdig[v[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// listSeps are the separators String may choose for the list of names.
const listSeps = ":;,|!#$%&*+/?@^~-_.'\"`()[]{}\\=<>\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

// String returns the query in Exim's syntax; Parse gives q back, except
// when the names hold every possible list separator.
func (q *Query) String() string {
	var b strings.Builder
	b.WriteByte('>')
	b.WriteByte(q.Sep)
	if q.FieldSepSet {
		if q.FieldSep == "" {
			b.WriteByte(';')
		} else {
			b.WriteByte(',')
			b.WriteByte(q.FieldSep[0])
		}
	}
	b.WriteByte(' ')
	b.WriteString(q.Defer.String())
	b.WriteByte(',')
	b.WriteString(q.DNSSEC.String())
	b.WriteByte(',')
	if q.Retrans > 0 {
		fmt.Fprintf(&b, "retrans_%ds,", int64(q.Retrans/time.Second))
	}
	if q.Retry > 0 {
		fmt.Fprintf(&b, "retry_%d,", q.Retry)
	}
	b.WriteString(q.Type.String())
	b.WriteByte('=')
	all := strings.Join(q.Domains, "")
	sep := byte(':')
	for i := range len(listSeps) {
		if strings.IndexByte(all, listSeps[i]) < 0 {
			sep = listSeps[i]
			break
		}
	}
	b.WriteByte('<')
	b.WriteByte(sep)
	for i, d := range q.Domains {
		if i > 0 {
			b.WriteByte(sep)
		}
		if sep == ':' {
			d = strings.ReplaceAll(d, ":", "::")
		}
		b.WriteString(d)
	}
	return b.String()
}
