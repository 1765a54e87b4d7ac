package mailtest_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/smtpd"
)

// fakeServer accepts one connection on 127.0.0.1 and runs script on it.
// Errors of the script are reported at the end of the test.
func fakeServer(t *testing.T, script func(c net.Conn, r *bufio.Reader) error) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		l.Close()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		done <- script(c, bufio.NewReader(c))
	}()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("fake server: %v", err)
		}
	})
	return l.Addr().String()
}

// expectLine reads a line and checks it.
func expectLine(r *bufio.Reader, want string) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading %q: %w", want, err)
	}
	if line != want+"\r\n" {
		return fmt.Errorf("got %q, want %q", line, want+"\r\n")
	}
	return nil
}

// quiet checks that the client sends nothing for a while: it waits for
// the reply to what it sent.
func quiet(c net.Conn, r *bufio.Reader) error {
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	defer c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := r.Peek(1); err == nil {
		return fmt.Errorf("client did not wait for the reply; sent %q", b)
	}
	return nil
}

const pipelinedEHLO = "250-fake.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"

func TestTransactionPipelined(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, func(c net.Conn, r *bufio.Reader) error {
		io.WriteString(c, "220 fake.example ready\r\n")
		if err := expectLine(r, "EHLO helo.example"); err != nil {
			return err
		}
		io.WriteString(c, pipelinedEHLO)
		// The whole group arrives before any reply is sent.
		for _, want := range []string{"MAIL FROM:<a@example.org> SIZE=20", "RCPT TO:<b@example.com>", "RCPT TO:<c@example.com>", "DATA"} {
			if err := expectLine(r, want); err != nil {
				return err
			}
		}
		io.WriteString(c, "250 ok\r\n250 2.1.5 ok\r\n450 4.2.0 greylisted\r\n354 go on\r\n")
		var data strings.Builder
		for !strings.HasSuffix(data.String(), "\r\n.\r\n") {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			data.WriteString(line)
		}
		if want := "Subject: x\r\n\r\n..dot\r\nbare\rcr\r\nlast\r\n.\r\n"; data.String() != want {
			return fmt.Errorf("data %q, want %q", data.String(), want)
		}
		io.WriteString(c, "250-2.0.0 queued\n250 2.0.0 as 123\r\n")
		err := expectLine(r, "QUIT")
		io.WriteString(c, "221 bye\r\n")
		return err
	})
	c := (&mailtest.Dialer{HeloName: "helo.example"}).Dial(t, addr)
	replies, err := c.Transaction("<a@example.org> SIZE=20", []string{"b@example.com", "c@example.com"}, "Subject: x\n\n.dot\nbare\rcr\nlast")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"250 ok", "250 2.1.5 ok", "450 4.2.0 greylisted", "354 go on", "250-2.0.0 queued\n250 2.0.0 as 123"}
	if got := replyStrings(replies); !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	c.Cmd("QUIT")
}

func TestTransactionLockstep(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, func(c net.Conn, r *bufio.Reader) error {
		io.WriteString(c, "220 fake.example ready\r\n")
		if err := expectLine(r, "EHLO client.example"); err != nil {
			return err
		}
		io.WriteString(c, "250-fake.example\r\n250 8BITMIME\r\n")
		steps := []struct{ cmd, reply string }{
			// A transaction with no recipient accepted: no DATA.
			{"MAIL FROM:<a@example.org>", "250 ok\r\n"},
			{"RCPT TO:<b@example.com>", "550 5.1.1 no\r\n"},
			{"RCPT TO:<c@example.com>", "551 5.1.6 moved\r\n"},
			{"RSET", "250 reset\r\n"},
			// A rejected MAIL: nothing more.
			{"MAIL FROM:<a@example.org>", "452 4.3.1 full\r\n"},
			{"RSET", "250 reset\r\n"},
			// A rejected DATA.
			{"MAIL FROM:<a@example.org>", "250 ok\r\n"},
			{"RCPT TO:<b@example.com>", "250 ok\r\n"},
			{"DATA", "554 5.5.1 no valid recipients\r\n"},
		}
		for _, s := range steps {
			if err := expectLine(r, s.cmd); err != nil {
				return err
			}
			if err := quiet(c, r); err != nil {
				return err
			}
			io.WriteString(c, s.reply)
		}
		err := expectLine(r, "QUIT")
		io.WriteString(c, "221 bye\r\n")
		return err
	})
	c := mailtest.Dial(t, addr)
	replies, err := c.Transaction("a@example.org", []string{"b@example.com", "c@example.com"}, "x")
	if got, want := replyStrings(replies), []string{"250 ok", "550 5.1.1 no", "551 5.1.6 moved"}; !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	if want := "mailtest: no recipient accepted (RCPT TO:<b@example.com>: 550 5.1.1 no)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	c.Cmd("RSET")
	replies, err = c.Transaction("a@example.org", []string{"b@example.com"}, "x")
	var se *exigo.SMTPError
	if got := replyStrings(replies); !slices.Equal(got, []string{"452 4.3.1 full"}) || !errors.As(err, &se) || !se.Temporary() {
		t.Errorf("replies %q, error %v", got, err)
	}
	c.Cmd("RSET")
	replies, err = c.Transaction("a@example.org", []string{"b@example.com"}, "x")
	if got := replyStrings(replies); !slices.Equal(got, []string{"250 ok", "250 ok", "554 5.5.1 no valid recipients"}) {
		t.Errorf("replies %q", got)
	}
	if want := "mailtest: DATA: 554 5.5.1 no valid recipients"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	c.Cmd("QUIT")
}

func TestTransactionErrors(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithACL(smtpd.ACLs{
		Helo: acl.List{{Verb: acl.Deny, Message: "550 5.7.1 bad helo"}},
	}))
	c := srv.Dial(t)
	if _, err := c.Transaction("a@example.org", nil, "x"); err == nil || err.Error() != "mailtest: Transaction needs at least one recipient" {
		t.Errorf("no recipients: %v", err)
	}
	replies, err := c.Transaction("a@example.org", []string{"b@example.com"}, "x")
	if want := "mailtest: EHLO client.example: 550 5.7.1 bad helo"; replies != nil || err == nil || err.Error() != want {
		t.Errorf("got %q, %v; want error %q", replies, err, want)
	}
}

// The server drops the connection in the middle of a pipelined group.
func TestTransactionConnectionDropped(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithACL(smtpd.ACLs{
		Rcpt: acl.List{{Verb: acl.Drop, Message: "550 5.7.1 go away"}},
	}))
	c := srv.Dial(t)
	replies, err := c.Transaction("a@example.org", []string{"b@example.com", "c@example.com"}, "x")
	if got := replyStrings(replies); !slices.Equal(got, []string{"250 2.1.0 OK", "550 5.7.1 go away"}) {
		t.Errorf("replies %q", got)
	}
	if want := `mailtest: reply to "RCPT TO:<c@example.com>": connection closed by the server`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if c.Err() != err {
		t.Errorf("Err() = %v, want %v", c.Err(), err)
	}
	if _, rerr := c.ReadReply(); rerr != err {
		t.Errorf("ReadReply after the failure = %v", rerr)
	}
}

func TestClientRawAndExpect(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithACL(smtpd.ACLs{
		Rcpt: acl.List{{Verb: acl.Drop, Message: "550 5.7.1 go away"}},
	}))
	c := srv.Dial(t)
	c.Send("EHLO client.example\r\nNOOP\r\nHELP\r\n")
	if r := c.Expect(250); len(r.Lines) != 9 {
		t.Errorf("EHLO reply %q", r)
	}
	if got := c.Expect(250).String(); got != "250 2.0.0 OK" {
		t.Errorf("NOOP: %q", got)
	}
	if got := c.Expect(214).String(); got != "214-2.0.0 Commands supported:\n214 2.0.0 AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP" {
		t.Errorf("HELP: %q", got)
	}
	// Cmd("HELO") forgets the extensions of the EHLO before.
	if got := c.Cmd("HELO other.example").String(); got != "250 mx.test.example Hello other.example [127.0.0.1]" {
		t.Errorf("HELO: %q", got)
	}
	if _, ok := c.Extension("PIPELINING"); ok {
		t.Error("extensions kept after HELO")
	}
	if got := c.Cmd("STARTTLS").String(); got != "502 5.5.1 STARTTLS not available" {
		t.Errorf("STARTTLS: %q", got)
	}
	c.Cmd("MAIL FROM:<a@example.org>")
	if got := c.Cmd("RCPT TO:<b@example.com>").String(); got != "550 5.7.1 go away" {
		t.Errorf("RCPT: %q", got)
	}
	c.ExpectClosed()
	if err := c.Err(); err == nil || !strings.HasPrefix(err.Error(), "mailtest: connection closed by the server: ") {
		t.Errorf("Err() = %v", err)
	}
	want := "S: 220 mx.test.example ESMTP exigo\nC: EHLO client.example\nC: NOOP\nC: HELP\nS: 250-mx.test.example Hello client.example [127.0.0.1]\n"
	if !strings.HasPrefix(c.Transcript(), want) || !strings.HasSuffix(c.Transcript(), "C: RCPT TO:<b@example.com>\nS: 550 5.7.1 go away\n-- connection closed by the server\n") {
		t.Errorf("transcript:\n%s", c.Transcript())
	}
}

// fatalT records the first Fatal call and ends the goroutine, as
// testing.T does.
type fatalT struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	if f.msg == "" {
		f.msg = fmt.Sprintf(format, args...)
	}
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalT) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

// run runs fn as a test body and returns the fatal message, if any.
func (f *fatalT) run(fn func()) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg
}

func TestClientFailsTest(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	for _, tc := range []struct {
		name string
		fn   func(c *mailtest.Client)
		want string // prefix of the fatal message
	}{
		{"expect", func(c *mailtest.Client) { c.Send("NOOP\r\n"); c.Expect(354) }, `mailtest: got reply "250 2.0.0 OK", want code 354` + "\nsession:\nS: 220 mx.test.example ESMTP exigo\nC: NOOP\nS: 250 2.0.0 OK\n"},
		{"starttls", func(c *mailtest.Client) { c.StartTLS(nil) }, `mailtest: STARTTLS refused: "502 5.5.1 STARTTLS not available"`},
		{"closed", func(c *mailtest.Client) { c.Quit(); c.Cmd("NOOP") }, `mailtest: sending "NOOP": `},
		{"expectclosed", func(c *mailtest.Client) { c.Send("NOOP\r\n"); c.ExpectClosed() }, `mailtest: connection still open: the server sent "2`},
	} {
		ft := &fatalT{TB: t}
		msg := ft.run(func() {
			c := (&mailtest.Dialer{Timeout: 2 * time.Second}).Dial(ft, srv.Addr())
			tc.fn(c)
		})
		if !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s: fatal %q, want prefix %q", tc.name, msg, tc.want)
		}
	}
}

// A client without a test keeps its first error and then does nothing.
func TestClientWithoutTest(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, func(c net.Conn, r *bufio.Reader) error {
		io.WriteString(c, "220 fake.example\r\n")
		if err := expectLine(r, "NOOP"); err != nil {
			return err
		}
		io.WriteString(c, "250 ok\r\n250 unasked\r\n")
		// Nothing more arrives: the client is broken.
		if rest, _ := io.ReadAll(r); len(rest) > 0 {
			return fmt.Errorf("client sent %q after its error", rest)
		}
		return nil
	})
	c, err := new(mailtest.Dialer).DialContext(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Cmd("NOOP").String(); got != "250 ok" {
		t.Errorf("NOOP: %q", got)
	}
	if got := c.Expect(354); got.String() != "250 unasked" || c.Err() == nil || c.Err().Error() != `mailtest: got reply "250 unasked", want code 354` {
		t.Errorf("Expect: %q, Err %v", got, c.Err())
	}
	first := c.Err()
	if got := c.Cmd("NOOP"); got.Code != 0 || c.Err() != first {
		t.Errorf("Cmd after an error: %q, Err %v", got, c.Err())
	}
	c.Send("ignored")
	if _, err := c.Transaction("a@b.example", []string{"c@d.example"}, ""); err != first {
		t.Errorf("Transaction after an error: %v", err)
	}
}

func TestClientBrokenReplies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ send, want string }{
		{"250 ok\r\n", ""},
		{"hello\r\n", `mailtest: reading a reply: mailtest: malformed SMTP reply: "hello"`},
		{"250-first\r\n251 second\r\n", "mailtest: reading a reply: mailtest: malformed SMTP reply: code 251 on a continuation of 250"},
		{"250-first\r\n", "mailtest: reading a reply: mailtest: malformed SMTP reply: connection closed inside a multi-line reply"},
		{"250 no line end", `mailtest: reading a reply: mailtest: malformed SMTP reply: connection closed in the middle of a line "250 no line end"`},
		{"", "mailtest: reading a reply: connection closed by the server"},
	} {
		addr := fakeServer(t, func(c net.Conn, r *bufio.Reader) error {
			io.WriteString(c, "220 fake.example\r\n"+tc.send)
			return nil
		})
		c, err := new(mailtest.Dialer).DialContext(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ReadReply()
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
			t.Errorf("%q: error %v, want %q", tc.send, err, tc.want)
		}
		c.Close()
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	if _, err := (&mailtest.Dialer{LocalAddr: "not-an-ip"}).DialContext(context.Background(), "127.0.0.1:1"); err == nil || !strings.HasPrefix(err.Error(), "mailtest: source address: ") {
		t.Errorf("bad source address: %v", err)
	}
	addr := fakeServer(t, func(c net.Conn, r *bufio.Reader) error {
		io.WriteString(c, "garbage\r\n")
		return nil
	})
	_, err := new(mailtest.Dialer).DialContext(context.Background(), addr)
	if want := `mailtest: reading the greeting from ` + addr + `: mailtest: malformed SMTP reply: "garbage"`; err == nil || err.Error() != want {
		t.Errorf("bad greeting: %v, want %q", err, want)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if _, err := new(mailtest.Dialer).DialContext(context.Background(), closed); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("closed port: %v", err)
	}
}

func TestClientStartTLSUnverified(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTLS(nil))
	c := srv.Dial(t)
	c.Ehlo("client.example")
	if st := c.StartTLS(nil); !st.HandshakeComplete {
		t.Fatal("no handshake")
	}
	if got := c.Cmd("STARTTLS").String(); got != "503 5.5.1 TLS already active" {
		t.Errorf("second STARTTLS: %q", got)
	}
	if _, err := c.Transaction("a@example.org", []string{"b@example.com"}, "x\n"); err != nil {
		t.Fatal(err)
	}
	h := string(srv.Messages()[0].Header)
	if !strings.Contains(h, "by mx.test.example with esmtps  (TLS1.3) tls TLS_") {
		t.Errorf("header %q", h)
	}
}

// A TLS configuration of the test's own on both sides: the client shows
// a certificate, which the server verifies.
func TestClientStartTLSConfig(t *testing.T) {
	t.Parallel()
	serverCert, serverPool, err := mailtest.SelfSignedCert("mx.test.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientPool, err := mailtest.SelfSignedCert("client.example")
	if err != nil {
		t.Fatal(err)
	}
	srv := mailtest.NewServer(t, mailtest.WithTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    clientPool,
	}))
	if srv.CertPool() != nil {
		t.Error("CertPool with a configuration of the test's own")
	}
	c := srv.Dial(t)
	c.Ehlo("client.example")
	st := c.StartTLSConfig(&tls.Config{RootCAs: serverPool, Certificates: []tls.Certificate{clientCert}})
	// The server's certificate was verified for 127.0.0.1 (no SNI is
	// sent for an address).
	if len(st.VerifiedChains) != 1 || st.PeerCertificates[0].Subject.CommonName != "mx.test.example" {
		t.Errorf("%d verified chains, peer %v", len(st.VerifiedChains), st.PeerCertificates[0].Subject)
	}
	if _, err := c.Transaction("a@example.org", []string{"b@example.com"}, "x\n"); err != nil {
		t.Fatal(err)
	}
	info := srv.Messages()[0].Message.Session.TLS
	if info == nil || info.PeerDN != "CN=client.example,O=exigo mailtest" || !info.Verified {
		t.Errorf("TLS info %+v", info)
	}
}
