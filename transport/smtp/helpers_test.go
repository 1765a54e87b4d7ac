package smtp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
)

// newMsg builds a stored message: header fields with LF line ends, body
// as stored.
func newMsg(t testing.TB, header, body string) *exigo.Message {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(header + "\n")))
	if err != nil {
		t.Fatal(err)
	}
	m := &exigo.Message{
		ID:     "1xUm1a-0000hS-2z",
		Header: h,
		Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(body)), nil
		}),
	}
	m.Envelope.Sender = "sender@example.org"
	m.Stats.Size = int64(len(header) + 1 + len(body))
	m.Stats.Lines = strings.Count(body, "\n")
	return m
}

const (
	testHeader = "From: a@example.org\nTo: b@example.com\nSubject: test\n"
	testBody   = "line one\n.leading dot\n..two dots\n\nlast line\n"
	// testWire is testHeader and testBody as DATA sends them.
	testWire = "From: a@example.org\r\nTo: b@example.com\r\nSubject: test\r\n\r\n" +
		"line one\r\n..leading dot\r\n...two dots\r\n\r\nlast line\r\n.\r\n"
	// testChunk is the same for BDAT: no dot-stuffing, no terminator.
	testChunk = "From: a@example.org\r\nTo: b@example.com\r\nSubject: test\r\n\r\n" +
		"line one\r\n.leading dot\r\n..two dots\r\n\r\nlast line\r\n"
)

// testSize is the SIZE= the client declares for testHeader/testBody.
var testSize = strconv.Itoa(len(testChunk))

func newDelivery(m *exigo.Message, hosts []transport.Host, rcpts ...string) (*transport.Delivery, []*exigo.Recipient) {
	d := &transport.Delivery{Message: m, Hosts: hosts, ReturnPath: m.Envelope.Sender}
	for _, a := range rcpts {
		r := m.Envelope.AddRecipient(a)
		d.Recipients = append(d.Recipients, r)
	}
	return d, d.Recipients
}

func newTransport(t testing.TB, d Dialer) *Transport {
	tr := &Transport{
		Hostname:       "client.test",
		Dialer:         d,
		ConnectTimeout: 5 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    5 * time.Second,
		FinalTimeout:   5 * time.Second,
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// outcome formats a result for exact comparison; addresses of fake
// servers are replaced by names.
func outcome(res transport.Result, servers ...*fakeServer) string {
	var s string
	switch {
	case res.Err == nil:
		s = "ok " + res.Reply
	case transport.Permanent(res.Err):
		s = "perm " + res.Err.Error()
	default:
		s = "temp " + res.Err.Error()
	}
	for i, srv := range servers {
		s = strings.ReplaceAll(s, fmt.Sprintf("[%s]:%d", srv.addr.Addr(), srv.addr.Port()), fmt.Sprintf("[S%d]", i+1))
		s = strings.ReplaceAll(s, srv.addr.String(), fmt.Sprintf("S%d", i+1))
	}
	return s
}

// deliver runs Deliver and returns the outcomes in recipient order.
func deliver(t *testing.T, tr *Transport, d *transport.Delivery, servers ...*fakeServer) ([]string, transport.StatusMap) {
	t.Helper()
	st := transport.StatusMap{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Deliver(ctx, d, st); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	var out []string
	for _, r := range d.Recipients {
		res, ok := st[r]
		if !ok {
			t.Errorf("no result for %s", r.Address)
			continue
		}
		out = append(out, outcome(res, servers...))
	}
	if len(st) != len(d.Recipients) {
		t.Errorf("%d results for %d recipients", len(st), len(d.Recipients))
	}
	return out, st
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d items, want %d:\n got %q\nwant %q", what, len(got), len(want), got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s[%d]:\n got %q\nwant %q", what, i, got[i], want[i])
		}
	}
}

// readBDAT reads one BDAT command and its chunk.
func (c *fakeConn) readBDAT() (data string, last bool) {
	line := c.readLine()
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "BDAT" {
		c.t.Errorf("fake server: want BDAT, got %q", line)
		c.abort()
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		c.t.Errorf("fake server: bad BDAT %q", line)
		c.abort()
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.br, buf); err != nil {
		c.t.Errorf("fake server: reading chunk: %v", err)
		c.abort()
	}
	return string(buf), len(f) == 3 && f[2] == "LAST"
}
