package maildir

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
)

func newDelivery(t testing.TB, body string, rcpts ...string) *transport.Delivery {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader("Subject: hi\r\nFrom: a@example.org\n\n")))
	if err != nil {
		t.Fatal(err)
	}
	m := &exigo.Message{Header: h, Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(body)), nil
	})}
	d := &transport.Delivery{Message: m, ReturnPath: "sender@example.org"}
	for _, a := range rcpts {
		d.Recipients = append(d.Recipients, m.Envelope.AddRecipient(a))
	}
	return d
}

var nameRE = regexp.MustCompile(`^new/[0-9]+\.M[0-9]+P[0-9]+Q[0-9]+\.host\\057name\\072x$`)

func TestDeliver(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	tr := &Transport{Hostname: "host/name:x", Path: func(r *exigo.Recipient) (string, error) {
		local, _ := exigo.SplitAddress(r.Address)
		return filepath.Join(root, "mail", local, "Maildir"), nil
	}}
	d := newDelivery(t, "body line\r\nFrom here\n.dot\nno end", "alice@example.com", "bob@example.com")
	st := transport.StatusMap{}
	if err := tr.Deliver(context.Background(), d, st); err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Recipients {
		res := st[r]
		if res.Err != nil || !nameRE.MatchString(strings.TrimPrefix(res.Reply, "saved as ")) {
			t.Fatalf("%s: %q %v", r.Address, res.Reply, res.Err)
		}
		local, _ := exigo.SplitAddress(r.Address)
		dir := filepath.Join(root, "mail", local, "Maildir")
		got, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(res.Reply, "saved as ")))
		if err != nil {
			t.Fatal(err)
		}
		want := "Return-Path: <sender@example.org>\nDelivered-To: " + r.Address + "\nSubject: hi\nFrom: a@example.org\n\nbody line\nFrom here\n.dot\nno end\n"
		if string(got) != want {
			t.Errorf("%s: file %q, want %q", r.Address, got, want)
		}
		for sub, n := range map[string]int{"tmp": 0, "new": 1, "cur": 0} {
			ents, err := os.ReadDir(filepath.Join(dir, sub))
			if err != nil || len(ents) != n {
				t.Errorf("%s/%s: %d entries (%v)", local, sub, len(ents), err)
			}
		}
		fi, _ := os.Stat(filepath.Join(dir, strings.TrimPrefix(res.Reply, "saved as ")))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode())
		}
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	blocker := filepath.Join(root, "file")
	os.WriteFile(blocker, nil, 0o600)
	tr := &Transport{Hostname: "h", Path: func(r *exigo.Recipient) (string, error) {
		switch r.Address {
		case "unknown@example.com":
			return "", fmt.Errorf("no such user: %w", transport.ErrPermanent)
		case "later@example.com":
			return "", errors.New("directory service down")
		case "blocked@example.com":
			return filepath.Join(blocker, "Maildir"), nil
		}
		return filepath.Join(root, "ok"), nil
	}}
	d := newDelivery(t, "x\n", "unknown@example.com", "later@example.com", "blocked@example.com", "evil@example.com\nX-Injected: 1", "ok@example.com")
	st := transport.StatusMap{}
	tr.Deliver(context.Background(), d, st)
	want := []string{
		"perm maildir: unknown@example.com: no such user: permanent failure",
		"temp maildir: later@example.com: directory service down",
		"temp maildir: mkdir " + blocker + ": not a directory",
		`perm maildir: "evil@example.com\nX-Injected: 1": address with control characters: permanent failure`,
		"ok",
	}
	for i, r := range d.Recipients {
		res := st[r]
		got := "ok"
		if res.Err != nil {
			got = "temp " + res.Err.Error()
			if transport.Permanent(res.Err) {
				got = "perm " + res.Err.Error()
			}
		}
		if got != want[i] {
			t.Errorf("%d: got %q, want %q", i, got, want[i])
		}
	}

	// A body that cannot be read leaves nothing behind.
	d = newDelivery(t, "", "ok@example.com")
	d.Message.Body = exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("partial"), errReader{})), nil
	})
	st = transport.StatusMap{}
	tr.Deliver(context.Background(), d, st)
	if err := st[d.Recipients[0]].Err; err == nil || !strings.Contains(err.Error(), "disk on fire") || transport.Permanent(err) {
		t.Errorf("read failure: %v", err)
	}
	for _, sub := range []string{"tmp", "new"} {
		ents, _ := os.ReadDir(filepath.Join(root, "ok", sub))
		if want := map[string]int{"tmp": 0, "new": 1}[sub]; len(ents) != want {
			t.Errorf("%s: %d entries, want %d", sub, len(ents), want)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestConcurrent: parallel deliveries into one maildir get distinct files.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "Maildir")
	tr := &Transport{Path: func(*exigo.Recipient) (string, error) { return dir, nil }}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			d := newDelivery(t, "x\n", "a@example.com", "b@example.com")
			st := transport.StatusMap{}
			tr.Deliver(context.Background(), d, st)
			for _, res := range st {
				if res.Err != nil {
					t.Error(res.Err)
				}
			}
		})
	}
	wg.Wait()
	ents, _ := os.ReadDir(filepath.Join(dir, "new"))
	if len(ents) != 40 {
		t.Errorf("%d files, want 40", len(ents))
	}
}
