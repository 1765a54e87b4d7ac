package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/srs"
)

// End-to-end test of issue 5's forwarding configuration: -aliases and
// -srs-secret, with a real Exim 4.96 as the host mail is forwarded to.

// srsSecret is the -srs-secret of the tests.
const srsSecret = "e2e-srs-secret"

// invalidSRS is the reply to a RCPT of a bounce to a bad SRS address.
const invalidSRS = "550 5.1.1 Invalid SRS recipient address"

// TestE2ESRSForwardAndBounce: orig@localhost sends to fwd@localhost,
// which -aliases forwards to user@remote.example; the mta sends it to
// its -smarthost, a real Exim 4.96 daemon, with the SRS0 return path
// Exim's own ${srs_encode} computes. Exim accepts the message, fails the
// recipient and sends its bounce to the SRS address, back to the mta,
// which reverses it and delivers the bounce to orig's maildir. Forged and
// tampered SRS addresses are refused at RCPT time with 550 5.1.1 "Invalid SRS
// recipient address", from the relay-from hosts too.
func TestE2ESRSForwardAndBounce(t *testing.T) {
	t.Parallel()
	testpeer.Need(t, "swaks", "swaks")
	testpeer.Need(t, "exim", "exim4-daemon-heavy", "/usr/sbin")

	eximPort := freePort(t)
	eximAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(eximPort))
	aliases := writeTemp(t, "aliases", "# forwarded\nfwd: user@remote.example\n")
	d := startMTA(t, "", "-smarthost", eximAddr, "-aliases", aliases, "-srs-secret", srsSecret)
	_, mtaPort, _ := net.SplitHostPort(d.addr)

	// The remote host: it takes any recipient, has no mailbox for
	// user@remote.example, and sends mail for localhost (its bounces) to
	// the mta's port.
	ex := startEximDaemon(t, eximPort, `local_interfaces = <; 127.0.0.1
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
tls_advertise_hosts =
acl_smtp_rcpt = accept

begin routers
nouser:
  driver = redirect
  domains = remote.example
  allow_fail
  data = :fail: no mailbox here
to_mta:
  driver = manualroute
  domains = localhost
  route_list = * 127.0.0.1
  self = send
  transport = to_mta

begin transports
to_mta:
  driver = smtp
  port = `+mtaPort+`
  allow_localhost
  hosts_avoid_tls = *
  hosts_try_chunking = :
  user = nobody
`)

	// The return path Exim itself makes of orig@localhost forwarded
	// through localhost (the alias's domain).
	encode := func() string {
		out, err := ex.Run("", "-be", "${srs_encode {"+srsSecret+"}{orig@localhost}{localhost}}")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	before := encode()
	if !regexp.MustCompile(`^SRS0=[0-9a-f]{4}=[a-z2-7]{2}=localhost=orig@localhost$`).MatchString(before) {
		t.Fatalf("exim's srs_encode gave %q", before)
	}

	msgID := fmt.Sprintf("srs-e2e-%d@client.example", time.Now().UnixNano())
	msg := "From: Orig <orig@localhost>\n" +
		"To: <fwd@localhost>\n" +
		"Subject: forward me\n" +
		"Message-ID: <" + msgID + ">\n" +
		"\n" +
		"Please forward this.\n"
	id := swaks(t, d.addr, "--from", "orig@localhost", "--to", "fwd@localhost", "--data", writeTemp(t, "msg.eml", msg))
	after := encode()

	// The forward went out through remote_smtp_srs and Exim took it.
	m := d.waitLog(regexp.MustCompile(`msg="=>" id=` + regexp.QuoteMeta(id) +
		` rcpt=user@remote\.example parent=fwd@localhost router=smarthost transport=remote_smtp_srs host=\S+ reply="250 .*OK id=(\S+)"$`))
	eximID := m[1]

	// The bounce comes back and is delivered to the original sender.
	maildir := filepath.Join(d.data, "mail", "orig", "Maildir")
	deadline := time.Now().Add(30 * time.Second)
	for len(maildirFiles(maildir)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no bounce in %s after 30s; exim mainlog:\n%s", maildir, readFile(t, filepath.Join(ex.Spool, "log", "mainlog")))
		}
		time.Sleep(50 * time.Millisecond)
	}
	files := maildirFiles(maildir)
	if len(files) != 1 {
		t.Fatalf("%s/new holds %d files, want 1", maildir, len(files))
	}

	// Exim's log: the forward arrived with the SRS return path (the one
	// Exim computes itself), the recipient failed, and the bounce went
	// to that SRS address through to_mta: the message the mta received.
	mainlogPath := filepath.Join(ex.Spool, "log", "mainlog")
	arrival := func(rp string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ` + regexp.QuoteMeta(eximID) +
			` <= ` + regexp.QuoteMeta(rp) + ` H=\(` + regexp.QuoteMeta(e2eHostname) + `\) \[127\.0\.0\.1\] P=esmtp K S=\d+ id=` +
			regexp.QuoteMeta(msgID) + `$`)
	}
	rp := before
	if mainlog := readFile(t, mainlogPath); !arrival(before).MatchString(mainlog) {
		rp = after // the day changed while sending
		if !arrival(after).MatchString(mainlog) {
			t.Fatalf("exim mainlog has no arrival of %s from %s:\n%s", eximID, before, mainlog)
		}
	}
	bm := d.waitLog(regexp.MustCompile(`msg="<=" id=(\S+) from=<> size=\d+ for="` + regexp.QuoteMeta(rp) +
		`" host=127\.0\.0\.1:\d+ helo=test\.example proto=esmtp$`))
	bounceID := bm[1]
	waitMainlog(t, mainlogPath, regexp.MustCompile(`(?m) => `+regexp.QuoteMeta(strings.ToLower(rp))+` <`+regexp.QuoteMeta(rp)+
		`> R=to_mta T=to_mta H=127\.0\.0\.1 \[127\.0\.0\.1\] C="250 2\.0\.0 OK id=`+regexp.QuoteMeta(bounceID)+`"$`))
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m) ` + regexp.QuoteMeta(eximID) + ` \*\* user@remote\.example R=nouser: no mailbox here$`),
		regexp.MustCompile(`(?m) \S+ <= <> R=` + regexp.QuoteMeta(eximID) + ` U=\S+ P=local S=\d+$`),
	} {
		waitMainlog(t, mainlogPath, re)
	}

	// The mta redirected the bounce (inbound_srs) to orig@localhost.
	d.waitLog(regexp.MustCompile(`msg="=>" id=` + regexp.QuoteMeta(bounceID) + ` rcpt=orig@localhost parent="` + regexp.QuoteMeta(rp) +
		`" router=localuser transport=local_delivery reply="saved as new/` + regexp.QuoteMeta(filepath.Base(files[0])) + `"$`))

	got := readFile(t, files[0])
	for _, want := range []string{
		"Delivered-To: orig@localhost\n",
		"\nTo: " + rp + "\n",
		"\nX-Failed-Recipients: user@remote.example\n",
		"\n  user@remote.example\n    no mailbox here\n",
		"\nMessage-ID: <" + msgID + ">\n",
		"\nSubject: forward me\n",
		"\nPlease forward this.\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the bounce lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasPrefix(got, "Return-Path: <>\n") {
		t.Errorf("the bounce does not start with Return-Path: <>:\n%s", got)
	}

	// Forged bounces are refused at RCPT, from a relay-from host too.
	forged := strings.Replace(rp, "SRS0="+rp[5:9], "SRS0="+flipHex(rp[5:9]), 1)
	c := dial(t, "127.0.0.1", d.addr)
	c.ehlo("client.example")
	c.must("MAIL FROM:<>", "250")
	for _, rcpt := range []string{
		forged, // bad hash
		"SRS0=0000=aa=example.com=victim@localhost", // bad hash, old timestamp
		"srs0=zzzz=zz=example.com=victim@localhost", // malformed
		"srs0" + forged[4:],                         // the tag in lower case
	} {
		if got := c.cmd("RCPT TO:<" + rcpt + ">"); got != invalidSRS {
			t.Errorf("RCPT TO:<%s> from <>: %q, want %q", rcpt, got, invalidSRS)
		}
	}
	// The real one is accepted, as is a non-SRS local
	// part.
	c.must("RCPT TO:<"+rp+">", "250")
	c.must("RCPT TO:<srs0"+rp[4:]+">", "250") // inbound_srs matches caselessly
	c.must("RCPT TO:<orig@localhost>", "250")
	c.must("RSET", "250")
	// With a sender, SRS local parts are not checked (Exim's sample).
	c.must("MAIL FROM:<someone@example.com>", "250")
	c.must("RCPT TO:<"+forged+">", "250")
	c.must("QUIT", "221")
}

// TestE2ESRSReturnPaths: the return paths of forwarded mail, seen by a
// fake smarthost: one transaction per forwarded recipient with the SRS
// address of the sender (through the alias's domain, or -srs-domain),
// relayed mail untouched; with -srs-scheme full, a bounce to the SRS
// address goes back out to the remote original sender from <>.
func TestE2ESRSReturnPaths(t *testing.T) {
	t.Parallel()
	aliases := writeTemp(t, "aliases", "fwd: a@remote.example, b@remote.example\nlist: fwd\n")
	send := func(t *testing.T, d *daemon, rcpts ...string) {
		t.Helper()
		c := dial(t, "127.0.0.1", d.addr)
		c.ehlo("client.example")
		c.must("MAIL FROM:<sender@example.com>", "250")
		for _, r := range rcpts {
			c.must("RCPT TO:<"+r+">", "250")
		}
		id := idRE.FindStringSubmatch(c.data("Subject: forward\n\nforward me\n"))[1]
		c.must("QUIT", "221")
		d.waitLog(regexp.MustCompile(`msg=Completed id=` + regexp.QuoteMeta(id) + `$`))
	}
	// check compares "MAIL -> RCPTs" of what f received, sorted, with want.
	check := func(t *testing.T, f *fakeSMTP, want ...string) {
		t.Helper()
		_, msgs := f.received()
		var got []string
		for _, m := range msgs {
			got = append(got, strings.Fields(m.From)[0]+" -> "+strings.Join(m.Rcpts, ","))
		}
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("the smarthost received:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	native := srs.Native{Secret: srsSecret}

	t.Run("native", func(t *testing.T) {
		t.Parallel()
		f := newFakeSMTP(t, "")
		d := startMTA(t, "", "-smarthost", f.addr(), "-aliases", aliases, "-srs-secret", srsSecret)
		send(t, d, "list@localhost", "direct@remote.example")
		rp, err := native.Encode("sender@example.com", "localhost", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		check(t, f,
			"FROM:<"+rp+"> -> TO:<a@remote.example>",
			"FROM:<"+rp+"> -> TO:<b@remote.example>",
			"FROM:<sender@example.com> -> TO:<direct@remote.example>")
	})

	t.Run("srs-domain", func(t *testing.T) {
		t.Parallel()
		f := newFakeSMTP(t, "")
		d := startMTA(t, "", "-smarthost", f.addr(), "-aliases", aliases, "-srs-secret", srsSecret,
			"-local-domains", "localhost,fwd.example", "-srs-domain", "fwd.example")
		send(t, d, "fwd@localhost")
		rp, err := native.Encode("sender@example.com", "fwd.example", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		check(t, f,
			"FROM:<"+rp+"> -> TO:<a@remote.example>",
			"FROM:<"+rp+"> -> TO:<b@remote.example>")
	})

	t.Run("full", func(t *testing.T) {
		t.Parallel()
		f := newFakeSMTP(t, "")
		d := startMTA(t, "", "-smarthost", f.addr(), "-aliases", aliases, "-srs-secret", srsSecret, "-srs-scheme", "full")
		send(t, d, "fwd@localhost")
		full := &srs.SRS{Secrets: []string{srsSecret}}
		rp, err := full.Forward(context.Background(), "sender@example.com", "localhost", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=example\.com=sender@localhost$`).MatchString(rp) {
			t.Fatalf("full SRS address %q", rp)
		}
		check(t, f,
			"FROM:<"+rp+"> -> TO:<a@remote.example>",
			"FROM:<"+rp+"> -> TO:<b@remote.example>")
		// A bounce to it goes back to the original, remote sender, from
		// <>; a native SRS address is not a valid full one.
		nat, err := native.Encode("sender@example.com", "localhost", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, "127.0.0.1", d.addr)
		c.ehlo("client.example")
		c.must("MAIL FROM:<>", "250")
		if got := c.cmd("RCPT TO:<" + nat + ">"); got != invalidSRS {
			t.Errorf("RCPT TO:<%s>: %q, want %q", nat, got, invalidSRS)
		}
		// Base64 hashes hold '/' and '+', which the check for
		// restricted characters in local parts refuses elsewhere.
		var slash string
		for i := 0; slash == ""; i++ {
			a, err := full.Forward(context.Background(), fmt.Sprintf("s%d@example.com", i), "localhost", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(a[5:9], "/") {
				slash = a
			}
		}
		c.must("RCPT TO:<"+slash+">", "250")
		c.must("RSET", "250")
		c.must("MAIL FROM:<>", "250")
		c.must("RCPT TO:<"+rp+">", "250")
		id := idRE.FindStringSubmatch(c.data("Subject: bounce\n\nreturned\n"))[1]
		c.must("QUIT", "221")
		d.waitLog(regexp.MustCompile(`msg="=>" id=` + regexp.QuoteMeta(id) + ` rcpt=sender@example\.com parent="` +
			regexp.QuoteMeta(rp) + `" router=smarthost transport=remote_smtp_srs `))
		check(t, f,
			"FROM:<> -> TO:<sender@example.com>",
			"FROM:<"+rp+"> -> TO:<a@remote.example>",
			"FROM:<"+rp+"> -> TO:<b@remote.example>")
	})
}

// flipHex changes every hex digit of h.
func flipHex(h string) string {
	b := []byte(h)
	for i, c := range b {
		if c == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
	}
	return string(b)
}

// waitMainlog waits (up to 15 s) for a line matching re in Exim's log.
func waitMainlog(t *testing.T, path string, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		log := readFile(t, path)
		if re.MatchString(log) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("exim mainlog has no line matching %s after 15s:\n%s", re, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startEximDaemon writes conf into a new Exim installation and runs it as
// a daemon listening on 127.0.0.1:port. Its transports run as nobody
// (Exim never runs one as root), so the spool is made writable for
// nobody. The daemon is killed when the test ends.
func startEximDaemon(t *testing.T, port int, conf string) *testpeer.Exim {
	t.Helper()
	e := testpeer.NewExim(t, conf)
	for _, dir := range []string{filepath.Dir(e.Dir), e.Dir} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{e.Spool, filepath.Join(e.Spool, "db")} {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(e.Bin, "-C", e.Conf, "-bdf", "-oX", strconv.Itoa(port))
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC"}
	// A file, not a pipe: Exim's delivery processes inherit it, and
	// cmd.Wait would wait for the last of them to close a pipe.
	out, err := os.Create(filepath.Join(t.TempDir(), "exim.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("exim -bdf: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("exim daemon output: %s", b)
			for _, l := range []string{"mainlog", "paniclog", "rejectlog"} {
				if b, err := os.ReadFile(filepath.Join(e.Spool, "log", l)); err == nil {
					t.Logf("exim %s:\n%s", l, b)
				}
			}
		}
	})
	waitPort(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited, "exim -bdf")
	return e
}

// TestSRSFlags: -h documents the forwarding flags, and the flags are
// checked at startup.
func TestSRSFlags(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("mta -h: exit %d", code)
	}
	for _, want := range []string{
		"\n  -aliases file\n    \tlsearch file of \"local-part: address, ...\" lines redirecting local parts of the local domains\n",
		"\n  -srs-domain domain\n    \tdomain of the SRS return paths, one of the local domains (default: the domain of the forwarded address)\n",
		"\n  -srs-scheme flavour\n    \tSRS flavour: native (Exim's built-in SRS, HMAC-MD5, nests SRS0) or full (libsrs2/postsrsd, HMAC-SHA1, SRS1) (default \"native\")\n",
		"\n  -srs-secret secret\n    \tturn SRS on with this secret: forwarded mail leaves with an SRS0 return path; bounces (sender <>)\n",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("mta -h lacks %q:\n%s", want, stderr.String())
		}
	}

	aliases := writeTemp(t, "aliases", "a: b@example.net\n")
	for _, tc := range []struct {
		args []string
		err  string // "" for success
	}{
		{[]string{"-aliases", aliases, "-srs-secret", "s"}, ""},
		{[]string{"-srs-secret", "s", "-srs-scheme", "full", "-srs-domain", "localhost"}, ""},
		{[]string{"-srs-domain", "localhost"}, "-srs-domain needs -srs-secret"},
		{[]string{"-srs-secret", "s", "-srs-domain", "elsewhere.example"}, `-srs-domain "elsewhere.example" is not one of the local domains: bounces to it would not come back`},
		{[]string{"-srs-secret", "s", "-srs-scheme", "srs2"}, `-srs-scheme "srs2": want native or full`},
		{[]string{"-aliases", filepath.Join(t.TempDir(), "missing")}, "aliases: "},
	} {
		cfg, err := parseFlags(tc.args, &stderr)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		logger := slog.New(slog.DiscardHandler)
		_, err = srsRCPTRules(cfg, logger)
		if err == nil {
			_, err = newForwarding(cfg, mustLocal(t, cfg), logger)
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
		}
	}
}

func mustLocal(t *testing.T, cfg config) *acl.DomainList {
	t.Helper()
	l, err := acl.NewDomainList(nil, items(cfg.localDomains)...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
