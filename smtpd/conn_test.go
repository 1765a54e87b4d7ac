package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
)

func TestSessionBasic(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("MAIL FROM:<sender@example.org> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=abc+2B123", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<rcpt1@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bx@example.com", "250 2.1.5 Accepted\r\n")
	c.cmd("RCPT TO:<rcpt2@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.send("From: a@b\r\nTo: c@d\r\nSubject: hi\r\n there\r\n\r\nhello world\r\n..dot\r\n\r\n.\r\n")
	c.expect("250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	c.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")
	c.expectClosed()

	msgs := st.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	m := msgs[0]
	if want := "hello world\n.dot\n\n"; m.Body != want {
		t.Errorf("body %q, want %q", m.Body, want)
	}
	wantHdr := "Received: from [127.0.0.1] (helo=client.example)\n" +
		"\tby mx.test.example with esmtp (exigo)\n" +
		"\t(envelope-from <sender@example.org>)\n" +
		"\tid 1xUm1a-000001-2z;\n" +
		"\tSat, 21 Nov 2026 14:25:06 +0000\n" +
		"From: a@b\nTo: c@d\nSubject: hi\n there\n"
	if m.Header != wantHdr {
		t.Errorf("header:\n%q\nwant\n%q", m.Header, wantHdr)
	}
	env := m.Msg.Envelope
	if env.Sender != "sender@example.org" || env.Size != 100 || env.Body != exigo.Body8BitMIME ||
		env.Ret != exigo.RetHdrs || env.EnvID != "abc+123" || env.SMTPUTF8 || env.RequireTLS {
		t.Errorf("envelope %+v", env)
	}
	if len(env.Recipients) != 2 {
		t.Fatalf("recipients %d", len(env.Recipients))
	}
	r := env.Recipients[0]
	if r.Address != "rcpt1@example.com" || r.Notify != exigo.NotifySuccess|exigo.NotifyFailure || r.ORCPT != "rfc822;orig+x@example.com" {
		t.Errorf("rcpt1 %+v", r)
	}
	if env.Recipients[1].Address != "rcpt2@example.com" || env.Recipients[1].Notify != 0 {
		t.Errorf("rcpt2 %+v", env.Recipients[1])
	}
	wantStats := exigo.BodyStats{Lines: 3, Zeroes: 0, MaxLineLength: 11, Size: 56}
	if m.Msg.Stats != wantStats {
		t.Errorf("stats %+v, want %+v", m.Msg.Stats, wantStats)
	}
	if m.Msg.ID != "1xUm1a-000001-2z" || !m.Msg.Received.Equal(testTime) {
		t.Errorf("id %q received %v", m.Msg.ID, m.Msg.Received)
	}
	ss := m.Msg.Session
	if ss == nil || ss.HELO != "client.example" || !ss.ESMTP || ss.RemoteAddr.Addr().String() != "127.0.0.1" || ss.Protocol() != "esmtp" {
		t.Errorf("session %+v", ss)
	}
	if got := m.Msg.Header.Get("Subject"); got != "hi there" {
		t.Errorf("Subject %q", got)
	}
}

func TestHeloForms(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("HELO client.example", "250 mx.test.example Hello client.example [127.0.0.1]\r\n")
	c.cmd("MAIL FROM:<a@b.example> SIZE=10", "555 5.5.4 MAIL parameters are not allowed after HELO (use EHLO)\r\n")
	c.cmd("EHLO [127.0.0.1]", strings.Replace(ehloReply, "client.example", "[127.0.0.1]", 1))
	c.cmd("EHLO", "501 5.5.4 Syntactically invalid HELO/EHLO argument\r\n")
	c.cmd("HELO bad host", "501 5.5.4 Syntactically invalid HELO/EHLO argument\r\n")
	c.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	s.MaxErrors = -1
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	for _, tc := range []struct{ cmd, reply string }{
		{"MAIL FROM:<a@b.example>", "503 5.5.1 HELO or EHLO required\r\n"},
		{"RCPT TO:<a@b.example>", "503 5.5.1 HELO or EHLO required\r\n"},
		{"FOO bar", "500 5.5.2 Unrecognized command\r\n"},
		{"", "500 5.5.2 Empty command\r\n"},
		{"EHLO client.example", ehloReply},
		{"RCPT TO:<a@b.example>", "503 5.5.1 Sender not yet given\r\n"},
		{"DATA", "503 5.5.1 Valid RCPT command must precede DATA\r\n"},
		{"MAIL FROM:a@b.example>", "501 5.5.2 Syntax error in address: expected <address>\r\n"},
		{"MAIL FROM:<a@b.example", "501 5.5.2 Syntax error in address: expected <address>\r\n"},
		{"MAIL TO:<a@b.example>", "501 5.5.2 Syntax error in address: expected <address>\r\n"},
		{"MAIL FROM:<a\x01@b.example>", "501 5.1.7 Address contains control characters\r\n"},
		{"MAIL FROM:<nodomain>", "501 5.1.7 Sender address must contain a local part and a domain\r\n"},
		{"MAIL FROM:<a@b.example> FOO=bar", "555 5.5.4 Unsupported MAIL parameter FOO\r\n"},
		{"MAIL FROM:<a@b.example> SIZE=abc", "501 5.5.4 Invalid SIZE value\r\n"},
		{"MAIL FROM:<a@b.example> SIZE=1 SIZE=2", "501 5.5.4 Parameter given more than once\r\n"},
		{"MAIL FROM:<a@b.example> BODY=9BIT", "501 5.5.4 Invalid BODY value\r\n"},
		{"MAIL FROM:<a@b.example> BODY=BINARYMIME", "555 5.5.4 BODY=BINARYMIME is not supported\r\n"},
		{"MAIL FROM:<a@b.example> RET=ALL", "501 5.5.4 Invalid RET value\r\n"},
		{"MAIL FROM:<a@b.example> ENVID=a+2", "501 5.5.4 Invalid ENVID value\r\n"},
		{"MAIL FROM:<a@b.example> SMTPUTF8=yes", "501 5.5.4 SMTPUTF8 takes no value\r\n"},
		{"MAIL FROM:<a@b.example> REQUIRETLS", "530 5.7.10 REQUIRETLS needs a TLS session\r\n"},
		{"MAIL FROM:<a@b.example> SIZE=52428801", "552 5.3.4 Message size exceeds fixed maximum message size (52428800 octets)\r\n"},
		{"MAIL FROM:<ü@b.example>", "553 5.6.7 Non-ASCII sender address requires SMTPUTF8\r\n"},
		{"MAIL FROM:<a@b.example> =x", "501 5.5.4 Syntax error in parameters\r\n"},
		{"MAIL FROM:<>", "250 2.1.0 OK\r\n"},
		{"MAIL FROM:<a@b.example>", "503 5.5.1 Sender already given\r\n"},
		{"RCPT TO:<>", "501 5.1.3 Recipient address must contain a local part and a domain\r\n"},
		{"RCPT TO:<user>", "501 5.1.3 Recipient address must contain a local part and a domain\r\n"},
		{"RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS", "501 5.5.4 Invalid NOTIFY value\r\n"},
		{"RCPT TO:<a@b.example> ORCPT=rfc822", "501 5.5.4 Invalid ORCPT value\r\n"},
		{"RCPT TO:<a@b.example> FOO", "555 5.5.4 Unsupported RCPT parameter FOO\r\n"},
		{"RCPT TO:<ü@b.example>", "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8\r\n"},
		{"RCPT TO:<Postmaster>", "250 2.1.5 Accepted\r\n"},
		{"DATA x", "501 5.5.4 No parameters allowed\r\n"},
		{"RSET x", "501 5.5.4 No parameters allowed\r\n"},
		{"RSET", "250 2.0.0 Reset OK\r\n"},
		{"NOOP whatever", "250 2.0.0 OK\r\n"},
		{"VRFY", "501 5.5.4 VRFY must have an address argument\r\n"},
		{"VRFY postmaster", "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n"},
		{"EXPN list", "502 5.5.1 EXPN not available\r\n"},
		{"ETRN example.com", "502 5.5.1 ETRN not available\r\n"},
		{"HELP", "214-2.0.0 Commands supported:\r\n214 2.0.0 AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP\r\n"},
		{"STARTTLS", "502 5.5.1 STARTTLS not available\r\n"},
		{"AUTH PLAIN", "503 5.5.1 AUTH not available\r\n"},
		{"MAIL FROM:<ü@b.example> SMTPUTF8", "250 2.1.0 OK\r\n"},
		{"RCPT TO:<ü@b.example> ORCPT=utf-8;\\x{FC}@b.example", "250 2.1.5 Accepted\r\n"},
		{"quit", "221 2.0.0 mx.test.example closing connection\r\n"},
	} {
		c.cmd(tc.cmd, tc.reply)
	}
	c.expectClosed()
}

func TestMaxErrors(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	notquit := make(chan string, 1)
	s.ACL.NotQuit = acl.List{{Verb: acl.Accept, Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
		notquit <- tx.Stage.String()
		return true, nil
	})}}}
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("FOO", "500 5.5.2 Unrecognized command\r\n")
	c.cmd("MAIL FROM:<a@b.example>", "503 5.5.1 HELO or EHLO required\r\n")
	c.cmd("EHLO client.example", ehloReply)
	c.cmd("DATA", "503 5.5.1 Valid RCPT command must precede DATA\r\n")
	c.cmd("BAR", "421 4.7.0 mx.test.example Too many syntax or protocol errors\r\n")
	c.expectClosed()
	select {
	case st := <-notquit:
		if st != "notquit" {
			t.Errorf("stage %s", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("notquit ACL did not run")
	}
}

func TestMaxCommandsBeforeMail(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	s.MaxCommandsBeforeMail = 3
	addr := start(t, s)
	c := hello(t, addr) // the first EHLO is free
	c.cmd("NOOP", "250 2.0.0 OK\r\n")
	c.cmd("RSET", "250 2.0.0 Reset OK\r\n") // free
	c.cmd("NOOP", "250 2.0.0 OK\r\n")
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n") // resets the count
	c.cmd("NOOP", "250 2.0.0 OK\r\n")
	c.cmd("NOOP", "250 2.0.0 OK\r\n")
	c.cmd("EHLO client.example", ehloReply) // counted: the free one is used
	c.cmd("NOOP", "421 4.7.0 mx.test.example Too many nonmail commands\r\n")
	c.expectClosed()
}

func TestCommandLineTooLong(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	s.MaxLineLength = 1000
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("NOOP "+strings.Repeat("x", 994), "250 2.0.0 OK\r\n") // 999 octets
	c.cmd("NOOP "+strings.Repeat("x", 996), "500 5.5.2 Line too long\r\n")
	c.cmd("NOOP "+strings.Repeat("x", 100000), "500 5.5.2 Line too long\r\n")
	c.cmd("NOOP", "250 2.0.0 OK\r\n")
}

// countingConn counts the writes the server makes.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func TestPipeliningOneWrite(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	srvEnd, cliEnd := net.Pipe()
	cc := &countingConn{Conn: srvEnd}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeConn(context.Background(), cc)
	}()
	c := &client{t: t, c: cliEnd}
	c.r = newTestReader(cliEnd)
	cliEnd.SetDeadline(time.Now().Add(10 * time.Second))
	// net.Pipe has no IP addresses: the EHLO reply has none either.
	c.expect(testGreeting)
	c.send("EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n")
	c.expect(strings.Replace(ehloReply, " [127.0.0.1]", "", 1))
	c.expect("250 2.1.0 OK\r\n")
	c.expect("250 2.1.5 Accepted\r\n")
	c.expect("250 2.1.5 Accepted\r\n")
	c.expect("354 Enter message, ending with \".\" on a line by itself\r\n")
	cc.mu.Lock()
	if cc.writes != 2 {
		t.Errorf("server made %d writes for greeting + 5 pipelined replies, want 2", cc.writes)
	}
	cc.mu.Unlock()
	c.send("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
	c.expect("250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	c.expect("221 2.0.0 mx.test.example closing connection\r\n")
	<-done
	if n := len(st.messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
	m := st.messages()[0]
	if m.Body != "body\n" || !strings.HasPrefix(m.Header, "Received: (helo=client.example)\n\tby mx.test.example with esmtp (exigo)\n") {
		t.Errorf("stored %q / %q", m.Header, m.Body)
	}
}

func TestACLRejections(t *testing.T) {
	t.Parallel()
	deny := func(msg string, cond func(tx *acl.Tx) bool) acl.List {
		return acl.List{
			{Verb: acl.Deny, Message: msg, Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) { return cond(tx), nil })}},
			{Verb: acl.Accept},
		}
	}
	s, st := newServer(t)
	s.ACL.Helo = deny("550 5.7.1 bad helo $sender_helo_name", func(tx *acl.Tx) bool { return tx.Session.HELO == "bad.example" })
	s.ACL.Mail = deny("you are not welcome", func(tx *acl.Tx) bool { return tx.Message.Envelope.Sender == "spam@example.org" })
	s.ACL.Rcpt = acl.List{
		{Verb: acl.Deny, Message: "550 5.1.1 no such user\nreally", Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			return tx.Recipient.Address == "nobody@example.com", nil
		})}},
		{Verb: acl.Defer, Message: "try later", Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			return tx.Recipient.Address == "later@example.com", nil
		})}},
		{Verb: acl.Discard, Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			return tx.Recipient.Address == "void@example.com", nil
		})}},
		{Verb: acl.Drop, Message: "go away", Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			return tx.Recipient.Address == "drop@example.com", nil
		})}},
		{Verb: acl.Accept},
	}
	s.ACL.Data = deny("554 5.7.0 content rejected", func(tx *acl.Tx) bool { return tx.Message.Header.Get("Subject") == "spam" })
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO bad.example", "550 5.7.1 bad helo bad.example\r\n")
	c.cmd("MAIL FROM:<a@b.example>", "503 5.5.1 HELO or EHLO required\r\n")
	c.cmd("EHLO client.example", ehloReply)
	c.cmd("MAIL FROM:<spam@example.org>", "550 5.7.1 you are not welcome\r\n")
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<nobody@example.com>", "550-5.1.1 no such user\r\n550 5.1.1 really\r\n")
	c.cmd("RCPT TO:<later@example.com>", "451 4.7.1 try later\r\n")
	c.cmd("RCPT TO:<void@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("RCPT TO:<ok@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.send("Subject: spam\r\n\r\nbuy\r\n.\r\n")
	c.expect("554 5.7.0 content rejected\r\n")
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<drop@example.com>", "550 5.7.1 go away\r\n")
	c.expectClosed()
	if n := len(st.messages()); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	if got := st.abortedIDs(); len(got) != 1 {
		t.Errorf("aborted %v", got)
	}
}

func TestConnectACL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		verb acl.Verb
		msg  string
		want string
	}{
		{acl.Deny, "", "550 5.7.1 Administrative prohibition\r\n"},
		{acl.Deny, "554 blocked: see https://example.org", "554 5.7.1 blocked: see https://example.org\r\n"},
		{acl.Drop, "", "550 5.7.1 Administrative prohibition\r\n"},
		{acl.Defer, "busy", "421 4.7.1 mx.test.example busy\r\n"},
	} {
		s, _ := newServer(t)
		s.ACL.Connect = acl.List{{Verb: tc.verb, Message: tc.msg}}
		addr := start(t, s)
		c := dial(t, addr)
		c.expect(tc.want)
		c.expectClosed()
	}
}

func TestDiscard(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	s.ACL.Mail = acl.List{
		{Verb: acl.Discard, Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			return tx.Message.Envelope.Sender == "bulk@example.org", nil
		})}},
		{Verb: acl.Accept},
	}
	rcptACLRuns := 0
	s.ACL.Rcpt = acl.List{{Verb: acl.Accept, Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
		rcptACLRuns++
		return true, nil
	})}}}
	s.ACL.Data = acl.List{
		{Verb: acl.Discard, Message: "thanks", Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			return tx.Message.Header.Get("Subject") == "discard me", nil
		})}},
		{Verb: acl.Accept},
	}
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("MAIL FROM:<bulk@example.org>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<a@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: x\r\n\r\nx\r\n.", "250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	c.cmd("MAIL FROM:<a@example.org>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<a@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: discard me\r\n\r\nx\r\n.", "250 2.0.0 thanks id=1xUm1a-000002-2z\r\n")
	if n := len(st.messages()); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	if rcptACLRuns != 1 {
		t.Errorf("rcpt ACL ran %d times, want 1 (not after discard at MAIL)", rcptACLRuns)
	}
	if got := st.abortedIDs(); len(got) != 2 {
		t.Errorf("aborted %v", got)
	}
}

func TestHeaderEdits(t *testing.T) {
	t.Parallel()
	add := func(field string, pos acl.HeaderPosition) acl.Condition {
		return acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			tx.Edits.Add = append(tx.Edits.Add, acl.AddedHeader{Field: field, Position: pos})
			return true, nil
		})
	}
	s, st := newServer(t)
	s.ACL.Rcpt = acl.List{{Verb: acl.Accept, Conditions: []acl.Condition{add("X-Rcpt: one", acl.AtEnd)}}}
	s.ACL.Data = acl.List{{Verb: acl.Accept, Conditions: []acl.Condition{
		acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			// The data ACL sees the Received: field and the rcpt ACL's edits.
			if tx.Message.Header.Get("X-Rcpt") != "one" || !tx.Message.Header.Has("Received") {
				return false, errors.New("header not visible")
			}
			rc, err := tx.Message.Body.Open()
			if err != nil {
				return false, err
			}
			defer rc.Close()
			if b, _ := io.ReadAll(rc); string(b) != "body\n" {
				return false, fmt.Errorf("body %q", b)
			}
			tx.Edits.Remove = append(tx.Edits.Remove, "x-spam")
			return true, nil
		}),
		add("X-Spam: no", acl.AtEnd),
		add("X-First: 1", acl.AtStart),
		add("X-After: 2\n\tfolded", acl.AfterReceived),
	}}}
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("MAIL FROM:<>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<a@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("X-Spam: yes\r\nSubject: s\r\n\r\nbody\r\n.", "250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	m := st.messages()[0]
	want := "X-First: 1\n" +
		"Received: from [127.0.0.1] (helo=client.example)\n\tby mx.test.example with esmtp (exigo)\n\tid 1xUm1a-000001-2z\n\tfor a@example.com;\n\tSat, 21 Nov 2026 14:25:06 +0000\n" +
		"X-After: 2\n\tfolded\n" +
		"Subject: s\nX-Rcpt: one\nX-Spam: no\n"
	if m.Header != want {
		t.Errorf("header:\n%s\nwant:\n%s", m.Header, want)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	s.MaxMessageSize = 2000
	s.MaxRecipients = 2
	s.MaxHeaderSize = 200
	s.MaxLineLength = 998
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO client.example", strings.Replace(ehloReply, "SIZE 52428800", "SIZE 2000", 1))
	c.cmd("MAIL FROM:<a@b.example> SIZE=2001", "552 5.3.4 Message size exceeds fixed maximum message size (2000 octets)\r\n")
	c.cmd("MAIL FROM:<a@b.example> SIZE=2000", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r1@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("RCPT TO:<r2@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("RCPT TO:<r3@example.com>", "452 4.5.3 Too many recipients\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: big\r\n\r\n"+strings.Repeat("0123456789\r\n", 200)+".", "552 5.3.4 Message size exceeds maximum permitted (2000 octets)\r\n")

	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r1@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("X-Long: "+strings.Repeat("h", 300)+"\r\n\r\nbody\r\n.", "552 5.3.4 Message header exceeds 200 octets\r\n")

	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r1@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: x\r\n\r\n"+strings.Repeat("l", 999)+"\r\n.", "554 5.5.2 Message rejected: a line is longer than 998 octets\r\n")

	// A long first line that is no header field is body, not header.
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r1@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd(strings.Repeat("b", 300)+"\r\nSubject: not a header\r\n.", "250 2.0.0 OK id=1xUm1a-000004-2z\r\n")
	msgs := st.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if want := strings.Repeat("b", 300) + "\nSubject: not a header\n"; msgs[0].Body != want {
		t.Errorf("body %q", msgs[0].Body)
	}
	if strings.Contains(msgs[0].Header, "Subject") {
		t.Errorf("header %q", msgs[0].Header)
	}
	if got := len(st.abortedIDs()); got != 3 {
		t.Errorf("%d drafts aborted, want 3", got)
	}
}

func TestDataTimeoutRefresh(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	s.DataTimeout = time.Second
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	// Six pieces, 300 ms apart: 1.5 s in all, longer than the timeout,
	// but no single wait is longer than a third of it.
	pieces := []string{"Subject: slow\r\n", "\r\n", "line one\r\n", "line ", "two\r\n", ".\r\n"}
	startT := time.Now()
	for i, p := range pieces {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		c.send(p)
	}
	c.expect("250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	if el := time.Since(startT); el < 1200*time.Millisecond {
		t.Fatalf("sending took only %v", el)
	}
	if m := st.messages(); len(m) != 1 || m[0].Body != "line one\nline two\n" {
		t.Fatalf("stored %v", m)
	}

	// A stall longer than the timeout drops the connection; nothing is
	// stored.
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.send("Subject: stalled\r\n\r\npart")
	c.expect("421 4.4.2 mx.test.example SMTP incoming data timeout - closing connection\r\n")
	c.expectClosed()
	if m := st.messages(); len(m) != 1 {
		t.Fatalf("%d messages stored", len(m))
	}
	waitFor(t, "draft aborted", func() bool { return len(st.abortedIDs()) == 1 })
}

func TestCommandTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	s.ReadTimeout = 200 * time.Millisecond
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.send("EHLO client")
	c.expect("421 4.4.2 mx.test.example SMTP command timeout - closing connection\r\n")
	c.expectClosed()
}

func TestDisconnectMidData(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.send("Subject: cut\r\n\r\nhalf a message\r\n")
	c.c.Close()
	waitFor(t, "draft aborted", func() bool { return len(st.abortedIDs()) == 1 })
	if m := st.messages(); len(m) != 0 {
		t.Fatalf("%d messages stored", len(m))
	}
}

func TestStoreFailures(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	addr := start(t, s)
	c := hello(t, addr)
	tx := func() {
		c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
		c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	}
	st.mu.Lock()
	st.failCreate = errors.New("disk full")
	st.mu.Unlock()
	tx()
	c.cmd("DATA", "451 4.3.0 Temporary local problem - please try later\r\n")
	c.cmd("RCPT TO:<r@example.com>", "503 5.5.1 Sender not yet given\r\n")

	st.mu.Lock()
	st.failCreate = nil
	st.failWrite = errors.New("I/O error")
	st.mu.Unlock()
	tx()
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: x\r\n\r\nbody\r\n.", "451 4.3.0 Temporary local problem - please try later\r\n")

	st.mu.Lock()
	st.failWrite = nil
	st.failCommit = errors.New("fsync failed")
	st.mu.Unlock()
	tx()
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.cmd("Subject: x\r\n\r\nbody\r\n.", "451 4.3.0 Temporary local problem - please try later\r\n")
	if m := st.messages(); len(m) != 0 {
		t.Fatalf("%d messages stored", len(m))
	}
	if got := st.abortedIDs(); len(got) != 2 {
		t.Fatalf("aborted %v", got)
	}
}

func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	s.ACL.Rcpt = acl.List{{Verb: acl.Accept, Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
		if tx.Recipient.Address == "boom@example.com" {
			panic("boom")
		}
		return true, nil
	})}}}
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<boom@example.com>", "421 4.3.0 mx.test.example Internal error - closing connection\r\n")
	c.expectClosed()
	// The server goes on serving.
	c2 := hello(t, addr)
	c2.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	s.MaxConnectionsPerIP = 2
	addr := start(t, s)
	c1 := dial(t, addr)
	c1.expect(testGreeting)
	c2 := dial(t, addr)
	c2.expect(testGreeting)
	c3 := dial(t, addr)
	c3.expect("421 4.7.0 mx.test.example Too many concurrent SMTP connections from this IP address; please try again later\r\n")
	c3.expectClosed()
	c1.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")
	c1.expectClosed()
	waitFor(t, "slot freed", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.active == 1
	})
	c4 := dial(t, addr)
	c4.expect(testGreeting)

	s2, _ := newServer(t)
	s2.MaxConnections = 1
	addr2 := start(t, s2)
	d1 := dial(t, addr2)
	d1.expect(testGreeting)
	d2 := dial(t, addr2)
	d2.expect("421 4.7.0 mx.test.example Too many concurrent SMTP connections; please try again later\r\n")
	d2.expectClosed()
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	addr := l.Addr().String()

	idle := hello(t, addr)
	busy := hello(t, addr)
	busy.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	busy.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	busy.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	busy.send("Subject: in flight\r\n\r\n")
	waitFor(t, "data mode", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for c := range s.conns {
			c.mu.Lock()
			dm := c.dataMode
			c.mu.Unlock()
			if dm {
				return true
			}
		}
		return false
	})

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	idle.expect("421 4.3.2 mx.test.example Service shutting down\r\n")
	idle.expectClosed()
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("listener still accepting")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a message was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	busy.send("the rest\r\n.\r\n")
	busy.expect("250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	busy.expect("421 4.3.2 mx.test.example Service shutting down\r\n")
	busy.expectClosed()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if m := st.messages(); len(m) != 1 || m[0].Body != "the rest\n" {
		t.Fatalf("stored %v", m)
	}
}

func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	c := hello(t, l.Addr().String())
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.send("Subject: stuck\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	c.expectClosed()
}

func TestServeConnCancel(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	srvEnd, cliEnd := net.Pipe()
	defer cliEnd.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeConn(ctx, srvEnd)
	}()
	c := &client{t: t, c: cliEnd, r: newTestReader(cliEnd)}
	cliEnd.SetDeadline(time.Now().Add(10 * time.Second))
	c.expect(testGreeting)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("ServeConn did not return after cancel\n%s", buf[:n])
	}
}

func TestDataSyncError(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	addr := start(t, s)
	c := hello(t, addr)
	// The body sent with DATA, before the 354: it must never be read as
	// commands (it holds some).
	c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@example.com>\r\nDATA\r\nRSET\r\nMAIL FROM:<evil@example.org>\r\n.\r\n")
	c.expect("250 2.1.0 OK\r\n")
	c.expect("250 2.1.5 Accepted\r\n")
	c.expect("554 5.5.0 SMTP synchronization error: message data sent before the 354 reply\r\n")
	c.expectClosed()
	if n := len(st.messages()); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}
