package lookup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Spec is a lookup type with Exim's decorations, as written before the
// source in "${lookup{key}partial2-lsearch*,ret=key{/file}}" or before
// the ";" of a list item: an optional partial matching prefix, the type
// name, an optional default ("*" or "*@") and comma-separated options.
//
// Specs are usually made by [ParseSpec]. A Spec built in Go is used as it
// is: with Partial set, PartialMin and PartialAffix apply unchanged (the
// zero values mean Exim's "partial0()").
type Spec struct {
	// Type is the lookup type name, such as "lsearch" or "dnsdb".
	Type string
	// Partial requests partial matching of domain-like keys (Exim's
	// "partial-" prefix, section 9.7 of Exim's specification).
	Partial bool
	// PartialMin is the smallest number of non-wild components a
	// partial key may keep: N of "partialN-". "partial-" means 2.
	PartialMin int
	// PartialAffix is what replaces the removed components: "*." for
	// "partial-", or the punctuation written in "partial(affix)".
	PartialAffix string
	// Star makes "*" the last key tried (Exim's "type*").
	Star bool
	// StarAt tries "*@domain" for a key "local@domain", then "*" (Exim's
	// "type*@").
	StarAt bool
	// RetKey makes a found key its own result (option "ret=key").
	RetKey bool
	// NoCacheRead ignores results cached by earlier lookups in the same
	// [Cache], but still caches this one (option "cache=no_rd").
	NoCacheRead bool
	// Options are the other options, in order, for the type itself
	// (for example dsearch's "ret=full" and "filter=file").
	Options []string
}

// ErrSpec is wrapped by the errors of [ParseSpec] and of lookups whose
// Spec does not fit their type (partial matching or defaults on a
// query-style type).
var ErrSpec = errors.New("bad lookup type")

// maxPartialMin bounds N in "partialN-": no key has more components.
const maxPartialMin = 1000

// ParseSpec parses a lookup type with Exim's decorations:
//
//	[ "partial" [N] ( "-" | "(" affix ")" ) ] type [ "*" | "*@" ] { "," option }
//
// where N is a decimal number (default 2), affix is zero or more ASCII
// punctuation characters other than ")" (default "*."), and type is
// letters, digits and "_". Empty options are skipped; "ret=key" and
// "cache=no_rd" set RetKey and NoCacheRead; the others are kept in
// Options, trimmed of white space. As in Exim, there is no "-" after
// "partial(affix)": "partial(.)lsearch". White space elsewhere is an
// error.
func ParseSpec(s string) (Spec, error) {
	var sp Spec
	rest := s
	if r, ok := strings.CutPrefix(rest, "partial"); ok {
		sp.Partial = true
		i := 0
		for i < len(r) && r[i] >= '0' && r[i] <= '9' {
			i++
		}
		sp.PartialMin = 2
		if i > 0 {
			n, err := strconv.Atoi(r[:i])
			if err != nil || n > maxPartialMin {
				return Spec{}, fmt.Errorf("lookup: %w %q: partial count out of range", ErrSpec, s)
			}
			sp.PartialMin = n
		}
		r = r[i:]
		switch {
		case strings.HasPrefix(r, "-"):
			sp.PartialAffix = "*."
			r = r[1:]
		case strings.HasPrefix(r, "("):
			end := strings.IndexByte(r, ')')
			if end < 0 {
				return Spec{}, fmt.Errorf("lookup: %w %q: no ')' after the partial affix", ErrSpec, s)
			}
			aff := r[1:end]
			for j := 0; j < len(aff); j++ {
				if !isPunctByte(aff[j]) {
					return Spec{}, fmt.Errorf("lookup: %w %q: partial affix %q is not punctuation", ErrSpec, s, aff)
				}
			}
			sp.PartialAffix = aff
			r = r[end+1:]
		default:
			return Spec{}, fmt.Errorf("lookup: %w %q: \"partial\" must be followed by \"-\" or \"(affix)\"", ErrSpec, s)
		}
		rest = r
	}
	i := 0
	for i < len(rest) && isTypeByte(rest[i]) {
		i++
	}
	if i == 0 {
		return Spec{}, fmt.Errorf("lookup: %w %q: no type name", ErrSpec, s)
	}
	sp.Type, rest = rest[:i], rest[i:]
	switch {
	case strings.HasPrefix(rest, "*@"):
		sp.StarAt = true
		rest = rest[2:]
	case strings.HasPrefix(rest, "*"):
		sp.Star = true
		rest = rest[1:]
	}
	if rest == "" {
		return sp, nil
	}
	if rest[0] != ',' {
		return Spec{}, fmt.Errorf("lookup: %w %q: unexpected %q after the type", ErrSpec, s, rest)
	}
	for _, o := range strings.Split(rest[1:], ",") {
		switch {
		case o == "":
		case o == "ret=key":
			sp.RetKey = true
		case o == "cache=no_rd":
			sp.NoCacheRead = true
		case strings.ContainsFunc(o, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ';' || r == '{' || r == '}' }):
			return Spec{}, fmt.Errorf("lookup: %w %q: bad option %q", ErrSpec, s, o)
		default:
			sp.Options = append(sp.Options, o)
		}
	}
	return sp, nil
}

// MustParseSpec is [ParseSpec] for constant specs: it panics on an error.
func MustParseSpec(s string) Spec {
	sp, err := ParseSpec(s)
	if err != nil {
		panic(err)
	}
	return sp
}

func isTypeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isPunctByte(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

// String returns the spec in Exim's notation; [ParseSpec] reads it back
// to an equal Spec (for Specs that ParseSpec can produce).
func (s Spec) String() string {
	var b strings.Builder
	s.writeDecorations(&b, s.Type)
	if s.RetKey {
		b.WriteString(",ret=key")
	}
	if s.NoCacheRead {
		b.WriteString(",cache=no_rd")
	}
	for _, o := range s.Options {
		b.WriteByte(',')
		b.WriteString(o)
	}
	return b.String()
}

// writeDecorations writes the partial prefix, name and default suffix.
func (s Spec) writeDecorations(b *strings.Builder, name string) {
	if s.Partial {
		b.WriteString("partial")
		if s.PartialMin != 2 {
			b.WriteString(strconv.Itoa(s.PartialMin))
		}
		if s.PartialAffix == "*." {
			b.WriteByte('-')
		} else {
			b.WriteByte('(')
			b.WriteString(s.PartialAffix)
			b.WriteByte(')')
		}
	}
	b.WriteString(name)
	switch {
	case s.StarAt:
		b.WriteString("*@")
	case s.Star:
		b.WriteByte('*')
	}
}

// decorations identifies what changes a result for a given source and
// key: the cache key part of the Spec (not NoCacheRead, not the type and
// its options, which the source identifies).
func (s Spec) decorations() string {
	if !s.Partial && !s.Star && !s.StarAt && !s.RetKey {
		return ""
	}
	var b strings.Builder
	s.writeDecorations(&b, "")
	if s.RetKey {
		b.WriteString(",ret=key")
	}
	return b.String()
}

// Result is the outcome of a lookup with Exim's decorations.
type Result struct {
	// Value is the data found (Exim's $value), or the key that was
	// asked for when RetKey is set. It is "" when not Found.
	Value string
	// Found reports whether some key was found.
	Found bool
	// Key is the key under which the data was found: the key itself, a
	// partial form such as "*.example.com", "*@example.com" or "*".
	Key string
	// Wild and Fixed are Exim's $1 and $2 after a decorated lookup: the
	// part of the key that a wildcard stood for and the part matched
	// literally. After an exact match Wild is "" and Fixed the key;
	// after "*@" Wild is the local part; after "*" Wild is the key.
	Wild, Fixed string
}

// ErrForcedFail is returned by [Result.OrFail] for a key that was not
// found: Exim's "${lookup{...}...{$value}fail}", a forced expansion
// failure (for example, a router declines).
var ErrForcedFail = errors.New("lookup: not found: forced failure")

// Or returns the value if found and def otherwise: Exim's
// "${lookup{...}...{$value}{def}}". Or("") is the short form
// "${lookup{...}...}".
func (r Result) Or(def string) string {
	if r.Found {
		return r.Value
	}
	return def
}

// OrFail returns the value if found and [ErrForcedFail] otherwise.
func (r Result) OrFail() (string, error) {
	if r.Found {
		return r.Value, nil
	}
	return "", ErrForcedFail
}

// Expand returns found(value) if found and notFound otherwise: Exim's
// "${lookup{...}...{found}{notfound}}", where the found string may use
// $value.
func (r Result) Expand(found func(value string) string, notFound string) string {
	if r.Found {
		return found(r.Value)
	}
	return notFound
}

// find looks key up in l with the decorations of s, in Exim's order: the
// key; with Partial, the affix followed by the key, then by the key
// without its first, second ... component while at least PartialMin
// components remain, then (PartialMin 0, non-empty affix) the affix alone
// with a final "." removed; with StarAt and a key "local@domain" (local
// not empty), "*@domain"; with Star or StarAt, "*". The first found wins.
func (s Spec) find(ctx context.Context, l Lookup, key string) (Result, error) {
	try := func(k, wild, fixed string) (Result, bool, error) {
		v, ok, err := l.Lookup(ctx, k)
		if err != nil || !ok {
			return Result{}, false, err
		}
		if s.RetKey {
			v = key
		}
		return Result{Value: v, Found: true, Key: k, Wild: wild, Fixed: fixed}, true, nil
	}
	if r, ok, err := try(key, "", key); ok || err != nil {
		return r, err
	}
	if s.Partial {
		aff := s.PartialAffix
		if aff != "" {
			if r, ok, err := try(aff+key, "", key); ok || err != nil {
				return r, err
			}
		}
		pos := 0
		for n := strings.Count(key, "."); n >= s.PartialMin; n-- {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
			i := strings.IndexByte(key[pos:], '.')
			if i < 0 {
				if aff == "" {
					break
				}
				if r, ok, err := try(strings.TrimSuffix(aff, "."), key, ""); ok || err != nil {
					return r, err
				}
				break
			}
			i += pos
			if r, ok, err := try(aff+key[i+1:], key[:i], key[i+1:]); ok || err != nil {
				return r, err
			}
			pos = i + 1
		}
	}
	if s.StarAt {
		if at := strings.LastIndexByte(key, '@'); at > 0 {
			if r, ok, err := try("*@"+key[at+1:], key[:at], ""); ok || err != nil {
				return r, err
			}
		}
	}
	if s.Star || s.StarAt {
		if r, ok, err := try("*", key, ""); ok || err != nil {
			return r, err
		}
	}
	return Result{}, nil
}
