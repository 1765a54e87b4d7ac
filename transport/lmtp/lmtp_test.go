package lmtp

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
)

// fakeLMTP serves one connection with script on a unix socket (or TCP).
func fakeLMTP(t *testing.T, network string, script func(c *conn)) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "lmtp.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		script(&conn{t: t, nc: nc, br: bufio.NewReader(nc)})
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

type conn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (c *conn) send(s string) { io.WriteString(c.nc, s) }

func (c *conn) expect(want string) bool {
	got := make([]byte, len(want))
	n, err := io.ReadFull(c.br, got)
	if err != nil || string(got) != want {
		c.t.Errorf("server got %q (%v), want %q", got[:n], err, want)
		return false
	}
	return true
}

func (c *conn) readData() string {
	var b strings.Builder
	for {
		l, err := c.br.ReadString('\n')
		b.WriteString(l)
		if err != nil || l == ".\r\n" {
			return b.String()
		}
	}
}

func newDelivery(t testing.TB, rcpts ...string) *transport.Delivery {
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader("Subject: hi\n\n")))
	if err != nil {
		t.Fatal(err)
	}
	m := &exigo.Message{Header: h, Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("hello\n.dot\n")), nil
	})}
	d := &transport.Delivery{Message: m, ReturnPath: "sender@example.org"}
	for _, a := range rcpts {
		d.Recipients = append(d.Recipients, m.Envelope.AddRecipient(a))
	}
	return d
}

func outcomes(t *testing.T, tr *Transport, d *transport.Delivery) ([]string, transport.StatusMap) {
	t.Helper()
	st := transport.StatusMap{}
	if err := tr.Deliver(context.Background(), d, st); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range d.Recipients {
		res := st[r]
		switch {
		case res.Err == nil:
			out = append(out, "ok "+res.Reply)
		case transport.Permanent(res.Err):
			out = append(out, "perm "+strings.ReplaceAll(res.Err.Error(), tr.Address, "ADDR"))
		default:
			out = append(out, "temp "+strings.ReplaceAll(res.Err.Error(), tr.Address, "ADDR"))
		}
	}
	return out, st
}

func check(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outcomes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const wire = "Subject: hi\r\n\r\nhello\r\n..dot\r\n.\r\n"

func hello(c *conn) bool {
	c.send("220 store.example LMTP ready\r\n")
	if !c.expect("LHLO client.test\r\n") {
		return false
	}
	c.send("250-store.example\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
	return true
}

// TestPerRecipient: one reply per accepted recipient after the data.
func TestPerRecipient(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"unix", "tcp"} {
		addr := fakeLMTP(t, network, func(c *conn) {
			if !hello(c) || !c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n") {
				return
			}
			c.send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
			if got := c.readData(); got != wire {
				t.Errorf("data %q", got)
			}
			c.send("250 2.0.0 <a@example.com> saved\r\n452 4.2.2 c: mailbox full\r\n552 5.2.2 d: over quota for good\r\n")
			c.expect("QUIT\r\n")
			c.send("221 bye\r\n")
		})
		tr := &Transport{Network: network, Address: addr, Hostname: "client.test"}
		got, st := outcomes(t, tr, newDelivery(t, "a@example.com", "b@example.com", "c@example.com", "d@example.com"))
		check(t, got, []string{
			"ok 250 2.0.0 <a@example.com> saved",
			"perm LMTP ADDR: after RCPT TO:<b@example.com>: 550 5.1.1 no such user",
			"temp LMTP ADDR: after end of data: 452 4.2.2 c: mailbox full",
			"perm LMTP ADDR: after end of data: 552 5.2.2 d: over quota for good",
		})
		for _, res := range st {
			if a := res.Attempt; a == nil || a.Greeting != "store.example LMTP ready" || a.EHLO != "store.example" || (network == "tcp") != a.Remote.IsValid() {
				t.Errorf("%s: attempt %+v", network, a)
			}
		}
	}
}

// TestDropAfterData: the connection ends after the first reply.
func TestDropAfterData(t *testing.T) {
	t.Parallel()
	addr := fakeLMTP(t, "unix", func(c *conn) {
		if !hello(c) || !c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n") {
			return
		}
		c.send("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 2.0.0 a saved\r\n")
	})
	tr := &Transport{Address: addr, Hostname: "client.test"}
	got, _ := outcomes(t, tr, newDelivery(t, "a@example.com", "b@example.com"))
	check(t, got, []string{
		"ok 250 2.0.0 a saved",
		"temp LMTP ADDR: after end of data: EOF",
	})
}

// TestSetupFailures are temporary whatever the code.
func TestSetupFailures(t *testing.T) {
	t.Parallel()
	addr := fakeLMTP(t, "unix", func(c *conn) {
		c.send("554 5.3.0 store broken\r\n")
		c.expect("QUIT\r\n")
	})
	tr := &Transport{Address: addr, Hostname: "client.test"}
	got, _ := outcomes(t, tr, newDelivery(t, "a@example.com"))
	check(t, got, []string{"temp LMTP ADDR: after initial connection: 554 5.3.0 store broken"})

	tr = &Transport{Address: filepath.Join(t.TempDir(), "nothing.sock"), Hostname: "client.test"}
	got, _ = outcomes(t, tr, newDelivery(t, "a@example.com"))
	if len(got) != 1 || !strings.HasPrefix(got[0], "temp LMTP ADDR: after connect: dial unix ADDR: connect: no such file or directory") {
		t.Errorf("outcome %q", got)
	}
}

// TestMAILRefused fails every recipient with the reply.
func TestMAILRefused(t *testing.T) {
	t.Parallel()
	addr := fakeLMTP(t, "unix", func(c *conn) {
		if !hello(c) || !c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n") {
			return
		}
		c.send("550 5.7.1 not from you\r\n503 no MAIL\r\n503 no recipients\r\n")
		c.expect("QUIT\r\n")
		c.send("221 bye\r\n")
	})
	tr := &Transport{Address: addr, Hostname: "client.test"}
	got, _ := outcomes(t, tr, newDelivery(t, "a@example.com"))
	check(t, got, []string{"perm LMTP ADDR: after MAIL FROM:<sender@example.org>: 550 5.7.1 not from you"})
}
