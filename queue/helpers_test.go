package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

var t0 = time.Date(2026, 11, 21, 14, 25, 6, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// call is one Deliver call of the fake transport.
type call struct {
	ID    string
	Hosts string
	Rcpts string
}

func (c call) String() string { return c.ID + " " + c.Hosts + " " + c.Rcpts }

// fakeTransport records its calls and reports outcome(r) for each
// recipient (success when outcome is nil or returns the zero Result).
type fakeTransport struct {
	mu      sync.Mutex
	calls   []call
	outcome func(d *transport.Delivery, r *exigo.Recipient) transport.Result
	events  *[]string // optional shared event log
	evmu    *sync.Mutex
}

func (f *fakeTransport) Deliver(ctx context.Context, d *transport.Delivery, st transport.Status) error {
	var hs, rs []string
	for _, h := range d.Hosts {
		hs = append(hs, h.Name)
	}
	for _, r := range d.Recipients {
		rs = append(rs, r.Address)
	}
	c := call{ID: d.Message.ID, Hosts: strings.Join(hs, ","), Rcpts: strings.Join(rs, ",")}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.events != nil {
		f.evmu.Lock()
		*f.events = append(*f.events, "deliver "+c.String())
		f.evmu.Unlock()
	}
	for _, r := range d.Recipients {
		res := transport.Result{Reply: "250 OK"}
		if len(d.Hosts) > 0 {
			h := d.Hosts[0]
			res.Attempt = &transport.Attempt{Host: h, Remote: netip.AddrPortFrom(h.Addr, 25)}
		}
		if f.outcome != nil {
			if o := f.outcome(d, r); o != (transport.Result{}) {
				res = o
			}
		}
		st.Set(r, res)
	}
	return nil
}

func (f *fakeTransport) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.String())
	}
	return out
}

// env is a spool, an engine with a fake clock, a routing table and a
// fake transport named "smtp" (remote) and "local" (no hosts).
type env struct {
	t      *testing.T
	clk    *clock
	sp     *spool.Spool
	db     *hints.Memory
	tr     *fakeTransport
	eng    *Engine
	logs   *syncBuffer
	routes map[string]func(a *router.Address) router.Result
	ids    []string
}

func hostFor(domain string) transport.Host {
	n := byte(len(domain) % 200)
	return transport.Host{Name: "mx." + domain, Addr: netip.AddrFrom4([4]byte{192, 0, 2, n}), Pref: 10}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), spool.WithOriginator("mail", 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	v := &env{t: t, clk: &clock{t: t0}, sp: sp, tr: &fakeTransport{}, logs: &syncBuffer{},
		routes: make(map[string]func(a *router.Address) router.Result)}
	v.db = hints.NewMemory(hints.WithClock(v.clk.Now))
	chain, err := router.NewChain([]router.Entry{{Name: "table", Router: router.RouterFunc(func(_ context.Context, a *router.Address) (router.Result, error) {
		if f := v.routes[a.Recipient.Address]; f != nil {
			return f(a), nil
		}
		if a.Domain == "local.test" {
			return router.Accepted("local"), nil
		}
		return router.Accepted("smtp", hostFor(a.Domain)), nil
	})}})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(v.logs, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}}))
	v.eng = &Engine{
		Spool:      sp,
		Router:     chain,
		Transports: map[string]transport.Transport{"smtp": v.tr, "local": v.tr},
		Hints:      v.db,
		Logger:     logger,
		Hostname:   "mta.test",
		Now:        v.clk.Now,
	}
	t.Cleanup(func() { v.eng.Shutdown(context.Background()) })
	return v
}

// add spools a message received now from sender to rcpts.
func (v *env) add(sender string, rcpts ...string) string {
	v.t.Helper()
	return v.addMsg(sender, func(m *exigo.Message) {
		for _, r := range rcpts {
			m.Envelope.AddRecipient(r)
		}
	})
}

func (v *env) addMsg(sender string, edit func(m *exigo.Message)) string {
	v.t.Helper()
	ctx := context.Background()
	d, err := v.sp.Create(ctx)
	if err != nil {
		v.t.Fatal(err)
	}
	defer d.Abort()
	body := "Hello.\n"
	io.WriteString(d, body)
	m := &exigo.Message{ID: d.ID(), Received: v.clk.Now(), Stats: exigo.BodyStats{Lines: 1, MaxLineLength: 6}}
	m.Envelope.Sender = sender
	var h textproto.Header
	h.AddRaw([]byte("Subject: test\n"))
	h.AddRaw([]byte("Message-Id: <" + d.ID() + "@client.test>\n"))
	h.AddRaw([]byte("From: " + sender + "\n"))
	m.Header = h
	edit(m)
	if err := d.Commit(ctx, m); err != nil {
		v.t.Fatal(err)
	}
	v.ids = append(v.ids, d.ID())
	return d.ID()
}

// logLines returns the log with message IDs replaced by M1, M2... in the
// order they were added (and others by B1, B2...), one entry per line.
func (v *env) logLines(others ...string) []string {
	s := v.logs.String()
	for i, id := range v.ids {
		s = strings.ReplaceAll(s, id, fmt.Sprintf("M%d", i+1))
	}
	for i, id := range others {
		s = strings.ReplaceAll(s, id, fmt.Sprintf("B%d", i+1))
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines
}

func (v *env) retry(key string) (hints.Retry, bool) {
	v.t.Helper()
	r, ok, err := hints.GetRetry(context.Background(), v.db, key)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, p := range []*time.Time{&r.FirstFailed, &r.LastTry, &r.NextTry} {
		*p = p.UTC()
	}
	return r, ok
}

func (v *env) queue() []string {
	v.t.Helper()
	ids, err := v.sp.List(context.Background())
	if err != nil {
		v.t.Fatal(err)
	}
	return ids
}

func (v *env) read(id string) *spool.Entry {
	v.t.Helper()
	e, err := v.sp.Read(id)
	if err != nil {
		v.t.Fatal(err)
	}
	return e
}

// others returns the IDs in the queue that the test did not add.
func (v *env) others() []string {
	var out []string
	for _, id := range v.queue() {
		if !slices.Contains(v.ids, id) {
			out = append(out, id)
		}
	}
	return out
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func lines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got:\n\t%s\nwant:\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// refused is a host-level failure: no reply.
func refused(h transport.Host) transport.Result {
	return transport.Result{Err: fmt.Errorf("%s [%s]:25: connection refused", h.Name, h.Addr), Attempt: &transport.Attempt{Host: h}}
}

// rejected is a reply to RCPT from the first host.
func rejected(d *transport.Delivery, r *exigo.Recipient, code int, enh exigo.EnhancedCode, text string) transport.Result {
	se := &exigo.SMTPError{Code: code, Enhanced: enh, Message: text}
	h := d.Hosts[0]
	return transport.Result{
		Err: fmt.Errorf("%s [%s]:25: after RCPT TO:<%s>: %w", h.Name, h.Addr, r.Address, se),
		Attempt: &transport.Attempt{Host: h, Remote: netip.AddrPortFrom(h.Addr, 25),
			Greeting: "mx ESMTP", EHLO: "mx hello", LastReply: se},
	}
}
