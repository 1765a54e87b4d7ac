package srs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/transport"
)

func ours(d string) bool { return d == "fwd.example.net" }

func srsChain(t *testing.T, scheme Scheme, now time.Time) *router.Chain {
	t.Helper()
	c, err := router.NewChain([]router.Entry{
		{Name: "inbound_srs", Router: &Router{Scheme: scheme, Domains: ours, Now: func() time.Time { return now }}},
		{Name: "inbound_srs_failure", Router: &FailRouter{Domains: ours}},
		{Name: "remote", Router: router.RouterFunc(func(context.Context, *router.Address) (router.Result, error) {
			return router.Accepted("smtp"), nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func describe(rs []router.Routed) string {
	var out []string
	for _, r := range rs {
		s := fmt.Sprintf("%s %s %s", r.Recipient.Address, r.Router, r.Outcome)
		if r.Reply != nil {
			s += " " + r.Reply.Error()
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func TestRouters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	native := Native{Secret: "secret"}
	full := &SRS{Secrets: []string{"tops3cret"}}
	db := &SRS{Secrets: []string{"k"}, DB: &MapStore{}}
	dbAddr, _ := db.Forward(ctx, "user@example.com", "fwd.example.net", day20778)
	srs1, _ := full.Forward(ctx, "SRS0=BCgk=JK=example.com=user@first.example", "fwd.example.net", day20778)
	for _, tc := range []struct {
		scheme        Scheme
		sender, rcpt  string
		want, srsRcpt string
	}{
		{native, "", "SRS0=b3d4=jk=example.com=user@fwd.example.net", "user@example.com remote accept", "user@example.com"},
		{native, "", "SRS0=b3d4=JK=Example.com=User@FWD.example.net", "user@example.com remote accept", "user@example.com"},
		{native, "", "SRS0=0000=jk=example.com=user@fwd.example.net",
			"SRS0=0000=jk=example.com=user@fwd.example.net inbound_srs_failure fail 550 5.0.0 Invalid SRS recipient address", ""},
		{native, "", "SRS0=b3d4=ja=example.com=user@fwd.example.net", "user@example.com remote accept", "user@example.com"},
		{native, "", "SRS0=b3d4=i7=example.com=user@fwd.example.net",
			"SRS0=b3d4=i7=example.com=user@fwd.example.net inbound_srs_failure fail 550 5.0.0 Invalid SRS recipient address", ""},
		{native, "someone@else", "SRS0=b3d4=jk=example.com=user@fwd.example.net", "SRS0=b3d4=jk=example.com=user@fwd.example.net remote accept", ""},
		{native, "", "SRS0=b3d4=jk=example.com=user@other.example", "SRS0=b3d4=jk=example.com=user@other.example remote accept", ""},
		{native, "", "postmaster@fwd.example.net", "postmaster@fwd.example.net remote accept", ""},
		{full, "", "SRS0=BCgk=JK=example.com=user@fwd.example.net", "user@example.com remote accept", "user@example.com"},
		{full, "", "SRS1=haEB=fwd.example.net==BCgk=JK=example.com=user@fwd.example.net",
			"user@example.com remote accept", "SRS0=BCgk=JK=example.com=user@fwd.example.net"},
		{full, "", srs1, "SRS0=BCgk=JK=example.com=user@first.example remote accept", "SRS0=BCgk=JK=example.com=user@first.example"},
		{full, "", "SRS0=BCgX=JK=example.com=user@fwd.example.net",
			"SRS0=BCgX=JK=example.com=user@fwd.example.net inbound_srs_failure fail 550 5.0.0 Invalid SRS recipient address", ""},
		{db, "", dbAddr, "user@example.com remote accept", "user@example.com"},
	} {
		msg := &exigo.Message{Envelope: exigo.Envelope{Sender: tc.sender}}
		rcpt := msg.Envelope.AddRecipient(tc.rcpt)
		got := describe(srsChain(t, tc.scheme, day20778).Route(ctx, msg, rcpt))
		if got != tc.want {
			t.Errorf("%T %q from %q: %s; want %s", tc.scheme, tc.rcpt, tc.sender, got, tc.want)
		}
		v, _ := exigo.Get(&rcpt.Attrs, VarRecipient)
		if v != tc.srsRcpt {
			t.Errorf("%q: $srs_recipient %q, want %q", tc.rcpt, v, tc.srsRcpt)
		}
	}
}

type recorder struct {
	got []string
}

func (r *recorder) Deliver(_ context.Context, d *transport.Delivery, st transport.Status) error {
	var rs []string
	for _, x := range d.Recipients {
		rs = append(rs, x.Address)
		if x.Address == "fail@x" {
			continue // left to the returned error
		}
		st.Set(x, transport.Result{Reply: "250 OK"})
	}
	r.got = append(r.got, d.ReturnPath+" -> "+strings.Join(rs, ","))
	if strings.Contains(strings.Join(rs, ","), "fail@x") {
		return errors.New("451 try later")
	}
	return nil
}

func TestReturnPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{}
	tr := ReturnPath(rec, Native{Secret: "secret"}, func() time.Time { return day20778 })
	msg := &exigo.Message{Envelope: exigo.Envelope{Sender: "user@example.com"}}
	a := msg.Envelope.AddRecipient("alias@fwd.example.net").Child("dest@remote.example")
	b := msg.Envelope.AddRecipient("other@Second.example").Child("fail@x")
	c := msg.Envelope.AddRecipient("alias2@fwd.example.net").Child("dest2@remote.example")
	st := transport.StatusMap{}
	err := tr.Deliver(ctx, &transport.Delivery{Message: msg, Recipients: []*exigo.Recipient{a, b, c}, ReturnPath: "user@example.com"}, st)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SRS0=b3d4=jk=example.com=user@fwd.example.net -> dest@remote.example,dest2@remote.example",
		"SRS0=b3d4=jk=example.com=user@second.example -> fail@x",
	}
	if strings.Join(rec.got, "\n") != strings.Join(want, "\n") {
		t.Errorf("deliveries:\n%s\nwant:\n%s", strings.Join(rec.got, "\n"), strings.Join(want, "\n"))
	}
	if st[a].Reply != "250 OK" || st[c].Reply != "250 OK" || st[b].Err == nil || st[b].Err.Error() != "451 try later" {
		t.Errorf("statuses: %+v", st)
	}
	if v, _ := exigo.Get(&a.Attrs, VarOrigSender); v != "user@example.com" {
		t.Errorf("$srs_orig_sender = %q", v)
	}
	// A bounce passes unchanged; a return path that cannot be encoded
	// fails permanently.
	rec.got = nil
	st = transport.StatusMap{}
	_ = tr.Deliver(ctx, &transport.Delivery{Message: msg, Recipients: []*exigo.Recipient{a}, ReturnPath: ""}, st)
	_ = tr.Deliver(ctx, &transport.Delivery{Message: msg, Recipients: []*exigo.Recipient{c}, ReturnPath: "a b@x"}, st)
	if strings.Join(rec.got, "\n") != " -> dest@remote.example" || !transport.Permanent(st[c].Err) {
		t.Errorf("bounce/bad: %q, %v", rec.got, st[c].Err)
	}
}
