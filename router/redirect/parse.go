package redirect

import (
	"fmt"
	"strings"
)

// Kind is the kind of a redirection item.
type Kind int

const (
	// KindAddress is a mail address, possibly unqualified.
	KindAddress Kind = iota
	// KindFail is ":fail:", with the error text in Value.
	KindFail
	// KindDefer is ":defer:", with the error text in Value.
	KindDefer
	// KindBlackhole is ":blackhole:".
	KindBlackhole
	// KindUnknown is ":unknown:".
	KindUnknown
	// KindPipe is "|command", the command in Value (not supported by the
	// router).
	KindPipe
	// KindFile is "/path", the path in Value (not supported by the
	// router).
	KindFile
	// KindInclude is ":include:path", the path in Value (not supported
	// by the router).
	KindInclude
)

var kindNames = [...]string{"address", ":fail:", ":defer:", ":blackhole:", ":unknown:", "pipe", "file", ":include:"}

// String returns the kind's name.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Item is one item of a redirection list.
type Item struct {
	Kind Kind
	// Value is the address for KindAddress ("local@domain", or just the
	// local part when unqualified; quoted local parts keep their quotes,
	// comments, display names and source routes are removed), the error
	// text for KindFail and KindDefer, the command for KindPipe, the path
	// for KindFile and KindInclude.
	Value string
	// NoRedirect is set for an address written with a leading
	// backslash ("\user"), which Exim qualifies with the incoming domain.
	NoRedirect bool
}

// SyntaxError is a malformed item in redirection data.
type SyntaxError struct {
	Item string // the item as written
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("redirect: %s in %q", e.Msg, e.Item)
}

// Parse parses redirection data in Exim's non-filter syntax (Exim
// specification, sections 22.4 to 22.6):
//
//   - Items are separated by commas or newlines; a comma inside double
//     quotes, angle brackets or parentheses does not separate. Empty
//     items are ignored.
//   - An item that starts with "#" (at the start of a line or after a
//     comma, white space aside) is a comment up to the end of the line.
//   - An item entirely enclosed in double quotes loses them.
//   - ":fail:" and ":defer:" take the rest of the line, commas included,
//     as their text, with surrounding white space removed.
//   - ":blackhole:" and ":unknown:" stand alone (text after them in the
//     same item is ignored, as Exim does).
//   - ":include:path", "|command" and "/path" are recognised (the latter
//     two only when the item is not an address with a domain).
//   - "\address" is an address with NoRedirect set.
//   - Anything else is an RFC 5322 address: "local@domain",
//     "Name <local@domain>", "<@route:local@domain>", an unqualified
//     local part, with (comments) removed. Local parts may be quoted
//     strings; domains are dot-separated labels of letters, digits and
//     hyphens, or a [domain literal].
//
// The special keywords are matched without regard to case. A malformed
// item is a *SyntaxError.
func Parse(data string) ([]Item, error) {
	return parse(data, nil)
}

// parse parses data; when skip is not nil, malformed items are passed to
// it and skipped instead of ending the parse.
func parse(data string, skip func(error)) ([]Item, error) {
	var out []Item
	i := 0
	for i < len(data) {
		c := data[i]
		if c == ',' || c == '\n' || isSpace(c) {
			i++
			continue
		}
		if c == '#' {
			for i < len(data) && data[i] != '\n' {
				i++
			}
			continue
		}
		rest := data[i:]
		switch {
		case hasPrefixFold(rest, ":fail:"), hasPrefixFold(rest, ":defer:"):
			k, n := KindFail, len(":fail:")
			if hasPrefixFold(rest, ":defer:") {
				k, n = KindDefer, len(":defer:")
			}
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			out = append(out, Item{Kind: k, Value: strings.TrimSpace(rest[n:end])})
			i += end
			continue
		}
		end, err := itemEnd(rest)
		if err != nil {
			if skip == nil {
				return out, err
			}
			skip(err)
			end = strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			i += end
			continue
		}
		raw := rest[:end]
		i += end
		it, err := parseItem(strings.TrimSpace(raw))
		if err != nil {
			if skip == nil {
				return out, err
			}
			skip(err)
			continue
		}
		if it != nil {
			out = append(out, *it)
		}
	}
	return out, nil
}

// itemEnd returns the length of the item at the start of s: up to the
// first comma or newline outside quotes, brackets and comments.
func itemEnd(s string) (int, error) {
	angle, paren := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return 0, &SyntaxError{Item: firstLine(s), Msg: "unmatched double quote"}
			}
			i = j
		case '\\':
			if paren > 0 {
				i++
			}
		case '(':
			paren++
		case ')':
			if paren > 0 {
				paren--
			}
		case '<':
			if paren == 0 {
				angle++
			}
		case '>':
			if paren == 0 && angle > 0 {
				angle--
			}
		case '\n':
			return i, nil
		case ',':
			if paren == 0 && angle == 0 {
				return i, nil
			}
		}
	}
	return len(s), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// parseItem parses one trimmed item; nil for an empty one.
func parseItem(t string) (*Item, error) {
	if t == "" {
		return nil, nil
	}
	if len(t) >= 2 && t[0] == '"' && closingQuote(t) == len(t)-1 {
		t = strings.TrimSpace(t[1 : len(t)-1])
		if t == "" {
			return nil, &SyntaxError{Item: `""`, Msg: "empty item"}
		}
	}
	switch {
	case hasPrefixFold(t, ":blackhole:"):
		return &Item{Kind: KindBlackhole}, nil
	case hasPrefixFold(t, ":unknown:"):
		return &Item{Kind: KindUnknown}, nil
	case hasPrefixFold(t, ":include:"):
		p := strings.TrimSpace(t[len(":include:"):])
		if p == "" {
			return nil, &SyntaxError{Item: t, Msg: "missing file name after :include:"}
		}
		return &Item{Kind: KindInclude, Value: p}, nil
	case t[0] == '\\':
		addr, err := parseAddress(strings.TrimLeft(t[1:], " \t"))
		if err != nil {
			err.Item = t
			return nil, err
		}
		return &Item{Kind: KindAddress, Value: addr, NoRedirect: true}, nil
	case t[0] == '|' || t[0] == '/':
		if addr, err := parseAddress(t); err == nil && strings.IndexByte(addr, '@') >= 0 {
			return &Item{Kind: KindAddress, Value: addr}, nil
		}
		if t[0] == '|' {
			cmd := strings.TrimSpace(t[1:])
			if cmd == "" {
				return nil, &SyntaxError{Item: t, Msg: "empty pipe command"}
			}
			return &Item{Kind: KindPipe, Value: cmd}, nil
		}
		return &Item{Kind: KindFile, Value: t}, nil
	}
	addr, err := parseAddress(t)
	if err != nil {
		return nil, err
	}
	return &Item{Kind: KindAddress, Value: addr}, nil
}

// closingQuote returns the index of the quote closing the one at t[0].
func closingQuote(t string) int {
	for j := 1; j < len(t); j++ {
		switch t[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// token kinds
const (
	tAtom   = 'a' // run of atext
	tQuoted = '"' // quoted string, quotes included
	tLit    = '[' // domain literal, brackets included
)

type token struct {
	kind byte // tAtom, tQuoted, tLit, or the special character itself
	text string
}

// isAtext reports whether c may appear in an RFC 5322 atom; bytes of
// UTF-8 sequences are allowed (RFC 6532).
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// tokenize splits an address into tokens, dropping white space and
// comments.
func tokenize(s string) ([]token, *SyntaxError) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c) || c == '\n':
			i++
		case c == '(':
			depth := 0
			j := i
			for ; j < len(s); j++ {
				if s[j] == '\\' {
					j++
					continue
				}
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j >= len(s) {
				return nil, &SyntaxError{Item: s, Msg: "unmatched parenthesis"}
			}
			i = j + 1
		case c == '"':
			j := closingQuote(s[i:])
			if j < 0 {
				return nil, &SyntaxError{Item: s, Msg: "unmatched double quote"}
			}
			q := s[i : i+j+1]
			for k := 1; k < len(q)-1; k++ {
				if q[k] < 0x20 && q[k] != '\t' || q[k] == 0x7f {
					return nil, &SyntaxError{Item: s, Msg: "control character in quoted string"}
				}
			}
			toks = append(toks, token{tQuoted, q})
			i += j + 1
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, &SyntaxError{Item: s, Msg: "unmatched ["}
			}
			lit := s[i : i+j+1]
			for k := 1; k < len(lit)-1; k++ {
				if b := lit[k]; b <= ' ' || b == '[' || b == '\\' || b >= 0x7f {
					return nil, &SyntaxError{Item: s, Msg: "invalid domain literal"}
				}
			}
			toks = append(toks, token{tLit, lit})
			i += j + 1
		case isAtext(c):
			j := i
			for j < len(s) && isAtext(s[j]) {
				j++
			}
			toks = append(toks, token{tAtom, s[i:j]})
			i = j
		case strings.IndexByte("@<>:;,.", c) >= 0:
			toks = append(toks, token{c, s[i : i+1]})
			i++
		default:
			return nil, &SyntaxError{Item: s, Msg: fmt.Sprintf("invalid character %q", c)}
		}
	}
	return toks, nil
}

// parseAddress parses an address item and returns it in canonical form.
func parseAddress(s string) (string, *SyntaxError) {
	toks, err := tokenize(s)
	if err != nil {
		return "", err
	}
	fail := func(msg string) (string, *SyntaxError) { return "", &SyntaxError{Item: s, Msg: msg} }
	lt := -1
	for i, t := range toks {
		if t.kind == '<' {
			lt = i
			break
		}
	}
	if lt < 0 {
		return addrSpec(s, toks)
	}
	for _, t := range toks[:lt] {
		if t.kind != tAtom && t.kind != tQuoted && t.kind != '.' {
			return fail("malformed display name before <")
		}
	}
	gt := -1
	for i := lt + 1; i < len(toks); i++ {
		if toks[i].kind == '>' {
			gt = i
			break
		}
	}
	if gt < 0 {
		return fail("unmatched <")
	}
	if gt+1 < len(toks) {
		return fail(fmt.Sprintf("malformed address: %s may not follow <...>", joinTokens(toks[gt+1:])))
	}
	inner := toks[lt+1 : gt]
	if len(inner) > 0 && inner[0].kind == '@' {
		// Source route "@a,@b:": dropped.
		colon := -1
		for i, t := range inner {
			if t.kind == ':' {
				colon = i
				break
			}
		}
		if colon < 0 {
			return fail("malformed source route")
		}
		inner = inner[colon+1:]
	}
	return addrSpec(s, inner)
}

// addrSpec parses local-part ["@" domain] from tokens.
func addrSpec(s string, toks []token) (string, *SyntaxError) {
	fail := func(msg string) (string, *SyntaxError) { return "", &SyntaxError{Item: s, Msg: msg} }
	var local strings.Builder
	i := 0
	prevWord := false
	for ; i < len(toks); i++ {
		t := toks[i]
		if t.kind == tAtom || t.kind == tQuoted {
			if prevWord {
				return fail(`missing or malformed local part (expected word or "<")`)
			}
			prevWord = true
		} else if t.kind == '.' {
			prevWord = false
		} else {
			break
		}
		local.WriteString(t.text)
	}
	if local.Len() == 0 {
		if i < len(toks) && toks[i].kind == '@' {
			return fail("no local part")
		}
		return fail("missing or malformed local part")
	}
	if i == len(toks) {
		return local.String(), nil
	}
	if toks[i].kind != '@' {
		return fail(fmt.Sprintf("malformed address: %s may not follow %s", joinTokens(toks[i:]), local.String()))
	}
	i++
	var dom strings.Builder
	if i < len(toks) && toks[i].kind == tLit {
		dom.WriteString(toks[i].text)
		i++
	} else {
		wantLabel := true
		for ; i < len(toks); i++ {
			t := toks[i]
			if wantLabel && t.kind == tAtom && validLabel(t.text) {
				dom.WriteString(t.text)
				wantLabel = false
				continue
			}
			if !wantLabel && t.kind == '.' {
				dom.WriteByte('.')
				wantLabel = true
				continue
			}
			if wantLabel {
				return fail("domain missing or malformed")
			}
			break
		}
		if wantLabel {
			return fail("domain missing or malformed")
		}
	}
	if i < len(toks) {
		return fail(fmt.Sprintf("malformed address: %s may not follow %s@%s", joinTokens(toks[i:]), local.String(), dom.String()))
	}
	return local.String() + "@" + dom.String(), nil
}

// validLabel reports whether an atom is a domain label: letters, digits
// (or UTF-8) and inner hyphens.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80) {
			return false
		}
	}
	return true
}

func joinTokens(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.text)
	}
	return b.String()
}
