package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/spool"
)

// TestEximReadsReceivedMessage receives a message over STARTTLS with DSN
// options, whose RCPT ACL sets a connection and a message variable, into a
// spool shared with a real Exim 4.96; Exim must list it (exim -bp) exactly
// as exigo does, show its -H file unchanged (exim -Mvh), and read every
// envelope, TLS, DSN and ACL field back (exim -Mset -be).
func TestEximReadsReceivedMessage(t *testing.T) {
	t.Parallel()
	ex := testpeer.NewExim(t, "")
	sp, err := spool.Open(ex.Spool, spool.WithIDFormat(spool.IDShort), spool.WithOriginator("root", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := testCert(t)
	s := &Server{
		Hostname:  "mx.test.example",
		Store:     SpoolStore(sp),
		Logger:    testLogger(t),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	received := make(chan *exigo.Message, 1)
	s.OnReceived = func(_ context.Context, m *exigo.Message) { received <- m }
	s.ACL.Rcpt = acl.List{{Verb: acl.Accept, Conditions: []acl.Condition{
		acl.Must(acl.Set("acl_c0", "conn0")),
		acl.Must(acl.Set("acl_m_foo", "hello world")),
	}}}
	addr := start(t, s)
	c := dial(t, addr)
	c.reply()
	c.send("EHLO client.example\r\n")
	c.reply()
	tc := c.startTLS(pool)
	suite := tls.CipherSuiteName(tc.ConnectionState().CipherSuite)
	c.send("EHLO client.example\r\n")
	c.reply()
	c.cmd("MAIL FROM:<sender@example.org> RET=HDRS ENVID=abc+2B123", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<rcpt1@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.com", "250 2.1.5 Accepted\r\n")
	c.cmd("RCPT TO:<rcpt2@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.send("From: a@b.example\r\nTo: c@d.example\r\nSubject: interop\r\n  folded\r\nMessage-ID: <m1@b.example>\r\n\r\nline one\r\n..dot\r\n.\r\n")
	r := c.reply()
	var m *exigo.Message
	select {
	case m = <-received:
	case <-time.After(10 * time.Second):
		t.Fatalf("message not received; reply %q", r)
	}
	if want := "250 2.0.0 OK id=" + m.ID + "\r\n"; r != want {
		t.Fatalf("reply %q, want %q", r, want)
	}
	c.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")

	e, err := sp.Read(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	// exim -bp lists it exactly as exigo's listing does.
	out, err := ex.Run("", "-bp")
	if err != nil {
		t.Fatalf("exim -bp: %v\n%s", err, out)
	}
	want := fmt.Sprintf(" 0m %s %s <sender@example.org>\n          rcpt1@example.com\n          rcpt2@example.com\n\n", spool.FormatSize(e.Size()), m.ID)
	if out != want {
		t.Errorf("exim -bp:\n%q\nwant\n%q", out, want)
	}
	var listing strings.Builder
	if err := e.WriteListing(&listing, time.Now()); err != nil {
		t.Fatal(err)
	}
	if listing.String() != out {
		t.Errorf("exigo listing %q differs from exim -bp %q", listing.String(), out)
	}
	// exim -Mvh shows the -H file exigo wrote.
	hb, err := os.ReadFile(filepath.Join(ex.Spool, "input", m.ID+"-H"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := ex.Run("", "-Mvh", m.ID); err != nil || out != string(hb) {
		t.Errorf("exim -Mvh: %v\n%s\nwant\n%s", err, out, hb)
	}
	// Exim reads every field back.
	cipher := "TLS1.3:" + suite + ":" + map[bool]string{true: "128", false: "256"}[strings.Contains(suite, "128")]
	checks := []struct{ expr, want string }{
		{"$message_exim_id|$sender_address|$recipients|$recipients_count", m.ID + "|sender@example.org|rcpt1@example.com, rcpt2@example.com|2"},
		{"$sender_helo_name|$sender_host_address|$received_protocol", "client.example|127.0.0.1|esmtps"},
		{"$tls_in_ver|$tls_in_cipher|$tls_in_sni", "TLS1.3|" + cipher + "|mx.test.example"},
		{"$acl_c0|$acl_m_foo", "conn0|hello world"},
		{"$h_subject:|$h_message-id:|$body_linecount", "interop\n  folded|<m1@b.example>|2"},
		{"$message_body", "line one .dot "},
		{"${extract{1}{ }{$h_received:}}${extract{2}{ }{$h_received:}}", "from[127.0.0.1]"},
	}
	for _, c := range checks {
		out, err := ex.Run("", "-Mset", m.ID, "-be", c.expr)
		if err != nil || out != c.want+"\n" {
			t.Errorf("exim -Mset -be %q: got %q (%v), want %q", c.expr, out, err, c.want)
		}
	}
	// The DSN data survives in Exim's own terms: the recipient line.
	if !strings.Contains(string(hb), "\nrcpt1@example.com rfc822;orig@example.com 23,12  0,-1#3\nrcpt2@example.com\n") ||
		!strings.Contains(string(hb), "\n-dsn_envid abc+2B123\n-dsn_ret 2\n") {
		t.Errorf("DSN data not in Exim's form:\n%s", hb)
	}
}
