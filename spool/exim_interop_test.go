package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

// eximConf routes local.example to files under mailDir (as nobody: Exim
// never delivers as root) and defers everything else; its RCPT ACL sets
// ACL variables and freezes messages for freeze@example.com.
func eximConf(mailDir string) string {
	return `dsn_advertise_hosts = *
acl_smtp_rcpt = acl_rcpt

begin acl
acl_rcpt:
  warn   set acl_c0 = conn0
         set acl_m_foo = hello world
  warn   recipients = freeze@example.com
         control = freeze
  accept
` + testpeer.LocalDeliveryConfig(mailDir)
}

// newEximSpool starts a private Exim whose appendfile deliveries (as
// nobody) can reach the mail directory.
func newEximSpool(t *testing.T) (*testpeer.Exim, string) {
	t.Helper()
	mail := testpeer.MailDir(t)
	e := testpeer.NewExim(t, eximConf(mail))
	return e, mail
}

// exigoListing is what "exigo spool ls" prints (cmd/exigo uses the same
// calls).
func exigoListing(t *testing.T, s *Spool, now time.Time) string {
	t.Helper()
	ids, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, id := range ids {
		e, err := s.Read(id)
		if err != nil {
			t.Fatalf("Read %s: %v", id, err)
		}
		e.WriteListing(&b, now)
	}
	return b.String()
}

// TestEximReadsExigoSpool: messages written by exigo's spool are listed
// by exim -bp, shown by exim -Mvh, read back field by field by Exim
// (-Mset with -be), and delivered by Exim, which honours exigo's lock.
func TestEximReadsExigoSpool(t *testing.T) {
	t.Parallel()
	e, mail := newEximSpool(t)
	s, err := Open(e.Spool, WithIDFormat(IDShort), WithOriginator("root", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id1 := commitTest(t, s, testBody)
	// A second message: null sender, big body, one recipient delivered
	// (journal) and frozen.
	d, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 99) + "\n"
	for range 30000 {
		io.WriteString(d, line)
	}
	m := testMessage(d.ID(), time.Now())
	m.Envelope.Sender = ""
	m.Session.TLS = nil
	if err := d.Commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	id2 := d.ID()
	lk, err := s.Lock(id2)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.AddDelivered("carol@example.com"); err != nil {
		t.Fatal(err)
	}
	en, _ := lk.Read()
	en.Freeze(time.Now())
	if err := lk.Rewrite(en.HeaderFile); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()

	out, err := e.Run("", "-bp")
	now := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := s.Read(id1)
	e2, _ := s.Read(id2)
	want := fmt.Sprintf(" 0m %s %s <alice@example.org>\n          bob@example.com\n          carol@example.com\n          dave@example.com\n\n", FormatSize(e1.Size()), id1)
	want += fmt.Sprintf(" 0m  2.9M %s <> *** frozen ***\n          bob@example.com\n        D carol@example.com\n          dave@example.com\n\n", id2)
	if out != want {
		t.Errorf("exim -bp:\n%s\nwant:\n%s", out, want)
	}
	if got := exigoListing(t, s, now); got != out {
		t.Errorf("exigo listing differs from exim -bp:\n%s", got)
	}

	// exim -Mvh shows the -H file as written.
	for _, id := range []string{id1, id2} {
		out, err := e.Run("", "-Mvh", id)
		hb, _ := os.ReadFile(filepath.Join(e.Spool, "input", id+"-H"))
		if err != nil || out != string(hb) {
			t.Errorf("exim -Mvh %s: %v\n%s", id, err, out)
		}
	}

	// Exim reads every field back.
	checks := []struct{ expr, want string }{
		{"$message_exim_id|$sender_address|$recipients|$recipients_count", id1 + "|alice@example.org|bob@example.com, carol@example.com, dave@example.com|3"},
		{"$sender_helo_name|$sender_host_address|$sender_host_port|$received_ip_address|$received_port", "client.example|2001:db8::1|4567|192.0.2.25|25"},
		{"$received_protocol|$sender_host_authenticated|$authenticated_id|$authenticated_sender", "esmtpsa|PLAIN|alice|alice@example.org"},
		{"$tls_in_cipher|$tls_in_ver|$tls_in_sni|$tls_in_peerdn|$tls_in_certificate_verified", "TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256|TLS1.3|mx.test.example|CN=client|1"},
		{"$acl_m_score|$acl_m0|$acl_c_conn", "5\nlines|zero|c1"},
		{"$body_linecount|$max_received_linelength|$message_size|$h_subject:|$h_message-id:", fmt.Sprintf("2|37|%d|hello\n there|<x@example.org>", e1.Size())},
		{"$message_body", "first line second line, a little longer "},
	}
	for _, c := range checks {
		out, err := e.Run("", "-Mset", id1, "-be", c.expr)
		if err != nil || out != c.want+"\n" {
			t.Errorf("exim -be %q: got %q, %v; want %q", c.expr, out, err, c.want)
		}
	}
	out, err = e.Run("", "-Mset", id2, "-be", "$sender_address|$message_size|$body_linecount")
	if want := fmt.Sprintf("|%d|2\n", e2.Size()); err != nil || out != want {
		t.Errorf("exim -be on %s: %q %v, want %q", id2, out, err, want)
	}

	// Exim does not deliver a message exigo holds locked.
	lk, err = s.Lock(id1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run("", "-M", id1); err != nil {
		t.Logf("exim -M while locked: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mail, "mbox")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Exim delivered a locked message: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(e.Spool, "log", "mainlog"))
	if !strings.Contains(string(log), id1+" Spool file for "+id1+" is locked (another process is handling this message)") {
		t.Errorf("mainlog has no lock message:\n%s", log)
	}
	lk.Unlock()
	// Unlocked, a recipient at local.example is delivered by Exim, the
	// others deferred, and Exim's rewritten -H reads back.
	d, _ = s.Create(ctx)
	io.WriteString(d, "hi\n")
	m = testMessage(d.ID(), time.Now())
	m.Envelope.Recipients[0].Address = "bob@local.example"
	if err := d.Commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run("", "-M", d.ID()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(mail, "mbox"))
	if err != nil || !strings.Contains(string(got), "\nSubject: hello\n there\n") || !strings.HasSuffix(string(got), "\n\nhi\n\n") {
		t.Errorf("delivered mail: %q %v", got, err)
	}
	en, err = s.Read(d.ID())
	if err != nil || !en.Delivered("bob@local.example") || en.Delivered("carol@example.com") || en.Has("deliver_firsttime") {
		t.Errorf("after Exim's attempt: %+v %v", en, err)
	}
}

// TestExigoReadsEximSpool: messages spooled by Exim itself (SMTP on
// stdin, -odq) are read by exigo and listed exactly as exim -bp lists
// them, with delivered recipients, frozen messages, big sizes and old
// ages.
func TestExigoReadsEximSpool(t *testing.T) {
	t.Parallel()
	e, _ := newEximSpool(t)
	send := func(from string, to []string, body string, mailArgs string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "EHLO client.example\nMAIL FROM:<%s>%s\n", from, mailArgs)
		for _, r := range to {
			addr, params, _ := strings.Cut(r, " ")
			if params != "" {
				params = " " + params
			}
			fmt.Fprintf(&b, "RCPT TO:<%s>%s\n", addr, params)
		}
		b.WriteString("DATA\nSubject: test\nFrom: a@example.org\n\n" + body + ".\nQUIT\n")
		out, err := e.SMTP("192.0.2.1.4567", b.String())
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(out, "250 OK id=")
		if i < 0 {
			t.Fatalf("not accepted:\n%s", out)
		}
		return out[i+10 : i+26]
	}
	dsn := " RET=HDRS ENVID=abc+2Bdef"
	id1 := send("s@example.org", []string{"r1@example.com NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+2By@example.com", "r2@example.com NOTIFY=NEVER"}, "body\n", dsn)
	id2 := send("s2@example.org", []string{"freeze@example.com"}, "frozen\n", "")
	big := strings.Repeat(strings.Repeat("y", 999)+"\n", 12000)
	id3 := send("", []string{"big@example.com"}, big, "")
	id4 := send("s4@example.org", []string{"a@local.example", "b@example.com", "c@local.example"}, "partly\n", "")
	id5 := send("old@example.org", []string{"o@example.com"}, "old\n", "")
	// Exim delivers two of id4's recipients and defers the third.
	if _, err := e.Run("", "-M", id4); err != nil {
		t.Fatal(err)
	}
	s, err := Open(e.Spool, WithIDFormat(IDShort))
	if err != nil {
		t.Fatal(err)
	}
	// Age id5 by five days and a half hour; give id3 a -J entry.
	lk, err := s.Lock(id5)
	if err != nil {
		t.Fatal(err)
	}
	en, _ := lk.Read()
	en.Time -= 5*86400 + 1800
	if err := lk.Rewrite(en.HeaderFile); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	os.WriteFile(filepath.Join(e.Spool, "input", id3+"-J"), []byte("big@example.com\n"), 0o640)

	out, err := e.Run("", "-bp")
	now := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		id2 + " <s2@example.org> *** frozen ***\n          freeze@example.com\n",
		"  11M " + id3 + " <>\n        D big@example.com\n",
		id4 + " <s4@example.org>\n        D a@local.example\n          b@example.com\n        D c@local.example\n",
		" 5d   ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exim -bp lacks %q:\n%s", want, out)
		}
	}
	if got := exigoListing(t, s, now); got != out {
		t.Errorf("exigo listing:\n%s\nexim -bp:\n%s", got, out)
	}

	// The envelope reads back.
	e1, err := s.Read(id1)
	if err != nil {
		t.Fatal(err)
	}
	m := e1.Message
	rs := m.Envelope.Recipients
	if m.Envelope.Sender != "s@example.org" || m.Envelope.EnvID != "abc+def" || m.Envelope.Ret != 2 || len(rs) != 2 ||
		rs[0].ORCPT != "rfc822;x+y@example.com" || rs[0].Notify != 12 || rs[1].Notify != 2 {
		t.Errorf("envelope %+v %+v %+v", m.Envelope, rs[0], rs[1])
	}
	if m.Session.RemoteAddr.String() != "192.0.2.1:4567" || m.Session.HELO != "client.example" || m.Session.Vars["acl_c0"] != "conn0" || m.Vars["acl_m_foo"] != "hello world" {
		t.Errorf("session %+v vars %v", m.Session, m.Vars)
	}
	if !strings.HasPrefix(e1.Headers[0].Text, "Received: from [192.0.2.1] (helo=client.example") || m.Header.Get("Subject") != "test" {
		t.Errorf("header %+v", e1.Headers)
	}
	// Every -H file Exim wrote is written back byte for byte.
	ids, _ := s.List(context.Background())
	for _, id := range ids {
		en, err := s.Read(id)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		en.WriteTo(&b)
		hb, _ := os.ReadFile(filepath.Join(e.Spool, "input", id+"-H"))
		if b.String() != string(hb) {
			t.Errorf("%s round trip:\n%s\nfile:\n%s", id, b.String(), hb)
		}
	}
	rc, _ := e1.Message.Body.Open()
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "body\n" {
		t.Errorf("body %q", body)
	}
}
