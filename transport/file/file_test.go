package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
	"golang.org/x/sys/unix"
)

// TestMain doubles as a helper process that holds an fcntl lock.
func TestMain(m *testing.M) {
	if path := os.Getenv("EXIGO_FCNTL_HELPER"); path != "" {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			os.Exit(2)
		}
		lk := unix.Flock_t{Type: unix.F_WRLCK}
		if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
			os.Exit(3)
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin) // hold the lock until stdin closes
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var when = time.Date(2026, 11, 21, 14, 25, 6, 0, time.UTC)

func newDelivery(t testing.TB, sender, body string, rcpts ...string) *transport.Delivery {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader("From: a@example.org\nSubject: hi\n\n")))
	if err != nil {
		t.Fatal(err)
	}
	m := &exigo.Message{Header: h, Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(body)), nil
	})}
	d := &transport.Delivery{Message: m, ReturnPath: sender}
	for _, a := range rcpts {
		d.Recipients = append(d.Recipients, m.Envelope.AddRecipient(a))
	}
	return d
}

func newTransport(path string) *Transport {
	return &Transport{
		Path: func(*exigo.Recipient) (string, error) { return path, nil },
		Now:  func() time.Time { return when },
	}
}

func outcome(res transport.Result) string {
	switch {
	case res.Err == nil:
		return "ok " + res.Reply
	case transport.Permanent(res.Err):
		return "perm " + res.Err.Error()
	}
	return "temp " + res.Err.Error()
}

func TestAppend(t *testing.T) {
	t.Parallel()
	mbox := filepath.Join(t.TempDir(), "alice")
	tr := newTransport(mbox)
	tr.DotLock = true
	st := transport.StatusMap{}
	d := newDelivery(t, "sender@example.org", "From the start\n>From quoted\nFrom\nnot From x\nlast", "alice@example.com")
	tr.Deliver(context.Background(), d, st)
	d2 := newDelivery(t, "", "bounce\n", "alice@example.com")
	tr.Deliver(context.Background(), d2, st)
	for _, r := range append(d.Recipients, d2.Recipients...) {
		if got := outcome(st[r]); got != "ok appended to "+mbox {
			t.Errorf("outcome %q", got)
		}
	}
	got, _ := os.ReadFile(mbox)
	want := "From sender@example.org Sat Nov 21 14:25:06 2026\n" +
		"Return-Path: <sender@example.org>\nDelivered-To: alice@example.com\nFrom: a@example.org\nSubject: hi\n\n" +
		">From the start\n>From quoted\nFrom\nnot From x\nlast\n\n" +
		"From MAILER-DAEMON Sat Nov 21 14:25:06 2026\n" +
		"Return-Path: <>\nDelivered-To: alice@example.com\nFrom: a@example.org\nSubject: hi\n\nbounce\n\n"
	if string(got) != want {
		t.Errorf("mbox:\n%q\nwant\n%q", got, want)
	}
	if _, err := os.Stat(mbox + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left: %v", err)
	}
	if fi, _ := os.Stat(mbox); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

func TestFromLine(t *testing.T) {
	t.Parallel()
	if got := FromLine("a@b", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)); got != "From a@b Fri Jan  2 03:04:05 2026" {
		t.Errorf("%q", got)
	}
}

// TestTruncateOnFailure: a body that fails halfway leaves the mailbox as
// it was.
func TestTruncateOnFailure(t *testing.T) {
	t.Parallel()
	mbox := filepath.Join(t.TempDir(), "mbox")
	before := "From x Sat Nov 21 14:25:06 2026\n\nold\n\n"
	os.WriteFile(mbox, []byte(before), 0o600)
	tr := newTransport(mbox)
	d := newDelivery(t, "s@example.org", "", "a@example.com")
	d.Message.Body = exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader(strings.Repeat("line\n", 20000)), errReader{})), nil
	})
	st := transport.StatusMap{}
	tr.Deliver(context.Background(), d, st)
	if got := outcome(st[d.Recipients[0]]); got != "temp file: "+mbox+": disk on fire" {
		t.Errorf("outcome %q", got)
	}
	if got, _ := os.ReadFile(mbox); string(got) != before {
		t.Errorf("mailbox has %d bytes, want %d", len(got), len(before))
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestLocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	// A fresh lock file blocks until the timeout.
	mbox := filepath.Join(dir, "locked")
	os.WriteFile(mbox+".lock", nil, 0o600)
	tr := newTransport(mbox)
	tr.DotLock, tr.LockTimeout = true, 200*time.Millisecond
	d := newDelivery(t, "s@example.org", "x\n", "a@example.com")
	st := transport.StatusMap{}
	start := time.Now()
	tr.Deliver(context.Background(), d, st)
	if err := st[d.Recipients[0]].Err; !errors.Is(err, ErrLockTimeout) || transport.Permanent(err) || time.Since(start) > 2*time.Second {
		t.Errorf("fresh lock file: %v after %v", err, time.Since(start))
	}

	// A stale one is taken over.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(mbox+".lock", old, old)
	tr.StaleLock = time.Minute
	st = transport.StatusMap{}
	tr.Deliver(context.Background(), d, st)
	if err := st[d.Recipients[0]].Err; err != nil {
		t.Errorf("stale lock file: %v", err)
	}

	// An fcntl lock held by another process blocks; released, the
	// delivery goes through.
	mbox2 := filepath.Join(dir, "fcntl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXIGO_FCNTL_HELPER="+mbox2)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		stdin.Close()
		t.Fatalf("helper said %q", line)
	}
	tr2 := newTransport(mbox2)
	tr2.LockTimeout = 200 * time.Millisecond
	st = transport.StatusMap{}
	tr2.Deliver(context.Background(), d, st)
	if err := st[d.Recipients[0]].Err; !errors.Is(err, ErrLockTimeout) {
		t.Errorf("fcntl lock held: %v", err)
	}
	tr2.LockTimeout = 5 * time.Second
	done := make(chan struct{})
	go func() {
		defer close(done)
		st := transport.StatusMap{}
		tr2.Deliver(context.Background(), d, st)
		if err := st[d.Recipients[0]].Err; err != nil {
			t.Errorf("after release: %v", err)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	stdin.Close()
	<-done
	if b, _ := os.ReadFile(mbox2); !strings.HasPrefix(string(b), "From s@example.org ") {
		t.Errorf("mailbox %q", b)
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, nil, 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	tr := &Transport{Path: func(r *exigo.Recipient) (string, error) {
		switch r.Address {
		case "link@example.com":
			return link, nil
		case "dir@example.com":
			return dir, nil
		}
		return "", fmt.Errorf("no mailbox: %w", transport.ErrPermanent)
	}}
	d := newDelivery(t, "s@example.org", "x\n", "link@example.com", "dir@example.com", "none@example.com", "a\r\nb@example.com")
	st := transport.StatusMap{}
	tr.Deliver(context.Background(), d, st)
	want := []string{
		"temp file: " + link + ": mailbox is not a regular file (L---------)",
		"temp file: " + dir + ": mailbox is not a regular file (d---------)",
		"perm file: none@example.com: no mailbox: permanent failure",
		`perm file: "a\r\nb@example.com": address with control characters: permanent failure`,
	}
	for i, r := range d.Recipients {
		if got := outcome(st[r]); got != want[i] {
			t.Errorf("%d: %q, want %q", i, got, want[i])
		}
	}
	if b, _ := os.ReadFile(target); len(b) != 0 {
		t.Error("wrote through the symlink")
	}
}

// TestConcurrent: goroutines of one process appending to one mailbox do
// not interleave.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	mbox := filepath.Join(t.TempDir(), "mbox")
	tr := newTransport(mbox)
	body := strings.Repeat("0123456789abcdef\n", 4000) // larger than the write buffer
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			st := transport.StatusMap{}
			tr.Deliver(context.Background(), newDelivery(t, "s@example.org", body, "a@example.com"), st)
			for _, res := range st {
				if res.Err != nil {
					t.Error(res.Err)
				}
			}
		})
	}
	wg.Wait()
	one := "From s@example.org Sat Nov 21 14:25:06 2026\nReturn-Path: <s@example.org>\nDelivered-To: a@example.com\nFrom: a@example.org\nSubject: hi\n\n" + body + "\n"
	if got, _ := os.ReadFile(mbox); string(got) != strings.Repeat(one, 10) {
		t.Errorf("mailbox of %d bytes is not 10 whole messages", len(got))
	}
}
