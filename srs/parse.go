package srs

import (
	"strings"
)

// extractAddress picks the address out of s the way Exim's
// ${srs_encode} does (its RFC 2822 address extraction): an optional
// display name before <...>, comments in parentheses and white space
// between tokens are dropped; the local part keeps quoted strings as
// written (quotes and backslashes included); the domain keeps its case.
// hasDomain is false for an address without "@".
func extractAddress(s string) (local, domain string, hasDomain bool, err error) {
	p := addrParser{s: s}
	p.skipCFWS()
	if err := p.err; err != nil {
		return "", "", false, err
	}
	angle := false
	if i := p.phraseEnd(); i >= 0 {
		// A display name (or nothing) before "<".
		p.i = i + 1
		angle = true
		p.skipCFWS()
		if p.i < len(s) && s[p.i] == '@' { // source route: skip to ':'
			j := strings.IndexByte(s[p.i:], ':')
			if j < 0 {
				return "", "", false, errorf("source route without \":\"")
			}
			p.i += j + 1
			p.skipCFWS()
		}
	}
	local = p.localPart()
	if p.err != nil {
		return "", "", false, p.err
	}
	if local == "" {
		return "", "", false, errorf("no local part")
	}
	p.skipCFWS()
	if p.i < len(s) && s[p.i] == '@' {
		p.i++
		p.skipCFWS()
		domain = p.domain(angle)
		if p.err != nil {
			return "", "", false, p.err
		}
		if domain == "" {
			return "", "", false, errorf("domain missing or malformed")
		}
		hasDomain = true
		p.skipCFWS()
	}
	if angle {
		if p.i >= len(s) || s[p.i] != '>' {
			return "", "", false, errorf("missing \">\"")
		}
		p.i++
		p.skipCFWS()
	}
	if p.err != nil {
		return "", "", false, p.err
	}
	if p.i != len(s) {
		return "", "", false, errorf("%q may not follow the address", s[p.i:])
	}
	return local, domain, hasDomain, nil
}

// phraseEnd returns the index of the "<" that follows a display name
// (words and comments) at p.i, or -1 when there is none.
func (p *addrParser) phraseEnd() int {
	q := *p
	for q.err == nil {
		q.skipCFWS()
		if q.err != nil {
			return -1
		}
		if q.i < len(q.s) && q.s[q.i] == '<' {
			return q.i
		}
		if q.i < len(q.s) && q.s[q.i] == '.' {
			q.i++
			continue
		}
		if q.word() == "" {
			return -1
		}
	}
	return -1
}

func errorf(format string, args ...any) error {
	return wrapf(ErrAddress, format, args...)
}

type addrParser struct {
	s   string
	i   int
	err error
}

func (p *addrParser) skipCFWS() {
	for p.i < len(p.s) && p.err == nil {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			depth := 0
			for ; p.i < len(p.s); p.i++ {
				switch p.s[p.i] {
				case '\\':
					p.i++
				case '(':
					depth++
				case ')':
					depth--
				}
				if depth == 0 {
					break
				}
			}
			if depth != 0 || p.i >= len(p.s) {
				p.i = len(p.s)
				p.err = errorf("unbalanced parenthesis")
				return
			}
			p.i++
		default:
			return
		}
	}
}

// isAtext reports whether c may appear in an atom: RFC 5322 atext, plus
// 8-bit bytes (UTF-8 local parts and domains).
func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80 ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// word reads an atom or a quoted string, returned as written.
func (p *addrParser) word() string {
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '"' {
		p.i++
		for p.i < len(p.s) && p.s[p.i] != '"' {
			if p.s[p.i] == '\\' {
				p.i++
			}
			p.i++
		}
		if p.i >= len(p.s) {
			p.i = len(p.s)
			p.err = errorf("unmatched doublequote in local part")
			return ""
		}
		p.i++
		return p.s[start:p.i]
	}
	for p.i < len(p.s) && isAtext(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *addrParser) localPart() string {
	var b strings.Builder
	for {
		w := p.word()
		if p.err != nil {
			return ""
		}
		if w == "" {
			if b.Len() > 0 {
				p.err = errorf("missing or malformed local part")
			}
			return ""
		}
		b.WriteString(w)
		p.skipCFWS()
		if p.i >= len(p.s) || p.s[p.i] != '.' {
			return b.String()
		}
		b.WriteByte('.')
		p.i++
		p.skipCFWS()
	}
}

// isDomainText reports whether c may appear in a domain atom: ASCII
// only (Exim rejects 8-bit domains in ${srs_encode}).
func isDomainText(c byte) bool { return c < 0x80 && isAtext(c) }

func (p *addrParser) domain(angle bool) string {
	var b strings.Builder
	for {
		start := p.i
		if p.i < len(p.s) && p.s[p.i] == '[' {
			if angle {
				p.err = errorf("domain literals not allowed")
				return ""
			}
			j := strings.IndexByte(p.s[p.i:], ']')
			if j < 0 {
				p.err = errorf("unmatched \"[\" in domain")
				return ""
			}
			p.i += j + 1
		} else {
			for p.i < len(p.s) && isDomainText(p.s[p.i]) {
				p.i++
			}
		}
		if p.i == start {
			if b.Len() > 0 {
				p.err = errorf("domain missing or malformed")
			}
			return ""
		}
		b.WriteString(p.s[start:p.i])
		p.skipCFWS()
		if p.i >= len(p.s) || p.s[p.i] != '.' {
			return b.String()
		}
		b.WriteByte('.')
		p.i++
		p.skipCFWS()
	}
}
