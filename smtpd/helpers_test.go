package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
)

// memStore is a Store that keeps messages in memory and records exactly
// what the server wrote, so tests can assert the -D bytes.
type memStore struct {
	mu         sync.Mutex
	seq        int
	committed  []*memMsg
	aborted    []string
	failCreate error
	failCommit error
	failWrite  error
}

// memMsg is a committed message.
type memMsg struct {
	ID     string
	Body   string // the -D content
	Header string // raw header fields as stored
	Msg    *exigo.Message
}

type memDraft struct {
	st   *memStore
	id   string
	buf  bytes.Buffer
	done bool
}

func (s *memStore) Create(ctx context.Context) (Draft, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCreate != nil {
		return nil, s.failCreate
	}
	s.seq++
	return &memDraft{st: s, id: fmt.Sprintf("1xUm1a-%06d-2z", s.seq)}, nil
}

func (d *memDraft) ID() string { return d.id }

func (d *memDraft) Write(p []byte) (int, error) {
	if d.done {
		return 0, errors.New("memDraft: write after commit/abort")
	}
	d.st.mu.Lock()
	err := d.st.failWrite
	d.st.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return d.buf.Write(p)
}

func (d *memDraft) Body() exigo.Opener {
	return exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(d.buf.Bytes())), nil
	})
}

func (d *memDraft) Commit(ctx context.Context, m *exigo.Message) error {
	if d.done {
		return errors.New("memDraft: commit twice")
	}
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if d.st.failCommit != nil {
		return d.st.failCommit
	}
	d.done = true
	d.st.committed = append(d.st.committed, &memMsg{ID: d.id, Body: d.buf.String(), Header: rawHeader(m.Header), Msg: m})
	return nil
}

func (d *memDraft) Abort() error {
	if d.done {
		return errors.New("memDraft: abort after commit")
	}
	d.done = true
	d.st.mu.Lock()
	d.st.aborted = append(d.st.aborted, d.id)
	d.st.mu.Unlock()
	return nil
}

func (s *memStore) messages() []*memMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*memMsg(nil), s.committed...)
}

func (s *memStore) abortedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.aborted...)
}

// rawHeader joins the raw bytes of the header fields, in order.
func rawHeader(h textproto.Header) string {
	var b strings.Builder
	for f := h.Fields(); f.Next(); {
		raw, err := f.Raw()
		if err != nil {
			panic(err)
		}
		b.Write(raw)
	}
	return b.String()
}

var testTime = time.Date(2026, 11, 21, 14, 25, 6, 0, time.UTC)

const testGreeting = "220 mx.test.example ESMTP exigo Sat, 21 Nov 2026 14:25:06 +0000\r\n"

// testLogger logs to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newServer returns a server with a memStore and a fixed clock.
func newServer(t testing.TB) (*Server, *memStore) {
	st := &memStore{}
	s := &Server{
		Hostname: "mx.test.example",
		Store:    st,
		Logger:   testLogger(t),
		now:      func() time.Time { return testTime },
	}
	return s, st
}

// start serves s on a loopback port and returns the address. The server
// is shut down at the end of the test.
func start(t testing.TB, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// client is a raw SMTP client for tests.
type client struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// reply reads one complete (possibly multi-line) reply, line ends kept.
func (c *client) reply() string {
	c.t.Helper()
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			c.t.Fatalf("reading reply: %v (got %q)", err, b.String())
		}
		if len(line) < 4 || line[3] != '-' {
			return b.String()
		}
	}
}

// expect reads a reply and checks it byte for byte.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.reply(); got != want {
		c.t.Fatalf("reply:\n got %q\nwant %q", got, want)
	}
}

// cmd sends a command line and checks the reply.
func (c *client) cmd(line, want string) {
	c.t.Helper()
	c.send(line + "\r\n")
	c.expect(want)
}

// expectClosed checks that the server closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := c.r.ReadByte()
	if err == nil {
		rest, _ := c.r.ReadString('\n')
		c.t.Fatalf("connection still open; got %q", string(b)+rest)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("connection still open (read timed out)")
	}
}

// ehloReply is the EHLO reply of a test server without TLS and AUTH.
const ehloReply = "250-mx.test.example Hello client.example [127.0.0.1]\r\n" +
	"250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-CHUNKING\r\n" +
	"250-DSN\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n"

// hello connects and says EHLO.
func hello(t testing.TB, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO client.example", ehloReply)
	return c
}

// waitFor polls cond until it is true or 5 s have passed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newTestReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
