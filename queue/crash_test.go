package queue

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

// The crash test runs this test binary as the queue runner (see
// TestMain), kills it with SIGKILL at random moments, and restarts it.
const (
	crashEnvSpool  = "EXIGO_QUEUE_CRASH_SPOOL"
	crashEnvRecord = "EXIGO_QUEUE_CRASH_RECORD"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashEnvSpool) != "" {
		os.Exit(crashChild(os.Getenv(crashEnvSpool), os.Getenv(crashEnvRecord)))
	}
	os.Exit(m.Run())
}

// recorder is the crash test's transport: it "delivers" a recipient by
// appending "D id rcpt" to the record file (synced), reports the success
// to the engine — which returns once the journal holds it — and then
// appends "C id rcpt" (synced). A kill between D and C may leave the
// delivery unjournaled, and only then may the recipient be delivered
// again.
type recorder struct {
	mu sync.Mutex
	f  *os.File
}

func (r *recorder) write(line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.WriteString(line); err != nil {
		return err
	}
	return r.f.Sync()
}

func (r *recorder) Deliver(ctx context.Context, d *transport.Delivery, st transport.Status) error {
	for _, rc := range d.Recipients {
		if err := r.write("D " + d.Message.ID + " " + rc.Address + "\n"); err != nil {
			return err
		}
		st.Set(rc, transport.Result{Reply: "250 OK"})
		if err := r.write("C " + d.Message.ID + " " + rc.Address + "\n"); err != nil {
			return err
		}
	}
	return nil
}

func crashChild(dir, record string) int {
	sp, err := spool.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f, err := os.OpenFile(record, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	e := &Engine{
		Spool: sp,
		Router: RouterFunc(func(_ context.Context, _ *exigo.Message, r *exigo.Recipient) []router.Routed {
			return []router.Routed{{Recipient: r, Router: "all", Result: router.Accepted("rec", hostFor(domainOf(r.Address)))}}
		}),
		Transports:  map[string]transport.Transport{"rec": &recorder{f: f}},
		Parallelism: 4,
	}
	for {
		if _, err := e.RunQueue(context.Background(), RunOptions{TwoPhase: rand.IntN(2) == 0}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		ids, err := sp.List(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if len(ids) == 0 {
			return 0
		}
	}
}

// TestCrashRestart kills the queue runner with SIGKILL at random points
// and restarts it until the queue is empty: every recipient must then be
// delivered, and none twice unless the kill landed between its delivery
// and the journal write (the inherent window, see the package doc).
func TestCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes; skipped in -short mode")
	}
	t.Parallel()
	dir := t.TempDir()
	record := filepath.Join(t.TempDir(), "record")
	sp, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const messages, perMessage = 200, 5
	want := make(map[string]bool)
	for i := range messages {
		d, err := sp.Create(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(d, "Hello.\n")
		m := &exigo.Message{ID: d.ID(), Received: time.Now()}
		m.Envelope.Sender = "s@example.org"
		for j := range perMessage {
			a := fmt.Sprintf("r%d-%d@d%d.example", i, j, (i+j)%3)
			m.Envelope.AddRecipient(a)
			want[d.ID()+" "+a] = true
		}
		var h textproto.Header
		h.AddRaw([]byte("Subject: crash test\n"))
		m.Header = h
		if err := d.Commit(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	deadline := time.Now().Add(15 * time.Second)
	kills, finished := 0, false
	for !finished {
		if time.Now().After(deadline) {
			t.Fatalf("queue not delivered after %d kills", kills)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnvSpool+"="+dir, crashEnvRecord+"="+record)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var timer <-chan time.Time
		if kills < 30 {
			timer = time.After(time.Duration(5+rng.IntN(40)) * time.Millisecond)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("runner failed: %v\n%s", err, stderr.String())
			}
			finished = true
		case <-timer:
			cmd.Process.Signal(syscall.SIGKILL)
			if err := <-exited; err == nil {
				finished = true // it was done already
			} else {
				kills++
			}
		}
	}
	if ids, _ := sp.List(context.Background()); len(ids) != 0 {
		t.Fatalf("queue still holds %d messages", len(ids))
	}

	f, err := os.Open(record)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, pair, ok := strings.Cut(sc.Text(), " ")
		if !ok || (kind != "D" && kind != "C") || !want[pair] {
			t.Fatalf("bad record line %q", sc.Text())
		}
		events[pair] += kind
	}
	valid := regexp.MustCompile(`^D+C?$`)
	twice := 0
	for pair := range want {
		ev := events[pair]
		if ev == "" {
			t.Errorf("%s never delivered", pair)
			continue
		}
		if !valid.MatchString(ev) {
			t.Errorf("%s: events %s: delivered again after its delivery was journaled", pair, ev)
		}
		if n := strings.Count(ev, "D"); n > 1 {
			twice += n - 1
		}
	}
	t.Logf("%d kills; %d recipients of %d messages; %d redeliveries, all within the journal window", kills, len(want), messages, twice)
	if kills == 0 {
		t.Error("the runner was never killed: the test exercised nothing")
	}
	if twice > kills*4 {
		t.Errorf("%d redeliveries for %d kills of a runner with 4 deliveries at once", twice, kills)
	}
}
