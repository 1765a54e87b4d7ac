package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

var bg = context.Background()

func TestDeliverGroupsByHost(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com", "carol@example.com", "dave@example.net", "eve@local.test")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Delivered: []string{"bob@example.com", "carol@example.com", "dave@example.net", "eve@local.test"}, Completed: true})
	calls := v.tr.Calls()
	slices.Sort(calls) // the groups run concurrently
	lines(t, "calls", calls, []string{
		id + "  eve@local.test",
		id + " mx.example.com bob@example.com,carol@example.com",
		id + " mx.example.net dave@example.net",
	})
	eq(t, "queue", v.queue(), []string(nil))
	logs := v.logLines()
	slices.Sort(logs)
	lines(t, "log", logs, []string{
		`level=INFO msg="=>" id=M1 rcpt=bob@example.com router=table transport=smtp host="mx.example.com [192.0.2.11]:25" reply="250 OK"`,
		`level=INFO msg="=>" id=M1 rcpt=carol@example.com router=table transport=smtp host="mx.example.com [192.0.2.11]:25" reply="250 OK"`,
		`level=INFO msg="=>" id=M1 rcpt=dave@example.net router=table transport=smtp host="mx.example.net [192.0.2.11]:25" reply="250 OK"`,
		`level=INFO msg="=>" id=M1 rcpt=eve@local.test router=table transport=local reply="250 OK"`,
		`level=INFO msg=Completed id=M1`,
	})
}

func TestDeliveredJournaledBeforeSetReturns(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com", "carol@example.com")
	var journal []string
	v.eng.Transports["smtp"] = transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
		for _, r := range d.Recipients {
			st.Set(r, transport.Result{})
			// The record is on disk when Set returns: the journal, or
			// for the last recipient the removal of the -H file (and
			// no journal entry).
			e, err := v.sp.Read(id)
			if errors.Is(err, spool.ErrNotFound) {
				j, _ := os.ReadFile(filepath.Join(v.sp.Dir(), "input", id+"-J"))
				journal = append(journal, "dequeued, journal "+strings.ReplaceAll(string(j), "\n", ","))
				continue
			}
			if err != nil {
				return err
			}
			journal = append(journal, strings.Join(e.Journal, ","))
		}
		return nil
	})
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	lines(t, "record after each Set", journal, []string{"bob@example.com", "dequeued, journal bob@example.com,"})
	eq(t, "result", res, MessageResult{ID: id, Delivered: []string{"bob@example.com", "carol@example.com"}, Completed: true})
	eq(t, "queue", v.queue(), []string(nil))
	ents, _ := os.ReadDir(filepath.Join(v.sp.Dir(), "input"))
	eq(t, "files left", len(ents), 0)
}

// TestSingleDeliveryWritesNoJournal: a message whose attempt delivers
// every recipient at once never gets a -J file.
func TestSingleDeliveryWritesNoJournal(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com")
	var seen []string
	v.eng.Transports["smtp"] = transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
		for _, r := range d.Recipients {
			st.Set(r, transport.Result{})
			ents, err := os.ReadDir(filepath.Join(v.sp.Dir(), "input"))
			if err != nil {
				return err
			}
			for _, e := range ents {
				seen = append(seen, e.Name())
			}
		}
		return nil
	})
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	lines(t, "input after Set", seen, []string{id + "-D"})
	eq(t, "result", res, MessageResult{ID: id, Delivered: []string{"bob@example.com"}, Completed: true})
	eq(t, "queue", v.queue(), []string(nil))
}

func TestPermanentFailureBounces(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.eng.QueueOnly = true // keep the bounce in the queue
	id := v.add("alice@example.org", "bob@example.com", "carol@example.com")
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result {
		if r.Address == "carol@example.com" {
			return rejected(d, r, 550, exigo.EnhancedCode{5, 1, 1}, "no such user")
		}
		return transport.Result{}
	}
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Delivered: []string{"bob@example.com"}, Failed: []string{"carol@example.com"}, Completed: true})
	bounces := v.others()
	if len(bounces) != 1 {
		t.Fatalf("queue holds %v, want one bounce", bounces)
	}
	b := v.read(bounces[0])
	eq(t, "bounce sender", b.Sender, "")
	eq(t, "bounce recipients", b.Recipients, []spool.RcptLine{{Address: "alice@example.org", PNo: -1}})
	eq(t, "bounce subject", b.Message.Header.Get("Subject"), "Mail delivery failed: returning message to sender")
	eq(t, "bounce X-Failed-Recipients", b.Message.Header.Get("X-Failed-Recipients"), "carol@example.com")
	body := readBody(t, b.Message)
	for _, want := range []string{
		"\nFinal-Recipient: rfc822;carol@example.com\nAction: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.com\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n",
		"\n  carol@example.com\n    mx.example.com [192.0.2.11]:25: after RCPT TO:<carol@example.com>: 550 5.1.1 no such user\n",
		"Content-Type: message/rfc822\n\nFrom: alice@example.org\nMessage-Id: <" + id + "@client.test>\nSubject: test\n\nHello.\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("bounce body lacks %q:\n%s", want, body)
		}
	}
	logs := v.logLines(bounces...)
	slices.Sort(logs)
	lines(t, "log", logs, []string{
		`level=INFO msg="<=" id=B1 from=<> bounce_of=M1 to=alice@example.org`,
		`level=INFO msg="=>" id=M1 rcpt=bob@example.com router=table transport=smtp host="mx.example.com [192.0.2.11]:25" reply="250 OK"`,
		`level=INFO msg=** id=M1 rcpt=carol@example.com router=table transport=smtp err="mx.example.com [192.0.2.11]:25: after RCPT TO:<carol@example.com>: 550 5.1.1 no such user" host="mx.example.com [192.0.2.11]:25"`,
		`level=INFO msg=Completed id=M1`,
	})
}

func TestRoutingFailureBounce(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.routes["nobody@example.com"] = func(*router.Address) router.Result { return router.Result{Outcome: router.Fail} }
	var got []Failure
	v.eng.Bouncer = BouncerFunc(func(ctx context.Context, msg *exigo.Message, fs []Failure) error {
		got = fs
		return nil
	})
	id := v.add("alice@example.org", "nobody@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Failed: []string{"nobody@example.com"}, Completed: true})
	if len(got) != 1 {
		t.Fatalf("failures %v", got)
	}
	eq(t, "failure", []string{got[0].Recipient.Address, got[0].Err.Error(), got[0].Router, got[0].Transport, got[0].Status()},
		[]string{"nobody@example.com", "550 5.1.1 Unrouteable address", "table", "", "5.1.1"})
}

func TestNotifyNeverNoBounce(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result {
		return rejected(d, r, 550, exigo.EnhancedCode{}, "no")
	}
	called := false
	v.eng.Bouncer = BouncerFunc(func(context.Context, *exigo.Message, []Failure) error { called = true; return nil })
	id := v.addMsg("alice@example.org", func(m *exigo.Message) {
		m.Envelope.AddRecipient("bob@example.com").Notify = exigo.NotifyNever
		m.Envelope.AddRecipient("carol@example.com").Notify = exigo.NotifySuccess
	})
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Failed: []string{"bob@example.com", "carol@example.com"}, Completed: true})
	eq(t, "bouncer called", called, false)
}

func TestDeferRecordsRetry(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com")
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result { return refused(d.Hosts[0]) }
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Deferred: []string{"bob@example.com"}})
	rec, ok := v.retry("T:mx.example.com:192.0.2.11")
	eq(t, "retry found", ok, true)
	eq(t, "retry", rec, hints.Retry{FirstFailed: t0, LastTry: t0, NextTry: t0.Add(15 * time.Minute),
		Text: "mx.example.com [192.0.2.11]:25: connection refused"})
	e := v.read(id)
	eq(t, "firsttime removed", e.Has("deliver_firsttime"), false)
	eq(t, "non-recipients", e.NonRecipients, []string(nil))
	eq(t, "journal", e.Journal, []string(nil))

	// Before the retry time: the host is not tried.
	v.clk.Add(10 * time.Minute)
	st, err := v.eng.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 1, Deferred: 1})
	eq(t, "calls", len(v.tr.Calls()), 1)

	// After it: tried, failed again; the interval stays 15m.
	v.clk.Add(6 * time.Minute)
	if _, err := v.eng.RunOnce(bg); err != nil {
		t.Fatal(err)
	}
	eq(t, "calls", len(v.tr.Calls()), 2)
	rec, _ = v.retry("T:mx.example.com:192.0.2.11")
	eq(t, "retry", rec, hints.Retry{FirstFailed: t0, LastTry: t0.Add(16 * time.Minute), NextTry: t0.Add(31 * time.Minute),
		Text: "mx.example.com [192.0.2.11]:25: connection refused"})
	lines(t, "log", v.logLines(), []string{
		`level=INFO msg="==" id=M1 rcpt=bob@example.com router=table transport=smtp err="mx.example.com [192.0.2.11]:25: connection refused" host="mx.example.com [192.0.2.11]" retry=2026-11-21T14:40:06.000Z`,
		`level=INFO msg="==" id=M1 rcpt=bob@example.com router=table transport=smtp err="mx.example.com [192.0.2.11]:25: connection refused" host="mx.example.com [192.0.2.11]" retry=2026-11-21T14:56:06.000Z`,
	})

	// Success removes the retry data and the message.
	v.clk.Add(20 * time.Minute)
	v.tr.outcome = nil
	st, err = v.eng.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 1, Completed: 1, Delivered: 1})
	_, ok = v.retry("T:mx.example.com:192.0.2.11")
	eq(t, "retry data after success", ok, false)
}

func TestAddressRetryKey(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com", "carol@example.com")
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result {
		if r.Address == "bob@example.com" {
			return rejected(d, r, 451, exigo.EnhancedCode{4, 7, 1}, "greylisted")
		}
		return transport.Result{}
	}
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Delivered: []string{"carol@example.com"}, Deferred: []string{"bob@example.com"}})
	_, hostRec := v.retry("T:mx.example.com:192.0.2.11")
	eq(t, "host retry data", hostRec, false)
	rec, ok := v.retry("R:bob@example.com:<alice@example.org>")
	eq(t, "address retry data", ok, true)
	eq(t, "next try", rec.NextTry, t0.Add(15*time.Minute).UTC())
	eq(t, "non-recipients", v.read(id).NonRecipients, []string{"carol@example.com"})

	// A queue run honours the address's retry time; the host is fine.
	v.clk.Add(time.Minute)
	if _, err := v.eng.RunOnce(bg); err != nil {
		t.Fatal(err)
	}
	eq(t, "calls", len(v.tr.Calls()), 1)
	// An immediate delivery does not (only host retry times count then).
	if _, err := v.eng.DeliverMessage(bg, id); err != nil {
		t.Fatal(err)
	}
	lines(t, "calls", v.tr.Calls(), []string{
		id + " mx.example.com bob@example.com,carol@example.com",
		id + " mx.example.com bob@example.com",
	})
}

func TestRoutingDeferRetry(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	var routed atomic.Int32
	v.routes["bob@example.com"] = func(*router.Address) router.Result {
		routed.Add(1)
		return router.Deferred("DNS lookup timed out")
	}
	id := v.add("alice@example.org", "bob@example.com")
	if _, err := v.eng.DeliverMessage(bg, id); err != nil {
		t.Fatal(err)
	}
	rec, ok := v.retry("R:example.com")
	eq(t, "retry", []any{ok, rec.NextTry, rec.Text}, []any{true, t0.Add(15 * time.Minute), "451 4.0.0 DNS lookup timed out"})
	// Queue run before the retry time: not routed.
	res, err := v.eng.Deliver(bg, id, DeliverOptions{QueueRun: true})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Deferred: []string{"bob@example.com"}})
	eq(t, "routed", routed.Load(), int32(1))
	// Forced: routed.
	if _, err := v.eng.Deliver(bg, id, DeliverOptions{QueueRun: true, Force: true}); err != nil {
		t.Fatal(err)
	}
	eq(t, "routed", routed.Load(), int32(2))
	// Outside a queue run: routed.
	if _, err := v.eng.DeliverMessage(bg, id); err != nil {
		t.Fatal(err)
	}
	eq(t, "routed", routed.Load(), int32(3))
	// Routing works again: the record goes.
	delete(v.routes, "bob@example.com")
	v.clk.Add(time.Hour)
	res, err = v.eng.Deliver(bg, id, DeliverOptions{QueueRun: true})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Delivered: []string{"bob@example.com"}, Completed: true})
	_, ok = v.retry("R:example.com")
	eq(t, "routing retry data after success", ok, false)
}

func TestRouterFreeze(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.routes["bob@example.com"] = func(*router.Address) router.Result {
		r, _ := router.SelfResult(router.SelfFreeze, "mx.example.com", true)
		return r
	}
	id := v.add("alice@example.org", "bob@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Deferred: []string{"bob@example.com"}, Frozen: true})
	frozen, at := v.read(id).Frozen()
	eq(t, "frozen", []any{frozen, at.Unix()}, []any{true, t0.Unix()})
	st, err := v.eng.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 1, Skipped: 1})
}

func TestGiveUpAfterFourDays(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com")
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result { return refused(d.Hosts[0]) }
	var got []Failure
	v.eng.Bouncer = BouncerFunc(func(ctx context.Context, msg *exigo.Message, fs []Failure) error {
		got = append(got, fs...)
		return nil
	})
	// Run the queue every 15 minutes for up to five days.
	var last Stats
	tries := 0
	for i := 0; i <= 5*24*4; i++ {
		st, err := v.eng.RunOnce(bg)
		if err != nil {
			t.Fatal(err)
		}
		if st.Messages == 0 {
			break
		}
		last = st
		v.clk.Add(15 * time.Minute)
	}
	tries = len(v.tr.Calls())
	eq(t, "last run", last, Stats{Messages: 1, Completed: 1, Failed: 1})
	// 9 tries in the first 2h (every 15m, the last at 2h), then at
	// 2h15m; from there G,16h,1h,1.5 gives 3h15m, 4h45m, 7h, 10h30m
	// (10h22m30s rounded up to the queue run), 15h45m and 23h30m; then
	// every 6h: 29h30m ... 95h30m (12 tries), all within the 4 days;
	// the try at 101h30m is past them and fails.
	eq(t, "tries", tries, 9+1+6+12+1)
	if len(got) != 1 {
		t.Fatalf("failures %+v", got)
	}
	eq(t, "failure", []any{got[0].Recipient.Address, got[0].Timeout, got[0].Status(), got[0].Err.Error()},
		[]any{"bob@example.com", true, "5.4.7", "mx.example.com [192.0.2.11]:25: connection refused"})
	rec, _ := v.retry("T:mx.example.com:192.0.2.11")
	eq(t, "expired", rec.Expired, true)

	// A new message for the dead host gets one attempt, then fails.
	id2 := v.add("alice@example.org", "carol@example.com")
	res, err := v.eng.Deliver(bg, id2, DeliverOptions{QueueRun: true})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "new message, retry time not reached", res, MessageResult{ID: id2, Deferred: []string{"carol@example.com"}})
	v.clk.Add(6 * time.Hour)
	res, err = v.eng.Deliver(bg, id2, DeliverOptions{QueueRun: true})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "new message, tried", res, MessageResult{ID: id2, Failed: []string{"carol@example.com"}, Completed: true})
	eq(t, "tries", len(v.tr.Calls()), tries+1)
	_ = id
}

func TestExpiredHostFailsOldMessageWithoutTrying(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	var got []Failure
	v.eng.Bouncer = BouncerFunc(func(ctx context.Context, msg *exigo.Message, fs []Failure) error {
		got = append(got, fs...)
		return nil
	})
	// The host has been failing for 5 days; its next try is in an hour.
	hints.PutRetry(bg, v.db, "T:mx.example.com:192.0.2.11", hints.Retry{
		FirstFailed: t0.Add(-5 * 24 * time.Hour), LastTry: t0.Add(-5 * time.Hour), NextTry: t0.Add(time.Hour),
		Expired: true, Text: "connection refused",
	}, time.Time{})
	// A message that arrived before the host timed out fails at once.
	old := v.addMsg("alice@example.org", func(m *exigo.Message) {
		m.Received = t0.Add(-2 * 24 * time.Hour)
		m.Envelope.AddRecipient("bob@example.com")
	})
	// One that arrived after waits for its attempt.
	young := v.add("alice@example.org", "carol@example.com")
	st, err := v.eng.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 2, Completed: 1, Failed: 1, Deferred: 1})
	eq(t, "calls", v.tr.Calls(), []string(nil))
	eq(t, "queue", v.queue(), []string{young})
	if len(got) != 1 {
		t.Fatalf("failures %+v", got)
	}
	eq(t, "failure", []any{got[0].Recipient.Address, got[0].Timeout, got[0].Err.Error()},
		[]any{"bob@example.com", true, "connection refused (retry time not reached for any host)"})
	_ = old
}

func TestRedirectChildrenRecorded(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.routes["list@example.com"] = func(a *router.Address) router.Result {
		return router.Redirected(a.Recipient.Child("ann@example.net"), a.Recipient.Child("ben@example.org"))
	}
	fail := true
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result {
		if r.Address == "ben@example.org" && fail {
			return refused(d.Hosts[0])
		}
		return transport.Result{}
	}
	id := v.add("alice@example.org", "list@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Delivered: []string{"ann@example.net"}, Deferred: []string{"ben@example.org"}})
	e := v.read(id)
	eq(t, "non-recipients", e.NonRecipients, []string{"ann@example.net"})

	fail = false
	v.clk.Add(time.Hour)
	st, err := v.eng.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 1, Completed: 1, Delivered: 1})
	calls := v.tr.Calls()
	slices.Sort(calls[:2])
	lines(t, "calls", calls, []string{
		id + " mx.example.net ann@example.net",
		id + " mx.example.org ben@example.org",
		id + " mx.example.org ben@example.org",
	})
	logs := v.logLines()
	if !slices.Contains(logs, `level=INFO msg="=>" id=M1 rcpt=ann@example.net parent=list@example.com router=table transport=smtp host="mx.example.net [192.0.2.11]:25" reply="250 OK"`) {
		t.Errorf("no delivery line for the child in:\n%s", strings.Join(logs, "\n"))
	}
}

func TestChildSameAsParent(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	// cleo: cleo, cleopatra — the copy for cleo must not mark cleo done
	// while cleopatra is deferred.
	v.routes["cleo@example.com"] = func(a *router.Address) router.Result {
		if a.Parent() != nil {
			return router.Accepted("local")
		}
		return router.Redirected(a.Recipient.Child("cleo@example.com"), a.Recipient.Child("cleopatra@example.net"))
	}
	fail := true
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result {
		if r.Address == "cleopatra@example.net" && fail {
			return refused(d.Hosts[0])
		}
		return transport.Result{}
	}
	id := v.add("alice@example.org", "cleo@example.com")
	if _, err := v.eng.DeliverMessage(bg, id); err != nil {
		t.Fatal(err)
	}
	eq(t, "non-recipients", v.read(id).NonRecipients, []string{"cleo@example.com:cleo@example.com"})
	fail = false
	v.clk.Add(time.Hour)
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "second attempt", res, MessageResult{ID: id, Delivered: []string{"cleopatra@example.net"}, Completed: true})
}

func TestDuplicatesDeliveredOnce(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	for _, a := range []string{"a@example.com", "b@example.com"} {
		v.routes[a] = func(a *router.Address) router.Result {
			return router.Redirected(a.Recipient.Child("c@example.net"))
		}
	}
	id := v.add("alice@example.org", "a@example.com", "b@example.com", "c@example.net")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Delivered: []string{"c@example.net", "c@example.net", "c@example.net"}, Completed: true})
	lines(t, "calls", v.tr.Calls(), []string{id + " mx.example.net c@example.net"})
}

func TestJournalFoldedAfterCrash(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com", "carol@example.com")
	// An attempt delivered bob and died before rewriting the -H file.
	lk, err := v.sp.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.AddDelivered("bob@example.com"); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	res, err := v.eng.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", res, Stats{Messages: 1, Completed: 1, Delivered: 1})
	lines(t, "calls", v.tr.Calls(), []string{id + " mx.example.com carol@example.com"})

	// A journal holding every recipient: the message just goes.
	id2 := v.add("alice@example.org", "dan@example.com")
	lk, err = v.sp.Lock(id2)
	if err != nil {
		t.Fatal(err)
	}
	lk.AddDelivered("dan@example.com")
	lk.Unlock()
	r2, err := v.eng.DeliverMessage(bg, id2)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", r2, MessageResult{ID: id2, Completed: true})
	eq(t, "calls", len(v.tr.Calls()), 1)
}

func TestLockedMessageSkipped(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com")
	lk, err := v.sp.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Skipped: "locked"})
	st, err := v.eng.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 1, Skipped: 1})
	eq(t, "calls", v.tr.Calls(), []string(nil))
}

func TestFrozenSkippedUnlessThawed(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com")
	lk, err := v.sp.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := lk.Read()
	e.Freeze(t0)
	if err := lk.Rewrite(e.HeaderFile); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	st, err := v.eng.RunQueue(bg, RunOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 1, Skipped: 1})
	eq(t, "calls", v.tr.Calls(), []string(nil))
	st, err = v.eng.RunQueue(bg, RunOptions{Thaw: true})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 1, Completed: 1, Delivered: 1})
}

func TestBounceFailureFreezes(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.eng.Bouncer = BouncerFunc(func(context.Context, *exigo.Message, []Failure) error { return errors.New("disk full") })
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result {
		return rejected(d, r, 550, exigo.EnhancedCode{5, 1, 1}, "no such user")
	}
	id := v.add("alice@example.org", "bob@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Failed: []string{"bob@example.com"}, Frozen: true})
	e := v.read(id)
	frozen, _ := e.Frozen()
	eq(t, "frozen", frozen, true)
	eq(t, "non-recipients", e.NonRecipients, []string(nil))
	logs := v.logLines()
	eq(t, "last log line", logs[len(logs)-1], `level=WARN msg=Frozen id=M1 reason="cannot create a bounce message: disk full"`)
}

func TestBounceOfBounce(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	called := false
	v.eng.Bouncer = BouncerFunc(func(context.Context, *exigo.Message, []Failure) error { called = true; return nil })
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result {
		return rejected(d, r, 550, exigo.EnhancedCode{5, 1, 1}, "no such user")
	}
	id := v.add("", "bob@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Failed: []string{"bob@example.com"}, Frozen: true})
	eq(t, "bouncer called", called, false)
	// Ten weeks later a queue run tries it once more and discards it.
	v.clk.Add(10*7*24*time.Hour + time.Hour)
	st, err := v.eng.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 1, Completed: 1, Failed: 1})
	eq(t, "bouncer called", called, false)
	eq(t, "calls", len(v.tr.Calls()), 2)
}

func TestNoRetryRuleIsPermanent(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.eng.RetryRules = []RetryRule{{Pattern: "*.example.net", Steps: DefaultRetryRules()[0].Steps}, {Pattern: "*"}}
	v.eng.Bouncer = BouncerFunc(func(context.Context, *exigo.Message, []Failure) error { return nil })
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result { return refused(d.Hosts[0]) }
	id := v.add("alice@example.org", "bob@example.com", "carol@example.net")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Failed: []string{"bob@example.com"}, Deferred: []string{"carol@example.net"}})
}

func TestUnknownTransportDefers(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.routes["bob@example.com"] = func(*router.Address) router.Result { return router.Accepted("lmtp") }
	id := v.add("alice@example.org", "bob@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Deferred: []string{"bob@example.com"}})
}

func TestDiscard(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.routes["bob@example.com"] = func(*router.Address) router.Result { return router.Result{Outcome: router.Discard} }
	id := v.add("alice@example.org", "bob@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Completed: true})
	lines(t, "log", v.logLines(), []string{
		`level=INFO msg="=>" id=M1 rcpt=bob@example.com router=table to=:blackhole:`,
		`level=INFO msg=Completed id=M1`,
	})
}

func TestTransportPanicDefers(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.eng.Transports["smtp"] = transport.Func(func(context.Context, *transport.Delivery, transport.Status) error { panic("boom") })
	id := v.add("alice@example.org", "bob@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Deferred: []string{"bob@example.com"}})
}

func TestTwoPhaseOrder(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	var mu sync.Mutex
	var events []string
	v.tr.events, v.tr.evmu = &events, &mu
	base := v.eng.Router
	v.eng.Router = RouterFunc(func(ctx context.Context, msg *exigo.Message, r *exigo.Recipient) []router.Routed {
		mu.Lock()
		events = append(events, "route "+msg.ID+" "+r.Address)
		mu.Unlock()
		return base.Route(ctx, msg, r)
	})
	v.eng.Parallelism = 1
	m1 := v.add("s@example.org", "a@a.example")
	m2 := v.add("s@example.org", "b@b.example")
	m3 := v.add("s@example.org", "a2@a.example")
	m4 := v.add("s@example.org", "b4@b.example", "a4@a.example")
	st, err := v.eng.RunTwoPhase(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 4, Completed: 4, Delivered: 5})
	lines(t, "events", events, []string{
		"route " + m1 + " a@a.example",
		"route " + m2 + " b@b.example",
		"route " + m3 + " a2@a.example",
		"route " + m4 + " b4@b.example",
		"route " + m4 + " a4@a.example",
		"deliver " + m1 + " mx.a.example a@a.example",
		"deliver " + m3 + " mx.a.example a2@a.example",
		"deliver " + m4 + " mx.a.example a4@a.example",
		"deliver " + m2 + " mx.b.example b@b.example",
		"deliver " + m4 + " mx.b.example b4@b.example",
	})
}

func TestTwoPhaseHostFailureSkipsLaterMessages(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result { return refused(d.Hosts[0]) }
	m1 := v.add("s@example.org", "a@a.example")
	m2 := v.add("s@example.org", "a2@a.example")
	st, err := v.eng.RunTwoPhase(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 2, Deferred: 2})
	lines(t, "calls", v.tr.Calls(), []string{m1 + " mx.a.example a@a.example"})
	_ = m2
}

func TestParallelismBound(t *testing.T) {
	t.Parallel()
	for _, twoPhase := range []bool{false, true} {
		v := newEnv(t)
		v.eng.Parallelism = 3
		var cur, peak atomic.Int32
		v.eng.Transports["smtp"] = transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			cur.Add(-1)
			for _, r := range d.Recipients {
				st.Set(r, transport.Result{})
			}
			return nil
		})
		for i := range 4 {
			// Each message goes to three hosts.
			v.add("s@example.org", "x@h"+string(rune('a'+i))+".example", "y@h"+string(rune('a'+i))+"2.example", "z@h"+string(rune('a'+i))+"3.example")
		}
		st, err := v.eng.RunQueue(bg, RunOptions{TwoPhase: twoPhase})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "stats", st, Stats{Messages: 4, Completed: 4, Delivered: 12})
		eq(t, "peak deliveries at once", peak.Load(), int32(3))
	}
}

func TestKick(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	id := v.add("alice@example.org", "bob@example.com")
	v.eng.Kick(id)
	if err := v.eng.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	eq(t, "queue", v.queue(), []string(nil))
	lines(t, "calls", v.tr.Calls(), []string{id + " mx.example.com bob@example.com"})
	v.eng.Kick(v.add("alice@example.org", "carol@example.com")) // after Shutdown: nothing
	eq(t, "queue length", len(v.queue()), 1)

	q := newEnv(t)
	q.eng.QueueOnly = true
	id = q.add("alice@example.org", "bob@example.com")
	q.eng.Kick(id)
	q.eng.Shutdown(bg)
	eq(t, "queue only", q.queue(), []string{id})
}

func TestKickBacklog(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.eng.Parallelism = 2
	var ids []string
	for range 7 {
		ids = append(ids, v.add("alice@example.org", "bob@example.com"))
	}
	for _, id := range ids {
		v.eng.Kick(id)
	}
	if err := v.eng.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	eq(t, "queue", v.queue(), []string(nil))
	eq(t, "calls", len(v.tr.Calls()), 7)
}

func TestRunInterval(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { done <- v.eng.Run(ctx, 10*time.Millisecond) }()
	id := v.add("alice@example.org", "bob@example.com")
	deadline := time.Now().Add(5 * time.Second)
	for len(v.queue()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	lines(t, "calls", v.tr.Calls(), []string{id + " mx.example.com bob@example.com"})
	if err := v.eng.Run(bg, 0); err == nil {
		t.Error("Run with interval 0 did not fail")
	}
}

func TestCancelledRunDefersWithoutRetryData(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx, cancel := context.WithCancel(bg)
	v.eng.Transports["smtp"] = transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	id := v.add("alice@example.org", "bob@example.com")
	res, err := v.eng.Deliver(ctx, id, DeliverOptions{QueueRun: true})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Deferred: []string{"bob@example.com"}})
	n := 0
	v.db.Range(bg, hints.RetryPrefix, func(string, []byte, time.Time) bool { n++; return true })
	eq(t, "retry records", n, 0)
}

func TestMissingConfig(t *testing.T) {
	t.Parallel()
	var e Engine
	if _, err := e.RunOnce(bg); err == nil || err.Error() != "queue: Engine has no Spool" {
		t.Errorf("RunOnce on a zero Engine: %v", err)
	}
	v := newEnv(t)
	_, err := v.eng.DeliverMessage(bg, "1xUm1a-0000hS-2z")
	if !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("DeliverMessage of a missing message: %v", err)
	}
}

func readBody(t *testing.T, m *exigo.Message) string {
	t.Helper()
	rc, err := m.Body.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := rc.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

func TestHostFailedReportsEveryHost(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	h1, h2 := hostFor("one.example"), hostFor("two.example")
	v.routes["bob@example.com"] = func(*router.Address) router.Result { return router.Accepted("smtp", h1, h2) }
	calls := 0
	v.eng.Transports["smtp"] = transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
		calls++
		hf, ok := st.(transport.HostReporter)
		if !ok {
			t.Fatal("the engine's Status has no HostFailed method")
		}
		hf.HostFailed(d.Hosts[0], errors.New("connection refused"))
		for _, r := range d.Recipients {
			st.Set(r, refused(d.Hosts[1]))
		}
		return nil
	})
	id := v.add("alice@example.org", "bob@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Deferred: []string{"bob@example.com"}})
	r1, ok1 := v.retry(hostKey(h1))
	r2, ok2 := v.retry(hostKey(h2))
	eq(t, "records", []any{ok1, r1.Text, ok2, r2.NextTry}, []any{true, "connection refused", true, t0.Add(15 * time.Minute)})
	v.clk.Add(time.Minute)
	res, err = v.eng.DeliverMessage(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "result", res, MessageResult{ID: id, Deferred: []string{"bob@example.com"}})
	eq(t, "transport calls", calls, 1)
}

func TestOldMessageTimesOut(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.eng.Bouncer = BouncerFunc(func(context.Context, *exigo.Message, []Failure) error { return nil })
	h1, h2 := hostFor("one.example"), hostFor("two.example")
	v.routes["bob@example.com"] = func(*router.Address) router.Result { return router.Accepted("smtp", h1, h2) }
	// The transport reports only the last host; the first never gets
	// retry data, so the host list never times out as a whole — the
	// message's age decides.
	v.tr.outcome = func(d *transport.Delivery, r *exigo.Recipient) transport.Result {
		return refused(d.Hosts[len(d.Hosts)-1])
	}
	young := v.add("alice@example.org", "bob@example.com")
	old := v.addMsg("alice@example.org", func(m *exigo.Message) {
		m.Received = t0.Add(-4*24*time.Hour - time.Minute)
		m.Envelope.AddRecipient("bob@example.com")
	})
	r1, err := v.eng.DeliverMessage(bg, young)
	if err != nil {
		t.Fatal(err)
	}
	v.clk.Add(15 * time.Minute)
	r2, err := v.eng.DeliverMessage(bg, old)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "young", r1, MessageResult{ID: young, Deferred: []string{"bob@example.com"}})
	eq(t, "old", r2, MessageResult{ID: old, Failed: []string{"bob@example.com"}, Completed: true})
}

func TestTwoPhaseOneGoroutinePerHostList(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.eng.Parallelism = 4
	var mu sync.Mutex
	cur := map[string]int{}
	peak := map[string]int{}
	var order []string
	v.eng.Transports["smtp"] = transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
		h := d.Hosts[0].Name
		mu.Lock()
		cur[h]++
		peak[h] = max(peak[h], cur[h])
		order = append(order, h+" "+d.Message.ID)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		cur[h]--
		mu.Unlock()
		for _, r := range d.Recipients {
			st.Set(r, transport.Result{})
		}
		return nil
	})
	var ids []string
	for range 5 {
		ids = append(ids, v.add("s@example.org", "x@a.example", "y@b.example"))
	}
	st, err := v.eng.RunTwoPhase(bg)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Messages: 5, Completed: 5, Delivered: 10})
	eq(t, "peak per host", peak, map[string]int{"mx.a.example": 1, "mx.b.example": 1})
	var a, b []string
	for _, o := range order {
		h, id, _ := strings.Cut(o, " ")
		if h == "mx.a.example" {
			a = append(a, id)
		} else {
			b = append(b, id)
		}
	}
	eq(t, "messages to a, in queue order", a, ids)
	eq(t, "messages to b, in queue order", b, ids)
}
