package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/transport"
)

func domains(s string) *acl.DomainList { return acl.Must(acl.ParseDomainList(s, nil)) }

func TestServerRouting(t *testing.T) {
	t.Parallel()
	smarthost := transport.Host{Name: "smart.example", Addr: netip.MustParseAddr("192.0.2.1"), Port: 2525, Pref: -1}
	chain, err := router.NewChain([]router.Entry{
		{Name: "bad", Domains: domains("bad.example"), Router: router.RouterFunc(func(ctx context.Context, a *router.Address) (router.Result, error) {
			return router.Result{Outcome: router.Fail, Reply: &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 2}, Message: "bad domain"}}, nil
		})},
		{Name: "later", Domains: domains("later.example"), Router: router.RouterFunc(func(ctx context.Context, a *router.Address) (router.Result, error) {
			return router.Deferred("try later"), nil
		})},
		{Name: "nowhere", Domains: domains("nowhere.example"), Router: router.AcceptTo("missing")},
		{Name: "lists", Domains: domains("example.com"), Router: router.RouterFunc(func(ctx context.Context, a *router.Address) (router.Result, error) {
			switch a.LocalPart {
			case "list":
				return router.Redirected(a.Recipient.Child("alice@example.com"), a.Recipient.Child("bob@remote.example")), nil
			case "void":
				return router.Result{Outcome: router.Discard}, nil
			}
			return router.Declined(), nil
		})},
		{Name: "local", Domains: domains("example.com"), Router: router.AcceptTo("local")},
		{Name: "smarthost", Router: router.RouterFunc(func(ctx context.Context, a *router.Address) (router.Result, error) {
			return router.Accepted("remote", smarthost), nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	var local, remote mailtest.Recorder
	remote.FailWith("Dave@Remote.example", &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"})
	srv := mailtest.NewServer(t, mailtest.WithRouting(chain, map[string]transport.Transport{"local": &local, "remote": &remote}))
	c := srv.Dial(t)
	rcpts := []string{"alice@example.com", "list@example.com", "x@bad.example", "y@later.example",
		"carol@remote.example", "dave@remote.example", "void@example.com", "z@nowhere.example"}
	if _, err := c.Transaction("sender@example.org", rcpts, "Subject: routed\n\nbody\n"); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	id := m.Message.ID

	var got []string
	for _, o := range srv.Outcomes() {
		if o.MessageID != id {
			t.Errorf("outcome for message %q, want %q", o.MessageID, id)
		}
		got = append(got, o.String())
	}
	want := []string{
		"alice@example.com: accepted by router local for transport local: 250 2.0.0 OK recorded",
		"alice@example.com: accepted by router local for transport local: 250 2.0.0 OK recorded",
		"bob@remote.example: accepted by router smarthost for transport remote: 250 2.0.0 OK recorded",
		"x@bad.example: failed by router bad: 550 5.1.2 bad domain",
		"y@later.example: deferred by router later: 451 4.0.0 try later",
		"carol@remote.example: accepted by router smarthost for transport remote: 250 2.0.0 OK recorded",
		"dave@remote.example: accepted by router smarthost for transport remote: 550 5.1.1 mailbox unavailable",
		"void@example.com: discarded by router lists",
		`z@nowhere.example: accepted by router nowhere for transport missing: mailtest: no transport named "missing"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("outcomes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	outs := srv.Outcomes()
	if root := outs[2].Recipient.Root().Address; root != "list@example.com" {
		t.Errorf("bob's root is %q", root)
	}
	if err := outs[6].Err(); !transport.Permanent(err) {
		t.Errorf("dave: %v is not permanent", err)
	}
	if err := outs[4].Err(); transport.Permanent(err) || err == nil {
		t.Errorf("y: %v", err)
	}
	for _, i := range []int{0, 7} {
		if err := outs[i].Err(); err != nil {
			t.Errorf("%s: Err() = %v", outs[i].Recipient.Address, err)
		}
	}
	// Routing worked on a copy: the recorded message still has the
	// envelope as received.
	if got := m.Recipients(); !slices.Equal(got, rcpts) {
		t.Errorf("recorded recipients %q", got)
	}

	ld := local.Deliveries()
	if len(ld) != 1 || !slices.Equal(ld[0].Recipients, []string{"alice@example.com", "alice@example.com"}) || ld[0].Hosts != nil {
		t.Fatalf("local deliveries %+v", ld)
	}
	rd := remote.Deliveries()
	if len(rd) != 1 {
		t.Fatalf("%d remote deliveries", len(rd))
	}
	d := rd[0]
	if d.MessageID != id || d.ReturnPath != "sender@example.org" ||
		!slices.Equal(d.Recipients, []string{"bob@remote.example", "carol@remote.example", "dave@remote.example"}) ||
		!slices.Equal(d.Hosts, []transport.Host{smarthost}) || d.Err != nil {
		t.Errorf("remote delivery %+v", d)
	}
	wantData := strings.ReplaceAll(receivedField(m.Message, "esmtp")+"Subject: routed\n\nbody\n", "\n", "\r\n")
	if string(d.Data) != wantData {
		t.Errorf("data:\n%q\nwant\n%q", d.Data, wantData)
	}
	wantResults := []transport.Result{
		{Reply: mailtest.RecordedReply, Attempt: &transport.Attempt{Host: smarthost}},
		{Reply: mailtest.RecordedReply, Attempt: &transport.Attempt{Host: smarthost}},
		{Err: &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"},
			Attempt: &transport.Attempt{Host: smarthost, LastReply: &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}}},
	}
	if !reflect.DeepEqual(d.Results, wantResults) {
		t.Errorf("results %+v", d.Results)
	}
	if !reflect.DeepEqual(*outs[6].Delivery, wantResults[2]) {
		t.Errorf("dave's outcome %+v", outs[6].Delivery)
	}
}

// Transports that report no result for a recipient: the error returned
// is its outcome, or an error saying so.
func TestServerRoutingMissingResults(t *testing.T) {
	t.Parallel()
	chain, err := router.NewChain([]router.Entry{
		{Name: "down", Domains: domains("down.example"), Router: router.AcceptTo("down")},
		{Name: "silent", Router: router.AcceptTo("silent")},
	})
	if err != nil {
		t.Fatal(err)
	}
	errDown := errors.New("connection refused")
	srv := mailtest.NewServer(t, mailtest.WithRouting(chain, map[string]transport.Transport{
		"down":   transport.Func(func(context.Context, *transport.Delivery, transport.Status) error { return errDown }),
		"silent": transport.Func(func(context.Context, *transport.Delivery, transport.Status) error { return nil }),
	}))
	c := srv.Dial(t)
	if _, err := c.Transaction("", []string{"a@down.example", "b@example.com"}, "x\n"); err != nil {
		t.Fatal(err)
	}
	outs := srv.Outcomes()
	if len(outs) != 2 || !errors.Is(outs[0].Err(), errDown) {
		t.Fatalf("outcomes %v", outs)
	}
	if got, want := outs[1].String(), `b@example.com: accepted by router silent for transport silent: mailtest: transport "silent" reported no result for b@example.com`; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := srv.Messages()[0].Message.Envelope.Sender; got != "" {
		t.Errorf("sender %q", got)
	}
}

func TestOutcomeErrAndString(t *testing.T) {
	t.Parallel()
	r := &exigo.Recipient{Address: "a@example.com"}
	boom := errors.New("boom")
	for _, tc := range []struct {
		o   mailtest.Outcome
		err string
		str string
	}{
		{mailtest.Outcome{Recipient: r, Route: router.Result{Outcome: router.Fail}}, "550 5.1.1 Unrouteable address", "a@example.com: failed: 550 5.1.1 Unrouteable address"},
		{mailtest.Outcome{Recipient: r, Router: "dns", Route: router.Result{Outcome: router.Defer, Err: boom}}, "boom", "a@example.com: deferred by router dns: boom"},
		{mailtest.Outcome{Recipient: r, Router: "x", Route: router.Result{Outcome: router.Defer}}, "deferred", "a@example.com: deferred by router x: deferred"},
		{mailtest.Outcome{Recipient: r, Router: "x", Route: router.Accepted("t")}, "mailtest: not delivered", "a@example.com: accepted by router x for transport t: mailtest: not delivered"},
		{mailtest.Outcome{Recipient: r, Router: "x", Route: router.Accepted("t"), Delivery: &transport.Result{Err: boom}}, "boom", "a@example.com: accepted by router x for transport t: boom"},
	} {
		if got := fmt.Sprint(tc.o.Err()); got != tc.err {
			t.Errorf("Err() = %q, want %q", got, tc.err)
		}
		if got := tc.o.String(); got != tc.str {
			t.Errorf("String() = %q, want %q", got, tc.str)
		}
	}
}
