package smtp

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/testcert"
	"github.com/exigo-mta/exigo/transport"
)

// tlsHello runs the greeting, EHLO offering STARTTLS, STARTTLS and the
// second EHLO.
func tlsHello(c *fakeConn, cert tls.Certificate, exts ...string) {
	c.hello("PIPELINING", "STARTTLS")
	c.expect("STARTTLS\r\n")
	c.send("220 2.0.0 go ahead\r\n")
	c.startTLS(cert)
	c.expect("EHLO client.test\r\n")
	c.send(ehloReply(exts...))
}

func TestSTARTTLS(t *testing.T) {
	t.Parallel()
	cert, pool := testcert.Must(t, "mx1.test", "127.0.0.1")
	for _, required := range []bool{false, true} {
		srv := newFakeServer(t, func(c *fakeConn) {
			tlsHello(c, cert, "PIPELINING", "REQUIRETLS")
			c.expect("MAIL FROM:<sender@example.org> REQUIRETLS\r\nRCPT TO:<r1@example.com>\r\nDATA\r\n")
			c.send("250 ok\r\n250 ok\r\n354 go\r\n")
			if got := c.readData(); got != testWire {
				t.Errorf("data %q", got)
			}
			c.send("250 ok\r\n")
			c.expectQuit()
		})
		tr := newTransport(t, nil)
		if required {
			tr.TLSPolicy = RequireTLSFor("MX1.test")
			tr.TLSConfig = &tls.Config{RootCAs: pool}
		}
		m := newMsg(t, testHeader, testBody)
		m.Stats = exigo.BodyStats{}
		m.Envelope.RequireTLS = true
		d, rs := newDelivery(m, []transport.Host{srv.host("mx1.test")}, "r1@example.com")
		got, st := deliver(t, tr, d, srv)
		equalStrings(t, "outcomes", got, []string{"ok 250 ok"})
		info := st[rs[0]].Attempt.TLS
		if info == nil {
			t.Fatal("no TLS info")
		}
		want := exigo.TLSInfo{Version: "TLS1.3", Cipher: info.Cipher, SNI: "mx1.test", PeerDN: "CN=mx1.test", Verified: required}
		if *info != want || !strings.HasPrefix(info.Cipher, "TLS1.3:TLS_") {
			t.Errorf("required=%v: TLS info %+v", required, *info)
		}
		tr.Close()
		srv.close()
	}
}

// TestTLSFailure: a failed handshake retries in clear when opportunistic
// and fails over when required.
func TestTLSFailure(t *testing.T) {
	t.Parallel()
	badHandshake := func(c *fakeConn) {
		c.hello("PIPELINING", "STARTTLS")
		c.expect("STARTTLS\r\n")
		c.send("220 go ahead\r\n")
		c.send("this is not TLS\r\n")
		c.nc.Close()
	}
	clear := func(c *fakeConn) {
		c.hello("PIPELINING", "STARTTLS")
		c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nDATA\r\n")
		c.send("250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 in clear\r\n")
		c.expectQuit()
	}
	t.Run("opportunistic", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, badHandshake, clear)
		tr := newTransport(t, nil)
		d, rs := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
		got, st := deliver(t, tr, d, srv)
		equalStrings(t, "outcomes", got, []string{"ok 250 in clear"})
		if st[rs[0]].Attempt.TLS != nil {
			t.Error("TLS recorded for a clear session")
		}
	})
	t.Run("injection", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, func(c *fakeConn) {
			c.hello("PIPELINING", "STARTTLS")
			c.expect("STARTTLS\r\n")
			c.send("220 go ahead\r\n250 injected\r\n")
			c.expectEOF()
		}, clear)
		tr := newTransport(t, nil)
		d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
		got, _ := deliver(t, tr, d, srv)
		equalStrings(t, "outcomes", got, []string{"ok 250 in clear"})
	})
	t.Run("required", func(t *testing.T) {
		t.Parallel()
		s1 := newFakeServer(t, badHandshake)
		s2 := newFakeServer(t, func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expectQuit()
		})
		tr := newTransport(t, nil)
		tr.TLSPolicy = func(transport.Host) TLSPolicy { return TLSRequired }
		d, rs := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{s1.host("mx1.test"), s2.host("mx2.test")}, "r1@example.com")
		got, _ := deliver(t, tr, d, s1, s2)
		equalStrings(t, "outcomes", got, []string{"temp mx2.test [S2]: after EHLO: TLS required but not available: STARTTLS not offered"})
		_ = rs
		if s1.conns() != 1 {
			t.Errorf("%d connections to the first host", s1.conns())
		}
	})
	t.Run("required, bad certificate", func(t *testing.T) {
		t.Parallel()
		cert, _ := testcert.Must(t, "mx1.test", "127.0.0.1")
		srv := newFakeServer(t, func(c *fakeConn) {
			c.hello("PIPELINING", "STARTTLS")
			c.expect("STARTTLS\r\n")
			c.send("220 go ahead\r\n")
			tc := tls.Server(c.nc, &tls.Config{Certificates: []tls.Certificate{cert}})
			tc.Handshake() // the client refuses the certificate
			c.waitClose()
		})
		tr := newTransport(t, nil)
		tr.TLSPolicy = RequireTLSFor(srv.addr.Addr().String())
		d, rs := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
		st := transport.StatusMap{}
		tr.Deliver(t.Context(), d, st)
		err := st[rs[0]].Err
		if err == nil || transport.Permanent(err) || !strings.Contains(err.Error(), "after STARTTLS: TLS negotiation failed: tls: failed to verify certificate") {
			t.Errorf("outcome %v", err)
		}
	})
	t.Run("refused, opportunistic", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, func(c *fakeConn) {
			c.hello("PIPELINING", "STARTTLS")
			c.expect("STARTTLS\r\n")
			c.send("454 4.7.0 TLS not available\r\n")
			c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nDATA\r\n")
			c.send("250 ok\r\n250 ok\r\n354 go\r\n")
			c.readData()
			c.send("250 in clear\r\n")
			c.expectQuit()
		})
		tr := newTransport(t, nil)
		d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
		got, _ := deliver(t, tr, d, srv)
		equalStrings(t, "outcomes", got, []string{"ok 250 in clear"})
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	cert, _ := testcert.Must(t, "smarthost.test", "127.0.0.1")
	send := func(c *fakeConn) {
		c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nDATA\r\n")
		c.send("250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 relayed\r\n")
		c.expectQuit()
	}
	tests := []struct {
		name     string
		insecure bool
		script   func(*fakeConn)
		want     string
	}{
		{"PLAIN over TLS", false, func(c *fakeConn) {
			tlsHello(c, cert, "PIPELINING", "AUTH LOGIN PLAIN")
			c.expect("AUTH PLAIN AHVzZXIAc2VjcmV0\r\n")
			c.send("235 2.7.0 ok\r\n")
			send(c)
		}, "ok 250 relayed"},
		{"LOGIN in clear, allowed", true, func(c *fakeConn) {
			c.hello("PIPELINING", "AUTH=LOGIN")
			c.expect("AUTH LOGIN\r\n")
			c.send("334 VXNlcm5hbWU6\r\n")
			c.expect("dXNlcg==\r\n")
			c.send("334 UGFzc3dvcmQ6\r\n")
			c.expect("c2VjcmV0\r\n")
			c.send("235 ok\r\n")
			send(c)
		}, "ok 250 relayed"},
		{"in clear, not allowed", false, func(c *fakeConn) {
			c.hello("PIPELINING", "AUTH PLAIN")
			c.expectQuit()
		}, "temp smarthost.test [S1]: after AUTH: not sending credentials over a connection without TLS"},
		{"refused", false, func(c *fakeConn) {
			tlsHello(c, cert, "PIPELINING", "AUTH PLAIN")
			c.expect("AUTH PLAIN AHVzZXIAc2VjcmV0\r\n")
			c.send("535 5.7.8 bad credentials\r\n")
			c.expectQuit()
		}, "temp smarthost.test [S1]: after AUTH: AUTH PLAIN refused: 535 5.7.8 bad credentials"},
		{"no mechanism", true, func(c *fakeConn) {
			c.hello("PIPELINING", "AUTH CRAM-MD5")
			c.expectQuit()
		}, "temp smarthost.test [S1]: after AUTH: server offers no supported AUTH mechanism (PLAIN, LOGIN)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, tc.script)
			tr := newTransport(t, nil)
			tr.Auth = &Credentials{Username: "user", Password: "secret"}
			tr.AllowInsecureAuth = tc.insecure
			d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("smarthost.test")}, "r1@example.com")
			got, st := deliver(t, tr, d, srv)
			equalStrings(t, "outcomes", got, []string{tc.want})
			var ae *AuthError
			if strings.Contains(tc.want, "refused") && !errors.As(st[d.Recipients[0]].Err, &ae) {
				t.Errorf("not an AuthError: %T", st[d.Recipients[0]].Err)
			}
		})
	}
}
