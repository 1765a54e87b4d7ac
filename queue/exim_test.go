package queue

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

// newExim starts a private Exim 4.96 that delivers local.example to an
// mbox (as nobody) and defers everything else, and opens its spool for
// exigo with Exim 4.96's IDs.
func newExim(t *testing.T) (*testpeer.Exim, *spool.Spool, string) {
	t.Helper()
	mail := testpeer.MailDir(t)
	e := testpeer.NewExim(t, testpeer.LocalDeliveryConfig(mail))
	sp, err := spool.Open(e.Spool, spool.WithIDFormat(spool.IDShort), spool.WithOriginator("root", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return e, sp, filepath.Join(mail, "mbox")
}

func spoolMessage(t *testing.T, sp *spool.Spool, sender string, rcpts ...string) string {
	t.Helper()
	ctx := context.Background()
	d, err := sp.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Abort()
	io.WriteString(d, "Hello.\n")
	m := &exigo.Message{ID: d.ID(), Received: time.Now(), Stats: exigo.BodyStats{Lines: 1, MaxLineLength: 6}}
	m.Envelope.Sender = sender
	for _, r := range rcpts {
		m.Envelope.AddRecipient(r)
	}
	var h textproto.Header
	h.AddRaw([]byte("Subject: interop\n"))
	h.AddRaw([]byte("From: " + sender + "\n"))
	m.Header = h
	if err := d.Commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	return d.ID()
}

// TestEximInterop: Exim finishes what exigo's engine began and the
// other way round, and delivers the bounce exigo wrote.
func TestEximInterop(t *testing.T) {
	t.Parallel()
	ex, sp, mbox := newExim(t)
	ctx := context.Background()
	var delivered []string
	fail := map[string]error{
		"c@local.example":    errors.New("mailbox busy"),
		"nobody@remote.test": &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: "no such user"},
	}
	eng := &Engine{
		Spool: sp,
		Router: RouterFunc(func(_ context.Context, _ *exigo.Message, r *exigo.Recipient) []router.Routed {
			return []router.Routed{{Recipient: r, Router: "all", Result: router.Accepted("rec")}}
		}),
		Transports: map[string]transport.Transport{"rec": transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
			for _, r := range d.Recipients {
				if err := fail[r.Address]; err != nil {
					st.Set(r, transport.Result{Err: err})
					continue
				}
				delivered = append(delivered, d.Message.ID+" "+r.Address)
				st.Set(r, transport.Result{})
			}
			return nil
		})},
		QueueOnly: true,
		Hostname:  "exigo.example",
	}

	// 1. exigo delivers a, defers c; Exim delivers only c and completes.
	id1 := spoolMessage(t, sp, "s@example.org", "a@local.example", "c@local.example")
	res, err := eng.DeliverMessage(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "exigo's attempt", res, MessageResult{ID: id1, Delivered: []string{"a@local.example"}, Deferred: []string{"c@local.example"}})
	if _, err := ex.Run("", "-M", id1); err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(filepath.Join(ex.Spool, "log", "mainlog"))
	for _, want := range []string{id1 + " => c <c@local.example> R=local T=tofile", id1 + " Completed"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("Exim's mainlog lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(string(log), id1+" => a ") {
		t.Errorf("Exim delivered a@local.example again:\n%s", log)
	}

	// 2. Exim delivers a, defers b; exigo delivers only b.
	id2 := spoolMessage(t, sp, "s@example.org", "a@local.example", "b@remote.test")
	if _, err := ex.Run("", "-M", id2); err != nil {
		t.Fatal(err)
	}
	delivered = nil
	res, err = eng.DeliverMessage(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "exigo after Exim", res, MessageResult{ID: id2, Delivered: []string{"b@remote.test"}, Completed: true})
	eq(t, "delivered by exigo", delivered, []string{id2 + " b@remote.test"})

	// 3. exigo's bounce is listed and delivered by Exim.
	id3 := spoolMessage(t, sp, "s@local.example", "nobody@remote.test")
	res, err = eng.DeliverMessage(ctx, id3)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "failed", res, MessageResult{ID: id3, Failed: []string{"nobody@remote.test"}, Completed: true})
	ids, _ := sp.List(ctx)
	if len(ids) != 1 {
		t.Fatalf("queue holds %v, want the bounce", ids)
	}
	out, err := ex.Run("", "-bp")
	if err != nil || !strings.Contains(out, ids[0]+" <>\n          s@local.example\n") {
		t.Errorf("exim -bp does not list the bounce: %v\n%s", err, out)
	}
	if _, err := ex.Run("", "-M", ids[0]); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(mbox)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"" + ids[0] + "-dsn=_\"\n",
		"\nFinal-Recipient: rfc822;nobody@remote.test\nAction: failed\nStatus: 5.1.1\n",
		"\nSubject: interop\n",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("bounce delivered by Exim lacks %q:\n%s", want, got)
		}
	}
	// c (step 1), a (step 2) and the bounce.
	if n := strings.Count("\n"+string(got), "\nFrom "); n != 3 {
		t.Errorf("mbox holds %d messages, want 3:\n%s", n, got)
	}
}

// TestDuplicatesLikeExim: the same recipient list, queued once for Exim
// and once for exigo, is delivered as the same copies. Exim 4.96 drops
// an address whose local part and lower-cased domain equal an earlier
// one's; a local part differing in case or quoting is another address
// (one more copy), even when it ends in the same mailbox.
func TestDuplicatesLikeExim(t *testing.T) {
	t.Parallel()
	ex, sp, mbox := newExim(t)
	ctx := context.Background()
	rcpts := []string{"user@local.example", "user@LOCAL.EXAMPLE", `"user"@local.example`, "User@local.example", "user@Local.Example"}

	id := spoolMessage(t, sp, "s@example.org", rcpts...)
	if _, err := ex.Run("", "-M", id); err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(filepath.Join(ex.Spool, "log", "mainlog"))
	var eximCopies []string
	for _, line := range strings.Split(string(log), "\n") {
		if _, rest, ok := strings.Cut(line, id+" => "); ok {
			_, addr, _ := strings.Cut(rest, "<")
			addr, _, _ = strings.Cut(addr, ">")
			eximCopies = append(eximCopies, addr)
		}
	}
	got, err := os.ReadFile(mbox)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "copies in Exim's mbox", strings.Count("\n"+string(got), "\nFrom "), len(eximCopies))

	var exigoCopies []string
	eng := &Engine{
		Spool: sp,
		Router: RouterFunc(func(_ context.Context, _ *exigo.Message, r *exigo.Recipient) []router.Routed {
			return []router.Routed{{Recipient: r, Router: "local", Result: router.Accepted("tofile")}}
		}),
		Transports: map[string]transport.Transport{"tofile": transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
			for _, r := range d.Recipients {
				exigoCopies = append(exigoCopies, r.Address)
				st.Set(r, transport.Result{})
			}
			return nil
		})},
		Hostname: "exigo.example",
	}
	id2 := spoolMessage(t, sp, "s@example.org", rcpts...)
	res, err := eng.DeliverMessage(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "exigo's result", res, MessageResult{ID: id2, Delivered: rcpts, Completed: true})
	eq(t, "copies: exigo against Exim", exigoCopies, eximCopies)
	eq(t, "Exim's copies", eximCopies, []string{"user@local.example", `"user"@local.example`, "User@local.example"})
}
