package spool

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exigo-mta/exigo"
)

// originator is who the -H file says submitted the message (line 2).
type originator struct {
	login    string
	uid, gid int64
}

// buildHeaderFile makes the -H content for m, received from start on.
// The dash lines are those Exim 4.96 writes, in its order, followed by
// exigo's own (which Exim ignores).
func buildHeaderFile(m *exigo.Message, start time.Time, o originator) (*HeaderFile, error) {
	h := &HeaderFile{
		ID:     m.ID,
		Login:  o.login,
		UID:    o.uid,
		GID:    o.gid,
		Sender: m.Envelope.Sender,
		Time:   start.Unix(),
	}
	add := func(name, value string, tainted bool) {
		h.Vars = append(h.Vars, Var{Name: name, Value: value, Tainted: tainted})
	}
	add("received_time_usec", fmt.Sprintf(".%06d", start.Nanosecond()/1000), false)
	done := m.Received
	if done.IsZero() {
		done = time.Now()
	}
	add("received_time_complete", fmt.Sprintf("%d.%06d", done.Unix(), done.Nanosecond()/1000), false)

	s := m.Session
	if s != nil {
		if s.HELO != "" {
			add("helo_name", s.HELO, true)
		}
		if s.RemoteAddr.IsValid() {
			add("host_address", formatAddrPort(s.RemoteAddr), false)
			if s.HostName != "" {
				add("host_name", s.HostName, true)
			}
			if s.AuthMech != "" {
				add("host_auth", s.AuthMech, false)
			}
		}
		if s.LocalAddr.IsValid() {
			add("interface_address", formatAddrPort(s.LocalAddr), false)
		}
		if s.Ident != "" {
			add("ident", s.Ident, true)
		}
		add("received_protocol", s.Protocol(), false)
		vs, err := aclVars(s.Vars, "acl_c", "aclc")
		if err != nil {
			return nil, err
		}
		h.Vars = append(h.Vars, vs...)
	}
	vs, err := aclVars(m.Vars, "acl_m", "aclm")
	if err != nil {
		return nil, err
	}
	h.Vars = append(h.Vars, vs...)

	add("body_linecount", strconv.Itoa(m.Stats.Lines), false)
	add("max_received_linelength", strconv.Itoa(m.Stats.MaxLineLength), false)
	if m.Stats.Zeroes > 0 {
		add("body_zerocount", strconv.Itoa(m.Stats.Zeroes), false)
	}
	if s != nil && s.AuthID != "" {
		add("auth_id", s.AuthID, true)
	}
	if s != nil && s.AuthSender != "" {
		add("auth_sender", s.AuthSender, true)
	}
	add("deliver_firsttime", "", false)
	if s != nil {
		if t := s.TLS; t != nil {
			if t.Verified {
				add("tls_certificate_verified", "", false)
			}
			if t.Cipher != "" {
				add("tls_cipher", t.Cipher, false)
			}
			if t.PeerDN != "" {
				add("tls_peerdn", printing(t.PeerDN), true)
			}
			if t.SNI != "" {
				add("tls_sni", printing(t.SNI), true)
			}
			add("tls_resumption", string(resumptionChar(t)), false)
			if t.Version != "" {
				add("tls_ver", t.Version, false)
			}
		} else {
			add("tls_resumption", "A", false)
		}
	}
	if m.Envelope.SMTPUTF8 {
		add("smtputf8", "", false)
	}
	if m.Envelope.EnvID != "" {
		add("dsn_envid", xtextEncode(m.Envelope.EnvID), false)
	}
	if m.Envelope.Ret != exigo.RetUnset {
		add("dsn_ret", strconv.Itoa(int(m.Envelope.Ret)), false)
	}
	// exigo's own facts, ignored by Exim.
	if m.Envelope.Body != "" {
		add("exigo_body", string(m.Envelope.Body), false)
	}
	if m.Envelope.RequireTLS {
		add("exigo_requiretls", "", false)
	}
	if m.Envelope.Size > 0 {
		add("exigo_size", strconv.FormatInt(m.Envelope.Size, 10), false)
	}
	if s != nil && s.ID != "" {
		add("exigo_session", s.ID, false)
	}

	index := make(map[*exigo.Recipient]int, len(m.Envelope.Recipients))
	for i, r := range m.Envelope.Recipients {
		index[r] = i
	}
	for _, r := range m.Envelope.Recipients {
		l := RcptLine{Address: r.Address, ORCPT: orcptEncode(r.ORCPT), DSNFlags: int(r.Notify), ErrorsTo: r.ErrorsTo, PNo: -1}
		if r.Parent != nil {
			if i, ok := index[r.Root()]; ok {
				l.PNo = i
			}
		}
		h.Recipients = append(h.Recipients, l)
	}

	for f := m.Header.Fields(); f.Next(); {
		raw, err := f.Raw()
		if err != nil {
			return nil, fmt.Errorf("spool: header field %q: %w", f.Key(), err)
		}
		text := string(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		h.Headers = append(h.Headers, HeaderLine{Flag: FlagFor(f.Key()), Text: text})
	}
	return h, nil
}

// aclVars turns a map of ACL variables with full names ("acl_m_foo",
// "acl_m0") into -aclm/-aclc lines, in Exim's order (by name).
func aclVars(m map[string]string, prefix, kind string) ([]Var, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" || strings.ContainsAny(rest, " \n\x00") {
			return nil, fmt.Errorf("spool: variable %q is not a valid %s* name", k, prefix)
		}
		names = append(names, rest)
	}
	slices.Sort(names)
	vs := make([]Var, 0, len(names))
	for _, n := range names {
		vs = append(vs, Var{Name: kind, Value: n, Data: m[prefix+n]})
	}
	return vs, nil
}

// Bits of Exim's tls_in.resumption, written as 'A' + bits.
const (
	resumeSupported = 1 << iota
	resumeClientRequested
	resumeClientSuggested
	resumeServerTicket
	resumeUsed
)

func resumptionChar(t *exigo.TLSInfo) byte {
	bits := byte(resumeSupported)
	if t.Resumed {
		bits |= resumeClientRequested | resumeUsed
	}
	return 'A' + bits
}

func formatAddrPort(ap netip.AddrPort) string {
	return "[" + ap.Addr().Unmap().String() + "]:" + strconv.Itoa(int(ap.Port()))
}

// parseAddrPort reads "[ip]:port" (Exim 4.92+) or "ip.port" (older).
func parseAddrPort(s string) (netip.AddrPort, bool) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		a, p, ok := strings.Cut(rest, "]:")
		addr, err := netip.ParseAddr(a)
		port, err2 := strconv.ParseUint(p, 10, 16)
		if !ok || err != nil || err2 != nil {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(addr, uint16(port)), true
	}
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		a, err := netip.ParseAddr(s)
		return netip.AddrPortFrom(a, 0), err == nil
	}
	a, err := netip.ParseAddr(s[:i])
	p, err2 := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil || err2 != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(p)), true
}

// printing escapes non-printing characters the way Exim's
// string_printing does, so the value stays on one line.
func printing(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unprinting reverses printing.
func unprinting(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := s[i]; d {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '0', '1', '2', '3':
			if i+2 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) {
				b.WriteByte((d-'0')<<6 | (s[i+1]-'0')<<3 | (s[i+2] - '0'))
				i += 2
			} else {
				b.WriteByte(d)
			}
		default:
			b.WriteByte(d)
		}
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// xtextEncode encodes s as RFC 3461 xtext.
func xtextEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c <= '~' && c != '+' && c != '=' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "+%02X", c)
		}
	}
	return b.String()
}

// xtextDecode decodes RFC 3461 xtext; malformed input is returned as is.
func xtextDecode(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '+' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return s
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return s
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String()
}

// orcptEncode turns "rfc822;user@example" into the stored
// "rfc822;xtext" form; orcptDecode reverses it.
func orcptEncode(s string) string {
	if s == "" {
		return ""
	}
	t, a, ok := strings.Cut(s, ";")
	if !ok {
		return xtextEncode(s)
	}
	return t + ";" + xtextEncode(a)
}

func orcptDecode(s string) string {
	t, a, ok := strings.Cut(s, ";")
	if !ok {
		return xtextDecode(s)
	}
	return t + ";" + xtextDecode(a)
}

// Message converts the -H content into an exigo.Message (without Body
// and Stats.Size, which need the -D file). Deleted header fields are left
// out; their raw bytes keep the file's LF line ends.
func (h *HeaderFile) Message() (*exigo.Message, error) {
	m := &exigo.Message{ID: h.ID}
	m.Envelope.Sender = h.Sender
	rs := make([]*exigo.Recipient, len(h.Recipients))
	for i, l := range h.Recipients {
		rs[i] = &exigo.Recipient{Address: l.Address, ORCPT: orcptDecode(l.ORCPT), Notify: exigo.Notify(l.DSNFlags), ErrorsTo: l.ErrorsTo}
	}
	for i, l := range h.Recipients {
		if l.PNo >= 0 && l.PNo < len(rs) && l.PNo != i {
			rs[i].Parent = rs[l.PNo]
		}
	}
	m.Envelope.Recipients = rs

	usec := int64(0)
	var s exigo.Session
	hasSession := false
	var tls exigo.TLSInfo
	hasTLS := false
	for _, v := range h.Vars {
		switch v.Name {
		case "received_time_usec":
			if n, err := strconv.ParseInt(strings.TrimPrefix(v.Value, "."), 10, 64); err == nil && n >= 0 && n < 1e6 {
				usec = n
			}
		case "received_time_complete":
			sec, frac, _ := strings.Cut(v.Value, ".")
			a, err1 := strconv.ParseInt(sec, 10, 64)
			b, err2 := strconv.ParseInt(frac, 10, 64)
			if err1 == nil && (err2 == nil || frac == "") && b >= 0 && b < 1e6 {
				m.Received = time.Unix(a, b*1000)
			}
		case "helo_name":
			s.HELO, hasSession = v.Value, true
		case "host_address":
			if ap, ok := parseAddrPort(v.Value); ok {
				s.RemoteAddr, hasSession = ap, true
			}
		case "interface_address":
			if ap, ok := parseAddrPort(v.Value); ok {
				s.LocalAddr, hasSession = ap, true
			}
		case "host_name":
			s.HostName = v.Value
		case "host_auth":
			s.AuthMech = v.Value
		case "auth_id":
			s.AuthID = v.Value
		case "auth_sender":
			s.AuthSender = v.Value
		case "ident":
			s.Ident = v.Value
		case "received_protocol":
			hasSession = true
			s.ESMTP = strings.Contains(v.Value, "esmtp") || strings.Contains(v.Value, "lmtp")
		case "aclc":
			if s.Vars == nil {
				s.Vars = make(map[string]string)
			}
			s.Vars["acl_c"+v.Value] = v.Data
		case "aclm":
			if m.Vars == nil {
				m.Vars = make(map[string]string)
			}
			m.Vars["acl_m"+v.Value] = v.Data
		case "acl":
			n, err := strconv.Atoi(v.Value)
			switch {
			case err != nil:
			case n >= 0 && n < 10:
				if s.Vars == nil {
					s.Vars = make(map[string]string)
				}
				s.Vars["acl_c"+v.Value] = v.Data
			case n >= 10 && n < 20:
				if m.Vars == nil {
					m.Vars = make(map[string]string)
				}
				m.Vars["acl_m"+strconv.Itoa(n-10)] = v.Data
			}
		case "body_linecount":
			m.Stats.Lines, _ = strconv.Atoi(v.Value)
		case "body_zerocount":
			m.Stats.Zeroes, _ = strconv.Atoi(v.Value)
		case "max_received_linelength":
			m.Stats.MaxLineLength, _ = strconv.Atoi(v.Value)
		case "tls_certificate_verified":
			tls.Verified, hasTLS = true, true
		case "tls_cipher":
			tls.Cipher, hasTLS = v.Value, true
		case "tls_peerdn":
			tls.PeerDN, hasTLS = unprinting(v.Value), true
		case "tls_sni":
			tls.SNI, hasTLS = unprinting(v.Value), true
		case "tls_ver":
			tls.Version, hasTLS = v.Value, true
		case "tls_resumption":
			if v.Value != "" && v.Value[0] >= 'A' {
				tls.Resumed = (v.Value[0]-'A')&resumeUsed != 0
			}
		case "smtputf8":
			m.Envelope.SMTPUTF8 = true
		case "dsn_envid":
			m.Envelope.EnvID = xtextDecode(v.Value)
		case "dsn_ret":
			n, _ := strconv.Atoi(v.Value)
			m.Envelope.Ret = exigo.DSNRet(n)
		case "exigo_body":
			m.Envelope.Body = exigo.BodyType(v.Value)
		case "exigo_requiretls":
			m.Envelope.RequireTLS = true
		case "exigo_size":
			m.Envelope.Size, _ = strconv.ParseInt(v.Value, 10, 64)
		case "exigo_session":
			s.ID = v.Value
		}
	}
	if m.Received.IsZero() {
		m.Received = time.Unix(h.Time, usec*1000)
	}
	if hasTLS {
		s.TLS = &tls
		hasSession = true
	}
	if hasSession || s.Vars != nil {
		m.Session = &s
	}

	// textproto.Header inserts at the top: add the fields last first.
	for i := len(h.Headers) - 1; i >= 0; i-- {
		l := h.Headers[i]
		if l.Deleted() {
			continue
		}
		if !strings.Contains(l.Text, ":") {
			return nil, fmt.Errorf("%w: %s-H: header field without a colon: %q", ErrFormat, h.ID, l.Text)
		}
		m.Header.AddRaw([]byte(l.Text))
	}
	return m, nil
}

// ReceivedTime returns when reception started: line 4 of the file plus
// the -received_time_usec variable.
func (h *HeaderFile) ReceivedTime() time.Time {
	usec := int64(0)
	if v, ok := h.Var("received_time_usec"); ok {
		if n, err := strconv.ParseInt(strings.TrimPrefix(v.Value, "."), 10, 64); err == nil && n >= 0 && n < 1e6 {
			usec = n
		}
	}
	return time.Unix(h.Time, usec*1000)
}

// Frozen reports whether the message is frozen and since when.
func (h *HeaderFile) Frozen() (bool, time.Time) {
	v, ok := h.Var("frozen")
	if !ok {
		return false, time.Time{}
	}
	n, _ := strconv.ParseInt(v.Value, 10, 64)
	return true, time.Unix(n, 0)
}

// Freeze marks the message frozen at t (Exim's -frozen); Thaw removes the
// mark and records a manual thaw when manual is true.
func (h *HeaderFile) Freeze(t time.Time) {
	h.SetVar(Var{Name: "frozen", Value: strconv.FormatInt(t.Unix(), 10)})
}

// Thaw unfreezes the message; manual records an explicit thaw (Exim's
// -manual_thaw).
func (h *HeaderFile) Thaw(manual bool) {
	h.DelVar("frozen")
	if manual && !h.Has("manual_thaw") {
		h.SetVar(Var{Name: "manual_thaw"})
	}
}
