package smtpd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestNoGoroutineLeak runs sessions that end in every way (QUIT, a
// dropped client, a data timeout, a cancelled context, shutdown) and
// checks that no goroutine outlives them. It is not parallel, so the
// count is its own.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s, st := newServer(t)
	s.DataTimeout = 100 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	addr := l.Addr().String()

	c := hello(t, addr)
	c.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")

	c = hello(t, addr)
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.send("Subject: x\r\n")
	c.c.Close()

	c = hello(t, addr)
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
	c.expect("421 4.4.2 mx.test.example SMTP incoming data timeout - closing connection\r\n")

	srvEnd, cliEnd := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.ServeConn(ctx, srvEnd) }()
	buf := make([]byte, 100)
	cliEnd.Read(buf)
	cancel()
	<-done
	cliEnd.Close()

	idle := hello(t, addr)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	idle.expect("421 4.3.2 mx.test.example Service shutting down\r\n")
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if err := s.ListenAndServe("127.0.0.1:0"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe after Shutdown: %v", err)
	}
	if got := len(st.abortedIDs()); got != 2 {
		t.Errorf("%d drafts aborted, want 2", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	// Find a free port, then serve on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	served := make(chan error, 1)
	go func() { served <- s.ListenAndServe(addr) }()
	var c net.Conn
	waitFor(t, "listener", func() bool {
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	c.Close()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	var s Server
	if s.maxMessageSize() != 50<<20 || s.maxRecipients() != 50000 || s.maxNonmail() != 10 || s.maxErrors() != 3 ||
		s.readTimeout() != 5*time.Minute || s.dataTimeout() != 5*time.Minute || s.maxHeaderSize() != 1<<20 ||
		s.dataLineLimit() != 0 || s.commandLineLimit() != 12288 || s.hostname() == "" {
		t.Errorf("zero-value defaults wrong")
	}
	s = Server{MaxMessageSize: -1, MaxRecipients: -1, MaxCommandsBeforeMail: -1, MaxErrors: -1, MaxLineLength: 100}
	if s.maxMessageSize() != 0 || s.maxRecipients() != 0 || s.maxNonmail() != 0 || s.maxErrors() != 0 ||
		s.dataLineLimit() != 998 || s.commandLineLimit() != 998 {
		t.Errorf("negative limits not disabled")
	}
	if RejectBare.String() != "reject" || NormalizeBare.String() != "normalize" {
		t.Error("BareLineEndings.String")
	}
}

func TestAddrPort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a    net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 25}, "192.0.2.1:25"},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 53}, "[2001:db8::1]:53"},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, "invalid AddrPort"},
		{nil, "invalid AddrPort"},
	} {
		if got := addrPort(tc.a); got.String() != tc.want {
			t.Errorf("%v: %v", tc.a, got)
		}
	}
	var zero netip.AddrPort
	if addrPort(pipeAddr{}) != zero {
		t.Error("pipe address")
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
