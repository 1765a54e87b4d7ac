package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/testcert"
	"github.com/exigo-mta/exigo/smtpd"
	"github.com/exigo-mta/exigo/transport"
)

// memStore keeps what exigo's own server received.
type memStore struct {
	mu   sync.Mutex
	n    int
	msgs []*memMsg
}

type memMsg struct {
	m    *exigo.Message
	body []byte
}

type memDraft struct {
	st  *memStore
	id  string
	buf bytes.Buffer
}

func (s *memStore) Create(context.Context) (smtpd.Draft, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return &memDraft{st: s, id: fmt.Sprintf("1xUm1a-0000hS-%02d", s.n)}, nil
}

func (d *memDraft) ID() string                  { return d.id }
func (d *memDraft) Write(p []byte) (int, error) { return d.buf.Write(p) }
func (d *memDraft) Abort() error                { return nil }
func (d *memDraft) Body() exigo.Opener {
	return exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(d.buf.Bytes())), nil
	})
}
func (d *memDraft) Commit(_ context.Context, m *exigo.Message) error {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	d.st.msgs = append(d.st.msgs, &memMsg{m: m, body: bytes.Clone(d.buf.Bytes())})
	return nil
}

// TestSMTPD delivers to exigo's own server, with DATA and with BDAT, over
// STARTTLS, and checks that the envelope's DSN, 8BITMIME and SMTPUTF8
// data and the body arrive unchanged.
func TestSMTPD(t *testing.T) {
	t.Parallel()
	cert, _ := testcert.Must(t, "mx.test", "127.0.0.1")
	store := &memStore{}
	srv := &smtpd.Server{Hostname: "mx.test", Store: store, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	host := transport.Host{Name: "mx.test", Addr: ap.Addr(), Port: int(ap.Port())}

	body := "Hello.\n.dot line\n..two\nFrom me\n\nbye\n"
	for i, chunking := range []bool{false, true} {
		tr := newTransport(t, nil)
		tr.NoChunking = !chunking
		m := newMsg(t, testHeader, body)
		m.Envelope.Body = exigo.Body8BitMIME
		m.Envelope.SMTPUTF8 = true
		m.Envelope.EnvID = "env+id=1"
		m.Envelope.Ret = exigo.RetFull
		d, rs := newDelivery(m, []transport.Host{host}, "r1@example.com", "rené@example.com")
		rs[0].Notify = exigo.NotifySuccess | exigo.NotifyDelay
		rs[0].ORCPT = "rfc822;orig+1@example.com"
		rs[1].ORCPT = "utf-8;rené=x@example.com"
		st := transport.StatusMap{}
		if err := tr.Deliver(t.Context(), d, st); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if res := st[r]; res.Err != nil || res.Attempt == nil || res.Attempt.TLS == nil {
				t.Fatalf("chunking=%v: %s: %v %+v", chunking, r.Address, res.Err, res.Attempt)
			}
		}
		tr.Close()
		store.mu.Lock()
		if len(store.msgs) != i+1 {
			store.mu.Unlock()
			t.Fatalf("%d messages stored", len(store.msgs))
		}
		got := store.msgs[i]
		store.mu.Unlock()
		if string(got.body) != body {
			t.Errorf("chunking=%v: body %q, want %q", chunking, got.body, body)
		}
		e := got.m.Envelope
		if e.Sender != "sender@example.org" || e.Body != exigo.Body8BitMIME || !e.SMTPUTF8 || e.EnvID != "env+id=1" || e.Ret != exigo.RetFull {
			t.Errorf("chunking=%v: envelope %+v", chunking, e)
		}
		if len(e.Recipients) != 2 {
			t.Fatalf("recipients %v", e.Recipients)
		}
		r0, r1 := e.Recipients[0], e.Recipients[1]
		if r0.Address != "r1@example.com" || r0.Notify != exigo.NotifySuccess|exigo.NotifyDelay || r0.ORCPT != "rfc822;orig+1@example.com" {
			t.Errorf("recipient 1: %+v", r0)
		}
		if r1.Address != "rené@example.com" || r1.ORCPT != "utf-8;rené=x@example.com" {
			t.Errorf("recipient 2: %+v", r1)
		}
		if s := got.m.Session; s == nil || s.TLS == nil || s.HELO != "client.test" {
			t.Errorf("session %+v", s)
		}
	}
}
