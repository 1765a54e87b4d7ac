package acl

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/exigo-mta/exigo"
)

func TestHostsCondition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	res := newFakeResolver()
	cfg := testConfig(res)
	tx, _ := newTx(StageConnect)
	c := Hosts(Must(ParseHostList("net-map; : *.example.net", cfg)))
	ok, err := c.Eval(ctx, tx)
	if !ok || err != nil || tx.Expand("$host_data") != "addr-v4" {
		t.Fatalf("got %v %v host_data %q", ok, err, tx.Expand("$host_data"))
	}
	// The name looked up for a pattern is kept on the session.
	ok, err = Hosts(Must(ParseHostList("*.example.net", cfg))).Eval(ctx, tx)
	if !ok || err != nil || tx.Session.HostName != "client.example.net" {
		t.Fatalf("got %v %v name %q", ok, err, tx.Session.HostName)
	}
	// A failed name lookup is remembered for the session.
	tx, _ = newTx(StageConnect)
	tx.Session.RemoteAddr = netip.MustParseAddrPort("[2001:db8::99]:25")
	l := Must(ParseHostList("*.example.net", cfg))
	for range 3 {
		if ok, err := Hosts(l).Eval(ctx, tx); ok || err != nil {
			t.Fatalf("got %v %v", ok, err)
		}
	}
	n := 0
	for _, c := range res.Calls() {
		if c == "PTR 2001:db8::99" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("reverse lookups: %d (%q)", n, res.Calls())
	}
	// No session: only "" and "*" match.
	tx = &Tx{Stage: StageConnect}
	for list, want := range map[string]bool{":": true, "*": true, "127.0.0.1": false} {
		if ok, err := Hosts(Must(ParseHostList(list, nil))).Eval(ctx, tx); ok != want || err != nil {
			t.Errorf("no session, %q: %v %v", list, ok, err)
		}
	}
}

func TestEnvelopeConditions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testConfig(nil)
	tx, _ := newTx(StageRcpt) // User@Example.COM from sender@example.org
	for _, tc := range []struct {
		c       Condition
		want    bool
		varName string
		varVal  string
	}{
		{Domains(Must(ParseDomainList("*.com", cfg))), true, "domain_data", "*.com"},
		{Domains(Must(ParseDomainList("example.org", cfg))), false, "", ""},
		{LocalParts(Must(ParseLocalPartList("USER", cfg))), true, "local_part_data", "USER"},
		{LocalParts(Must(ParseLocalPartList("+caseful : user", cfg))), false, "", ""},
		{Recipients(Must(ParseAddressList("user@example.com", cfg))), true, "recipient_data", "user@example.com"},
		{Senders(Must(ParseAddressList("*@example.org", cfg))), true, "sender_data", "*@example.org"},
		{Senders(Must(ParseAddressList(":", cfg))), false, "", ""},
		{SenderDomains(Must(ParseDomainList("example.org", cfg))), true, "", ""},
		{SenderDomains(Must(ParseDomainList("example.com", cfg))), false, "", ""},
	} {
		ok, err := tc.c.Eval(ctx, tx)
		if ok != tc.want || err != nil {
			t.Errorf("%v: got %v %v", tc, ok, err)
		}
		if tc.varName != "" {
			if got := tx.Expand("$" + tc.varName); got != tc.varVal {
				t.Errorf("$%s = %q, want %q", tc.varName, got, tc.varVal)
			}
		}
	}
	// A bounce: the empty sender.
	tx.Message.Envelope.Sender = ""
	if ok, _ := Senders(Must(ParseAddressList("<>", nil))).Eval(ctx, tx); !ok {
		t.Errorf("empty sender not matched by <>")
	}
	if ok, _ := SenderDomains(Must(ParseDomainList(":", nil))).Eval(ctx, tx); !ok {
		t.Errorf("empty sender domain not matched by an empty item")
	}
}

func TestConditionsAtWrongStage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dl := Must(ParseDomainList("*", nil))
	al := Must(ParseAddressList("*", nil))
	for _, tc := range []struct {
		st   Stage
		c    Condition
		want string
		is   error
	}{
		{StageMail, Domains(dl), "acl: domains condition at the mail stage: no recipient (only at the rcpt stage)", ErrNoRecipient},
		{StageData, LocalParts(Must(ParseLocalPartList("*", nil))), "acl: local_parts condition at the data stage: no recipient (only at the rcpt stage)", ErrNoRecipient},
		{StageMail, Recipients(al), "acl: recipients condition at the mail stage: no recipient (only at the rcpt stage)", ErrNoRecipient},
		{StageHelo, Senders(al), "acl: senders condition at the helo stage: no message in progress", ErrNoMessage},
		{StageConnect, SenderDomains(dl), "acl: sender_domains condition at the connect stage: no message in progress", ErrNoMessage},
		{StageMail, VerifyRecipient(nil), "acl: verify = recipient at the mail stage: no recipient (only at the rcpt stage)", ErrNoRecipient},
	} {
		tx, _ := newTx(tc.st)
		ok, err := tc.c.Eval(ctx, tx)
		if ok || err == nil || err.Error() != tc.want || !errors.Is(err, tc.is) {
			t.Errorf("got %v %v, want %q", ok, err, tc.want)
		}
		// In a list, it defers.
		if res := (List{{Verb: Accept, Conditions: cs(tc.c)}}).Run(ctx, tx); res.Verdict != VerdictDefer {
			t.Errorf("%q: verdict %v", tc.want, res.Verdict)
		}
	}
}

func TestAuthenticated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx, _ := newTx(StageMail)
	for _, names := range [][]string{{"*"}, {"plain"}} {
		if ok, _ := Authenticated(names...).Eval(ctx, tx); ok {
			t.Errorf("%q true without authentication", names)
		}
	}
	tx.Session.AuthMech, tx.Session.AuthID = "PLAIN", "joe"
	for _, tc := range []struct {
		names []string
		want  bool
	}{{[]string{"*"}, true}, {[]string{"plain"}, true}, {[]string{"login", "PLAIN"}, true}, {[]string{"login"}, false}, {nil, false}} {
		if ok, _ := Authenticated(tc.names...).Eval(ctx, tx); ok != tc.want {
			t.Errorf("%q: %v", tc.names, ok)
		}
	}
	if ok, _ := Authenticated("*").Eval(ctx, &Tx{}); ok {
		t.Errorf("true without a session")
	}
}

func TestVerifyRecipient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	unrouteable := &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: "Unrouteable address"}
	verifier := RecipientVerifierFunc(func(_ context.Context, _ *Tx, r *exigo.Recipient) error {
		switch r.Address {
		case "ok@x":
			return nil
		case "bad@x":
			return unrouteable
		case "full@x":
			return &exigo.SMTPError{Code: 452, Enhanced: exigo.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return errors.New("router chain unavailable")
	})
	v := VerifyRecipient(verifier)
	for _, tc := range []struct {
		rcpt    string
		list    List
		verdict Verdict
		reply   string
		log     string
	}{
		{"ok@x", List{{Verb: Require, Conditions: cs(v)}, {Verb: Accept}}, VerdictAccept, "<nil>", ""},
		{"bad@x", List{{Verb: Require, Conditions: cs(v)}, {Verb: Accept}}, VerdictDeny, "550 5.1.1 Unrouteable address", "Unrouteable address"},
		{"bad@x", List{{Verb: Deny, Conditions: cs(Not(v))}}, VerdictDeny, "550 5.1.1 Unrouteable address", "Unrouteable address"},
		{"bad@x", List{{Verb: Deny, Conditions: cs(Not(v)), Message: "no such user ($acl_verify_message)", LogMessage: "verify failed"}}, VerdictDeny, "550 5.7.1 no such user (Unrouteable address)", "verify failed: Unrouteable address"},
		{"bad@x", List{{Verb: Defer, Conditions: cs(Not(v))}}, VerdictDefer, "451 4.7.1 Unrouteable address", "Unrouteable address"},
		{"bad@x", List{{Verb: Accept, Conditions: cs(v)}, {Verb: Deny}}, VerdictDeny, "550 5.7.1 Administrative prohibition", ""},
		{"bad@x", List{{Verb: Warn, Conditions: cs(Not(v), Must(Set("acl_m_why", "$acl_verify_message")))}, {Verb: Deny, Message: "$acl_m_why / [$acl_verify_message]"}}, VerdictDeny, "550 5.7.1 Unrouteable address / []", "Unrouteable address / []"},
		{"full@x", List{{Verb: Require, Conditions: cs(v)}}, VerdictDefer, "452 4.2.2 mailbox full", "acl: verifying recipient full@x: 452 4.2.2 mailbox full"},
		{"other@x", List{{Verb: Require, Conditions: cs(v)}}, VerdictDefer, "451 4.7.1 Temporary local problem - please try later", "acl: verifying recipient other@x: router chain unavailable"},
		{"other@x", List{{Verb: Require, Conditions: cs(DeferOK(v))}, {Verb: Accept}}, VerdictAccept, "<nil>", ""},
	} {
		tx, _ := newTx(StageRcpt)
		tx.Recipient.Address = tc.rcpt
		res := tc.list.Run(ctx, tx)
		if res.Verdict != tc.verdict || replyString(res.Reply) != tc.reply || res.LogMessage != tc.log {
			t.Errorf("%s: got %v %q log %q, want %v %q log %q", tc.rcpt, res.Verdict, replyString(res.Reply), res.LogMessage, tc.verdict, tc.reply, tc.log)
		}
	}
	// The verifier's error value is not shared with the reply.
	tx, _ := newTx(StageRcpt)
	tx.Recipient.Address = "bad@x"
	res := List{{Verb: Require, Conditions: cs(v)}}.Run(ctx, tx)
	res.Reply.Message = "changed"
	if unrouteable.Message != "Unrouteable address" {
		t.Fatalf("reply aliases the verifier's error")
	}
}

func TestCombinators(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx, _ := newTx(StageRcpt)
	for _, tc := range []struct {
		name string
		c    Condition
		want bool
		err  bool
	}{
		{"Not(yes)", Not(yes), false, false},
		{"Not(no)", Not(no), true, false},
		{"Not(fail)", Not(fail), false, true},
		{"All()", All(), true, false},
		{"All(yes,yes)", All(yes, yes), true, false},
		{"All(yes,no)", All(yes, no), false, false},
		{"All(no,fail)", All(no, fail), false, false},
		{"All(yes,fail)", All(yes, fail), false, true},
		{"Any()", Any(), false, false},
		{"Any(no,yes)", Any(no, yes), true, false},
		{"Any(yes,fail)", Any(yes, fail), true, false},
		{"Any(no,fail,yes)", Any(no, fail, yes), false, true},
		{"Any(no,no)", Any(no, no), false, false},
		{"DeferOK(fail)", DeferOK(fail), true, false},
		{"DeferOK(no)", DeferOK(no), false, false},
	} {
		ok, err := tc.c.Eval(ctx, tx)
		if ok != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: got %v %v", tc.name, ok, err)
		}
	}
	// Short-circuits.
	a, b := &counter{result: true}, &counter{result: true}
	Any(a, b).Eval(ctx, tx)
	c, d := &counter{result: false}, &counter{result: true}
	All(c, d).Eval(ctx, tx)
	if got := []int{a.n, b.n, c.n, d.n}; !slices.Equal(got, []int{1, 0, 1, 0}) {
		t.Errorf("evaluations %v", got)
	}
	// DeferOK logs what it ignores.
	tx, rec := newTx(StageMail)
	DeferOK(fail).Eval(ctx, tx)
	if got, want := rec.Lines(), []string{"INFO acl condition error ignored (defer_ok) stage=mail err=lookup server down"}; !slices.Equal(got, want) {
		t.Errorf("log %q", got)
	}
}
