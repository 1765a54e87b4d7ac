package acl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/lookup"
)

// ListConfig configures how lists are built and matched. A nil
// *ListConfig is valid: no primary host name, no lookup items from
// strings, no named lists, and the system resolver.
type ListConfig struct {
	// PrimaryHostname is what the item "@" stands for in domain, host and
	// address lists (Exim's primary_hostname). When empty, "@" is an
	// error.
	PrimaryHostname string
	// Lookups opens the lookup items written "spec;arg" (for example
	// "partial-lsearch*;/etc/mail/relay_domains" or
	// "dnsdb;a=$sender_host_name"): spec is parsed by lookup.ParseSpec,
	// with Exim's partial matching, "*" and "*@" defaults and options,
	// and the Registry's kind of the type decides what arg is: the file
	// of a single-key type, or the query of a query-style type, in which
	// the list's subject is available as variables (see the list
	// parsers). The subject is inserted into a query as it is, as Exim
	// does without a quote_ operator: the query-style lookup must not
	// let it change the query's structure. Each source is opened once
	// per Registry. Lookups made with a lookup.Cache in the context of
	// Match are cached in it.
	Lookups *lookup.Registry
	// OpenLookup is the older way to open lookup items, used when
	// Lookups is nil: it returns the lookup for a single-key item. kind
	// is the lookup type without Exim's decorations ("net-" or "netN-"
	// in host lists, "partial-", a trailing "*" or "*@", and the options
	// ret=key and cache=no_rd, which this package implements) but with
	// any other ",options". With neither, lookup items are an error.
	OpenLookup func(kind, arg string) (lookup.Lookup, error)
	// DomainLists, HostLists, AddressLists and LocalPartLists are the
	// named lists that items "+name" and "!+name" refer to (Exim's
	// domainlist, hostlist, addresslist and localpartlist), by name.
	// The reference is resolved when a list is built (Exim resolves it
	// at each match), so a named list can refer only to lists built
	// before it: there are no cycles. A name that is not there is an
	// error when the list is built. A named host list decides its own
	// "unknown" cases with its own +include_unknown and +ignore_unknown
	// items; a lookup failure in it is a failure of the item "+name".
	DomainLists    map[string]*DomainList
	HostLists      map[string]*HostList
	AddressLists   map[string]*AddressList
	LocalPartLists map[string]*LocalPartList
	// Resolver resolves host names for host lists; nil means
	// net.DefaultResolver.
	Resolver Resolver
}

// namedList finds the list that "+name" refers to in m.
func namedList[L any](m map[string]*L, kind listKind, name string) (*L, error) {
	l := m[name]
	if l == nil {
		return nil, fmt.Errorf("unknown named %s list \"+%s\"", kindNames[kind], name)
	}
	return l, nil
}

// namedEntry is an item "+name": the named list's answer, with the data
// of its matching item.
func namedEntry[S any](entries []entry[S], prep func(S) S) entry[S] {
	return entry[S]{match: func(ctx context.Context, s S) (outcome, string, error) {
		if prep != nil {
			s = prep(s)
		}
		ok, data, err := scan(ctx, entries, s)
		if err != nil || !ok {
			return noMatch, "", err
		}
		return matched, data, nil
	}}
}

// Resolver is the part of *net.Resolver that host lists use.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Item is a list item built in Go. It is equivalent to one item of a list
// string, without the separator rules (write IPv6 addresses with single
// colons).
type Item struct {
	// Pattern is the item in Exim syntax for the kind of list, such as
	// "192.168.0.0/16", "*.example.com", "^[0-9]+$" or "!10.0.0.1". A
	// leading "!" negates it.
	Pattern string
	// Not negates the item: when it matches, the subject is not in the
	// list. Not and a "!" in Pattern negate it once.
	Not bool
	// Lookup makes the item a lookup: the subject is in the list when the
	// lookup finds it. Pattern must then be empty.
	Lookup lookup.Lookup
	// HostKey selects the key of a lookup item in a host list.
	HostKey HostKey
	// Mask, for a lookup item keyed by address, masks the address to this
	// many bits and appends "/Mask" to the key (Exim's netN- prefix).
	Mask int
}

// HostKey is what a lookup item in a host list looks up.
type HostKey int

const (
	// KeyHostName looks up the client's host name, lower-cased (Exim's
	// "type;arg").
	KeyHostName HostKey = iota
	// KeyHostAddr looks up the client's IP address as Exim's "net-"
	// items do: IPv4 in dotted quad, IPv6 unabbreviated with dots
	// between the groups ("2001.0db8.0000.0000.0000.0000.0000.0001").
	KeyHostAddr
	// KeyHostAddrColons is KeyHostAddr with colons between IPv6 groups
	// (Exim's "net-iplsearch;").
	KeyHostAddrColons
	// KeyHostIP looks up the address in its usual text form
	// ("2001:db8::1", "192.0.2.1").
	KeyHostIP
)

// ctl is the meaning of a control item such as "+caseful".
type ctl int

const (
	ctlNone ctl = iota
	ctlCaseful
	ctlIncludeUnknown
	ctlIgnoreUnknown
	ctlIncludeDefer
	ctlIgnoreDefer
)

// outcome is the result of testing one item.
type outcome int

const (
	noMatch outcome = iota
	matched
	// unknown: the item needs information that cannot be found (the
	// client's host name, a host name's address); Exim's ERROR.
	unknown
)

// entry is a compiled list item testing subjects of type S.
type entry[S any] struct {
	neg   bool
	ctl   ctl
	match func(ctx context.Context, s S) (outcome, string, error)
}

// scan runs Exim's list algorithm: items in order, the first that matches
// decides (a negated one meaning "not in the list"); at the end, the
// subject is in the list only if the last item was negated.
func scan[S any](ctx context.Context, entries []entry[S], s S) (bool, string, error) {
	inList := false
	var incUnknown, ignUnknown, incDefer, ignDefer bool
	for _, e := range entries {
		switch e.ctl {
		case ctlCaseful:
			continue // applied when the list was compiled
		case ctlIncludeUnknown:
			incUnknown, ignUnknown = true, false
			continue
		case ctlIgnoreUnknown:
			incUnknown, ignUnknown = false, true
			continue
		case ctlIncludeDefer:
			incDefer, ignDefer = true, false
			continue
		case ctlIgnoreDefer:
			incDefer, ignDefer = false, true
			continue
		}
		inList = e.neg
		r, data, err := e.match(ctx, s)
		if err != nil {
			switch {
			case ignDefer:
				continue
			case incDefer:
				return true, "", nil
			}
			return false, "", err
		}
		switch r {
		case matched:
			if e.neg {
				return false, "", nil
			}
			return true, data, nil
		case unknown:
			if ignUnknown {
				continue
			}
			return incUnknown, "", nil
		}
	}
	return inList, "", nil
}

// build compiles items with compile, wrapping errors in a *ListError.
func build[S any](kind listKind, items []Item, compile func(p prepared, caseless bool) (entry[S], error)) ([]entry[S], error) {
	entries := make([]entry[S], 0, len(items))
	caseless := true
	for i, it := range items {
		p, err := prepare(kind, it)
		if err == nil && p.ctl != ctlNone {
			if p.ctl == ctlCaseful {
				caseless = false
			}
			entries = append(entries, entry[S]{ctl: p.ctl})
			continue
		}
		var e entry[S]
		if err == nil {
			e, err = compile(p, caseless)
		}
		if err != nil {
			return nil, &ListError{List: kindNames[kind], Index: i + 1, Item: it.Pattern, Err: err}
		}
		e.neg = p.neg
		entries = append(entries, e)
	}
	return entries, nil
}

func stringItems(s string) []Item {
	parts := SplitList(s)
	items := make([]Item, len(parts))
	for i, p := range parts {
		items[i] = Item{Pattern: p}
	}
	return items
}

// ---- host lists ----

// Host is the subject of a host list: the client's address and, if known,
// its verified host name.
type Host struct {
	// Addr is the client's IP address; the zero Addr means there is no
	// remote host (a local submission), which only the items "" and "*"
	// match.
	Addr netip.Addr
	// Name is the client's verified host name; "" means not known yet.
	// When an item needs the name, Match looks it up (reverse DNS, then
	// a forward lookup that must give Addr back, as Exim does) and
	// stores it here.
	Name string
	// NameLookupFailed is set when that lookup failed, so that it is not
	// repeated.
	NameLookupFailed bool
}

type hostSubject struct {
	h   *Host
	res Resolver
}

// HostList is a compiled Exim host list (Exim specification, "Host
// lists"). It is safe for concurrent use.
type HostList struct {
	entries []entry[*hostSubject]
	res     Resolver
}

// ParseHostList parses an Exim host list such as
// "192.168.0.0/16 : !10.0.0.1 : ::::1" or "<; 192.168.0.0/16 ; ::1".
//
// Items: "*" (any host, even none); "" (no remote host); an IPv4 or IPv6
// address with an optional /mask; "@" (the addresses of
// cfg.PrimaryHostname); a host name, which is resolved and compared with
// the client's address; "*suffix" and "^regex", matched caselessly against
// the client's host name; "net-type;arg" and "netN-type;arg" lookups of the
// client's address; "type;arg" lookups of its host name (type with Exim's
// decorations, such as "partial-lsearch*"); query-style lookups
// "type;query", whose query may use $sender_host_address and
// $sender_host_name (see [ListConfig.Lookups]); "+name" for the named
// host list cfg.HostLists[name]; the controls
// "+include_unknown", "+ignore_unknown", "+include_defer" and
// "+ignore_defer". An IPv4-mapped IPv6 client address is matched as the
// IPv4 address, and an IPv4 client also matches IPv6 items written in
// IPv4-mapped form (::ffff:192.0.2.0/120), which Exim never matches.
func ParseHostList(s string, cfg *ListConfig) (*HostList, error) {
	return NewHostList(cfg, stringItems(s)...)
}

// NewHostList builds a host list from items (see [ParseHostList] for the
// patterns).
func NewHostList(cfg *ListConfig, items ...Item) (*HostList, error) {
	l := &HostList{res: net.DefaultResolver}
	if cfg != nil && cfg.Resolver != nil {
		l.res = cfg.Resolver
	}
	entries, err := build(kindHost, items, func(p prepared, _ bool) (entry[*hostSubject], error) {
		return compileHost(p, cfg)
	})
	if err != nil {
		return nil, err
	}
	l.entries = entries
	return l, nil
}

// Match reports whether h is in the list, with the data of a matching
// lookup item (Exim's $host_data). An error means an item could not be
// tested (a lookup or DNS failure) and the caller should defer.
func (l *HostList) Match(ctx context.Context, h *Host) (bool, string, error) {
	if l == nil {
		return false, "", nil
	}
	hh := *h
	hh.Addr = hh.Addr.Unmap().WithZone("")
	ok, data, err := scan(ctx, l.entries, &hostSubject{h: &hh, res: l.res})
	h.Name, h.NameLookupFailed = hh.Name, hh.NameLookupFailed
	return ok, data, err
}

type hostMatch = func(ctx context.Context, s *hostSubject) (outcome, string, error)

// hostVars are the variables of query-style lookups in host lists.
var hostVars = []string{"sender_host_address", "sender_host_name"}

func compileHost(p prepared, cfg *ListConfig) (entry[*hostSubject], error) {
	if p.item.Lookup != nil {
		return hostLookupEntry(listLookup{l: p.item.Lookup}, p.item.HostKey, p.item.Mask), nil
	}
	if p.named != "" {
		var m map[string]*HostList
		if cfg != nil {
			m = cfg.HostLists
		}
		hl, err := namedList(m, kindHost, p.named)
		if err != nil {
			return entry[*hostSubject]{}, err
		}
		return namedEntry(hl.entries, func(s *hostSubject) *hostSubject {
			return &hostSubject{h: s.h, res: hl.res}
		}), nil
	}
	t := p.text
	var m hostMatch
	switch {
	case t == "*":
		return entry[*hostSubject]{match: func(context.Context, *hostSubject) (outcome, string, error) {
			return matched, "", nil
		}}, nil
	case t == "":
		return entry[*hostSubject]{match: func(_ context.Context, s *hostSubject) (outcome, string, error) {
			if s.h.Addr.IsValid() {
				return noMatch, "", nil
			}
			return matched, "", nil
		}}, nil
	case t == "@":
		if cfg == nil || cfg.PrimaryHostname == "" {
			return entry[*hostSubject]{}, errors.New(`"@" needs ListConfig.PrimaryHostname`)
		}
		m = hostNameAddrMatch(cfg.PrimaryHostname)
	case strings.HasPrefix(t, "@"):
		return entry[*hostSubject]{}, fmt.Errorf("%q items are %w", t, ErrUnsupported)
	case strings.HasPrefix(t, "/"):
		return entry[*hostSubject]{}, fmt.Errorf("file name items are %w: read the file and build the list in Go", ErrUnsupported)
	case isLookupItem(t):
		key, mask, kind := KeyHostName, 0, t
		if rest, ok := strings.CutPrefix(t, "net"); ok {
			d := 0
			for d < len(rest) && rest[d] >= '0' && rest[d] <= '9' {
				d++
			}
			if d < len(rest) && rest[d] == '-' {
				key = KeyHostAddr
				if d > 0 {
					n, err := strconv.Atoi(rest[:d])
					if err != nil || n > 128 {
						return entry[*hostSubject]{}, fmt.Errorf("bad mask net%s-", rest[:d])
					}
					mask = n
					if n == 0 {
						mask = -1 // net0-: mask everything, key ends in "/0"
					}
				}
				kind = rest[d+1:]
				if !isLookupItem(kind) {
					return entry[*hostSubject]{}, errors.New("bad lookup type after net-")
				}
				if strings.HasPrefix(kind, "iplsearch;") || strings.HasPrefix(kind, "iplsearch,") {
					key = KeyHostAddrColons
				}
			}
		}
		ls, err := openLookup(kind, cfg, hostVars, true)
		if err != nil {
			return entry[*hostSubject]{}, err
		}
		if ls.query != nil && key != KeyHostName {
			return entry[*hostSubject]{}, errors.New("net- does not apply to query-style lookups (use $sender_host_address in the query)")
		}
		return hostLookupEntry(ls, key, mask), nil
	default:
		pfx, isIP, err := parseIPItem(t)
		if err != nil {
			return entry[*hostSubject]{}, err
		}
		switch {
		case isIP:
			m = func(_ context.Context, s *hostSubject) (outcome, string, error) {
				if ipInPrefix(s.h.Addr, pfx) {
					return matched, "", nil
				}
				return noMatch, "", nil
			}
		case strings.HasPrefix(t, "*"):
			suffix := strings.ToLower(t[1:])
			m = hostNameMatch(func(name string) bool { return strings.HasSuffix(name, suffix) })
		case strings.HasPrefix(t, "^"):
			re, err := compileRegexp(t, true)
			if err != nil {
				return entry[*hostSubject]{}, err
			}
			m = hostNameMatch(re.MatchString)
		case isHostName(t):
			m = hostNameAddrMatch(t)
		default:
			return entry[*hostSubject]{}, errors.New("not an IP address, host name or host name pattern")
		}
	}
	return entry[*hostSubject]{match: func(ctx context.Context, s *hostSubject) (outcome, string, error) {
		if !s.h.Addr.IsValid() {
			return noMatch, "", nil
		}
		return m(ctx, s)
	}}, nil
}

// ipInPrefix tests an unmapped address against a prefix; an IPv4 address
// is also tested in its IPv4-mapped IPv6 form against IPv6 prefixes.
func ipInPrefix(a netip.Addr, p netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	if p.Addr().Is4() {
		return a.Is4() && p.Contains(a)
	}
	if a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	return p.Contains(a)
}

// hostNameAddrMatch resolves name and compares its addresses with the
// client's. A name that does not exist is "unknown"; other resolver
// failures defer.
func hostNameAddrMatch(name string) hostMatch {
	return func(ctx context.Context, s *hostSubject) (outcome, string, error) {
		addrs, err := s.res.LookupNetIP(ctx, "ip", name)
		if err != nil {
			if isNotFound(err) {
				return unknown, "", nil
			}
			return noMatch, "", fmt.Errorf("acl: looking up %s: %w", name, err)
		}
		for _, a := range addrs {
			if a.Unmap().WithZone("") == s.h.Addr {
				return matched, "", nil
			}
		}
		return noMatch, "", nil
	}
}

// hostNameMatch applies test to the client's lower-cased host name,
// looking the name up when needed.
func hostNameMatch(test func(string) bool) hostMatch {
	return func(ctx context.Context, s *hostSubject) (outcome, string, error) {
		if !s.hostName(ctx) {
			return unknown, "", nil
		}
		if test(strings.ToLower(s.h.Name)) {
			return matched, "", nil
		}
		return noMatch, "", nil
	}
}

func hostLookupEntry(ls listLookup, key HostKey, mask int) entry[*hostSubject] {
	return entry[*hostSubject]{match: func(ctx context.Context, s *hostSubject) (outcome, string, error) {
		if !s.h.Addr.IsValid() {
			return noMatch, "", nil
		}
		var k string
		switch {
		case ls.query != nil:
			if ls.query.uses["sender_host_name"] && !s.hostName(ctx) {
				return unknown, "", nil
			}
		case key == KeyHostName:
			if !s.hostName(ctx) {
				return unknown, "", nil
			}
			k = strings.ToLower(s.h.Name)
		default:
			k = hostKey(s.h.Addr, key, mask)
		}
		k, v, ok, err := ls.find(ctx, k, func(name string) string {
			if name == "sender_host_name" {
				return s.h.Name
			}
			return s.h.Addr.String()
		})
		if err != nil {
			return noMatch, "", fmt.Errorf("acl: host list lookup of %q: %w", k, err)
		}
		if ok {
			return matched, v, nil
		}
		return noMatch, "", nil
	}}
}

// hostKey formats an address as a lookup key; mask > 0 masks it and
// appends "/mask", mask -1 is a mask of 0 bits.
func hostKey(a netip.Addr, key HostKey, mask int) string {
	bits := -1
	switch {
	case mask > 0:
		bits = mask
	case mask < 0:
		bits = 0
	}
	if bits >= 0 {
		p, _ := a.Prefix(min(bits, a.BitLen()))
		a = p.Addr()
	}
	var s string
	switch {
	case key == KeyHostIP || a.Is4():
		s = a.String()
	default:
		sep := "."
		if key == KeyHostAddrColons {
			sep = ":"
		}
		b := a.As16()
		var sb strings.Builder
		for i := 0; i < 16; i += 2 {
			if i > 0 {
				sb.WriteString(sep)
			}
			fmt.Fprintf(&sb, "%02x%02x", b[i], b[i+1])
		}
		s = sb.String()
	}
	if bits >= 0 {
		s += "/" + strconv.Itoa(bits)
	}
	return s
}

// hostName makes sure the client's host name is known: a reverse lookup
// whose names must resolve back to the address. It reports false when no
// name can be found (Exim then treats the item as unknown).
func (s *hostSubject) hostName(ctx context.Context) bool {
	h := s.h
	if h.Name != "" {
		return true
	}
	if h.NameLookupFailed || !h.Addr.IsValid() {
		return false
	}
	names, err := s.res.LookupAddr(ctx, h.Addr.String())
	if err == nil {
		for _, n := range names {
			n = strings.TrimSuffix(n, ".")
			if n == "" {
				continue
			}
			addrs, err := s.res.LookupNetIP(ctx, "ip", n)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if a.Unmap().WithZone("") == h.Addr {
					h.Name = n
					return true
				}
			}
		}
	}
	h.NameLookupFailed = true
	return false
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// ---- domain and local part lists ----

// strSubject is a domain or a local part, in its original case and lower
// case.
type strSubject struct {
	orig, lower string
}

// DomainList is a compiled Exim domain list (Exim specification, "Domain
// lists"). It is safe for concurrent use.
type DomainList struct {
	entries []entry[*strSubject]
}

// ParseDomainList parses an Exim domain list such as
// "@ : example.com : *.example.com : !bad.example.net".
//
// Items, all matched caselessly: "@" (cfg.PrimaryHostname); "*suffix" (the
// domain ends with suffix; "*" matches every domain); "^regex" (Go RE2
// syntax, caseless unless it starts with "(?-i)"); "type;arg" lookups of
// the domain, with Exim's decorations ("partial-lsearch;", "partial0(.)cdb*;",
// "lsearch,ret=key;"); query-style "type;query" lookups, whose query may
// use $domain ("dnsdb;mx=$domain"); "+name" for the named domain list
// cfg.DomainLists[name]; anything else is compared with the domain. ""
// matches only the empty domain.
//
// Exim caches the answers of named lists per message; exigo does not
// need to, as lists are compiled and their lookups are cached per
// transaction by a [lookup.Cache] in the context of Match.
func ParseDomainList(s string, cfg *ListConfig) (*DomainList, error) {
	return NewDomainList(cfg, stringItems(s)...)
}

// NewDomainList builds a domain list from items (see [ParseDomainList]).
func NewDomainList(cfg *ListConfig, items ...Item) (*DomainList, error) {
	entries, err := build(kindDomain, items, func(p prepared, _ bool) (entry[*strSubject], error) {
		return compileString(kindDomain, p, true, cfg)
	})
	if err != nil {
		return nil, err
	}
	return &DomainList{entries: entries}, nil
}

// Match reports whether domain is in the list, with the matching item's
// data (Exim's $domain_data): a lookup's value or the item as written.
func (l *DomainList) Match(ctx context.Context, domain string) (bool, string, error) {
	if l == nil {
		return false, "", nil
	}
	return scan(ctx, l.entries, &strSubject{orig: domain, lower: strings.ToLower(domain)})
}

// LocalPartList is a compiled Exim local part list (Exim specification,
// "Local part lists"). It is safe for concurrent use.
type LocalPartList struct {
	entries []entry[*strSubject]
}

// ParseLocalPartList parses an Exim local part list such as
// "postmaster : abuse : ^[0-9]+$".
//
// Items are those of domain lists without "@", with $local_part in the
// queries of query-style lookups and "+name" for cfg.LocalPartLists[name].
// Matching is caseless, as Exim's local_parts condition is, until the
// item "+caseful", after which it is case-sensitive.
func ParseLocalPartList(s string, cfg *ListConfig) (*LocalPartList, error) {
	return NewLocalPartList(cfg, stringItems(s)...)
}

// NewLocalPartList builds a local part list from items (see
// [ParseLocalPartList]).
func NewLocalPartList(cfg *ListConfig, items ...Item) (*LocalPartList, error) {
	entries, err := build(kindLocalPart, items, func(p prepared, caseless bool) (entry[*strSubject], error) {
		return compileString(kindLocalPart, p, caseless, cfg)
	})
	if err != nil {
		return nil, err
	}
	return &LocalPartList{entries: entries}, nil
}

// Match reports whether localPart is in the list, with the matching item's
// data (Exim's $local_part_data).
func (l *LocalPartList) Match(ctx context.Context, localPart string) (bool, string, error) {
	if l == nil {
		return false, "", nil
	}
	return scan(ctx, l.entries, &strSubject{orig: localPart, lower: strings.ToLower(localPart)})
}

type strMatch = func(ctx context.Context, s string) (outcome, string, error)

// compileStringMatch compiles a domain or local part pattern into a test
// of one string (already in the case the test expects).
func compileStringMatch(kind listKind, p prepared, caseless bool, cfg *ListConfig) (strMatch, error) {
	if p.item.Lookup != nil {
		return lookupMatch(listLookup{l: p.item.Lookup}), nil
	}
	t := p.text
	if name, ok := strings.CutPrefix(t, "+"); ok && kind == kindDomain && p.named == "" {
		// The domain part of an address list item: "*@+local_domains".
		var m map[string]*DomainList
		if cfg != nil {
			m = cfg.DomainLists
		}
		dl, err := namedList(m, kindDomain, name)
		if err != nil {
			return nil, err
		}
		e := namedEntry(dl.entries, nil)
		return func(ctx context.Context, s string) (outcome, string, error) {
			return e.match(ctx, &strSubject{orig: s, lower: strings.ToLower(s)})
		}, nil
	}
	if kind == kindDomain && strings.HasPrefix(t, "@") {
		switch {
		case t == "@":
			if cfg == nil || cfg.PrimaryHostname == "" {
				return nil, errors.New(`"@" needs ListConfig.PrimaryHostname`)
			}
			return literalMatch(cfg.PrimaryHostname, cfg.PrimaryHostname, true), nil
		case t == "@[]" || strings.HasPrefix(t, "@mx_"):
			return nil, fmt.Errorf("%q items are %w", t, ErrUnsupported)
		}
	}
	switch {
	case strings.HasPrefix(t, "/"):
		return nil, fmt.Errorf("file name items are %w: read the file and build the list in Go", ErrUnsupported)
	case strings.HasPrefix(t, "^"):
		re, err := compileRegexp(t, caseless)
		if err != nil {
			return nil, err
		}
		return func(_ context.Context, s string) (outcome, string, error) {
			if re.MatchString(s) {
				return matched, p.text, nil
			}
			return noMatch, "", nil
		}, nil
	case strings.HasPrefix(t, "*"):
		suffix := t[1:]
		if caseless {
			suffix = strings.ToLower(suffix)
		}
		return func(_ context.Context, s string) (outcome, string, error) {
			if strings.HasSuffix(s, suffix) {
				return matched, p.text, nil
			}
			return noMatch, "", nil
		}, nil
	case isLookupItem(t):
		ls, err := openLookup(t, cfg, []string{kindVar(kind)}, true)
		if err != nil {
			return nil, err
		}
		return lookupMatch(ls), nil
	}
	return literalMatch(t, p.text, caseless), nil
}

func literalMatch(t, written string, caseless bool) strMatch {
	if caseless {
		t = strings.ToLower(t)
	}
	return func(_ context.Context, s string) (outcome, string, error) {
		if s == t {
			return matched, written, nil
		}
		return noMatch, "", nil
	}
}

// kindVar is the variable that holds the subject of a domain or local
// part list in query-style lookups.
func kindVar(kind listKind) string {
	if kind == kindLocalPart {
		return "local_part"
	}
	return "domain"
}

func lookupMatch(ls listLookup) strMatch {
	return func(ctx context.Context, s string) (outcome, string, error) {
		k, v, ok, err := ls.find(ctx, s, func(string) string { return s })
		if err != nil {
			return noMatch, "", fmt.Errorf("acl: list lookup of %q: %w", k, err)
		}
		if ok {
			return matched, v, nil
		}
		return noMatch, "", nil
	}
}

func compileString(kind listKind, p prepared, caseless bool, cfg *ListConfig) (entry[*strSubject], error) {
	if p.named != "" {
		if kind == kindLocalPart {
			var m map[string]*LocalPartList
			if cfg != nil {
				m = cfg.LocalPartLists
			}
			ll, err := namedList(m, kind, p.named)
			if err != nil {
				return entry[*strSubject]{}, err
			}
			return namedEntry(ll.entries, nil), nil
		}
		var m map[string]*DomainList
		if cfg != nil {
			m = cfg.DomainLists
		}
		dl, err := namedList(m, kind, p.named)
		if err != nil {
			return entry[*strSubject]{}, err
		}
		return namedEntry(dl.entries, nil), nil
	}
	m, err := compileStringMatch(kind, p, caseless, cfg)
	if err != nil {
		return entry[*strSubject]{}, err
	}
	return entry[*strSubject]{match: func(ctx context.Context, s *strSubject) (outcome, string, error) {
		if caseless {
			return m(ctx, s.lower)
		}
		return m(ctx, s.orig)
	}}, nil
}

// ---- address lists ----

// addrSubject is an address in the forms address items need.
type addrSubject struct {
	lower   string // all lower case
	caseful string // local part as given, domain lower case
	localLo string
	local   string
	domain  string // lower case
}

// AddressList is a compiled Exim address list (Exim specification,
// "Address lists"), as used by the senders and recipients conditions. It
// is safe for concurrent use.
type AddressList struct {
	entries []entry[*addrSubject]
}

// ParseAddressList parses an Exim address list such as
// "postmaster@example.com : *@spam.example : ^.*\.biz$ : :".
//
// Items: "" and "<>" (exigo's addition) match the empty address, the
// sender of bounces, and nothing else; "^regex" is matched against the
// whole address (Go RE2 syntax); "type;arg" (also "type*;" and "type*@;"
// with Exim's defaults, or a query-style lookup using $local_part and
// $domain) looks the whole address up (partial matching does not apply:
// Exim ignores "partial-" there with a warning, exigo rejects it);
// "+name" is the named address list cfg.AddressLists[name];
// "local@domain" compares the local part (which may be "*suffix") and
// then matches the domain part as a domain list item (so
// "*@*.example.com", "*@partial-lsearch;/file", "*@+local_domains" and
// "postmaster@@" work); an item without "@" is a
// domain list item for the address's domain. Local parts are compared
// caselessly until "+caseful"; domains always caselessly (Exim compares
// the domain part of "local@domain" items case-sensitively after
// "+caseful"; exigo does not). "@@lookup" items are not supported.
func ParseAddressList(s string, cfg *ListConfig) (*AddressList, error) {
	return NewAddressList(cfg, stringItems(s)...)
}

// NewAddressList builds an address list from items (see
// [ParseAddressList]).
func NewAddressList(cfg *ListConfig, items ...Item) (*AddressList, error) {
	entries, err := build(kindAddress, items, func(p prepared, caseless bool) (entry[*addrSubject], error) {
		return compileAddress(p, caseless, cfg)
	})
	if err != nil {
		return nil, err
	}
	return &AddressList{entries: entries}, nil
}

// Match reports whether address is in the list, with the matching item's
// data (Exim's $sender_data or $recipient_data).
func (l *AddressList) Match(ctx context.Context, address string) (bool, string, error) {
	if l == nil {
		return false, "", nil
	}
	local, domain := exigo.SplitAddress(address)
	s := &addrSubject{lower: strings.ToLower(address), local: local, localLo: strings.ToLower(local), domain: strings.ToLower(domain)}
	s.caseful = local
	if strings.IndexByte(address, '@') >= 0 {
		s.caseful += "@" + s.domain
	}
	return scan(ctx, l.entries, s)
}

func compileAddress(p prepared, caseless bool, cfg *ListConfig) (entry[*addrSubject], error) {
	whole := func(s *addrSubject) string {
		if caseless {
			return s.lower
		}
		return s.caseful
	}
	if p.item.Lookup != nil {
		return addrLookupEntry(listLookup{l: p.item.Lookup}, whole), nil
	}
	if p.named != "" {
		var m map[string]*AddressList
		if cfg != nil {
			m = cfg.AddressLists
		}
		al, err := namedList(m, kindAddress, p.named)
		if err != nil {
			return entry[*addrSubject]{}, err
		}
		return namedEntry(al.entries, nil), nil
	}
	t := p.text
	switch {
	case t == "" || t == "<>":
		return entry[*addrSubject]{match: func(_ context.Context, s *addrSubject) (outcome, string, error) {
			if s.lower == "" {
				return matched, p.text, nil
			}
			return noMatch, "", nil
		}}, nil
	case strings.HasPrefix(t, "^"):
		re, err := compileRegexp(t, caseless)
		if err != nil {
			return entry[*addrSubject]{}, err
		}
		return entry[*addrSubject]{match: func(_ context.Context, s *addrSubject) (outcome, string, error) {
			if re.MatchString(whole(s)) {
				return matched, p.text, nil
			}
			return noMatch, "", nil
		}}, nil
	case strings.HasPrefix(t, "@@"):
		return entry[*addrSubject]{}, fmt.Errorf("@@lookup items are %w", ErrUnsupported)
	case strings.HasPrefix(t, "/"):
		return entry[*addrSubject]{}, fmt.Errorf("file name items are %w: read the file and build the list in Go", ErrUnsupported)
	case isWholeAddressLookup(t):
		ls, err := openLookup(t, cfg, addrVars, false)
		if err != nil {
			return entry[*addrSubject]{}, err
		}
		return addrLookupEntry(ls, whole), nil
	}
	domainPat := t
	var localTest func(s *addrSubject) bool
	if at := strings.LastIndexByte(t, '@'); at >= 0 {
		// "x@@", "x@@[]" and "x@@mx_..." keep the "@" in the domain part.
		if at > 0 && t[at-1] == '@' {
			switch t[at+1:] {
			case "", "[]", "mx_any", "mx_primary", "mx_secondary":
				at--
			}
		}
		lp := t[:at]
		domainPat = t[at+1:]
		if caseless {
			lp = strings.ToLower(lp)
		}
		localTest = func(s *addrSubject) bool {
			sl := s.local
			if caseless {
				sl = s.localLo
			}
			if suffix, ok := strings.CutPrefix(lp, "*"); ok {
				return strings.HasSuffix(sl, suffix)
			}
			return sl == lp
		}
	}
	dm, err := compileStringMatch(kindDomain, prepared{text: domainPat}, true, cfg)
	if err != nil {
		return entry[*addrSubject]{}, err
	}
	return entry[*addrSubject]{match: func(ctx context.Context, s *addrSubject) (outcome, string, error) {
		if s.lower == "" {
			return noMatch, "", nil
		}
		if localTest != nil && !localTest(s) {
			return noMatch, "", nil
		}
		r, data, err := dm(ctx, s.domain)
		if r == matched && !isLookupItem(domainPat) {
			data = t // the whole item, not its domain part
		}
		return r, data, err
	}}, nil
}

// addrVars are the variables of query-style whole-address lookups.
var addrVars = []string{"local_part", "domain"}

func addrLookupEntry(ls listLookup, key func(*addrSubject) string) entry[*addrSubject] {
	return entry[*addrSubject]{match: func(ctx context.Context, s *addrSubject) (outcome, string, error) {
		if s.lower == "" {
			return noMatch, "", nil // Exim: empty keys are not looked up
		}
		k, v, ok, err := ls.find(ctx, key(s), func(name string) string {
			if name == "local_part" {
				return s.local
			}
			return s.domain
		})
		if err != nil {
			return noMatch, "", fmt.Errorf("acl: list lookup of %q: %w", k, err)
		}
		if ok {
			return matched, v, nil
		}
		return noMatch, "", nil
	}}
}

// isWholeAddressLookup reports whether t is a lookup of the whole address:
// a lookup type (letters, digits, "-"), an optional "*" or "*@", then ";".
func isWholeAddressLookup(t string) bool {
	i := 0
	for i < len(t) && (isNameByte(t[i]) && t[i] != '_' || t[i] == '-') {
		i++
	}
	if i == 0 {
		return false
	}
	if i < len(t) && t[i] == '*' {
		i++
	}
	if i < len(t) && t[i] == '@' {
		i++
	}
	return i < len(t) && t[i] == ';'
}
