package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

	"github.com/exigo-mta/exigo/spool"
)

// TestCrashSafety submits 500 messages from concurrent clients to a real
// mta process while killing it with SIGKILL at random moments and
// restarting it on the same data directory. Every message that got a 250
// must then be in the spool, intact; every message in the spool must be
// whole and one that a client really sent; no half-written file may count
// as a message.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process; skipped in -short mode")
	}
	bin := buildMTA(t)
	data := t.TempDir()

	const (
		total   = 500
		workers = 12
	)
	srv := &mtaProcess{t: t, bin: bin, data: data}
	srv.start()
	defer srv.kill()

	type sent struct {
		id   string
		body string
	}
	var (
		mu        sync.Mutex
		acked     []sent
		attempts  = map[string]string{} // token -> body
		next      atomic.Int64
		cutInData atomic.Int64
		done      atomic.Bool
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(90 * time.Second)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for {
				n := next.Add(1)
				if n > total || time.Now().After(deadline) {
					return
				}
				token := fmt.Sprintf("msg-%04d", n)
				body := makeBody(rng, token)
				mu.Lock()
				attempts[token] = body
				mu.Unlock()
				// Retry until acknowledged: a kill may interrupt any step,
				// and a message stored before its 250 was lost may then be
				// in the spool twice, which is allowed.
				for try := 0; try < 100 && time.Now().Before(deadline); try++ {
					id, err := submit(srv.address(), token, body)
					if errors.Is(err, errCutInData) {
						cutInData.Add(1)
					}
					if err == nil {
						mu.Lock()
						acked = append(acked, sent{id, body})
						mu.Unlock()
						break
					}
					time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
				}
			}
		}(w)
	}
	kills := 0
	go func() {
		rng := rand.New(rand.NewPCG(7, 7))
		for !done.Load() && kills < 25 {
			time.Sleep(time.Duration(10+rng.IntN(90)) * time.Millisecond)
			if done.Load() {
				return
			}
			srv.kill()
			kills++
			srv.start()
		}
	}()
	wg.Wait()
	done.Store(true)
	srv.kill()

	if len(acked) < total*9/10 {
		t.Fatalf("only %d of %d submissions got a 250: the test did not exercise the server", len(acked), total)
	}
	t.Logf("%d of %d submissions acknowledged across %d kills; %d transactions were cut after DATA", len(acked), total, kills, cutInData.Load())
	if kills < 5 {
		t.Fatalf("only %d kills: the test did not exercise crashes", kills)
	}

	sp, err := spool.Open(filepath.Join(data, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acked {
		e, err := sp.Read(a.id)
		if err != nil {
			t.Errorf("acknowledged message %s: %v", a.id, err)
			continue
		}
		if got := readBody(t, e); got != a.body {
			t.Errorf("message %s: body differs (%d bytes stored, %d sent)", a.id, len(got), len(a.body))
		}
	}
	ids, err := sp.List(context.Background())
	if err != nil {
		t.Fatalf("listing the spool after the crashes: %v", err)
	}
	tokenRE := regexp.MustCompile(`^msg-[0-9]{4}`)
	for _, id := range ids {
		e, err := sp.Read(id)
		if err != nil {
			t.Errorf("spool lists %s but it cannot be read: %v", id, err)
			continue
		}
		subj := e.Message.Header.Get("Subject")
		want, ok := attempts[tokenRE.FindString(subj)]
		if !ok {
			t.Errorf("message %s has subject %q, which no client sent", id, subj)
			continue
		}
		if got := readBody(t, e); got != want {
			t.Errorf("message %s (%s) is not whole: %d of %d body bytes", id, subj, len(got), len(want))
		}
	}
	if len(ids) < len(acked) {
		t.Errorf("spool holds %d messages, fewer than the %d acknowledged", len(ids), len(acked))
	}
}

func readBody(t *testing.T, e *spool.Entry) string {
	t.Helper()
	rc, err := e.Message.Body.Open()
	if err != nil {
		t.Fatalf("open body of %s: %v", e.Message.ID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read body of %s: %v", e.Message.ID, err)
	}
	return string(b)
}

// makeBody returns a body of 2 to 40 KiB of LF-terminated lines (as the
// spool stores it) that starts with the token.
func makeBody(rng *rand.Rand, token string) string {
	var b strings.Builder
	b.WriteString(token + "\n")
	size := 2048 + rng.IntN(38*1024)
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789 "
	for b.Len() < size {
		n := 10 + rng.IntN(70)
		for i := 0; i < n; i++ {
			b.WriteByte(letters[rng.IntN(len(letters))])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// errCutInData is returned by submit when the connection broke after the
// message data was sent but before its reply arrived.
var errCutInData = errors.New("connection cut after the data")

// submit sends one message and returns the ID from the 250 reply.
func submit(addr, token, body string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("server not up")
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	expect := func(code string) (string, error) {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			if !strings.HasPrefix(line, code) {
				return "", fmt.Errorf("unexpected reply %q", line)
			}
			last = line
			if len(line) < 4 || line[3] != '-' {
				return last, nil
			}
		}
	}
	if _, err := expect("220"); err != nil {
		return "", err
	}
	var data bytes.Buffer
	data.WriteString("Subject: " + token + "\r\nFrom: <crash@example.com>\r\nTo: <user@localhost>\r\n\r\n")
	data.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	data.WriteString(".\r\n")
	steps := []struct{ send, code string }{
		{"EHLO crash.example\r\n", "250"},
		{"MAIL FROM:<crash@example.com>\r\n", "250"},
		{"RCPT TO:<user@localhost>\r\n", "250"},
		{"DATA\r\n", "354"},
		{data.String(), "250"},
	}
	var last string
	for i, s := range steps {
		if _, err := io.WriteString(c, s.send); err != nil {
			return "", err
		}
		if last, err = expect(s.code); err != nil {
			if i == len(steps)-1 {
				return "", fmt.Errorf("%w: %v", errCutInData, err)
			}
			return "", err
		}
	}
	io.WriteString(c, "QUIT\r\n")
	m := regexp.MustCompile(`id=(\S+)`).FindStringSubmatch(last)
	if m == nil {
		return "", fmt.Errorf("no id in %q", last)
	}
	return m[1], nil
}

func buildMTA(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mta")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// mtaProcess runs the mta binary as a child process.
type mtaProcess struct {
	t    *testing.T
	bin  string
	data string

	mu   sync.Mutex
	cmd  *exec.Cmd
	addr atomic.Value // string
}

func (p *mtaProcess) address() string {
	s, _ := p.addr.Load().(string)
	return s
}

var listeningRE = regexp.MustCompile(`listening"? addr=(\S+)`)

func (p *mtaProcess) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, "-listen", "127.0.0.1:0", "-data", p.data, "-hostname", "crash.test", "-queue-only", "-queue-interval", "0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case a, ok := <-found:
		if !ok {
			p.t.Fatalf("mta exited before listening")
		}
		p.addr.Store(a)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		p.t.Fatalf("mta did not start listening within 20s")
	}
	p.cmd = cmd
}

func (p *mtaProcess) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.addr.Store("")
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	p.cmd = nil
	_ = os.Stderr
}
