package acl

import (
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
)

// Expand substitutes variables in s, a small and safe subset of Exim's
// string expansion used for messages, log messages, add_header text, set
// values and ratelimit keys:
//
//   - $name and ${name} are replaced by the variable's value. A name is
//     letters, digits and underscores.
//   - \$ is a literal dollar sign and \\ a literal backslash; any other
//     backslash is kept as it is.
//   - A "$" not followed by a name, and "${" not closed by "}" after a
//     plain name (Exim's ${lookup ...} and other expansion items), are
//     copied unchanged: there is no other expansion language.
//
// The variables are the ACL variables (acl_c*, acl_m*), these Exim
// variables:
//
//	sender_address  sender_address_domain  sender_address_local_part
//	local_part  domain  (the recipient at RCPT, lower-cased as Exim does)
//	sender_host_address  sender_host_port  sender_host_name
//	sender_helo_name  sender_host_authenticated  authenticated_id
//	authenticated_sender  received_protocol  interface_address
//	interface_port  message_exim_id  message_size  recipients_count
//	acl_verify_message  sender_rate  sender_rate_limit  sender_rate_period
//	host_data  domain_data  local_part_data  sender_data  recipient_data
//	tls_in_cipher  tls_in_ver  tls_in_sni  tls_in_peerdn
//
// and any variable set with [Tx.SetVar]. An unknown or unset variable
// expands to the empty string (Exim's default with strict_acl_vars unset).
// Control characters other than tab in a substituted value are replaced by
// spaces, so a value can never add lines to an SMTP reply or a header.
func (tx *Tx) Expand(s string) string {
	return expand(s, tx.value)
}

// placeholder expands every variable to "x", to check the shape of a
// template when it is built.
func placeholder(s string) string {
	return expand(s, func(string) string { return "x" })
}

func expand(s string, value func(string) string) string {
	if strings.IndexByte(s, '$') < 0 && strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '$' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i += 2
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			j := i + 2
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			if j == i+2 || j >= len(s) || s[j] != '}' {
				b.WriteString("${")
				i += 2
				continue
			}
			writeValue(&b, value(s[i+2:j]))
			i = j + 1
		case c == '$':
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			if j == i+1 {
				b.WriteByte('$')
				i++
				continue
			}
			writeValue(&b, value(s[i+1:j]))
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func writeValue(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			c = ' '
		}
		b.WriteByte(c)
	}
}

// value returns the value of a variable, "" when unknown or unset.
func (tx *Tx) value(name string) string {
	if aclVarKind(name) != 0 {
		v, _ := tx.Var(name)
		return v
	}
	s := tx.Session
	var m *exigo.Message
	if tx.Message != nil {
		m = tx.Message
	}
	switch name {
	case "sender_address":
		if m != nil {
			return m.Envelope.Sender
		}
		return ""
	case "sender_address_domain", "sender_address_local_part":
		if m == nil || m.Envelope.Sender == "" {
			return ""
		}
		lp, d := exigo.SplitAddress(m.Envelope.Sender)
		if name == "sender_address_domain" {
			return d
		}
		return lp
	case "local_part", "domain":
		if tx.Recipient == nil {
			return ""
		}
		lp, d := exigo.SplitAddress(tx.Recipient.Address)
		if name == "domain" {
			return strings.ToLower(d)
		}
		return strings.ToLower(lp)
	case "sender_host_address":
		if s != nil && s.RemoteAddr.IsValid() {
			return s.RemoteAddr.Addr().Unmap().WithZone("").String()
		}
		return ""
	case "sender_host_port":
		if s != nil && s.RemoteAddr.IsValid() {
			return strconv.Itoa(int(s.RemoteAddr.Port()))
		}
		return ""
	case "interface_address":
		if s != nil && s.LocalAddr.IsValid() {
			return s.LocalAddr.Addr().Unmap().WithZone("").String()
		}
		return ""
	case "interface_port":
		if s != nil && s.LocalAddr.IsValid() {
			return strconv.Itoa(int(s.LocalAddr.Port()))
		}
		return ""
	case "sender_host_name":
		if s != nil {
			return s.HostName
		}
		return ""
	case "sender_helo_name":
		if s != nil {
			return s.HELO
		}
		return ""
	case "sender_host_authenticated":
		if s != nil {
			return s.AuthMech
		}
		return ""
	case "authenticated_id":
		if s != nil {
			return s.AuthID
		}
		return ""
	case "authenticated_sender":
		if s != nil {
			return s.AuthSender
		}
		return ""
	case "received_protocol":
		if s != nil {
			return s.Protocol()
		}
		return ""
	case "tls_in_cipher", "tls_in_ver", "tls_in_sni", "tls_in_peerdn":
		if s == nil || s.TLS == nil {
			return ""
		}
		switch name {
		case "tls_in_cipher":
			return s.TLS.Cipher
		case "tls_in_ver":
			return s.TLS.Version
		case "tls_in_sni":
			return s.TLS.SNI
		}
		return s.TLS.PeerDN
	case "message_exim_id":
		if m != nil {
			return m.ID
		}
		return ""
	case "message_size":
		// Exim: the SIZE= of MAIL FROM (-1 when absent) until the data
		// is received, then the real size.
		if m == nil {
			return ""
		}
		if m.Stats.Size > 0 || tx.Stage == StageData || tx.Stage == StageMIME {
			return strconv.FormatInt(m.Stats.Size, 10)
		}
		if m.Envelope.Size > 0 {
			return strconv.FormatInt(m.Envelope.Size, 10)
		}
		return "-1"
	case "recipients_count":
		if m != nil {
			return strconv.Itoa(len(m.Envelope.Recipients))
		}
		return "0"
	case "acl_verify_message":
		return tx.rule.verifyMessage
	}
	return tx.vars[name]
}
