package smtpd

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/spool"
)

func TestStoreFunc(t *testing.T) {
	t.Parallel()
	want := errors.New("no space")
	var st Store = StoreFunc(func(ctx context.Context) (Draft, error) { return nil, want })
	if _, err := st.Create(context.Background()); err != want {
		t.Fatalf("err %v", err)
	}
}

var idReply = regexp.MustCompile(`^250 2\.0\.0 OK id=([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})\r\n$`)

// TestSpoolStore receives a message into a real Exim-format spool and
// checks the files; when Exim is installed, exim -bp must list it.
func TestSpoolStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.WithIDFormat(spool.IDShort))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newServer(t)
	s.Store = SpoolStore(sp)
	received := make(chan *exigo.Message, 1)
	s.OnReceived = func(ctx context.Context, m *exigo.Message) { received <- m }
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("MAIL FROM:<sender@example.org> RET=HDRS ENVID=abc123", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<rcpt1@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.com", "250 2.1.5 Accepted\r\n")
	c.cmd("RCPT TO:<rcpt2@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.send("From: a@b\r\nTo: c@d\r\nSubject: hi\r\n there\r\n\r\nhello world\r\n..\r\n.\r\n")
	r := c.reply()
	mm := idReply.FindStringSubmatch(r)
	if mm == nil {
		t.Fatalf("reply %q", r)
	}
	id := mm[1]
	select {
	case m := <-received:
		if m.ID != id {
			t.Errorf("OnReceived got %s", m.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnReceived not called")
	}
	c.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")

	d, err := os.ReadFile(filepath.Join(dir, "input", id+"-D"))
	if err != nil {
		t.Fatal(err)
	}
	if want := id + "-D\nhello world\n.\n"; string(d) != want {
		t.Errorf("-D %q, want %q", d, want)
	}
	e, err := sp.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	env := e.Message.Envelope
	if env.Sender != "sender@example.org" || env.EnvID != "abc123" || env.Ret != exigo.RetHdrs || len(env.Recipients) != 2 ||
		env.Recipients[0].ORCPT != "rfc822;orig@example.com" || env.Recipients[0].Notify != exigo.NotifySuccess|exigo.NotifyFailure {
		t.Errorf("envelope %+v %+v", env, env.Recipients[0])
	}
	if got := e.Message.Header.Get("Subject"); got != "hi there" {
		t.Errorf("Subject %q", got)
	}
	if got := e.Message.Header.Get("Received"); !strings.HasPrefix(got, "from [127.0.0.1] (helo=client.example) by mx.test.example with esmtp (exigo) (envelope-from <sender@example.org>) id "+id+";") {
		t.Errorf("Received %q", got)
	}
	rc, err := e.Message.Body.Open()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "hello world\n.\n" {
		t.Errorf("body %q", body)
	}

	exim, err := exec.LookPath("exim")
	if err != nil {
		testpeer.Need(t, "exim", "exim4-daemon-heavy")
	}
	conf := filepath.Join(t.TempDir(), "exim.conf")
	if err := os.WriteFile(conf, []byte("exim_user = root\nexim_group = root\nspool_directory = "+dir+"\nlog_file_path = "+dir+"/%slog\nbegin routers\nbegin transports\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exim, "-C", conf, "-bp").CombinedOutput()
	if err != nil {
		t.Fatalf("exim -bp: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`(?m)^ *0m +\d+ ` + id + ` <sender@example\.org>\n +rcpt1@example\.com\n +rcpt2@example\.com\n`)
	if !want.Match(out) {
		t.Errorf("exim -bp:\n%s", out)
	}
}
