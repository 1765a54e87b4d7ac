package smtpd

import (
	"context"
	"crypto/tls"
	"strconv"
	"strings"
	"time"

	"github.com/exigo-mta/exigo"
)

// tlsVersionName returns Exim's $tls_in_ver form: "TLS1.3", "TLS1.2", ...
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLS1.3"
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS11:
		return "TLS1.1"
	case tls.VersionTLS10:
		return "TLS1.0"
	}
	return "TLS(0x" + strconv.FormatUint(uint64(v), 16) + ")"
}

// cipherBits returns the symmetric key size of a cipher suite.
func cipherBits(name string) int {
	switch {
	case strings.Contains(name, "AES_128"):
		return 128
	case strings.Contains(name, "AES_256"), strings.Contains(name, "CHACHA20"):
		return 256
	case strings.Contains(name, "3DES"):
		return 168
	case strings.Contains(name, "RC4_128"):
		return 128
	}
	return 0
}

// tlsInfo describes a finished handshake the way Exim records it:
// $tls_in_ver "TLS1.3" and $tls_in_cipher "TLS1.3:TLS_AES_256_GCM_SHA384:256"
// (version, IANA suite name, key bits). This is the form Exim writes when
// built with OpenSSL for TLS 1.3; Exim built with GnuTLS (Debian's) writes
// GnuTLS's own suite names there instead, e.g.
// "TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256".
func tlsInfo(st tls.ConnectionState) *exigo.TLSInfo {
	ver := tlsVersionName(st.Version)
	suite := tls.CipherSuiteName(st.CipherSuite)
	info := &exigo.TLSInfo{
		Version: ver,
		Cipher:  ver + ":" + suite + ":" + strconv.Itoa(cipherBits(suite)),
		SNI:     st.ServerName,
		Resumed: st.DidResume,
	}
	if len(st.PeerCertificates) > 0 {
		info.PeerDN = st.PeerCertificates[0].Subject.String()
		info.Verified = len(st.VerifiedChains) > 0
	}
	return info
}

var (
	replyTLSReady   = &exigo.SMTPError{Code: 220, Enhanced: exigo.EnhancedCode{2, 0, 0}, Message: "Ready to start TLS"}
	replyTLSNone    = &exigo.SMTPError{Code: 502, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "STARTTLS not available"}
	replyTLSAlready = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "TLS already active"}
	replyTLSArgs    = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 4}, Message: "STARTTLS takes no parameters"}
)

// cmdStartTLS runs STARTTLS (RFC 3207). Input the client pipelined after
// the command was sent in the clear and is discarded (the 2011 STARTTLS
// command injection). After the handshake the session starts afresh: the
// client must EHLO again, and nothing learned before (HELO, AUTH, the
// transaction) is kept.
func (c *conn) cmdStartTLS(ctx context.Context, arg string) {
	switch {
	case c.srv.TLSConfig == nil:
		c.replyErr(replyTLSNone)
		return
	case c.sess.TLS != nil:
		c.protocolError(replyTLSAlready)
		return
	case arg != "":
		c.syntaxError(replyTLSArgs)
		return
	}
	if n := c.r.Buffered(); n > 0 {
		c.log.Warn("discarding input pipelined after STARTTLS", "bytes", n)
	}
	c.replyErr(replyTLSReady)
	if err := c.flush(); err != nil {
		c.closing = true
		return
	}
	tc := tls.Server(c.nc, c.srv.TLSConfig)
	if err := c.handshake(ctx, tc); err != nil {
		c.log.Info("TLS handshake failed", "err", err)
		c.closing = true
		c.notQuitReason = "tls-failed"
		return
	}
	c.setConn(tc)
	c.resetSession()
	c.sess.TLS = tlsInfo(tc.ConnectionState())
	c.log.Info("TLS started", "cipher", c.sess.TLS.Cipher, "sni", c.sess.TLS.SNI)
}

// handshake runs the TLS handshake bounded by the command timeout.
func (c *conn) handshake(ctx context.Context, tc *tls.Conn) error {
	if err := c.setDeadline(time.Now().Add(c.srv.readTimeout())); err != nil {
		return err
	}
	return tc.HandshakeContext(ctx)
}
