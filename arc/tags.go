package arc

import (
	"errors"
	"fmt"
	"strings"
)

// tag is one tag=value pair of a DKIM-style tag list (RFC 6376 section
// 3.2). Value has leading and trailing whitespace removed; folding inside
// it is kept as written.
type tag struct {
	Name, Value string
}

// tagList is a parsed tag list in header order.
type tagList []tag

// errTagSyntax is the root of every tag-list syntax error.
var errTagSyntax = errors.New("tag list syntax")

// parseTags parses a tag list strictly: tag names are ALPHA *(ALPHA /
// DIGIT / "_"), values are VALCHARs separated by whitespace, a trailing
// ";" is allowed, an empty tag-spec elsewhere ("a=1;;b=2") is not, and a
// tag named twice is an error.
func parseTags(s string) (tagList, error) {
	var tl tagList
	specs := strings.Split(s, ";")
	for n, spec := range specs {
		if isFWS(spec) {
			if n == len(specs)-1 && n > 0 {
				break // trailing semicolon
			}
			return nil, fmt.Errorf("%w: empty tag-spec", errTagSyntax)
		}
		eq := strings.IndexByte(spec, '=')
		if eq < 0 {
			return nil, fmt.Errorf("%w: %q has no '='", errTagSyntax, trimFWS(spec))
		}
		name := trimFWS(spec[:eq])
		if !validTagName(name) {
			return nil, fmt.Errorf("%w: bad tag name %q", errTagSyntax, name)
		}
		val := trimFWS(spec[eq+1:])
		if !validTagValue(val) {
			return nil, fmt.Errorf("%w: bad value for tag %q", errTagSyntax, name)
		}
		for _, t := range tl {
			if t.Name == name {
				return nil, fmt.Errorf("%w: duplicate tag %q", errTagSyntax, name)
			}
		}
		tl = append(tl, tag{name, val})
	}
	return tl, nil
}

// get returns the value of the named tag.
func (tl tagList) get(name string) (string, bool) {
	for _, t := range tl {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

func isFWSByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isFWS(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isFWSByte(s[i]) {
			return false
		}
	}
	return true
}

func trimFWS(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r < 0x80 && isFWSByte(byte(r)) })
}

func validTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// validTagValue accepts VALCHAR (%x21-3A / %x3C-7E) runs separated by
// folding whitespace.
func validTagValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isFWSByte(c) {
			continue
		}
		if c < 0x21 || c > 0x7e || c == ';' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// stripFWS removes all folding whitespace (for b=, bh= and p= values).
func stripFWS(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !isFWSByte(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// validDomain reports whether s is a syntactically valid domain name
// (letters, digits, hyphens, underscores; dot-separated labels of 1-63
// characters; 253 characters at most).
func validDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// validSelector: a selector is one or more dot-separated sub-domain labels.
func validSelector(s string) bool { return validDomain(s) }

// parseUint parses 1-20 ASCII digits without sign or spaces.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		d := uint64(s[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
