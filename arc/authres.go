package arc

import (
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
)

// AuthResult is one resinfo of an Authentication-Results field (RFC
// 8601): method=result, an optional reason comment, then properties in
// order, e.g. {Method: "spf", Result: "pass", Props: [][2]string{{
// "smtp.mailfrom", "a@example.org"}}}.
type AuthResult struct {
	Method, Result string
	// Comment is written in parentheses after the result.
	Comment string
	// Props are ptype.property=value pairs, e.g. {"header.d", "example.org"}.
	Props [][2]string
}

func (r AuthResult) String() string {
	var b strings.Builder
	b.WriteString(r.Method + "=" + r.Result)
	if r.Comment != "" {
		b.WriteString(" (" + escapeComment(r.Comment) + ")")
	}
	for _, p := range r.Props {
		b.WriteString(" " + p[0] + "=" + quoteValue(p[1]))
	}
	return b.String()
}

// ARCAuthResult renders an ARC result as RFC 8617 section 10.2 registers
// it: arc=STATE, the reason as a comment when failing, header.oldest-pass
// when the chain passes, smtp.remote-ip when known. (go-msgauth's
// authres.Format drops or misplaces these properties.)
func ARCAuthResult(res *Result, remoteIP string) AuthResult {
	r := AuthResult{Method: "arc", Result: string(res.State)}
	if res.State == Fail {
		r.Comment = res.Reason
	}
	if res.State == Pass {
		r.Props = append(r.Props, [2]string{"header.oldest-pass", strconv.Itoa(res.OldestPass)})
	}
	if remoteIP != "" {
		r.Props = append(r.Props, [2]string{"smtp.remote-ip", remoteIP})
	}
	return r
}

// AuthResultsHeader builds the field Exim's ${authresults {admd}}
// expands to: "Authentication-Results: admd;" then one resinfo per folded
// line: the results given (spf, dkim, dmarc, ... from their packages) in
// order, then arc= when the message carries an ARC result (ResultKey).
// Without any result the value is "admd; none". The field ends in CRLF.
func AuthResultsHeader(admd string, m *exigo.Message, results ...AuthResult) string {
	all := append([]AuthResult(nil), results...)
	if m != nil {
		if res, ok := exigo.Get(&m.Attrs, ResultKey); ok && res != nil {
			ip := ""
			if m.Session != nil && m.Session.RemoteAddr.IsValid() {
				ip = m.Session.RemoteAddr.Addr().Unmap().String()
			}
			all = append(all, ARCAuthResult(res, ip))
		}
	}
	var b strings.Builder
	b.WriteString("Authentication-Results: " + admd + ";")
	if len(all) == 0 {
		b.WriteString(" none\r\n")
		return b.String()
	}
	for i, r := range all {
		b.WriteString("\r\n\t" + r.String())
		if i < len(all)-1 {
			b.WriteString(";")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// quoteValue writes a property value as a token, or a quoted string when
// it holds characters a token cannot (RFC 2045 tspecials, space, CTLs).
// Addresses (local@domain) stay bare, as RFC 8601 allows.
func quoteValue(v string) string {
	plain := v != ""
	for i := 0; i < len(v) && plain; i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>,;:\\\"/[]?=", c) >= 0 {
			plain = false
		}
	}
	if plain {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

func escapeComment(s string) string {
	return strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`, "\r", "", "\n", " ").Replace(s)
}
