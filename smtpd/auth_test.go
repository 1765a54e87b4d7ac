package smtpd

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
)

// testAuth accepts user/secret, fails "temp" temporarily and answers
// "locked" with a reply of its own.
var testAuth = AuthenticatorFunc(func(ctx context.Context, s *exigo.Session, mech, authzid, user, pass string) (string, error) {
	switch {
	case user == "temp":
		return "", errors.New("backend down")
	case user == "locked":
		return "", &exigo.SMTPError{Code: 535, Enhanced: exigo.EnhancedCode{5, 7, 8}, Message: "Account locked"}
	case user == "user" && pass == "secret":
		if authzid != "" {
			return authzid + "/" + user, nil
		}
		return "", nil
	}
	return "", ErrAuthFailed
})

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const ehloAuthReply = "250-mx.test.example Hello client.example [127.0.0.1]\r\n" +
	"250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-CHUNKING\r\n" +
	"250-DSN\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n250 HELP\r\n"

func TestAuth(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	s.Auth = testAuth
	s.AllowInsecureAuth = true
	s.MaxErrors = -1
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("AUTH PLAIN "+b64("\x00user\x00secret"), "503 5.5.1 AUTH not available\r\n")
	c.cmd("EHLO client.example", ehloAuthReply)
	for _, tc := range []struct{ send, want string }{
		{"AUTH", "501 5.5.2 Syntax: AUTH mechanism [initial-response]\r\n"},
		{"AUTH CRAM-MD5", "504 5.5.4 Unrecognized authentication mechanism\r\n"},
		{"AUTH PLAIN !!!", "501 5.5.2 Invalid base64 data\r\n"},
		{"AUTH PLAIN " + b64("user\x00secret"), "501 5.5.2 Malformed PLAIN response\r\n"},
		{"AUTH PLAIN " + b64("\x00user\x00wrong"), "535 5.7.8 Authentication credentials invalid\r\n"},
		{"AUTH PLAIN " + b64("\x00temp\x00x"), "454 4.7.0 Temporary authentication failure\r\n"},
		{"AUTH PLAIN " + b64("\x00locked\x00x"), "535 5.7.8 Account locked\r\n"},
		{"AUTH PLAIN", "334 \r\n"},
		{"*", "501 5.0.0 Authentication cancelled\r\n"},
		{"AUTH LOGIN", "334 VXNlcm5hbWU6\r\n"},
		{b64("user"), "334 UGFzc3dvcmQ6\r\n"},
		{b64("wrong"), "535 5.7.8 Authentication credentials invalid\r\n"},
		{"AUTH LOGIN " + b64("user"), "334 UGFzc3dvcmQ6\r\n"},
		{"!", "501 5.5.2 Invalid base64 data\r\n"},
		{"MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n"},
		{"AUTH PLAIN " + b64("\x00user\x00secret"), "503 5.5.1 AUTH not permitted during a mail transaction\r\n"},
		{"RSET", "250 2.0.0 Reset OK\r\n"},
		{"AUTH PLAIN", "334 \r\n"},
		{b64("admin\x00user\x00secret"), "235 2.7.0 Authentication succeeded\r\n"},
		{"AUTH PLAIN " + b64("\x00user\x00secret"), "503 5.5.1 Already authenticated\r\n"},
		{"MAIL FROM:<a@b.example> AUTH=admin+2Bx@b.example", "250 2.1.0 OK\r\n"},
		{"RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n"},
		{"DATA", "354 Enter message, ending with \".\" on a line by itself\r\n"},
		{"Subject: x\r\n\r\nx\r\n.", "250 2.0.0 OK id=1xUm1a-000001-2z\r\n"},
	} {
		c.cmd(tc.send, tc.want)
	}
	// After AUTH, EHLO no longer offers it.
	c.cmd("EHLO client.example", ehloReply)
	ss := st.messages()[0].Msg.Session
	if ss.AuthMech != "PLAIN" || ss.AuthID != "admin/user" || ss.AuthSender != "admin+x@b.example" || ss.Protocol() != "esmtpa" {
		t.Errorf("session %+v", ss)
	}
	if !strings.Contains(st.messages()[0].Header, "with esmtpa (exigo)") {
		t.Errorf("header %q", st.messages()[0].Header)
	}
}

func TestAuthLoginAndUnauthenticatedAuthParam(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	s.Auth = testAuth
	s.AllowInsecureAuth = true
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO client.example", ehloAuthReply)
	// AUTH= from an unauthenticated client is ignored (RFC 4954).
	c.cmd("MAIL FROM:<a@b.example> AUTH=<>", "250 2.1.0 OK\r\n")
	c.cmd("RSET", "250 2.0.0 Reset OK\r\n")
	c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6\r\n")
	c.cmd(b64("user"), "334 UGFzc3dvcmQ6\r\n")
	c.cmd(b64("secret"), "235 2.7.0 Authentication succeeded\r\n")
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: x\r\n\r\nx\r\n.", "250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	ss := st.messages()[0].Msg.Session
	if ss.AuthMech != "LOGIN" || ss.AuthID != "user" || ss.AuthSender != "" {
		t.Errorf("session %+v", ss)
	}
}

func TestAuthNeedsTLS(t *testing.T) {
	t.Parallel()
	cert, pool := testCert(t)
	s, _ := newServer(t)
	s.Auth = testAuth
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO client.example", strings.Replace(ehloReply, "250 HELP", "250-STARTTLS\r\n250 HELP", 1))
	c.cmd("AUTH PLAIN "+b64("\x00user\x00secret"), "538 5.7.11 Encryption required for requested authentication mechanism\r\n")
	c.startTLS(pool)
	c.cmd("EHLO client.example", strings.Replace(ehloAuthReply, "250 HELP", "250-REQUIRETLS\r\n250 HELP", 1))
	c.cmd("AUTH PLAIN "+b64("\x00user\x00secret"), "235 2.7.0 Authentication succeeded\r\n")
}

func TestParsePlain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in                string
		authz, user, pass string
		ok                bool
	}{
		{"\x00u\x00p", "", "u", "p", true},
		{"a\x00u\x00", "a", "u", "", true},
		{"\x00\x00p", "", "", "", false},
		{"u\x00p", "", "", "", false},
		{"a\x00u\x00p\x00x", "", "", "", false},
	} {
		a, u, p, ok := parsePlain([]byte(tc.in))
		if a != tc.authz || u != tc.user || p != tc.pass || ok != tc.ok {
			t.Errorf("%q: %q %q %q %v", tc.in, a, u, p, ok)
		}
	}
	if b, ok := decodeSASL("="); !ok || len(b) != 0 {
		t.Errorf("= : %q %v", b, ok)
	}
}
