package smtpclient

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/exigo-mta/exigo"
)

// FormatPath returns addr as an SMTP path "<local@domain>", quoting the
// local part when it is not a dot-atom. ok is false when the address
// holds bytes no SMTP command may carry.
func FormatPath(addr string) (string, bool) {
	if addr == "" {
		return "<>", true
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c < 0x20 || c == 0x7f {
			return "", false
		}
	}
	if !utf8.ValidString(addr) {
		return "", false
	}
	local, domain := exigo.SplitAddress(addr)
	if local == "" || isDotAtom(local) || isQuoted(local) {
		return "<" + addr + ">", true
	}
	var b strings.Builder
	b.WriteString(`<"`)
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	if strings.Contains(addr, "@") {
		b.WriteByte('@')
		b.WriteString(domain)
	}
	b.WriteByte('>')
	return b.String(), true
}

// isDotAtom reports whether s is an RFC 5321 dot-string (with RFC 6531's
// UTF-8 characters allowed).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isQuoted(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		switch s[i] {
		case '\\':
			i++
			if i == len(s)-1 {
				return false
			}
		case '"':
			return false
		}
	}
	return true
}

// Xtext encodes s as RFC 3461 xtext.
func Xtext(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' || c == '+' || c == '=' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			b.WriteByte('+')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// utf8AddrXtext encodes s as RFC 6533 utf-8-addr-unitext (utf8 true: UTF-8
// characters as themselves) or utf-8-addr-xtext (all non-ASCII escaped).
// '+', '=', '\' and control characters become "\x{HEX}".
func utf8AddrXtext(s string, utf8ok bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '+' || r == '=' || r == '\\' || r < 0x21 || r == 0x7f || (r >= 0x80 && !utf8ok) || r == utf8.RuneError:
			b.WriteString(`\x{`)
			h := strings.ToUpper(strconv.FormatInt(int64(r), 16))
			if len(h) < 2 {
				b.WriteByte('0')
			}
			b.WriteString(h)
			b.WriteByte('}')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ORCPTParam returns the ORCPT value for a stored "addr-type;address".
func ORCPTParam(v string, smtputf8 bool) string {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok || typ == "" || addr == "" {
		return ""
	}
	if strings.EqualFold(typ, "utf-8") || !isASCII(addr) {
		return "utf-8;" + utf8AddrXtext(addr, smtputf8)
	}
	return typ + ";" + Xtext(addr)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// NeedsSMTPUTF8 reports whether the message must go with SMTPUTF8: its
// envelope says so, or an address of the delivery is not ASCII.
func NeedsSMTPUTF8(m *exigo.Message, returnPath string, rcpts []*exigo.Recipient) bool {
	if m.Envelope.SMTPUTF8 || !isASCII(returnPath) {
		return true
	}
	for _, r := range rcpts {
		if !isASCII(r.Address) {
			return true
		}
	}
	return false
}

// MailCommand builds the MAIL command for the server's extensions: SIZE
// (when size > 0), BODY=8BITMIME (when the message has it and the server
// offers it), SMTPUTF8 (when utf8), REQUIRETLS (when the envelope has it),
// and RET and ENVID when the server offers DSN.
func MailCommand(path string, m *exigo.Message, c *Client, size int64, utf8 bool) string {
	var b strings.Builder
	b.Grow(len(path) + 64)
	b.WriteString("MAIL FROM:")
	b.WriteString(path)
	if size > 0 && c.Has("SIZE") {
		b.WriteString(" SIZE=")
		b.WriteString(strconv.FormatInt(size, 10))
	}
	if (m.Envelope.Body == exigo.Body8BitMIME || m.Envelope.Body == exigo.BodyBinaryMIME) && c.Has("8BITMIME") {
		b.WriteString(" BODY=8BITMIME")
	}
	if utf8 {
		b.WriteString(" SMTPUTF8")
	}
	if m.Envelope.RequireTLS {
		b.WriteString(" REQUIRETLS")
	}
	if c.Has("DSN") {
		if ret := m.Envelope.Ret.String(); ret != "" {
			b.WriteString(" RET=")
			b.WriteString(ret)
		}
		if m.Envelope.EnvID != "" {
			b.WriteString(" ENVID=")
			b.WriteString(Xtext(m.Envelope.EnvID))
		}
	}
	return b.String()
}

// RcptCommand builds the RCPT command for one recipient, with NOTIFY and
// ORCPT when dsn (the server offers DSN).
func RcptCommand(path string, r *exigo.Recipient, dsn, utf8 bool) string {
	if !dsn || (r.Notify&exigo.NotifyMask == 0 && r.ORCPT == "") {
		return "RCPT TO:" + path
	}
	var b strings.Builder
	b.WriteString("RCPT TO:")
	b.WriteString(path)
	if n := r.Notify.String(); n != "" {
		b.WriteString(" NOTIFY=")
		b.WriteString(n)
	}
	if r.ORCPT != "" {
		if o := ORCPTParam(r.ORCPT, utf8); o != "" {
			b.WriteString(" ORCPT=")
			b.WriteString(o)
		}
	}
	return b.String()
}

// MessageSize estimates the SIZE of the message on the wire (RFC 1870:
// CRLF line ends, no dot-stuffing) from the stored size, as Exim does
// from message_size: header and body with LF line ends plus one byte per
// line. It is 0 (no SIZE parameter) when the size is unknown.
func MessageSize(m *exigo.Message, prepend []byte) int64 {
	if m.Stats.Size <= 0 {
		return 0
	}
	lines := 0
	fields := m.Header.Fields()
	for fields.Next() {
		raw, err := fields.Raw()
		if err != nil {
			continue
		}
		lines += max(1, bytes.Count(raw, []byte{'\n'}))
	}
	n := m.Stats.Size + int64(lines) + 1 + int64(m.Stats.Lines)
	return n + int64(len(prepend)+bytes.Count(prepend, []byte{'\n'}))
}
