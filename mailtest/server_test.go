package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/smtpd"
	"github.com/exigo-mta/exigo/spool"
)

const ehloReply = "250-mx.test.example Hello client.example [127.0.0.1]\n" +
	"250-SIZE 52428800\n250-8BITMIME\n250-PIPELINING\n250-CHUNKING\n" +
	"250-DSN\n250-SMTPUTF8\n250-ENHANCEDSTATUSCODES\n250 HELP"

// receivedField is the Received: field smtpd adds for a plain ESMTP
// session from 127.0.0.1 that said EHLO client.example.
func receivedField(m *exigo.Message, proto string) string {
	s := "Received: from [" + m.Session.RemoteAddr.Addr().String() + "] (helo=client.example)\n" +
		"\tby mx.test.example with " + proto + " (exigo)\n"
	if m.Envelope.Sender != "" {
		s += "\t(envelope-from <" + m.Envelope.Sender + ">)\n"
	}
	s += "\tid " + m.ID
	if len(m.Envelope.Recipients) == 1 {
		s += "\n\tfor " + m.Envelope.Recipients[0].Address
	}
	return s + ";\n\t" + m.Received.Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\n"
}

func replyStrings(rs []mailtest.Reply) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func TestServerSession(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	c := srv.Dial(t)
	if got := c.Greeting().String(); got != "220 mx.test.example ESMTP exigo" {
		t.Errorf("greeting %q", got)
	}
	if got := c.Ehlo("client.example").String(); got != ehloReply {
		t.Errorf("EHLO reply:\n%s\nwant\n%s", got, ehloReply)
	}
	if p, ok := c.Extension("size"); !ok || p != "52428800" {
		t.Errorf("SIZE extension = %q, %v", p, ok)
	}
	if _, ok := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered without WithTLS")
	}
	replies, err := c.Transaction("bob@example.org", []string{"alice@example.com"},
		"From: bob@example.org\nSubject: test\n\n.leading dot\nline two\r\nlast")
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	m := msgs[0]
	want := []string{
		"250 2.1.0 OK",
		"250 2.1.5 Accepted",
		`354 Enter message, ending with "." on a line by itself`,
		"250 2.0.0 OK id=" + m.Message.ID,
	}
	if got := replyStrings(replies); !slices.Equal(got, want) {
		t.Errorf("replies:\n%q\nwant\n%q", got, want)
	}
	if !spool.ValidID(m.Message.ID) || len(m.Message.ID) != 23 {
		t.Errorf("message ID %q is not a long Exim ID", m.Message.ID)
	}
	wantHeader := receivedField(m.Message, "esmtp") + "From: bob@example.org\nSubject: test\n"
	if string(m.Header) != wantHeader {
		t.Errorf("header:\n%q\nwant\n%q", m.Header, wantHeader)
	}
	if want := ".leading dot\nline two\nlast\n"; string(m.Body) != want {
		t.Errorf("body %q, want %q", m.Body, want)
	}
	rc, err := m.Message.Body.Open()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != string(m.Body) {
		t.Errorf("Message.Body opens %q, want %q", b, m.Body)
	}
	if got := m.Recipients(); !slices.Equal(got, []string{"alice@example.com"}) {
		t.Errorf("recipients %q", got)
	}
	if m.Message.Envelope.Sender != "bob@example.org" || m.Message.Session.HELO != "client.example" ||
		m.Message.Session.RemoteAddr.Addr() != netip.MustParseAddr("127.0.0.1") || m.Message.Stats.Lines != 3 {
		t.Errorf("message %+v session %+v", m.Message, m.Message.Session)
	}
	if got := c.Quit().String(); got != "221 2.0.0 mx.test.example closing connection" {
		t.Errorf("QUIT reply %q", got)
	}
	if !strings.Contains(c.Transcript(), "C: <71 octets of message data>\nC: .\nS: 250 2.0.0 OK id=") {
		t.Errorf("transcript:\n%s", c.Transcript())
	}
}

// A message received is kept as it was stored, whatever the server does
// to its own copy later.
func TestServerReceivedIsACopy(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithConfig(func(s *smtpd.Server) {
		s.OnReceived = func(ctx context.Context, m *exigo.Message) {
			m.Envelope.Recipients[0].Address = "changed@example.com"
			m.Header.Set("Subject", "changed")
			m.Vars["acl_m_x"] = "changed"
		}
	}), mailtest.WithACL(smtpd.ACLs{Mail: acl.List{
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Do(acl.Must(acl.Set("acl_m_x", "original")))}},
	}}))
	c := srv.Dial(t)
	if _, err := c.Transaction("a@example.org", []string{"b@example.com"}, "Subject: original\n\nbody\n"); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0].Message
	if m.Envelope.Recipients[0].Address != "b@example.com" || m.Header.Get("Subject") != "original" || m.Vars["acl_m_x"] != "original" {
		t.Errorf("recorded message changed: rcpt %q subject %q var %q", m.Envelope.Recipients[0].Address, m.Header.Get("Subject"), m.Vars["acl_m_x"])
	}
}

func TestServerACLReplies(t *testing.T) {
	t.Parallel()
	unknown := acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
		return tx.Recipient.Address == "nobody@example.com", nil
	})
	srv := mailtest.NewServer(t, mailtest.WithACL(smtpd.ACLs{
		Mail: acl.List{
			{Verb: acl.Deny, Message: "550 5.7.1 no mail from spammer", Conditions: []acl.Condition{acl.Senders(acl.Must(acl.ParseAddressList("spammer@example.net", nil)))}},
			{Verb: acl.Accept},
		},
		Rcpt: acl.List{
			{Verb: acl.Deny, Message: "550 5.1.1 unknown user", Conditions: []acl.Condition{unknown}},
			{Verb: acl.Accept},
		},
		Data: acl.List{
			{Verb: acl.Deny, Message: "550 5.7.0 no subject\nplease add one", Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
				return tx.Message.Header.Get("Subject") == "", nil
			})}},
			{Verb: acl.Accept},
		},
	}))
	c := srv.Dial(t)

	// Pipelined: every command gets its reply, also after a rejected MAIL.
	replies, err := c.Transaction("spammer@example.net", []string{"a@example.com"}, "Subject: x\n\nx\n")
	want := []string{"550 5.7.1 no mail from spammer", "503 5.5.1 Sender not yet given", "503 5.5.1 Valid RCPT command must precede DATA"}
	if got := replyStrings(replies); !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	var se *exigo.SMTPError
	if !errors.As(err, &se) || !reflect.DeepEqual(se, &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 7, 1}, Message: "no mail from spammer"}) {
		t.Errorf("error %v (%#v)", err, se)
	}
	if want := "mailtest: MAIL FROM:<spammer@example.net>: 550 5.7.1 no mail from spammer"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	// No recipient accepted.
	replies, err = c.Transaction("bob@example.org", []string{"nobody@example.com"}, "Subject: x\n\nx\n")
	want = []string{"250 2.1.0 OK", "550 5.1.1 unknown user", "503 5.5.1 Valid RCPT command must precede DATA"}
	if got := replyStrings(replies); !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	if want := "mailtest: no recipient accepted (RCPT TO:<nobody@example.com>: 550 5.1.1 unknown user)"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if got := c.Cmd("RSET").String(); got != "250 2.0.0 Reset OK" {
		t.Errorf("RSET: %q", got)
	}

	// Rejected by the data ACL, with a multi-line reply; one recipient
	// refused does not make the transaction fail.
	replies, err = c.Transaction("bob@example.org", []string{"nobody@example.com", "<a@example.com> NOTIFY=NEVER"}, "From: bob@example.org\n\nno subject\n")
	want = []string{"250 2.1.0 OK", "550 5.1.1 unknown user", "250 2.1.5 Accepted",
		`354 Enter message, ending with "." on a line by itself`, "550-5.7.0 no subject\n550 5.7.0 please add one"}
	if got := replyStrings(replies); !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	if got := replies[4]; !slices.Equal(got.Lines, []string{"no subject", "please add one"}) || got.Text() != "no subject\nplease add one" {
		t.Errorf("multi-line reply %#v", got)
	}
	if want := "mailtest: end of data: 550 5.7.0 no subject please add one"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages stored, want 0", n)
	}
}

func TestServerDialFrom(t *testing.T) {
	t.Parallel()
	blocked := acl.Must(acl.ParseHostList("127.0.0.2", nil))
	srv := mailtest.NewServer(t, mailtest.WithACL(smtpd.ACLs{
		Connect: acl.List{
			{Verb: acl.Deny, Message: "554 5.7.1 go away", Conditions: []acl.Condition{acl.Hosts(blocked)}},
			{Verb: acl.Accept},
		},
	}))
	c := srv.DialFrom(t, "127.0.0.2")
	if got := c.Greeting().String(); got != "554 5.7.1 go away" {
		t.Errorf("greeting from 127.0.0.2: %q", got)
	}
	c.ExpectClosed()

	c = srv.DialFrom(t, "127.0.0.3")
	if got := c.Greeting().Code; got != 220 {
		t.Errorf("greeting from 127.0.0.3: %q", c.Greeting())
	}
	if _, err := c.Transaction("a@example.org", []string{"b@example.com"}, "x\n"); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if got := m.Message.Session.RemoteAddr.Addr(); got != netip.MustParseAddr("127.0.0.3") {
		t.Errorf("remote address %v", got)
	}
	if !strings.HasPrefix(string(m.Header), "Received: from [127.0.0.3] (helo=client.example)\n") {
		t.Errorf("header %q", m.Header)
	}
}

func TestServerTLSAndAuth(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTLS(nil), mailtest.WithAuth(mailtest.Users{"alice": "secret"}))
	if srv.CertPool() == nil {
		t.Fatal("no cert pool")
	}
	c := srv.Dial(t)
	c.Ehlo("client.example")
	if _, ok := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if _, ok := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered before TLS")
	}
	st := c.StartTLS(srv.CertPool())
	if !st.HandshakeComplete || len(st.PeerCertificates) != 1 || st.PeerCertificates[0].Subject.CommonName != "mx.test.example" {
		t.Fatalf("TLS state %+v", st)
	}
	if _, ok := c.Extension("PIPELINING"); ok {
		t.Error("extensions kept after STARTTLS")
	}
	r := c.Ehlo("client.example")
	want := "250-mx.test.example Hello client.example [127.0.0.1]\n250-SIZE 52428800\n250-8BITMIME\n250-PIPELINING\n" +
		"250-CHUNKING\n250-DSN\n250-SMTPUTF8\n250-ENHANCEDSTATUSCODES\n250-AUTH PLAIN LOGIN\n250-REQUIRETLS\n250 HELP"
	if r.String() != want {
		t.Errorf("EHLO after TLS:\n%s\nwant\n%s", r, want)
	}
	if got := c.Auth("alice", "wrong").String(); got != "535 5.7.8 Authentication credentials invalid" {
		t.Errorf("bad password: %q", got)
	}
	if got := c.Auth("alice", "secret").String(); got != "235 2.7.0 Authentication succeeded" {
		t.Errorf("good password: %q", got)
	}
	if _, err := c.Transaction("<alice@example.org> REQUIRETLS", []string{"b@example.com"}, "Subject: tls\n\nx\n"); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0].Message
	if m.Session.TLS == nil || m.Session.TLS.Version != "TLS1.3" || m.Session.AuthID != "alice" || m.Session.Protocol() != "esmtpsa" || !m.Envelope.RequireTLS {
		t.Errorf("session %+v TLS %+v envelope %+v", m.Session, m.Session.TLS, m.Envelope)
	}
}

func TestServerInsecureAuth(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithAuth(mailtest.Users{"alice": "secret"}), mailtest.WithInsecureAuth())
	c := srv.Dial(t)
	c.Ehlo("client.example")
	if p, ok := c.Extension("AUTH"); !ok || p != "PLAIN LOGIN" {
		t.Fatalf("AUTH = %q, %v", p, ok)
	}
	if got := c.Auth("bob", "secret").String(); got != "535 5.7.8 Authentication credentials invalid" {
		t.Errorf("unknown user: %q", got)
	}
	if got := c.Cmd("AUTH PLAIN " + "YWxpY2UAYWxpY2UAc2VjcmV0").String(); got != "235 2.7.0 Authentication succeeded" {
		t.Errorf("authzid = user: %q", got)
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	u := mailtest.Users{"alice": "secret"}
	for _, tc := range []struct {
		authzid, user, pass string
		ok                  bool
	}{
		{"", "alice", "secret", true},
		{"alice", "alice", "secret", true},
		{"bob", "alice", "secret", false},
		{"", "alice", "Secret", false},
		{"", "bob", "", false},
	} {
		id, err := u.Authenticate(context.Background(), nil, "PLAIN", tc.authzid, tc.user, tc.pass)
		if tc.ok && (err != nil || id != "alice") || !tc.ok && (!errors.Is(err, smtpd.ErrAuthFailed) || id != "") {
			t.Errorf("%+v: got %q, %v", tc, id, err)
		}
	}
}

func TestServerSpool(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithSpool(spool.WithIDFormat(spool.IDShort)))
	sp := srv.Spool()
	if sp == nil {
		t.Fatal("no spool")
	}
	c := srv.Dial(t)
	if _, err := c.Transaction("a@example.org", []string{"b@example.com", "c@example.com"}, "Subject: spooled\n\nline 1\nline 2\n"); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if len(m.Message.ID) != 16 {
		t.Errorf("ID %q is not a short one", m.Message.ID)
	}
	ids, err := sp.List(context.Background())
	if err != nil || !slices.Equal(ids, []string{m.Message.ID}) {
		t.Fatalf("spool holds %q (%v), want %q", ids, err, m.Message.ID)
	}
	e, err := sp.Read(m.Message.ID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := e.Message.Body.Open()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "line 1\nline 2\n" || string(m.Body) != string(body) {
		t.Errorf("spool body %q, recorded %q", body, m.Body)
	}
	wantHeader := receivedField(m.Message, "esmtp") + "Subject: spooled\n"
	if string(m.Header) != wantHeader {
		t.Errorf("header %q, want %q", m.Header, wantHeader)
	}
	if e.Message.Header.Get("Subject") != "spooled" || len(e.Message.Envelope.Recipients) != 2 {
		t.Errorf("spooled message %+v", e.Message)
	}
}

// A server without a test removes its temporary spool when closed, and
// Close can be called twice.
func TestStartServerClose(t *testing.T) {
	t.Parallel()
	srv, err := mailtest.StartServer(mailtest.WithSpool())
	if err != nil {
		t.Fatal(err)
	}
	dir := srv.Spool().Dir()
	var d mailtest.Dialer
	c, err := d.DialContext(context.Background(), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The open session was told the server is going away.
	r, err := c.ReadReply()
	if err != nil || r.String() != "421 4.3.2 mx.test.example Service shutting down" {
		t.Errorf("reply after Close: %q, %v", r, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("spool directory %s: %v, want it removed", dir, err)
	}
	if _, err := d.DialContext(context.Background(), srv.Addr()); err == nil {
		t.Error("dial after Close succeeded")
	}
}

func TestServerWaitMessages(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d mailtest.Dialer
			c, err := d.DialContext(context.Background(), srv.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_, err = c.Transaction("a@example.org", []string{fmt.Sprintf("r%d@example.com", i)}, "x\n")
			errs <- err
		}()
	}
	msgs, err := srv.WaitMessages(n, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var rcpts []string
	for _, m := range msgs {
		rcpts = append(rcpts, m.Recipients()...)
	}
	slices.Sort(rcpts)
	if want := []string{"r0@example.com", "r1@example.com", "r2@example.com", "r3@example.com"}; !slices.Equal(rcpts, want) {
		t.Errorf("recipients %q", rcpts)
	}
	_, err = srv.WaitMessages(n+1, 50*time.Millisecond)
	if want := "mailtest: 4 messages stored after 50ms, want 5"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestServerConfigAndLogger(t *testing.T) {
	t.Parallel()
	var logged strings.Builder
	var mu sync.Mutex
	srv := mailtest.NewServer(t,
		mailtest.WithLogger(slogTo(&mu, &logged)),
		mailtest.WithConfig(func(s *smtpd.Server) {
			s.Hostname = "other.test.example"
			s.Greeting = "hello there"
			s.MaxRecipients = 1
		}))
	c := srv.Dial(t)
	if got := c.Greeting().String(); got != "220 other.test.example hello there" {
		t.Errorf("greeting %q", got)
	}
	replies, err := c.Transaction("a@example.org", []string{"b@example.com", "c@example.com"}, "x\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := replies[2].String(); got != "452 4.5.3 Too many recipients" {
		t.Errorf("second RCPT: %q", got)
	}
	c.Quit()
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "message accepted") {
		t.Errorf("log:\n%s", logged.String())
	}
}

// slogTo returns a logger writing text to b, under mu.
func slogTo(mu *sync.Mutex, b *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu, b}, nil))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// A store of the test's own, here one that fails, replaces the default.
func TestServerFailingStore(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithConfig(func(s *smtpd.Server) {
		s.Store = smtpd.StoreFunc(func(context.Context) (smtpd.Draft, error) { return nil, errors.New("disk full") })
	}))
	c := srv.Dial(t)
	replies, err := c.Transaction("a@example.org", []string{"b@example.com"}, "x\n")
	want := []string{"250 2.1.0 OK", "250 2.1.5 Accepted", "451 4.3.0 Temporary local problem - please try later"}
	if got := replyStrings(replies); !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	var se *exigo.SMTPError
	if !errors.As(err, &se) || !se.Temporary() || err.Error() != "mailtest: DATA: 451 4.3.0 Temporary local problem - please try later" {
		t.Errorf("error %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages recorded", n)
	}
}
