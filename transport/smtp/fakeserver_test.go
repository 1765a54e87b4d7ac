package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/transport"
)

// fakeServer is a scripted SMTP server on 127.0.0.1: connection i runs
// scripts[i]. A script reads exactly the bytes it expects, so a test
// fails when the client sends anything else, and it answers only after
// reading, so a client that waited for replies between pipelined
// commands would time out.
type fakeServer struct {
	t       *testing.T
	ln      net.Listener
	addr    netip.AddrPort
	scripts []func(*fakeConn)
	wg      sync.WaitGroup
	mu      sync.Mutex
	n       int
}

func newFakeServer(t *testing.T, scripts ...func(*fakeConn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, scripts: scripts, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		i := s.n
		s.n++
		s.mu.Unlock()
		if i >= len(s.scripts) {
			s.t.Errorf("fake server: unexpected connection %d", i+1)
			nc.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c := &fakeConn{t: s.t, nc: nc, br: bufio.NewReader(nc)}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			s.scripts[i](c)
		}()
	}
}

// conns returns the number of connections accepted.
func (s *fakeServer) conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *fakeServer) close() {
	s.ln.Close()
	s.wg.Wait()
}

// host returns the server as a transport.Host.
func (s *fakeServer) host(name string) transport.Host {
	return transport.Host{Name: name, Addr: s.addr.Addr(), Port: int(s.addr.Port()), Pref: -1}
}

type fakeConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// abort ends the script after a failed expectation.
func (c *fakeConn) abort() {
	c.nc.Close()
	runtime.Goexit()
}

func (c *fakeConn) send(s string) {
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Errorf("fake server: write: %v", err)
		c.abort()
	}
}

// expect reads exactly len(want) bytes and compares them.
func (c *fakeConn) expect(want string) {
	got := make([]byte, len(want))
	n, err := io.ReadFull(c.br, got)
	if err != nil || string(got) != want {
		c.t.Errorf("fake server: got %q (%v), want %q", got[:n], err, want)
		c.abort()
	}
}

// readData reads DATA content up to and including CRLF.CRLF.
func (c *fakeConn) readData() string {
	var b bytes.Buffer
	for {
		line, err := c.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			c.t.Errorf("fake server: reading data: %v (after %q)", err, b.String())
			c.abort()
		}
		if line == ".\r\n" && (b.Len() == 3 || bytes.HasSuffix(b.Bytes()[:b.Len()-3], []byte("\r\n"))) {
			return b.String()
		}
	}
}

// readLine reads one command line.
func (c *fakeConn) readLine() string {
	line, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Errorf("fake server: reading line: %v", err)
		c.abort()
	}
	return line
}

// expectEOF waits for the client to close (after QUIT or not).
func (c *fakeConn) expectEOF() {
	b, err := io.ReadAll(c.br)
	if err != nil || len(b) > 0 {
		c.t.Errorf("fake server: before EOF got %q, %v", b, err)
	}
}

// waitClose waits for the connection to end, however it ends.
func (c *fakeConn) waitClose() { io.Copy(io.Discard, c.nc) }

// expectQuit expects QUIT, answers and waits for the close.
func (c *fakeConn) expectQuit() {
	c.expect("QUIT\r\n")
	c.send("221 bye\r\n")
	c.expectEOF()
}

// hello sends the greeting, expects EHLO and offers exts.
func (c *fakeConn) hello(exts ...string) {
	c.send("220 fake.example ESMTP ready\r\n")
	c.expect("EHLO client.test\r\n")
	c.send(ehloReply(exts...))
}

func ehloReply(exts ...string) string {
	var b strings.Builder
	lines := append([]string{"fake.example hello client.test"}, exts...)
	for i, l := range lines {
		b.WriteString("250")
		if i == len(lines)-1 {
			b.WriteByte(' ')
		} else {
			b.WriteByte('-')
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.String()
}

// startTLS upgrades the connection with the test certificate.
func (c *fakeConn) startTLS(cert tls.Certificate) {
	tc := tls.Server(c.nc, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		c.t.Errorf("fake server: TLS handshake: %v", err)
		c.abort()
	}
	c.nc = tc
	c.br = bufio.NewReader(tc)
}

// recDialer records every Write the client makes, to check that
// pipelined commands go out in one write.
type recDialer struct {
	mu     sync.Mutex
	writes []string
	dials  int
}

func (d *recDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.dials++
	d.mu.Unlock()
	return &recConn{Conn: nc, d: d}, nil
}

func (d *recDialer) Writes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.writes...)
}

type recConn struct {
	net.Conn
	d *recDialer
}

func (c *recConn) Write(p []byte) (int, error) {
	c.d.mu.Lock()
	c.d.writes = append(c.d.writes, string(p))
	c.d.mu.Unlock()
	return c.Conn.Write(p)
}
