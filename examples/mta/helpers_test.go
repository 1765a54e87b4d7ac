package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Helpers of the end-to-end tests: the mta binary run as a child process,
// a line-level SMTP client, and a scriptable fake SMTP server.

// e2eHostname is the -hostname of every mta the tests start.
const e2eHostname = "mta.test"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	binMTA    string
	binExigo  string
)

// TestMain removes the binaries built for the end-to-end tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binaries builds examples/mta and cmd/exigo once for all tests.
func binaries(t *testing.T) (mta, exigoCmd string) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "exigo-e2e-bin-")
		if buildErr != nil {
			return
		}
		binMTA = filepath.Join(buildDir, "mta")
		binExigo = filepath.Join(buildDir, "exigo")
		for _, b := range [][2]string{{binMTA, "."}, {binExigo, "github.com/exigo-mta/exigo/cmd/exigo"}} {
			args := []string{"build", "-o", b[0]}
			if raceEnabled && b[1] == "." {
				args = append(args, "-race")
			}
			out, err := exec.Command("go", append(args, b[1])...).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binMTA, binExigo
}

// daemon is an mta process listening on a loopback port.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	data string
	addr string // host:port it listens on

	mu    sync.Mutex
	lines []string // its log, line by line
	done  chan struct{}
}

// startMTA runs the mta binary with -listen listen (127.0.0.1:0 when
// empty), its own -data directory, -hostname mta.test and args, and waits
// for its "listening addr=" log line. The process is stopped when the test
// ends.
func startMTA(t *testing.T, listen string, args ...string) *daemon {
	t.Helper()
	bin, _ := binaries(t)
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	d := &daemon{t: t, data: t.TempDir(), done: make(chan struct{})}
	all := append([]string{"-listen", listen, "-data", d.data, "-hostname", e2eHostname}, args...)
	d.cmd = exec.Command(bin, all...)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop()
		for _, l := range d.log() {
			if strings.Contains(l, "WARNING: DATA RACE") {
				t.Errorf("the mta reported a data race")
				break
			}
		}
		if t.Failed() {
			t.Logf("mta %s log:\n%s", strings.Join(all, " "), strings.Join(d.log(), "\n"))
		}
	})
	found := make(chan string, 1)
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.lines = append(d.lines, line)
			d.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case d.addr = <-found:
	case <-d.done:
		t.Fatalf("mta exited before listening:\n%s", strings.Join(d.log(), "\n"))
	case <-time.After(20 * time.Second):
		t.Fatalf("mta did not listen within 20s:\n%s", strings.Join(d.log(), "\n"))
	}
	return d
}

func (d *daemon) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.lines...)
}

// stop ends the process gracefully (SIGTERM, then SIGKILL after 10 s) and
// waits for it. It is safe to call more than once.
func (d *daemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.t.Errorf("mta did not stop within 10s of SIGTERM")
		d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd.Wait()
}

// waitLog waits (up to 15 s) for a log line matching re and returns its
// submatches.
func (d *daemon) waitLog(re *regexp.Regexp) []string {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, l := range d.log() {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no log line matching %s within 15s", re)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond every 20 ms for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 15s waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a line-level SMTP client for the tests.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dial connects to addr from the local address from ("" for any) and
// reads the greeting, which must be a 220.
func dial(t *testing.T, from, addr string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, from, err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	if g := c.reply(); !strings.HasPrefix(g[0], "220 ") {
		t.Fatalf("greeting %q", g)
	}
	return c
}

// reply reads one (possibly multi-line) reply and returns its lines
// without line ends.
func (c *client) reply() []string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return lines
		}
	}
}

// cmd sends line and returns the last line of the reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
	r := c.reply()
	return r[len(r)-1]
}

// ehlo sends EHLO and returns the extension keywords offered.
func (c *client) ehlo(name string) []string {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, "EHLO "+name+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	lines := c.reply()
	var ext []string
	for _, l := range lines[1:] {
		ext = append(ext, strings.Fields(l[4:])[0])
	}
	if !strings.HasPrefix(lines[0], "250") {
		c.t.Fatalf("EHLO: %q", lines)
	}
	return ext
}

// must sends line and fails unless the reply's last line starts with
// want.
func (c *client) must(line, want string) string {
	c.t.Helper()
	r := c.cmd(line)
	if !strings.HasPrefix(r, want) {
		c.t.Fatalf("%s: got %q, want %q...", line, r, want)
	}
	return r
}

// data sends DATA, the message (LF line ends become CRLF; dot-stuffing is
// the caller's) and the final dot, and returns the final reply.
func (c *client) data(msg string) string {
	c.t.Helper()
	c.must("DATA", "354")
	if _, err := io.WriteString(c.conn, strings.ReplaceAll(msg, "\n", "\r\n")+".\r\n"); err != nil {
		c.t.Fatal(err)
	}
	r := c.reply()
	return r[len(r)-1]
}

// startTLS upgrades the connection (the server's certificate is
// self-signed and not verified).
func (c *client) startTLS() {
	c.t.Helper()
	c.must("STARTTLS", "220")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: e2eHostname})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

var idRE = regexp.MustCompile(`id=(\S+)`)

// fakeSMTP is a scriptable SMTP server on a loopback port: it answers
// RCPT with RcptReply (default "250 2.1.5 OK") and records every
// transaction that reaches the end of its data.
type fakeSMTP struct {
	ln        net.Listener
	rcptReply string
	conns     atomic.Int64 // connections accepted

	mu    sync.Mutex
	rcpts []string // every RCPT argument, in order
	msgs  []fakeMsg
}

type fakeMsg struct {
	From  string   // MAIL argument
	Rcpts []string // accepted RCPT arguments
	Data  string   // the data as received, CRLF line ends, dot-stuffing undone
}

func newFakeSMTP(t *testing.T, rcptReply string) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if rcptReply == "" {
		rcptReply = "250 2.1.5 OK"
	}
	f := &fakeSMTP{ln: ln, rcptReply: rcptReply}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.serve(c)
			}()
		}
	}()
	return f
}

func (f *fakeSMTP) addr() string { return f.ln.Addr().String() }

// rcptCount returns the number of RCPT commands seen.
func (f *fakeSMTP) rcptCount() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.rcpts))
}

func (f *fakeSMTP) received() ([]string, []fakeMsg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.rcpts...), append([]fakeMsg(nil), f.msgs...)
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) bool {
		_, err := io.WriteString(c, s+"\r\n")
		return err == nil
	}
	if !say("220 fake.test ESMTP") {
		return
	}
	var cur fakeMsg
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		arg := strings.TrimSpace(line[len(verb):])
		var ok bool
		switch verb {
		case "EHLO":
			ok = say("250-fake.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES")
		case "HELO":
			ok = say("250 fake.test")
		case "MAIL":
			cur = fakeMsg{From: arg}
			ok = say("250 2.1.0 OK")
		case "RCPT":
			f.mu.Lock()
			f.rcpts = append(f.rcpts, arg)
			f.mu.Unlock()
			if strings.HasPrefix(f.rcptReply, "2") {
				cur.Rcpts = append(cur.Rcpts, arg)
			}
			ok = say(f.rcptReply)
		case "DATA":
			if len(cur.Rcpts) == 0 {
				ok = say("554 5.5.1 no valid recipients")
				break
			}
			if !say("354 go ahead") {
				return
			}
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.Data = b.String()
			f.mu.Lock()
			f.msgs = append(f.msgs, cur)
			f.mu.Unlock()
			cur = fakeMsg{}
			ok = say("250 2.0.0 queued as FAKE")
		case "RSET":
			cur = fakeMsg{}
			ok = say("250 2.0.0 OK")
		case "NOOP":
			ok = say("250 2.0.0 OK")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			ok = say("500 5.5.1 unrecognized command")
		}
		if !ok {
			return
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago, for
// peers that take a port number rather than a listener.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitPort waits (up to 15 s) until something accepts connections on
// addr, failing early when exited is closed.
func waitPort(t *testing.T, addr string, exited <-chan struct{}, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before listening on %s", what, addr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after 15s: %v", what, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maildirFiles lists the files in dir/new, sorted.
func maildirFiles(dir string) []string {
	ents, _ := os.ReadDir(filepath.Join(dir, "new"))
	var out []string
	for _, e := range ents {
		out = append(out, filepath.Join(dir, "new", e.Name()))
	}
	return out
}
