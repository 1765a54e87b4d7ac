package exigo

import (
	"net"
	"net/netip"
)

// TLSInfo is what is kept of a TLS session once the message is stored, in
// the form Exim writes it to its spool files.
type TLSInfo struct {
	Version  string // e.g. "TLS1.3" ($tls_in_ver)
	Cipher   string // e.g. "TLS1.3:TLS_AES_256_GCM_SHA384:256" ($tls_in_cipher)
	SNI      string // server name the client asked for ($tls_in_sni)
	PeerDN   string // subject DN of the client certificate ($tls_in_peerdn)
	Verified bool   // the client certificate was verified
	Resumed  bool   // the session was resumed
}

// Session describes the SMTP connection a message arrived on.
type Session struct {
	// ID identifies the connection in logs.
	ID string
	// RemoteAddr and LocalAddr are the two ends of the connection (after
	// a PROXY header, the client's and the proxy's view).
	RemoteAddr netip.AddrPort
	LocalAddr  netip.AddrPort
	// HostName is the verified reverse-DNS name of the client, if looked up.
	HostName string
	// HELO is the argument of the last HELO or EHLO.
	HELO string
	// ESMTP is true after EHLO.
	ESMTP bool
	// TLS is non-nil once STARTTLS (or implicit TLS) succeeded.
	TLS *TLSInfo
	// AuthMech is the name of the authenticator that succeeded and AuthID
	// the identity it established; both empty when not authenticated.
	AuthMech string
	AuthID   string
	// AuthSender is the AUTH= parameter of MAIL FROM, if trusted.
	AuthSender string
	// Ident is the RFC 1413 identity of the client, when known.
	Ident string
	// Vars are the connection's ACL variables (Exim's acl_c*), keyed by
	// full name, e.g. "acl_c0" or "acl_c_user".
	Vars map[string]string
	// Attrs holds typed per-connection state.
	Attrs Attrs
}

// Protocol returns the received protocol name as Exim records it:
// "smtp", "esmtp", with "s" for TLS and "a" for authentication appended
// ("esmtps", "esmtpa", "esmtpsa").
func (s *Session) Protocol() string {
	p := "smtp"
	if s.ESMTP {
		p = "esmtp"
	}
	if s.TLS != nil {
		p += "s"
	}
	if s.AuthID != "" {
		p += "a"
	}
	return p
}

// RemoteIP returns the client's IP address, or nil when unknown.
func (s *Session) RemoteIP() net.IP {
	if !s.RemoteAddr.IsValid() {
		return nil
	}
	return net.IP(s.RemoteAddr.Addr().Unmap().AsSlice())
}
