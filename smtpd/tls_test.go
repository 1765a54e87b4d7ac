package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/internal/testcert"
)

// testCert makes a self-signed certificate for mx.test.example and
// 127.0.0.1, and a pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	return testcert.Must(t, "mx.test.example", "127.0.0.1")
}

// startTLS runs STARTTLS on c and switches it to TLS.
func (c *client) startTLS(pool *x509.CertPool) *tls.Conn {
	c.t.Helper()
	c.cmd("STARTTLS", "220 2.0.0 Ready to start TLS\r\n")
	if c.r.Buffered() != 0 {
		c.t.Fatal("data after the 220")
	}
	tc := tls.Client(c.c, &tls.Config{ServerName: "mx.test.example", RootCAs: pool})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.c = tc
	c.r = bufio.NewReader(tc)
	return tc
}

var cipherRE = regexp.MustCompile(`^TLS1\.3:TLS_(AES_128_GCM_SHA256:128|AES_256_GCM_SHA384:256|CHACHA20_POLY1305_SHA256:256)$`)

func TestStartTLS(t *testing.T) {
	t.Parallel()
	cert, pool := testCert(t)
	s, st := newServer(t)
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	var heloRuns atomic.Int32
	s.ACL.Helo = acl.List{{Verb: acl.Accept, Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
		heloRuns.Add(1)
		return true, nil
	})}}}
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO client.example", strings.Replace(ehloReply, "250 HELP", "250-STARTTLS\r\n250 HELP", 1))
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	tc := c.startTLS(pool)
	// Everything is forgotten: EHLO again.
	c.cmd("MAIL FROM:<a@b.example>", "503 5.5.1 HELO or EHLO required\r\n")
	c.cmd("EHLO client.example", strings.Replace(ehloReply, "250 HELP", "250-REQUIRETLS\r\n250 HELP", 1))
	c.cmd("STARTTLS", "503 5.5.1 TLS already active\r\n")
	c.cmd("MAIL FROM:<a@b.example> REQUIRETLS", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: tls\r\n\r\nsecret\r\n.", "250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	c.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")
	if n := heloRuns.Load(); n != 2 {
		t.Errorf("helo ACL ran %d times, want 2", n)
	}
	m := st.messages()[0]
	info := m.Msg.Session.TLS
	if info == nil || info.Version != "TLS1.3" || !cipherRE.MatchString(info.Cipher) || info.SNI != "mx.test.example" || info.PeerDN != "" || info.Resumed {
		t.Fatalf("TLS info %+v", info)
	}
	suite := tls.CipherSuiteName(tc.ConnectionState().CipherSuite)
	if !strings.Contains(info.Cipher, ":"+suite+":") {
		t.Errorf("cipher %q, client negotiated %s", info.Cipher, suite)
	}
	if !m.Msg.Envelope.RequireTLS || m.Msg.Session.Protocol() != "esmtps" {
		t.Errorf("RequireTLS %v protocol %s", m.Msg.Envelope.RequireTLS, m.Msg.Session.Protocol())
	}
	wantRcv := "Received: from [127.0.0.1] (helo=client.example)\n\tby mx.test.example with esmtps  (TLS1.3) tls " + suite + "\n\t(exigo)\n"
	if !strings.HasPrefix(m.Header, wantRcv) {
		t.Errorf("header %q, want prefix %q", m.Header, wantRcv)
	}
}

// TestStartTLSInjection: commands pipelined after STARTTLS were sent in
// the clear and must not run inside the TLS session (CVE-2011-0411).
func TestStartTLSInjection(t *testing.T) {
	t.Parallel()
	cert, pool := testCert(t)
	s, _ := newServer(t)
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO client.example", strings.Replace(ehloReply, "250 HELP", "250-STARTTLS\r\n250 HELP", 1))
	c.send("STARTTLS\r\nEHLO evil.example\r\nMAIL FROM:<evil@example.org>\r\n")
	c.expect("220 2.0.0 Ready to start TLS\r\n")
	tc := tls.Client(c.c, &tls.Config{ServerName: "mx.test.example", RootCAs: pool})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
	// The first reply in TLS is to this command, not to the injected ones.
	c.cmd("MAIL FROM:<a@b.example>", "503 5.5.1 HELO or EHLO required\r\n")
	c.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")
}

func TestImplicitTLSAndClientCert(t *testing.T) {
	t.Parallel()
	cert, pool := testCert(t)
	s, st := newServer(t)
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(tls.NewListener(l, s.TLSConfig)) }()
	defer func() {
		s.Shutdown(context.Background())
		<-done
	}()
	tc, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{ServerName: "mx.test.example", RootCAs: pool, Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &client{t: t, c: tc, r: bufio.NewReader(tc)}
	c.expect(testGreeting)
	c.cmd("EHLO client.example", strings.Replace(ehloReply, "250 HELP", "250-REQUIRETLS\r\n250 HELP", 1))
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: tls\r\n\r\nsecret\r\n.", "250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	info := st.messages()[0].Msg.Session.TLS
	if info == nil || info.PeerDN != "CN=mx.test.example" || !info.Verified || !cipherRE.MatchString(info.Cipher) {
		t.Fatalf("TLS info %+v", info)
	}
}

func TestTLSHandshakeFailure(t *testing.T) {
	t.Parallel()
	cert, _ := testCert(t)
	s, _ := newServer(t)
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO client.example", strings.Replace(ehloReply, "250 HELP", "250-STARTTLS\r\n250 HELP", 1))
	c.cmd("STARTTLS", "220 2.0.0 Ready to start TLS\r\n")
	c.send("this is not a TLS client hello\r\n\r\n")
	c.expectClosed()
}

func TestTLSNames(t *testing.T) {
	t.Parallel()
	for v, want := range map[uint16]string{tls.VersionTLS13: "TLS1.3", tls.VersionTLS12: "TLS1.2", tls.VersionTLS11: "TLS1.1", tls.VersionTLS10: "TLS1.0", 0x0300: "TLS(0x300)"} {
		if got := tlsVersionName(v); got != want {
			t.Errorf("%x: %q", v, got)
		}
	}
	for name, want := range map[string]int{"TLS_AES_128_GCM_SHA256": 128, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 256, "TLS_CHACHA20_POLY1305_SHA256": 256, "TLS_RSA_WITH_3DES_EDE_CBC_SHA": 168, "X": 0} {
		if got := cipherBits(name); got != want {
			t.Errorf("%s: %d", name, got)
		}
	}
	if got := cipherStd("TLS1.2:TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:256"); got != "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" {
		t.Errorf("cipherStd %q", got)
	}
	info := tlsInfo(tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ServerName: "x"})
	if info.Cipher != "TLS1.2:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:128" || info.Version != "TLS1.2" || info.SNI != "x" {
		t.Errorf("tlsInfo %+v", info)
	}
}
