package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints"
	hintslmdb "github.com/exigo-mta/exigo/hints/lmdb"
	"github.com/exigo-mta/exigo/internal/testpeer"
)

// End-to-end tests of issue 3: the built mta binary as a child process,
// driven by real tools (swaks) and relaying to real MTAs (Postfix's
// smtp-sink, Exim 4.96), plus the relay policy and the delivery faults seen
// from outside.

// swaks runs swaks against the mta at addr with the given extra arguments
// and returns the ID from the 250 reply to the data.
func swaks(t *testing.T, addr string, args ...string) string {
	t.Helper()
	bin := testpeer.Need(t, "swaks", "swaks")
	host, port, _ := net.SplitHostPort(addr)
	all := append([]string{"--server", host, "--port", port, "--timeout", "20", "--ehlo", "client.example"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	m := regexp.MustCompile(`(?m)^<-  250 .*id=(\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no id in swaks' output:\n%s", out)
	}
	return m[1]
}

// e2eMessage is the message the swaks tests send, with LF line ends.
func e2eMessage(msgID, to string) string {
	return "From: Sender <sender@example.com>\n" +
		"To: <" + to + ">\n" +
		"Subject: e2e " + msgID + "\n" +
		"Date: Sat, 21 Nov 2026 12:00:00 +0000\n" +
		"Message-ID: <" + msgID + ">\n" +
		"\n" +
		"Hello from the end-to-end test.\n" +
		"Second line.\n"
}

// writeTemp writes s into a new file in t's temporary directory.
func writeTemp(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// receivedRE matches the Received: field examples/mta adds for a message
// from 127.0.0.1 (helo client.example) to one recipient.
func receivedRE(id, rcpt string) string {
	return `Received: from \[127\.0\.0\.1\] \(helo=client\.example\)\n` +
		`\tby mta\.test with esmtp \(exigo\)\n` +
		`\t\(envelope-from <sender@example\.com>\)\n` +
		`\tid ` + regexp.QuoteMeta(id) + `\n` +
		`\tfor ` + regexp.QuoteMeta(rcpt) + `;\n` +
		`\t[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n`
}

// TestE2ESwaksLocalDelivery: swaks sends to user@localhost through the
// mta, and the message appears in DATA/mail/user/Maildir/new with the
// Return-Path, Delivered-To and Received fields in front of the message
// exactly as sent.
func TestE2ESwaksLocalDelivery(t *testing.T) {
	t.Parallel()
	d := startMTA(t, "")
	msg := e2eMessage("local-1@client.example", "user@localhost")
	id := swaks(t, d.addr, "--from", "sender@example.com", "--to", "user@localhost",
		"--data", writeTemp(t, "msg.eml", msg))
	d.waitLog(regexp.MustCompile(`msg=Completed id=` + regexp.QuoteMeta(id) + `$`))

	maildir := filepath.Join(d.data, "mail", "user", "Maildir")
	files := maildirFiles(maildir)
	if len(files) != 1 {
		t.Fatalf("%s/new holds %d files, want 1", maildir, len(files))
	}
	if !strings.HasSuffix(filepath.Base(files[0]), "."+e2eHostname) {
		t.Errorf("maildir file name %q does not end in the host name", filepath.Base(files[0]))
	}
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// swaks ends the data with a line end of its own before the dot.
	want := regexp.MustCompile(`^` + regexp.QuoteMeta("Return-Path: <sender@example.com>\nDelivered-To: user@localhost\n") +
		receivedRE(id, "user@localhost") + regexp.QuoteMeta(msg+"\n") + `$`)
	if !want.Match(got) {
		t.Errorf("delivered file:\n%s\nwant it to match:\n%s", got, want)
	}
	d.waitLog(regexp.MustCompile(`msg="=>" id=` + regexp.QuoteMeta(id) +
		` rcpt=user@localhost router=localuser transport=local_delivery reply="saved as new/` + regexp.QuoteMeta(filepath.Base(files[0])) + `"`))
	if ents, _ := os.ReadDir(filepath.Join(d.data, "spool", "input")); len(ents) != 0 {
		t.Errorf("spool/input still holds %d files after the delivery", len(ents))
	}
}

// smtpSink starts Postfix's smtp-sink on a loopback port, dumping every
// transaction into its own file in a directory, and returns its address
// and the directory. smtp-sink comes from $EXIGO_POSTFIX_ROOT, from the
// postfix package bench/lib/fetch-postfix.sh unpacks into
// bench/out/postfix-root (scripts/test does), or from an installed
// postfix.
func smtpSink(t *testing.T) (addr, dumpDir string) {
	t.Helper()
	var dirs []string
	if r := os.Getenv("EXIGO_POSTFIX_ROOT"); r != "" {
		dirs = append(dirs, filepath.Join(r, "usr", "sbin"))
	}
	if abs, err := filepath.Abs(filepath.Join("..", "..", "bench", "out", "postfix-root", "usr", "sbin")); err == nil {
		dirs = append(dirs, abs)
	}
	dirs = append(dirs, "/usr/sbin")
	bin := testpeer.Need(t, "smtp-sink", "postfix; bench/lib/fetch-postfix.sh unpacks it into bench/out/postfix-root", dirs...)
	libDir := filepath.Join(filepath.Dir(filepath.Dir(bin)), "lib", "postfix")

	// smtp-sink drops its privileges to nobody when run as root: the
	// dump directory must be writable for it, so it is made outside the
	// test's private temporary directory.
	dumpDir, err := os.MkdirTemp("", "exigo-e2e-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dumpDir) })
	if err := os.Chmod(dumpDir, 0o777); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		args := []string{"-4", "-h", "sink.test", "-d", dumpDir + "/msg."}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "nobody")
		}
		args = append(args, addr, "10")
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+libDir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("smtp-sink: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		select {
		case <-exited:
			// Lost the port to someone else, or broken: retry a few times.
			if attempt < 3 {
				continue
			}
			t.Fatalf("smtp-sink exited at once: %s", stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		waitPort(t, addr, exited, "smtp-sink")
		return addr, dumpDir
	}
}

// TestE2ESmarthostToSmtpSink: a message for a remote domain, sent from
// 127.0.0.1 (which may relay), goes to Postfix's smtp-sink as the
// -smarthost; the sink's dump holds the envelope and the message with
// exigo's Received: field on top.
func TestE2ESmarthostToSmtpSink(t *testing.T) {
	t.Parallel()
	sink, dumpDir := smtpSink(t)
	d := startMTA(t, "", "-smarthost", sink)
	msg := e2eMessage("sink-1@client.example", "someone@remote.example")
	id := swaks(t, d.addr, "--from", "sender@example.com", "--to", "someone@remote.example",
		"--data", writeTemp(t, "msg.eml", msg))
	d.waitLog(regexp.MustCompile(`msg="=>" id=` + regexp.QuoteMeta(id) +
		` rcpt=someone@remote.example router=smarthost transport=remote_smtp host=\[127\.0\.0\.1\]:` +
		regexp.QuoteMeta(sink[strings.LastIndex(sink, ":")+1:]) + ` reply="250 2\.0\.0 Ok"$`))
	d.waitLog(regexp.MustCompile(`msg=Completed id=` + regexp.QuoteMeta(id) + `$`))

	ents, err := os.ReadDir(dumpDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("smtp-sink dumped %d transactions, want 1", len(ents))
	}
	dump, err := os.ReadFile(filepath.Join(dumpDir, ents[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	// smtp-sink's own fields, then its Received: field (three lines), then
	// what exigo sent, then an empty line.
	want := regexp.MustCompile(`^` +
		`X-Client-Addr: 127\.0\.0\.1\n` +
		`X-Client-Proto: ESMTP\n` +
		`X-Helo-Args: ` + regexp.QuoteMeta(e2eHostname) + `\n` +
		`X-Mail-Args: <sender@example\.com>\n` +
		`X-Rcpt-Args: <someone@remote\.example>\n` +
		`Received: from mta\.test \(\[127\.0\.0\.1\]\)\n\tby sink\.test \(smtp-sink\) with ESMTP id [0-9a-f]+;\n\t.*\n` +
		receivedRE(id, "someone@remote.example") +
		regexp.QuoteMeta(msg+"\n") + `\n$`)
	if !want.Match(dump) {
		t.Errorf("smtp-sink dump:\n%s\nwant it to match:\n%s", dump, want)
	}
}

// exim starts an Exim 4.96 daemon on a loopback port that accepts any
// recipient and only queues (queue_only, no queue runner), and returns it
// with its address. The daemon is killed by pid when the test ends.
func exim(t *testing.T) (*testpeer.Exim, string) {
	t.Helper()
	e := testpeer.NewExim(t, `local_interfaces = <; 127.0.0.1
queue_only = true
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
tls_advertise_hosts =
acl_smtp_rcpt = acl_rcpt

begin acl

acl_rcpt:
  accept
`)
	port := freePort(t)
	cmd := exec.Command(e.Bin, "-C", e.Conf, "-bdf", "-oX", strconv.Itoa(port))
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC"}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("exim -bdf: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("exim daemon output: %s", out.String())
			if b, err := os.ReadFile(filepath.Join(e.Spool, "log", "mainlog")); err == nil {
				t.Logf("exim mainlog:\n%s", b)
			}
			if b, err := os.ReadFile(filepath.Join(e.Spool, "log", "paniclog")); err == nil {
				t.Logf("exim paniclog:\n%s", b)
			}
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitPort(t, addr, exited, "exim -bdf")
	return e, addr
}

// TestE2ERelayToExim: a message relayed by the mta to a real Exim 4.96
// daemon is accepted by Exim: its mainlog has the "<=" line with the
// message's Message-ID, and exim -bp lists it for the recipient.
func TestE2ERelayToExim(t *testing.T) {
	t.Parallel()
	e, eximAddr := exim(t)
	d := startMTA(t, "", "-smarthost", eximAddr)
	msgID := fmt.Sprintf("exim-%d@client.example", time.Now().UnixNano())
	msg := e2eMessage(msgID, "someone@remote.example")
	id := swaks(t, d.addr, "--from", "sender@example.com", "--to", "someone@remote.example",
		"--data", writeTemp(t, "msg.eml", msg))
	m := d.waitLog(regexp.MustCompile(`msg="=>" id=` + regexp.QuoteMeta(id) +
		` rcpt=someone@remote.example router=smarthost transport=remote_smtp host=\S+ reply="250 .*OK id=(\S+)"$`))
	eximID := m[1]
	d.waitLog(regexp.MustCompile(`msg=Completed id=` + regexp.QuoteMeta(id) + `$`))

	mainlog, err := os.ReadFile(filepath.Join(e.Spool, "log", "mainlog"))
	if err != nil {
		t.Fatal(err)
	}
	lineRE := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ` + regexp.QuoteMeta(eximID) +
		` <= sender@example\.com H=\(` + regexp.QuoteMeta(e2eHostname) + `\) \[127\.0\.0\.1\] P=esmtp K S=\d+ id=` +
		regexp.QuoteMeta(msgID) + `$`)
	if !lineRE.Match(mainlog) {
		t.Errorf("exim mainlog has no line matching %s:\n%s", lineRE, mainlog)
	}
	bp, err := e.Run("", "-bp")
	if err != nil {
		t.Fatal(err)
	}
	bpRE := regexp.MustCompile(`^ *\d+[smhd] +[\d.]+K? ` + regexp.QuoteMeta(eximID) + ` <sender@example\.com>\n {10}someone@remote\.example\n\n$`)
	if !bpRE.MatchString(bp) {
		t.Errorf("exim -bp:\n%s\nwant it to match %s", bp, bpRE)
	}
	// Exim has the message as exigo sent it: its -H file names the
	// sender and recipient, its -D file holds the body.
	body, err := e.Run("", "-Mvb", eximID)
	if err != nil {
		t.Fatal(err)
	}
	if want := eximID + "-D\nHello from the end-to-end test.\nSecond line.\n\n"; body != want { // swaks' line end before the dot
		t.Errorf("exim -Mvb %s = %q, want %q", eximID, body, want)
	}
}

// relayRefused is the reply to a RCPT the relay policy refuses.
const relayRefused = "550 5.7.1 relay not permitted"

// TestE2ERelayPolicy: clients on 127.0.0.1 and ::1 may relay; any other
// client (127.0.0.2 here) must authenticate first, and none of the
// classic open-relay tricks gets a message relayed: addresses that really
// are local are delivered locally, everything else is refused. The
// -smarthost is a fake server that records every RCPT it is sent.
func TestE2ERelayPolicy(t *testing.T) {
	t.Parallel()
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		testpeer.Missing(t, "cannot bind 127.0.0.2 (a loopback address other than 127.0.0.1): "+err.Error())
	}
	probe.Close()
	trap := newFakeSMTP(t, "")
	users := writeTemp(t, "users", "alice: s3cret\n")
	d := startMTA(t, "", "-smarthost", trap.addr(), "-users", users)

	t.Run("unauthenticated", func(t *testing.T) {
		cases := []struct {
			rcpt string
			want string // the reply to RCPT
		}{
			{"<user@remote.example>", relayRefused},
			{"<user@REMOTE.EXAMPLE>", relayRefused},
			{"<user@remote.example.>", relayRefused},
			{"<user@localhost.>", relayRefused},
			{"<user@[127.0.0.1]>", relayRefused},
			{"<user@[127.0.0.2]>", relayRefused},
			{"<user@[IPv6:::1]>", relayRefused},
			{`<"user"@remote.example>`, relayRefused},
			{"<user@localhost.remote.example>", relayRefused},
			{"<user%localhost@localhost>", "550 5.7.1 Restricted characters in address"},
			{"<user%remote.example@localhost>", "550 5.7.1 Restricted characters in address"},
			{"<user%remote.example@LOCALHOST>", "550 5.7.1 Restricted characters in address"},
			{"<remote.example!user@localhost>", "550 5.7.1 Restricted characters in address"},
			{`<"user@remote.example"@localhost>`, "550 5.7.1 Restricted characters in address"},
			{`<"user%remote.example"@localhost>`, "550 5.7.1 Restricted characters in address"},
			{"<@localhost:user@remote.example>", relayRefused},
			{"<@localhost,@localhost:user@remote.example>", relayRefused},
			// Unquoted "@" in the local part: the last "@" splits.
			{"<user@remote.example@localhost>", "550 5.7.1 Restricted characters in address"},
			{"<user@localhost@remote.example>", "550 5.7.1 Restricted characters in address"},
			{"<user%localhost@remote.example>", "550 5.7.1 Restricted characters in address"},
			{"<user@remote.example%localhost>", relayRefused},
			{"<remote.example!user>", "501 5.1.3 Recipient address must contain a local part and a domain"},
			{"<user>", "501 5.1.3 Recipient address must contain a local part and a domain"},
		}
		c := dial(t, "127.0.0.2", d.addr)
		c.ehlo("client.example")
		c.must("MAIL FROM:<sender@example.com>", "250")
		for _, tc := range cases {
			if got := c.cmd("RCPT TO:" + tc.rcpt); got != tc.want {
				t.Errorf("RCPT TO:%s from 127.0.0.2: %q, want %q", tc.rcpt, got, tc.want)
			}
		}
		// No recipient was accepted: DATA is refused.
		if got := c.cmd("DATA"); got != "503 5.5.1 Valid RCPT command must precede DATA" {
			t.Errorf("DATA after only refused recipients: %q", got)
		}
	})

	t.Run("local", func(t *testing.T) {
		// Genuinely local addresses are accepted from anyone, and are
		// delivered into the maildir, never to the smarthost.
		c := dial(t, "127.0.0.2", d.addr)
		c.ehlo("client.example")
		c.must("MAIL FROM:<sender@example.com>", "250")
		for _, r := range []string{"<user@LOCALHOST>", "<User@localhost>", "<@relay.example:user@localhost>", `<"user"@localhost>`} {
			c.must("RCPT TO:"+r, "250")
		}
		id := idRE.FindStringSubmatch(c.data("Subject: local from 127.0.0.2\n\nbody\n"))
		if id == nil {
			t.Fatal("no id in the reply to the data")
		}
		c.must("QUIT", "221")
		d.waitLog(regexp.MustCompile(`msg=Completed id=` + regexp.QuoteMeta(id[1]) + `$`))
		// Every envelope address (the source route dropped) was delivered
		// by the localuser router into mail/user/Maildir.
		envelope := map[string]bool{"user@LOCALHOST": true, "User@localhost": true, "user@localhost": true, `"user"@localhost`: true}
		doneRE := regexp.MustCompile(`msg="=>" id=` + regexp.QuoteMeta(id[1]) + ` rcpt=("(?:[^"\\]|\\.)*"|\S+) router=(\S+) transport=(\S+) reply="saved as new/`)
		got := map[string]bool{}
		for _, l := range d.log() {
			m := doneRE.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			rcpt := m[1]
			if strings.HasPrefix(rcpt, `"`) {
				rcpt, _ = strconv.Unquote(rcpt)
			}
			if m[2] != "localuser" || m[3] != "local_delivery" {
				t.Errorf("%s went through router %s, transport %s", rcpt, m[2], m[3])
			}
			got[rcpt] = true
		}
		if fmt.Sprint(got) != fmt.Sprint(envelope) {
			t.Errorf("delivered locally: %v, want %v", got, envelope)
		}
		files := maildirFiles(filepath.Join(d.data, "mail", "user", "Maildir"))
		var delivered []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dt := regexp.MustCompile(`(?m)^Delivered-To: (.*)$`).FindSubmatch(b)
			if dt == nil || !envelope[string(dt[1])] || !strings.HasSuffix(string(b), "\nSubject: local from 127.0.0.2\n\nbody\n") ||
				!regexp.MustCompile(`\tid `+regexp.QuoteMeta(id[1])+`[;\n]`).Match(b) {
				t.Errorf("%s is not a copy of message %s for one of its recipients:\n%s", f, id[1], b)
				continue
			}
			delivered = append(delivered, string(dt[1]))
		}
		// One mailbox, but the engine compares local parts with their
		// case and quotes (Exim would deliver one copy here): one to four
		// copies are right.
		if len(delivered) == 0 || len(delivered) > len(envelope) {
			t.Errorf("%d copies in mail/user/Maildir (%q), want 1 to %d", len(delivered), delivered, len(envelope))
		}
		sort.Strings(delivered)
		t.Logf("copies in mail/user/Maildir for %q", delivered)
	})

	if rcpts, msgs := trap.received(); len(rcpts) != 0 || len(msgs) != 0 {
		t.Fatalf("unauthenticated client got mail relayed: RCPTs %q, messages %d", rcpts, len(msgs))
	}

	// relayed sends a message for tag@remote.example through c and
	// checks that d passed it to the smarthost.
	relayed := func(t *testing.T, d *daemon, c *client, tag string) {
		t.Helper()
		c.must("MAIL FROM:<sender@example.com>", "250")
		c.must("RCPT TO:<"+tag+"@remote.example>", "250")
		id := idRE.FindStringSubmatch(c.data("Subject: " + tag + "\n\nrelayed\n"))
		if id == nil {
			t.Fatal("no id in the reply to the data")
		}
		c.must("QUIT", "221")
		d.waitLog(regexp.MustCompile(`msg=Completed id=` + regexp.QuoteMeta(id[1]) + `$`))
		_, msgs := trap.received()
		for _, m := range msgs {
			if strings.Contains(m.Data, "\r\nSubject: "+tag+"\r\n") {
				if got, want := strings.Join(m.Rcpts, ","), "TO:<"+tag+"@remote.example>"; got != want {
					t.Errorf("relayed with RCPT %q, want %q", got, want)
				}
				if !strings.HasPrefix(m.From, "FROM:<sender@example.com>") {
					t.Errorf("relayed with MAIL %q", m.From)
				}
				return
			}
		}
		t.Errorf("message %s (%s) did not reach the smarthost", id[1], tag)
	}

	t.Run("from 127.0.0.1", func(t *testing.T) {
		c := dial(t, "127.0.0.1", d.addr)
		c.ehlo("client.example")
		relayed(t, d, c, "loopback4")
	})

	t.Run("authenticated from 127.0.0.2", func(t *testing.T) {
		c := dial(t, "127.0.0.2", d.addr)
		ext := c.ehlo("client.example")
		for _, e := range ext {
			if e == "AUTH" {
				t.Errorf("AUTH offered before STARTTLS: %q", ext)
			}
		}
		if got := c.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00s3cret"))); !strings.HasPrefix(got, "5") {
			t.Errorf("AUTH in clear: %q, want a 5xx refusal", got)
		}
		c.startTLS()
		ext = c.ehlo("client.example")
		if !strings.Contains(" "+strings.Join(ext, " ")+" ", " AUTH ") {
			t.Fatalf("AUTH not offered after STARTTLS: %q", ext)
		}
		c.must("MAIL FROM:<sender@example.com>", "250")
		if got := c.cmd("RCPT TO:<user@remote.example>"); got != relayRefused {
			t.Errorf("RCPT before AUTH over TLS: %q, want %q", got, relayRefused)
		}
		c.must("RSET", "250")
		if got := c.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00wrong"))); got != "535 5.7.8 Authentication credentials invalid" {
			t.Errorf("AUTH with a wrong password: %q", got)
		}
		c.must("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice\x00s3cret")), "235 2.7.0")
		relayed(t, d, c, "authenticated")
	})

	t.Run("from ::1", func(t *testing.T) {
		ln, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		ln.Close()
		d6 := startMTA(t, "[::1]:0", "-smarthost", trap.addr())
		c := dial(t, "::1", d6.addr)
		c.ehlo("client.example")
		relayed(t, d6, c, "loopback6")
	})
}

// TestE2EDeferAndBounce: a smarthost that answers 451 to RCPT leaves the
// message in the spool (exigo spool ls lists it) with address retry data
// in the hints database; one that answers 550 makes the mta bounce the
// message to its (local) sender, from <>.
func TestE2EDeferAndBounce(t *testing.T) {
	t.Parallel()
	_, exigoBin := binaries(t)

	t.Run("451", func(t *testing.T) {
		t.Parallel()
		remote := newFakeSMTP(t, "451 4.7.1 greylisted, try later")
		d := startMTA(t, "", "-smarthost", remote.addr())
		c := dial(t, "127.0.0.1", d.addr)
		c.ehlo("client.example")
		c.must("MAIL FROM:<sender@example.com>", "250")
		c.must("RCPT TO:<someone@remote.example>", "250")
		id := idRE.FindStringSubmatch(c.data("Subject: deferred\n\nlater\n"))[1]
		c.must("QUIT", "221")
		d.waitLog(regexp.MustCompile(`msg="==" id=` + regexp.QuoteMeta(id) +
			` rcpt=someone@remote.example router=smarthost transport=remote_smtp .*err=".*451 4\.7\.1 greylisted, try later"`))
		d.stop()

		out, err := exec.Command(exigoBin, "spool", "ls", filepath.Join(d.data, "spool")).CombinedOutput()
		if err != nil {
			t.Fatalf("exigo spool ls: %v\n%s", err, out)
		}
		lsRE := regexp.MustCompile(`^ *\d+[smhd] +\d+ ` + regexp.QuoteMeta(id) + ` <sender@example\.com>\n {10}someone@remote\.example\n\n$`)
		if !lsRE.Match(out) {
			t.Errorf("exigo spool ls:\n%s\nwant it to match %s", out, lsRE)
		}

		db, err := hintslmdb.Open(filepath.Join(d.data, "hints", "hints.lmdb"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		key := "R:someone@remote.example:<sender@example.com>"
		r, ok, err := hints.GetRetry(context.Background(), db, key)
		if err != nil || !ok {
			var keys []string
			db.Range(context.Background(), "", func(k string, _ []byte, _ time.Time) bool { keys = append(keys, k); return true })
			t.Fatalf("retry record %q: found %v, err %v; keys in the database: %q", key, ok, err, keys)
		}
		if !strings.Contains(r.Text, "451 4.7.1 greylisted, try later") {
			t.Errorf("retry text %q does not hold the reply", r.Text)
		}
		if r.FirstFailed.IsZero() || r.NextTry.Sub(r.FirstFailed) != 15*time.Minute || r.Expired {
			t.Errorf("retry record %+v: want the first interval of Exim's default rule, 15m, not expired", r)
		}
	})

	t.Run("550", func(t *testing.T) {
		t.Parallel()
		remote := newFakeSMTP(t, "550 5.1.1 no such user here")
		d := startMTA(t, "", "-smarthost", remote.addr())
		c := dial(t, "127.0.0.1", d.addr)
		c.ehlo("client.example")
		c.must("MAIL FROM:<sender@localhost>", "250")
		c.must("RCPT TO:<nobody@remote.example>", "250")
		id := idRE.FindStringSubmatch(c.data("Subject: will bounce\nMessage-ID: <bounce-me@client.example>\n\nbounce me\n"))[1]
		c.must("QUIT", "221")
		d.waitLog(regexp.MustCompile(`msg=\*\* id=` + regexp.QuoteMeta(id) +
			` rcpt=nobody@remote.example router=smarthost transport=remote_smtp .*550 5\.1\.1 no such user here`))
		d.waitLog(regexp.MustCompile(`msg=Completed id=` + regexp.QuoteMeta(id) + `$`))
		// The report is a new message from <> to the sender, which is
		// local: it ends up in mail/sender/Maildir.
		maildir := filepath.Join(d.data, "mail", "sender", "Maildir")
		waitFor(t, "the bounce in "+maildir, func() bool { return len(maildirFiles(maildir)) == 1 })
		b, err := os.ReadFile(maildirFiles(maildir)[0])
		if err != nil {
			t.Fatal(err)
		}
		report := string(b)
		for _, want := range []string{
			"Return-Path: <>\nDelivered-To: sender@localhost\n",
			"\nTo: sender@localhost\n",
			"\nContent-Type: multipart/report; report-type=delivery-status;",
			"\nAction: failed\n",
			"\nFinal-Recipient: rfc822;nobody@remote.example\n",
			"\nStatus: 5.1.1\n",
			"550 5.1.1 no such user here",
			"\nSubject: will bounce\nMessage-ID: <bounce-me@client.example>\n\nbounce me\n",
		} {
			if !strings.Contains(report, want) {
				t.Errorf("bounce lacks %q:\n%s", want, report)
			}
		}
		if !strings.HasPrefix(report, "Return-Path: <>\n") {
			t.Errorf("bounce does not start with Return-Path: <>:\n%s", report)
		}
		if rcpts, _ := remote.received(); len(rcpts) != 1 {
			t.Errorf("the remote saw %d RCPTs (%q), want 1: the bounce must not go there", len(rcpts), rcpts)
		}
	})
}
