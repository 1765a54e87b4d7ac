package acl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo/lookup"
)

// SplitList splits an Exim list string into its items (Exim specification,
// "List construction", "Changing list separators", "Empty items in
// lists"):
//
//   - Items are separated by colons. Leading and trailing white space of
//     each item is removed; a doubled separator ("::") is a literal
//     separator character inside an item, so the IPv6 address ::1 is
//     written "::::1" in a colon-separated list.
//   - A list that starts with "<" and a punctuation or control character
//     uses that character as its separator instead: "<; 127.0.0.1 ; ::1".
//     (">" is not accepted, so that a list may start with the item "<>".)
//     A control-character separator cannot be doubled: two in a row
//     enclose an empty item.
//   - An empty item at the end of the list is ignored, so "a :" is one
//     item and ":" is one empty item; "a : : b" has an empty second item.
func SplitList(s string) []string {
	i := 0
	for i < len(s) && isListSpace(s[i]) {
		i++
	}
	sep := byte(':')
	if i+1 < len(s) && s[i] == '<' && s[i+1] != '>' && (isPunct(s[i+1]) || isCntrl(s[i+1])) {
		sep = s[i+1]
		i += 2
	}
	return splitItems(s[i:], sep)
}

// splitItems splits s at sep with Exim's rules, without the "<"
// separator change.
func splitItems(s string, sep byte) []string {
	special := isCntrl(sep)
	var out []string
	i := 0
	for {
		for i < len(s) && isListSpace(s[i]) && s[i] != sep {
			i++
		}
		if i >= len(s) {
			return out
		}
		if s[i] == sep && (special || i+1 >= len(s) || s[i+1] != sep) {
			out = append(out, "")
			i++
			continue
		}
		var b []byte
		for i < len(s) {
			if s[i] == sep {
				if !special && i+1 < len(s) && s[i+1] == sep {
					b = append(b, sep)
					i += 2
					continue
				}
				i++
				break
			}
			b = append(b, s[i])
			i++
		}
		for len(b) > 0 && isListSpace(b[len(b)-1]) {
			b = b[:len(b)-1]
		}
		out = append(out, string(b))
	}
}

// joinList is the inverse of SplitList for items without leading or
// trailing white space.
func joinList(items []string) string {
	var b strings.Builder
	if len(items) > 0 && strings.HasPrefix(items[0], "<") {
		b.WriteString("<: ")
	}
	for i, it := range items {
		if i > 0 {
			b.WriteString(" : ")
		}
		b.WriteString(strings.ReplaceAll(it, ":", "::"))
	}
	if len(items) > 0 && items[len(items)-1] == "" {
		b.WriteString(" :")
	}
	return b.String()
}

func isListSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isCntrl(c byte) bool { return c < 0x20 || c == 0x7f }

func isPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

// ListError reports a bad list item.
type ListError struct {
	List  string // "host", "domain", "local part" or "address"
	Index int    // position of the item in the list, from 1
	Item  string // the item as written
	Err   error
}

func (e *ListError) Error() string {
	return fmt.Sprintf("acl: %s list item %d %q: %v", e.List, e.Index, e.Item, e.Err)
}

func (e *ListError) Unwrap() error { return e.Err }

// ErrUnsupported is wrapped by the errors for Exim list items that exigo
// does not implement (file names, @mx_any, @@lookups, ...).
var ErrUnsupported = errors.New("not supported")

type listKind int

const (
	kindHost listKind = iota
	kindDomain
	kindLocalPart
	kindAddress
)

var kindNames = [...]string{"host", "domain", "local part", "address"}

// prepared is an item with its negation and control meaning worked out.
type prepared struct {
	text string // the pattern without "!"
	neg  bool
	ctl  ctl
	item Item
	// named is the name of a named list referenced as "+name".
	named string
}

// prepare does what every kind of list does with an item: the "!", the
// "+" control items and the checks on Go items.
func prepare(kind listKind, it Item) (prepared, error) {
	p := prepared{item: it, neg: it.Not}
	t := strings.TrimSpace(it.Pattern)
	if strings.HasPrefix(t, "!") {
		p.neg = true
		t = strings.TrimLeft(t[1:], " \t\n\v\f\r")
	}
	p.text = t
	if it.Lookup != nil {
		if t != "" {
			return p, errors.New("an item cannot have both a Pattern and a Lookup")
		}
		if it.Mask < 0 || it.Mask > 128 {
			return p, fmt.Errorf("mask %d out of range 0-128", it.Mask)
		}
		if kind == kindHost && it.Mask != 0 && it.HostKey == KeyHostName {
			return p, errors.New("a Mask needs a HostKey that is an address")
		}
		return p, nil
	}
	if it.HostKey != KeyHostName || it.Mask != 0 {
		return p, errors.New("HostKey and Mask apply to lookup items only")
	}
	if !strings.HasPrefix(t, "+") {
		return p, nil
	}
	switch {
	case t == "+caseful" && (kind == kindLocalPart || kind == kindAddress):
		p.ctl = ctlCaseful
	case kind == kindHost && t == "+include_unknown":
		p.ctl = ctlIncludeUnknown
	case kind == kindHost && t == "+ignore_unknown":
		p.ctl = ctlIgnoreUnknown
	case kind == kindHost && t == "+include_defer":
		p.ctl = ctlIncludeDefer
	case kind == kindHost && t == "+ignore_defer":
		p.ctl = ctlIgnoreDefer
	default:
		name := t[1:]
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !isNameByte(byte(r)) }) >= 0 {
			return p, errors.New("bad named list reference (want +name, name of letters, digits and _)")
		}
		p.named = name
		return p, nil
	}
	if p.neg {
		return p, errors.New("a control item cannot be negated")
	}
	return p, nil
}

// listLookup is a compiled lookup item: a decorated lookup (a
// *lookup.Source, or an Item's Lookup as it is) and, for a query-style
// type, the query, which holds the subject's variables.
type listLookup struct {
	l     lookup.Lookup
	query *queryTemplate
}

// find looks the subject up: key for a single-key lookup; for a
// query-style lookup, the query with vars substituted, each quoted by the
// lookup's Quote when it is a [lookup.Quoter] (so that a local part with
// a space stays one argument of a Redis command). It returns the key or
// query it used.
func (ll listLookup) find(ctx context.Context, key string, vars func(string) string) (used, value string, ok bool, err error) {
	if ll.query != nil {
		q, _ := ll.l.(lookup.Quoter)
		key = ll.query.expand(vars, q)
	}
	value, ok, err = ll.l.Lookup(ctx, key)
	return key, value, ok, err
}

// isLookupItem reports whether t has the form "spec;...": a lookup type
// with Exim's decorations ("partial-lsearch*@,ret=key;"), or anything
// that looks like a lookup type (letters, digits, "-" and "_",
// optionally followed by "*" or "*@" and ",options"), so that a mistyped
// one is reported as a bad lookup rather than a bad pattern.
func isLookupItem(t string) bool {
	semi := strings.IndexByte(t, ';')
	if semi <= 0 {
		return false
	}
	if _, err := lookup.ParseSpec(strings.TrimSpace(t[:semi])); err == nil {
		return true
	}
	k := t[:semi]
	if c := strings.IndexByte(k, ','); c >= 0 {
		k = k[:c]
	}
	k = strings.TrimSuffix(strings.TrimSuffix(k, "@"), "*")
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isNameByte(k[i]) && k[i] != '-' {
			return false
		}
	}
	return true
}

// openLookup parses a "spec;arg" item and opens it with cfg.Lookups (or
// cfg.OpenLookup). vars names the variables a query-style lookup may use
// in its query; partial says whether partial matching applies to the
// list's keys.
func openLookup(t string, cfg *ListConfig, vars []string, partial bool) (listLookup, error) {
	semi := strings.IndexByte(t, ';')
	specText := strings.TrimSpace(t[:semi])
	arg := strings.TrimLeft(t[semi+1:], " \t\n\v\f\r")
	spec, err := lookup.ParseSpec(specText)
	if err != nil {
		return listLookup{}, err
	}
	if spec.Partial && !partial {
		return listLookup{}, errors.New("partial matching does not apply to whole-address lookups")
	}
	if cfg != nil && cfg.Lookups != nil {
		kind, ok := cfg.Lookups.Kind(spec.Type)
		if !ok {
			return listLookup{}, fmt.Errorf("%w %q", lookup.ErrUnknownType, spec.Type)
		}
		if kind == lookup.QueryStyle {
			q, err := parseQueryTemplate(arg, vars)
			if err != nil {
				return listLookup{}, err
			}
			src, err := cfg.Lookups.Open(spec, "")
			if err != nil {
				return listLookup{}, err
			}
			return listLookup{l: src, query: q}, nil
		}
		src, err := cfg.Lookups.Open(spec, arg)
		if err != nil {
			return listLookup{}, err
		}
		return listLookup{l: src}, nil
	}
	if cfg == nil || cfg.OpenLookup == nil {
		return listLookup{}, fmt.Errorf("lookup items need ListConfig.Lookups or ListConfig.OpenLookup (lookup type %q)", spec.Type)
	}
	kind := spec.Type
	if len(spec.Options) > 0 {
		kind += "," + strings.Join(spec.Options, ",")
	}
	l, err := cfg.OpenLookup(kind, arg)
	if err != nil {
		return listLookup{}, fmt.Errorf("opening %s lookup: %w", spec.Type, err)
	}
	if l == nil {
		return listLookup{}, fmt.Errorf("ListConfig.OpenLookup returned no lookup for type %q", spec.Type)
	}
	src, err := lookup.NewSource(spec, lookup.SingleKey, l)
	if err != nil {
		return listLookup{}, err
	}
	return listLookup{l: src}, nil
}

// queryTemplate is the query of a query-style lookup item: literal text
// and variables, substituted at each match.
type queryTemplate struct {
	parts []queryPart
	uses  map[string]bool
}

type queryPart struct {
	lit, name string // name != "": a variable
}

// parseQueryTemplate parses a query in which "$name" and "${name}" are
// variables (only those in vars), and "\$" and "\\" stand for "$" and
// "\". Other backslashes are kept.
func parseQueryTemplate(q string, vars []string) (*queryTemplate, error) {
	t := &queryTemplate{uses: map[string]bool{}}
	var lit strings.Builder
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\\' && i+1 < len(q) && (q[i+1] == '$' || q[i+1] == '\\'):
			lit.WriteByte(q[i+1])
			i += 2
		case c == '$':
			j := i + 1
			braced := j < len(q) && q[j] == '{'
			if braced {
				j++
			}
			k := j
			for k < len(q) && isNameByte(q[k]) {
				k++
			}
			name := q[j:k]
			if braced {
				if k >= len(q) || q[k] != '}' {
					return nil, fmt.Errorf("query %q: only variables (${name}) can be expanded in a list's lookup query", q)
				}
				k++
			}
			if name == "" {
				return nil, fmt.Errorf("query %q: \"$\" without a variable name (write \\$ for a dollar sign)", q)
			}
			if !slices.Contains(vars, name) {
				return nil, fmt.Errorf("query %q: unknown variable $%s (this list offers $%s)", q, name, strings.Join(vars, ", $"))
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, queryPart{lit: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, queryPart{name: name})
			t.uses[name] = true
			i = k
		default:
			lit.WriteByte(c)
			i++
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, queryPart{lit: lit.String()})
	}
	return t, nil
}

// expand substitutes vars into the query, each value quoted by q when q
// is not nil.
func (t *queryTemplate) expand(vars func(string) string, q lookup.Quoter) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.name != "" {
			v := vars(p.name)
			if q != nil {
				v = q.Quote(v)
			}
			b.WriteString(v)
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

// compileRegexp compiles an item starting with "^". Go's RE2 syntax is
// used; it lacks PCRE's back references and look-around.
func compileRegexp(t string, caseless bool) (*regexp.Regexp, error) {
	re, err := regexp.Compile(t)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression: %w", err)
	}
	if caseless {
		return regexp.Compile("(?i)" + t)
	}
	return re, nil
}

// parseIPItem parses an IP address with an optional /mask. It returns
// ok=false when t does not look like an address at all.
func parseIPItem(t string) (netip.Prefix, bool, error) {
	addrPart, maskPart, hasMask := strings.Cut(t, "/")
	looksV6 := strings.IndexByte(addrPart, ':') >= 0
	looksV4 := addrPart != "" && strings.Trim(addrPart, "0123456789.") == ""
	if !looksV6 && !looksV4 {
		return netip.Prefix{}, false, nil
	}
	a, err := netip.ParseAddr(addrPart)
	if err != nil {
		if looksV4 {
			return netip.Prefix{}, true, errors.New("malformed IPv4 address or address mask")
		}
		return netip.Prefix{}, true, errors.New("malformed IPv6 address or address mask")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, true, errors.New("an IPv6 zone is not allowed")
	}
	bits := a.BitLen()
	if hasMask {
		n, err := strconv.Atoi(maskPart)
		if err != nil || !isDigits(maskPart) || n > a.BitLen() {
			return netip.Prefix{}, true, fmt.Errorf("bad mask /%s", maskPart)
		}
		bits = n
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, true, err
	}
	return p, true, nil
}

// isHostName reports whether t consists of the characters of host names
// (letters, digits, ".", "-", "_"), which Exim resolves to addresses.
func isHostName(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !isNameByte(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}
