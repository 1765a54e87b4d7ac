// Package testredis starts throw-away redis-server processes for tests:
// one per call, on a free loopback port, without persistence (no RDB
// snapshots, no append-only file) and with its working directory in the
// test's temporary directory. The server is stopped when the test ends.
package testredis

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

// Server is a running redis-server.
type Server struct {
	Addr     string // "127.0.0.1:port"
	Port     int
	Password string // the requirepass, "" for none
}

// URL returns a redis:// URL of the server for database db.
func (s *Server) URL(db int) string {
	if s.Password != "" {
		return fmt.Sprintf("redis://:%s@%s/%d", s.Password, s.Addr, db)
	}
	return fmt.Sprintf("redis://%s/%d", s.Addr, db)
}

// Start runs a redis-server for the test (skipping it, or failing it when
// peers are required, if redis-server is not installed). password, when
// not empty, is set as the server's requirepass; extra are more
// redis-server arguments ("--unixsocket", path).
func Start(t testing.TB, password string, extra ...string) *Server {
	t.Helper()
	bin := testpeer.Need(t, "redis-server", "redis-server")
	s, stop, err := Launch(bin, t.TempDir(), password, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// Launch runs the redis-server program bin with its working directory in
// dir, for a TestMain that has no testing.TB; stop ends it.
func Launch(bin, dir, password string, extra ...string) (s *Server, stop func(), err error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		args := []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--daemonize", "no", "--loglevel", "warning", "--databases", "16",
		}
		if password != "" {
			args = append(args, "--requirepass", password)
		}
		args = append(args, extra...)
		cmd := exec.Command(bin, args...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return nil, nil, fmt.Errorf("starting redis-server: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Password: password}
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if err := s.waitReady(exited); err != nil {
			stop()
			lastErr = fmt.Errorf("%w\n%s", err, out.String())
			continue // most likely the port was taken meanwhile
		}
		return s, stop, nil
	}
	return nil, nil, fmt.Errorf("redis-server did not start: %w", lastErr)
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the server with PING (AUTH first when it has a
// password) for up to 10 s.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited", s.Port)
		default:
		}
		err := s.ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d not ready after 10s: %w", s.Port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	if s.Password != "" {
		if _, err := fmt.Fprintf(c, "AUTH %s\r\n", s.Password); err != nil {
			return err
		}
		if l, err := r.ReadString('\n'); err != nil || l != "+OK\r\n" {
			return fmt.Errorf("AUTH: %q, %v", l, err)
		}
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	l, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if l != "+PONG\r\n" {
		return fmt.Errorf("PING: %q", l)
	}
	return nil
}
