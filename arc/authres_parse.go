package arc

import "strings"

// splitAuthResults splits an Authentication-Results value (RFC 8601) into
// its authserv-id and its result items (each unfolded, whitespace runs
// reduced to one space). A value of "none" gives no items.
func splitAuthResults(v string) (id string, results []string) {
	parts := splitTop(v)
	if len(parts) == 0 {
		return "", nil
	}
	head := strings.TrimSpace(stripComments(parts[0]))
	id, _, _ = strings.Cut(head, " ")
	id = strings.TrimSpace(id)
	for _, p := range parts[1:] {
		p = collapseWSP(p)
		if p == "" || strings.EqualFold(p, "none") {
			continue
		}
		results = append(results, p)
	}
	return id, results
}

// splitTop splits s at semicolons outside comments and quoted strings.
func splitTop(s string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && (quoted || depth > 0):
			i++
		case quoted:
			if c == '"' {
				quoted = false
			}
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ';' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// stripComments replaces (nested) comments by a space.
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return strings.NewReplacer("\t", " ", "\r", " ", "\n", " ").Replace(b.String())
}

// collapseWSP unfolds s, reduces whitespace runs to one space and trims.
func collapseWSP(s string) string {
	return string(relaxValue(nil, []byte(s)))
}

// collectAuthResults returns the result items of every
// Authentication-Results field whose authserv-id is admd, in order.
func collectAuthResults(h Header, admd string) []string {
	var out []string
	found := false
	for _, f := range h {
		if !strings.EqualFold(f.Name(), "authentication-results") {
			continue
		}
		id, res := splitAuthResults(f.Value())
		if !strings.EqualFold(id, admd) {
			continue
		}
		found = true
		out = append(out, res...)
	}
	if found && len(out) == 0 {
		return []string{"none"}
	}
	return out
}
