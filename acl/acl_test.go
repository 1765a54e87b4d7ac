package acl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/exigo-mta/exigo"
)

func cs(c ...Condition) []Condition { return c }

func TestVerbs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		list    List
		verdict Verdict
		rule    int
		reply   string
		log     string
	}{
		{"nil list accepts", nil, VerdictAccept, -1, "<nil>", ""},
		{"empty list denies", List{}, VerdictDeny, -1, "550 5.7.1 Administrative prohibition", ""},
		{"accept", List{{Verb: Accept}}, VerdictAccept, 0, "<nil>", ""},
		{"accept false falls through to implicit deny", List{{Verb: Accept, Conditions: cs(no)}}, VerdictDeny, -1, "550 5.7.1 Administrative prohibition", ""},
		{"first accept wins", List{{Verb: Accept, Conditions: cs(yes)}, {Verb: Deny}}, VerdictAccept, 0, "<nil>", ""},
		{"first deny wins", List{{Verb: Deny, Conditions: cs(yes)}, {Verb: Accept}}, VerdictDeny, 0, "550 5.7.1 Administrative prohibition", ""},
		{"deny false then accept", List{{Verb: Deny, Conditions: cs(yes, no)}, {Verb: Accept}}, VerdictAccept, 1, "<nil>", ""},
		{"defer", List{{Verb: Defer}}, VerdictDefer, 0, "451 4.7.1 Temporary local problem - please try later", ""},
		{"discard", List{{Verb: Discard, Conditions: cs(yes)}}, VerdictDiscard, 0, "<nil>", ""},
		{"drop", List{{Verb: Drop}}, VerdictDrop, 0, "550 5.7.1 Administrative prohibition", ""},
		{"require true passes on", List{{Verb: Require, Conditions: cs(yes)}, {Verb: Accept}}, VerdictAccept, 1, "<nil>", ""},
		{"require false denies", List{{Verb: Require, Conditions: cs(no)}, {Verb: Accept}}, VerdictDeny, 0, "550 5.7.1 Administrative prohibition", ""},
		{"require fails closed with message", List{{Verb: Require, Conditions: cs(no), Message: "Sender did not verify"}, {Verb: Accept}}, VerdictDeny, 0, "550 5.7.1 Sender did not verify", "Sender did not verify"},
		{"warn never decides", List{{Verb: Warn, Conditions: cs(yes)}, {Verb: Accept}}, VerdictAccept, 1, "<nil>", ""},
		{"warn alone reaches implicit deny", List{{Verb: Warn}}, VerdictDeny, -1, "550 5.7.1 Administrative prohibition", ""},
		{"condition error defers", List{{Verb: Accept, Conditions: cs(fail)}, {Verb: Accept}}, VerdictDefer, 0, "451 4.7.1 Temporary local problem - please try later", "lookup server down"},
		{"defer_ok makes an error true", List{{Verb: Accept, Conditions: cs(DeferOK(fail))}, {Verb: Deny}}, VerdictAccept, 0, "<nil>", ""},
		{"error in warn is skipped", List{{Verb: Warn, Conditions: cs(fail)}, {Verb: Deny, Message: "after warn"}}, VerdictDeny, 1, "550 5.7.1 after warn", "after warn"},
		{"error in require defers", List{{Verb: Require, Conditions: cs(fail)}}, VerdictDefer, 0, "451 4.7.1 Temporary local problem - please try later", "lookup server down"},
		{"message with codes", List{{Verb: Deny, Message: "551 5.7.9 go away"}}, VerdictDeny, 0, "551 5.7.9 go away", "go away"},
		{"message with basic code only", List{{Verb: Deny, Message: "554 go away"}}, VerdictDeny, 0, "554 5.7.1 go away", "go away"},
		{"message with enhanced code only", List{{Verb: Deny, Message: "5.7.9 enhanced only"}}, VerdictDeny, 0, "550 5.7.9 enhanced only", "enhanced only"},
		{"code of the wrong class dropped", List{{Verb: Deny, Message: "450 4.7.1 wrong class"}}, VerdictDeny, 0, "550 5.7.1 wrong class", "wrong class"},
		{"enhanced code of the wrong class dropped", List{{Verb: Deny, Message: "551 4.7.1 mixed"}}, VerdictDeny, 0, "551 5.7.1 mixed", "mixed"},
		{"defer message codes", List{{Verb: Defer, Message: "421 4.3.2 later"}}, VerdictDefer, 0, "421 4.3.2 later", "later"},
		{"defer message 5xx dropped", List{{Verb: Defer, Message: "550 5.1.1 nope"}}, VerdictDefer, 0, "451 4.7.1 nope", "nope"},
		{"accept message", List{{Verb: Accept, Message: "251 2.1.5 fine"}}, VerdictAccept, 0, "251 2.1.5 fine", ""},
		{"accept message wrong class", List{{Verb: Accept, Message: "550 5.0.0 ok really"}}, VerdictAccept, 0, "250 2.0.0 ok really", ""},
		{"not a code", List{{Verb: Deny, Message: "3.1.4 is pi"}}, VerdictDeny, 0, "550 5.7.1 3.1.4 is pi", "3.1.4 is pi"},
		{"log message", List{{Verb: Deny, LogMessage: "spam source", Message: "go away"}}, VerdictDeny, 0, "550 5.7.1 go away", "spam source"},
		{"multi-line message logs first line", List{{Verb: Deny, Message: "line one\nline two"}}, VerdictDeny, 0, "550 5.7.1 line one\nline two", "line one"},
		{"discard log message", List{{Verb: Discard, LogMessage: "blackholed"}}, VerdictDiscard, 0, "<nil>", "blackholed"},
		{"empty expansion keeps the default", List{{Verb: Deny, Message: "$acl_m_unset"}}, VerdictDeny, 0, "550 5.7.1 Administrative prohibition", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tx, _ := newTx(StageRcpt)
			res := tc.list.Run(context.Background(), tx)
			if res.Verdict != tc.verdict || res.Rule != tc.rule {
				t.Errorf("verdict %v rule %d, want %v rule %d", res.Verdict, res.Rule, tc.verdict, tc.rule)
			}
			if got := replyString(res.Reply); got != tc.reply {
				t.Errorf("reply %q, want %q", got, tc.reply)
			}
			if res.LogMessage != tc.log {
				t.Errorf("log message %q, want %q", res.LogMessage, tc.log)
			}
		})
	}
}

func TestDeferKeepsError(t *testing.T) {
	t.Parallel()
	tx, rec := newTx(StageMail)
	res := List{{Verb: Accept, Conditions: cs(fail)}}.Run(context.Background(), tx)
	if !errors.Is(res.Err, errX) {
		t.Fatalf("Err = %v, want %v", res.Err, errX)
	}
	want := []string{"INFO acl condition deferred stage=mail rule=0 err=lookup server down"}
	if got := rec.Lines(); !slices.Equal(got, want) {
		t.Fatalf("log %q, want %q", got, want)
	}
}

func TestDeferWithSMTPError(t *testing.T) {
	t.Parallel()
	tx, _ := newTx(StageRcpt)
	c := ConditionFunc(func(context.Context, *Tx) (bool, error) {
		return false, fmt.Errorf("callout: %w", &exigo.SMTPError{Code: 452, Enhanced: exigo.EnhancedCode{4, 2, 2}, Message: "mailbox full"})
	})
	res := List{{Verb: Deny, Conditions: cs(c)}}.Run(context.Background(), tx)
	if res.Verdict != VerdictDefer || replyString(res.Reply) != "452 4.2.2 mailbox full" {
		t.Fatalf("got %v %q", res.Verdict, replyString(res.Reply))
	}
}

func TestDefaultRepliesPerStage(t *testing.T) {
	t.Parallel()
	// Observed with exim -bh (Exim 4.96): 550 for deny and drop, 451 for
	// defer, at every stage.
	for st := StageConnect; st <= StageNotQuit; st++ {
		for _, tc := range []struct {
			verb  Verb
			reply string
		}{
			{Deny, "550 5.7.1 Administrative prohibition"},
			{Drop, "550 5.7.1 Administrative prohibition"},
			{Defer, "451 4.7.1 Temporary local problem - please try later"},
		} {
			tx, _ := newTx(st)
			res := List{{Verb: tc.verb}}.Run(context.Background(), tx)
			if got := replyString(res.Reply); got != tc.reply {
				t.Errorf("%v %v: %q, want %q", st, tc.verb, got, tc.reply)
			}
		}
	}
	accepts := map[Stage]string{
		StageConnect: "220  welcome",
		StageHelo:    "250 2.0.0 welcome",
		StageMail:    "250 2.0.0 welcome",
		StageRcpt:    "250 2.0.0 welcome",
		StagePredata: "354  welcome",
		StageData:    "250 2.0.0 welcome",
	}
	for st, want := range accepts {
		tx, _ := newTx(st)
		res := List{{Verb: Accept, Message: "welcome"}}.Run(context.Background(), tx)
		if got := replyString(res.Reply); got != want {
			t.Errorf("%v accept: %q, want %q", st, got, want)
		}
	}
	tx, _ := newTx(StagePredata)
	res := List{{Verb: Accept, Message: "354 go ahead"}}.Run(context.Background(), tx)
	if got := replyString(res.Reply); got != "354  go ahead" {
		t.Errorf("predata 354: %q", got)
	}
}

func TestConditionsShortCircuit(t *testing.T) {
	t.Parallel()
	tx, _ := newTx(StageRcpt)
	first, second := &counter{result: false}, &counter{result: true}
	res := List{{Verb: Deny, Conditions: cs(first, second)}, {Verb: Accept}}.Run(context.Background(), tx)
	if res.Verdict != VerdictAccept || first.n != 1 || second.n != 0 {
		t.Fatalf("verdict %v, evaluations %d %d", res.Verdict, first.n, second.n)
	}
	// A deciding rule stops the list.
	later := &counter{result: true}
	List{{Verb: Accept}, {Verb: Deny, Conditions: cs(later)}}.Run(context.Background(), tx)
	if later.n != 0 {
		t.Fatalf("rule after the decision evaluated %d times", later.n)
	}
}

func TestWarnModifiersRun(t *testing.T) {
	t.Parallel()
	tx, rec := newTx(StageRcpt)
	list := List{
		{Verb: Warn, Conditions: cs(Must(Set("acl_m_seen", "yes")), LogWrite("checking $local_part@$domain"), no, Must(Set("acl_m_after", "no")))},
		{Verb: Warn, Conditions: cs(yes), LogMessage: "warned for $sender_address"},
		{Verb: Warn, Conditions: cs(no), LogMessage: "not logged"},
		{Verb: Accept},
	}
	res := list.Run(context.Background(), tx)
	if res.Verdict != VerdictAccept {
		t.Fatalf("verdict %v", res.Verdict)
	}
	if v, _ := tx.Var("acl_m_seen"); v != "yes" {
		t.Errorf("acl_m_seen = %q", v)
	}
	if _, ok := tx.Var("acl_m_after"); ok {
		t.Errorf("modifier after a false condition ran")
	}
	want := []string{
		"INFO checking user@example.com stage=rcpt",
		"WARN warned for sender@example.org stage=rcpt rule=1",
	}
	if got := rec.Lines(); !slices.Equal(got, want) {
		t.Fatalf("log\n%q\nwant\n%q", got, want)
	}
}

func TestWarnErrorLogged(t *testing.T) {
	t.Parallel()
	tx, rec := newTx(StageRcpt)
	after := &counter{result: true}
	res := List{{Verb: Warn, Conditions: cs(fail, after), LogMessage: "x"}, {Verb: Accept}}.Run(context.Background(), tx)
	if res.Verdict != VerdictAccept || after.n != 0 {
		t.Fatalf("verdict %v, later condition ran %d", res.Verdict, after.n)
	}
	want := []string{"WARN acl warn condition failed stage=rcpt rule=0 err=lookup server down"}
	if got := rec.Lines(); !slices.Equal(got, want) {
		t.Fatalf("log %q", got)
	}
}

func TestMessageModifierIsPositional(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Exim's example: the message in force when the failing condition is
	// reached is the one used.
	list := func(a, b bool) List {
		ca, cb := no, no
		if a {
			ca = yes
		}
		if b {
			cb = yes
		}
		return List{{Verb: Require, Conditions: cs(
			Message("Can't verify sender"), ca,
			Message("Can't verify recipient"), cb,
			Message("This message cannot be used"),
		)}, {Verb: Accept}}
	}
	for _, tc := range []struct {
		a, b  bool
		reply string
	}{
		{false, true, "550 5.7.1 Can't verify sender"},
		{true, false, "550 5.7.1 Can't verify recipient"},
		{true, true, "<nil>"},
	} {
		tx, _ := newTx(StageRcpt)
		if got := replyString(list(tc.a, tc.b).Run(ctx, tx).Reply); got != tc.reply {
			t.Errorf("%v %v: %q, want %q", tc.a, tc.b, got, tc.reply)
		}
	}
	// A message set by a rule that did not decide does not leak into the
	// next rule.
	tx, _ := newTx(StageRcpt)
	res := List{
		{Verb: Accept, Conditions: cs(Message("from rule 0"), LogMessage("log 0"), no)},
		{Verb: Deny},
	}.Run(ctx, tx)
	if got := replyString(res.Reply); got != "550 5.7.1 Administrative prohibition" || res.LogMessage != "" {
		t.Fatalf("reply %q log %q", got, res.LogMessage)
	}
	// A modifier replaces Rule.Message; Message("") clears it.
	tx, _ = newTx(StageRcpt)
	res = List{{Verb: Deny, Message: "static", Conditions: cs(Message("dynamic $acl_m_x"), Must(Set("acl_m_x", "value")))}}.Run(ctx, tx)
	if got := replyString(res.Reply); got != "550 5.7.1 dynamic value" {
		t.Fatalf("reply %q", got)
	}
	tx, _ = newTx(StageRcpt)
	res = List{{Verb: Deny, Message: "static", Conditions: cs(Message(""))}}.Run(ctx, tx)
	if got := replyString(res.Reply); got != "550 5.7.1 Administrative prohibition" {
		t.Fatalf("reply %q", got)
	}
}

func TestContextCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tx, _ := newTx(StageRcpt)
	res := List{{Verb: Accept, Conditions: cs(yes)}}.Run(ctx, tx)
	if res.Verdict != VerdictDefer || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("verdict %v err %v", res.Verdict, res.Err)
	}
}

func TestCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inner := List{
		{Verb: Accept, Conditions: cs(Must(Set("acl_m_inner", "ran")), LocalParts(Must(ParseLocalPartList("ok", nil))))},
		{Verb: Deny, Conditions: cs(LocalParts(Must(ParseLocalPartList("user", nil)))), Message: "551 5.7.2 inner says no"},
		{Verb: Drop, Conditions: cs(LocalParts(Must(ParseLocalPartList("dropme", nil)))), Message: "dropped inside"},
		{Verb: Discard, Conditions: cs(LocalParts(Must(ParseLocalPartList("blackhole", nil))))},
		{Verb: Defer, Message: "452 4.3.1 inner later"},
	}
	for _, tc := range []struct {
		rcpt    string
		outer   List
		verdict Verdict
		reply   string
	}{
		{"ok@x", List{{Verb: Accept, Conditions: cs(Call(inner))}}, VerdictAccept, "<nil>"},
		{"user@x", List{{Verb: Require, Conditions: cs(Call(inner))}}, VerdictDeny, "551 5.7.2 inner says no"},
		{"user@x", List{{Verb: Require, Conditions: cs(Call(inner)), Message: "outer text"}}, VerdictDeny, "550 5.7.1 outer text"},
		{"user@x", List{{Verb: Deny, Conditions: cs(Not(Call(inner)))}}, VerdictDeny, "551 5.7.2 inner says no"},
		{"dropme@x", List{{Verb: Require, Conditions: cs(Call(inner))}}, VerdictDrop, "550 5.7.1 dropped inside"},
		{"dropme@x", List{{Verb: Deny, Conditions: cs(Not(Call(inner)))}}, VerdictDeny, "550 5.7.1 dropped inside"},
		{"blackhole@x", List{{Verb: Accept, Conditions: cs(Call(inner), no)}}, VerdictDiscard, "<nil>"},
		{"blackhole@x", List{{Verb: Deny, Conditions: cs(Call(inner))}}, VerdictDefer, "451 4.7.1 Temporary local problem - please try later"},
		{"later@x", List{{Verb: Accept, Conditions: cs(Call(inner))}}, VerdictDefer, "452 4.3.1 inner later"},
		{"later@x", List{{Verb: Warn, Conditions: cs(Call(inner))}, {Verb: Accept}}, VerdictAccept, "<nil>"},
	} {
		tx, _ := newTx(StageRcpt)
		tx.Recipient.Address = tc.rcpt
		res := tc.outer.Run(ctx, tx)
		if res.Verdict != tc.verdict || replyString(res.Reply) != tc.reply {
			t.Errorf("%s %v: got %v %q, want %v %q", tc.rcpt, tc.outer[0].Verb, res.Verdict, replyString(res.Reply), tc.verdict, tc.reply)
		}
		if v, _ := tx.Var("acl_m_inner"); v != "ran" {
			t.Errorf("%s: nested modifier did not run", tc.rcpt)
		}
	}
	// The outer rule's message set before the call survives it.
	tx, _ := newTx(StageRcpt)
	res := List{{Verb: Deny, Conditions: cs(Message("outer before"), Not(Call(List{{Verb: Accept, Conditions: cs(Message("inner"), no)}})))}}.Run(ctx, tx)
	if got := replyString(res.Reply); got != "550 5.7.1 outer before" {
		t.Fatalf("reply %q", got)
	}
}

func TestCallDepth(t *testing.T) {
	t.Parallel()
	var loop List
	loop = List{{Verb: Accept, Conditions: cs(ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		return Call(loop).Eval(ctx, tx)
	}))}}
	tx, _ := newTx(StageRcpt)
	res := loop.Run(context.Background(), tx)
	if res.Verdict != VerdictDefer || res.Err == nil || res.Err.Error() != "acl: nested ACLs more than 20 deep" {
		t.Fatalf("verdict %v err %v", res.Verdict, res.Err)
	}
	if tx.depth != 0 {
		t.Fatalf("depth %d after the run", tx.depth)
	}
}

func TestStringers(t *testing.T) {
	t.Parallel()
	got := fmt.Sprint(StageConnect, StageNotQuit, Stage(99), Accept, Warn, Verb(9), VerdictDrop, Verdict(7), AtStartRFC, HeaderPosition(9), PerByte, RatePer(9))
	want := "connect notquit stage(99) accept warn verb(9) drop verdict(7) :at_start_rfc: position(9) per_byte per(9)"
	if got != want {
		t.Fatalf("%q", got)
	}
}
