package acl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	"github.com/exigo-mta/exigo"
)

// logRecorder is a slog.Handler that keeps "LEVEL msg k=v ..." lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String())
	b.WriteByte(' ')
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// newTx returns a transaction at stage st from 192.0.2.1 with sender
// sender@example.org (from the mail stage on) and, at rcpt, recipient
// User@Example.COM.
func newTx(st Stage) (*Tx, *logRecorder) {
	rec := &logRecorder{}
	tx := &Tx{
		Stage: st,
		Session: &exigo.Session{
			RemoteAddr: netip.MustParseAddrPort("192.0.2.1:4567"),
			LocalAddr:  netip.MustParseAddrPort("198.51.100.1:25"),
			HELO:       "client.example",
			ESMTP:      true,
		},
		Logger: slog.New(rec),
	}
	if st != StageConnect && st != StageHelo && st != StageNotQuit {
		tx.Message = &exigo.Message{Session: tx.Session}
		tx.Message.Envelope.Sender = "sender@example.org"
	}
	if st == StageRcpt {
		tx.Recipient = &exigo.Recipient{Address: "User@Example.COM"}
	}
	return tx, rec
}

// yes, no and fail are fixed conditions; calls counts evaluations.
var (
	yes  = ConditionFunc(func(context.Context, *Tx) (bool, error) { return true, nil })
	no   = ConditionFunc(func(context.Context, *Tx) (bool, error) { return false, nil })
	errX = errors.New("lookup server down")
	fail = ConditionFunc(func(context.Context, *Tx) (bool, error) { return false, errX })
)

type counter struct {
	n      int
	result bool
}

func (c *counter) Eval(context.Context, *Tx) (bool, error) {
	c.n++
	return c.result, nil
}

func replyString(e *exigo.SMTPError) string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Message)
}
