package smtpd

import (
	"bytes"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
)

// receivedDateLayout is Exim's tod_full format: two-digit day of month and
// a numeric zone.
const receivedDateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// receivedField returns the Received: header field Exim writes with its
// default received_header_text, with "exigo" in place of "Exim 4.96",
// ending with LF:
//
//	Received: from [192.0.2.1] (helo=client.example)
//		by mx.example with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384
//		(exigo)
//		(envelope-from <sender@example.org>)
//		id 1xUm5r-0001zn-25
//		for rcpt@example.com;
//		Sat, 21 Nov 2026 14:29:31 +0000
//
// The double blank before "(TLS1.3)" is Exim's too. forRcpt is the single
// recipient ("" when there are several).
func receivedField(host string, s *exigo.Session, sender, id, forRcpt string, t time.Time) string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString("Received: ")
	if rcv := rcvHost(s); rcv != "" {
		b.WriteString("from ")
		b.WriteString(rcv)
		b.WriteString("\n\t")
	} else {
		if s.Ident != "" {
			b.WriteString("from ")
			b.WriteString(clean(s.Ident))
			b.WriteByte(' ')
		}
		if s.HELO != "" {
			b.WriteString("(helo=")
			b.WriteString(clean(s.HELO))
			b.WriteString(")\n\t")
		}
	}
	b.WriteString("by ")
	b.WriteString(host)
	b.WriteString(" with ")
	b.WriteString(s.Protocol())
	b.WriteByte(' ')
	if s.TLS != nil {
		if s.TLS.Version != "" {
			b.WriteString(" (")
			b.WriteString(s.TLS.Version)
			b.WriteByte(')')
		}
		if std := cipherStd(s.TLS.Cipher); std != "" {
			b.WriteString(" tls ")
			b.WriteString(std)
			b.WriteString("\n\t")
		}
	}
	b.WriteString("(exigo)\n\t")
	if sender != "" {
		b.WriteString("(envelope-from <")
		b.WriteString(clean(sender))
		b.WriteString(">)\n\t")
	}
	b.WriteString("id ")
	b.WriteString(id)
	if forRcpt != "" {
		b.WriteString("\n\tfor ")
		b.WriteString(clean(forRcpt))
	}
	b.WriteString(";\n\t")
	b.WriteString(t.Format(receivedDateLayout))
	b.WriteByte('\n')
	return b.String()
}

// rcvHost builds Exim's $sender_rcvhost: the client's address in
// brackets, with the verified host name before it when known, and the
// HELO name (unless it says nothing new) and ident after it.
func rcvHost(s *exigo.Session) string {
	if !s.RemoteAddr.IsValid() {
		return ""
	}
	addr := "[" + s.RemoteAddr.Addr().Unmap().WithZone("").String() + "]"
	helo := clean(s.HELO)
	ident := clean(s.Ident)
	showHelo := helo != "" && !heloIsAddr(helo, s.RemoteAddr.Addr())
	if s.HostName == "" {
		var extra []string
		if showHelo {
			extra = append(extra, "helo="+helo)
		}
		if ident != "" {
			extra = append(extra, "ident="+ident)
		}
		if len(extra) == 0 {
			return addr
		}
		return addr + " (" + strings.Join(extra, " ") + ")"
	}
	name := clean(s.HostName)
	if showHelo && strings.EqualFold(helo, name) {
		showHelo = false
	}
	switch {
	case showHelo && ident != "":
		return name + "\n\t(" + addr + " helo=" + helo + " ident=" + ident + ")"
	case showHelo:
		return name + " (" + addr + " helo=" + helo + ")"
	case ident != "":
		return name + " (" + addr + " ident=" + ident + ")"
	}
	return name + " (" + addr + ")"
}

// heloIsAddr reports whether the HELO argument is an address literal for
// the client's own address ("[192.0.2.1]", "[IPv6:2001:db8::1]").
func heloIsAddr(helo string, a netip.Addr) bool {
	if len(helo) < 3 || helo[0] != '[' || helo[len(helo)-1] != ']' {
		return false
	}
	lit := helo[1 : len(helo)-1]
	if len(lit) > 5 && (strings.EqualFold(lit[:5], "IPv6:") || strings.EqualFold(lit[:5], "IPv4:")) {
		lit = lit[5:]
	}
	h, err := netip.ParseAddr(lit)
	return err == nil && h.Unmap() == a.Unmap().WithZone("")
}

// cipherStd extracts the standard cipher suite name from Exim's
// "version:suite:bits" form ($tls_in_cipher_std).
func cipherStd(c string) string {
	i := strings.IndexByte(c, ':')
	if i < 0 {
		return c
	}
	c = c[i+1:]
	if j := strings.LastIndexByte(c, ':'); j >= 0 {
		c = c[:j]
	}
	return c
}

// clean makes client-supplied text safe inside a header field: control
// characters become '?'.
func clean(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] == 0x7f {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return s
}

// applyEdits applies the header changes collected by ACLs to h with
// [acl.HeaderEdits.Apply] (Exim's order and positions) and clears them.
// The fields Apply adds get LF line ends, like the rest of the header.
func (c *conn) applyEdits(h *textproto.Header, e *acl.HeaderEdits) {
	if len(e.Add) == 0 && len(e.Remove) == 0 {
		return
	}
	added := len(e.Add) > 0
	err := e.Apply(h)
	e.Add, e.Remove = nil, nil
	if err != nil {
		c.log.Warn("header edits not applied", "err", err)
		return
	}
	if !added {
		return
	}
	var fields [][]byte
	for f := h.Fields(); f.Next(); {
		raw, err := f.Raw()
		if err != nil {
			continue
		}
		if bytes.Contains(raw, []byte("\r\n")) {
			raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
		}
		fields = append(fields, raw)
	}
	var nh textproto.Header
	for i := len(fields) - 1; i >= 0; i-- {
		nh.AddRaw(fields[i])
	}
	*h = nh
}
