package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/transport"
)

func testMessage(body string) *exigo.Message {
	m := &exigo.Message{ID: "1xUm1a-0000hS-2z", Envelope: exigo.Envelope{Sender: "s@example.org"}}
	// AddRaw puts a field on top.
	m.Header.AddRaw([]byte("To: a@example.com"))
	m.Header.AddRaw([]byte("Subject: odd\r\n line ends\r\n"))
	m.Body = exigo.OpenerFunc(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil })
	return m
}

func TestRecorderData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, want string }{
		{"", ""},
		{"l1\nl2\r\nl3\rl4", "l1\r\nl2\r\nl3\r\nl4\r\n"},
		{"\n\n", "\r\n\r\n"},
		{"\r\r\n.dot\n", "\r\n\r\n.dot\r\n"},
	} {
		var rec mailtest.Recorder
		m := testMessage(tc.body)
		r := m.Envelope.AddRecipient("a@example.com")
		st := transport.StatusMap{}
		if err := rec.Deliver(context.Background(), &transport.Delivery{Message: m, Recipients: []*exigo.Recipient{r}, ReturnPath: "rp@example.org"}, st); err != nil {
			t.Fatal(err)
		}
		d := rec.Deliveries()[0]
		want := "Subject: odd\r\n line ends\r\nTo: a@example.com\r\n\r\n" + tc.want
		if string(d.Data) != want {
			t.Errorf("body %q: data %q, want %q", tc.body, d.Data, want)
		}
		if d.MessageID != "1xUm1a-0000hS-2z" || d.ReturnPath != "rp@example.org" || !slices.Equal(d.Recipients, []string{"a@example.com"}) {
			t.Errorf("delivery %+v", d)
		}
		if !reflect.DeepEqual(st, transport.StatusMap{r: {Reply: mailtest.RecordedReply}}) {
			t.Errorf("status %+v", st)
		}
		rc, _ := d.Message.Body.Open()
		b, _ := io.ReadAll(rc)
		if string(b) != tc.body || d.Message.Header.Get("To") != "a@example.com" {
			t.Errorf("message copy: body %q, header %v", b, d.Message.Header)
		}
	}
}

func TestRecorderOutcomes(t *testing.T) {
	t.Parallel()
	var rec mailtest.Recorder
	temp := &exigo.SMTPError{Code: 452, Enhanced: exigo.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
	perm := fmt.Errorf("no such mailbox: %w", transport.ErrPermanent)
	other := errors.New("disk trouble")
	rec.FailWith("temp@example.com", temp)
	rec.FailWith("PERM@example.com", perm)
	rec.FailWith("other@example.com", other)
	rec.FailWith("cleared@example.com", other)
	rec.FailWith("cleared@example.com", nil)

	m := testMessage("x\n")
	var rcpts []*exigo.Recipient
	for _, a := range []string{"ok@example.com", "temp@example.com", "perm@EXAMPLE.com", "other@example.com", "cleared@example.com"} {
		rcpts = append(rcpts, m.Envelope.AddRecipient(a))
	}
	st := transport.StatusMap{}
	if err := rec.Deliver(context.Background(), &transport.Delivery{Message: m, Recipients: rcpts}, st); err != nil {
		t.Fatal(err)
	}
	want := []transport.Result{{Reply: mailtest.RecordedReply}, {Err: temp}, {Err: perm}, {Err: other}, {Reply: mailtest.RecordedReply}}
	for i, r := range rcpts {
		if !reflect.DeepEqual(st[r], want[i]) {
			t.Errorf("%s: %+v, want %+v", r.Address, st[r], want[i])
		}
	}
	if got := rec.Deliveries()[0].Results; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded results %+v", got)
	}
	if transport.Permanent(st[rcpts[1]].Err) || !transport.Permanent(st[rcpts[2]].Err) || transport.Permanent(st[rcpts[3]].Err) {
		t.Error("wrong permanence")
	}

	// FailAll: an error for the whole delivery, no per-recipient result.
	down := errors.New("connection refused")
	rec.FailAll(down)
	st = transport.StatusMap{}
	if err := rec.Deliver(context.Background(), &transport.Delivery{Message: m, Recipients: rcpts[:2]}, st); err != down {
		t.Errorf("Deliver = %v, want %v", err, down)
	}
	if len(st) != 0 {
		t.Errorf("status %+v, want none", st)
	}
	d := rec.Deliveries()[1]
	if d.Err != down || !reflect.DeepEqual(d.Results, []transport.Result{{Err: down}, {Err: down}}) {
		t.Errorf("recorded %+v", d)
	}
	rec.FailAll(nil)

	// A cancelled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rec.Deliver(ctx, &transport.Delivery{Message: m, Recipients: rcpts[:1]}, transport.StatusMap{}); err != context.Canceled {
		t.Errorf("Deliver with a cancelled context = %v", err)
	}
	// No message, and a body that cannot be read.
	if err := rec.Deliver(context.Background(), &transport.Delivery{Recipients: rcpts[:1]}, transport.StatusMap{}); err == nil || err.Error() != "mailtest: recorder: delivery without a message" {
		t.Errorf("Deliver without a message = %v", err)
	}
	bad := testMessage("")
	bad.Body = exigo.OpenerFunc(func() (io.ReadCloser, error) { return nil, errors.New("gone") })
	if err := rec.Deliver(context.Background(), &transport.Delivery{Message: bad, Recipients: rcpts[:1]}, transport.StatusMap{}); err == nil || err.Error() != "mailtest: recorder: reading message 1xUm1a-0000hS-2z: gone" {
		t.Errorf("Deliver with a bad body = %v", err)
	}
	if n := len(rec.Deliveries()); n != 5 {
		t.Errorf("%d deliveries recorded, want 5", n)
	}
}

func TestRecorderWait(t *testing.T) {
	t.Parallel()
	var rec mailtest.Recorder
	m := testMessage("x\n")
	r := m.Envelope.AddRecipient("a@example.com")
	go func() {
		for range 3 {
			time.Sleep(5 * time.Millisecond)
			rec.Deliver(context.Background(), &transport.Delivery{Message: m, Recipients: []*exigo.Recipient{r}}, transport.StatusMap{})
		}
	}()
	ds, err := rec.Wait(3, 10*time.Second)
	if err != nil || len(ds) != 3 {
		t.Fatalf("Wait: %d, %v", len(ds), err)
	}
	_, err = rec.Wait(4, 20*time.Millisecond)
	if want := "mailtest: 3 deliveries recorded after 20ms, want 4"; err == nil || err.Error() != want {
		t.Errorf("Wait error %v, want %q", err, want)
	}
}

// The recorder copies what it keeps: changes to the delivery afterwards
// do not show.
func TestRecorderCopies(t *testing.T) {
	t.Parallel()
	var rec mailtest.Recorder
	m := testMessage("x\n")
	r := m.Envelope.AddRecipient("a@example.com")
	d := &transport.Delivery{Message: m, Recipients: []*exigo.Recipient{r}, Hosts: []transport.Host{{Name: "h1"}}}
	rec.Deliver(context.Background(), d, transport.StatusMap{})
	r.Address = "changed@example.com"
	d.Hosts[0].Name = "changed"
	m.Header.Set("To", "changed")
	got := rec.Deliveries()[0]
	if got.Recipients[0] != "a@example.com" || got.Hosts[0].Name != "h1" || got.Message.Header.Get("To") != "a@example.com" ||
		got.Message.Envelope.Recipients[0].Address != "a@example.com" {
		t.Errorf("recorded delivery changed: %+v", got)
	}
}
