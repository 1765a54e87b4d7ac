package acl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
)

func TestAddHeaderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		pos  HeaderPosition
		want string
	}{
		{"", AtEnd, `acl: add_header "": empty header text`},
		{"\n \n", AtEnd, `acl: add_header "\n \n": empty header text`},
		{"no colon here", AtEnd, `acl: add_header "no colon here": no colon after the field name`},
		{"Bad Name: x", AtEnd, `acl: add_header "Bad Name: x": invalid field name "Bad Name"`},
		{": x", AtEnd, `acl: add_header ": x": invalid field name ""`},
		{"X-A: a\rb", AtEnd, `acl: add_header "X-A: a\rb": bare CR`},
		{"X-A: a\n \nX-B: b", AtEnd, `acl: add_header "X-A: a\n ": empty folded line`},
		{"X-A: " + strings.Repeat("a", 995), AtEnd, `acl: add_header "X-A: ` + strings.Repeat("a", 995) + `": line longer than 998 characters`},
		{"X-A: ok\nsecond line", AtEnd, `acl: add_header "second line": no colon after the field name`},
		{"X-A: a", HeaderPosition(7), "acl: add_header: invalid position 7"},
	} {
		_, err := AddHeader(tc.text, tc.pos)
		if err == nil || err.Error() != tc.want {
			t.Errorf("AddHeader(%q): %v, want %q", tc.text, err, tc.want)
		}
	}
	// Variables stand for valid text when the template is checked.
	for _, ok := range []string{"$acl_m_name: value", "X-A: $acl_m_v", "X-Folded: a\r\n\tb", "\n\nX-Trim: yes\n\n", "X-A: " + strings.Repeat("a", 993)} {
		if _, err := AddHeader(ok, AtEnd); err != nil {
			t.Errorf("AddHeader(%q): %v", ok, err)
		}
	}
}

func TestAddHeaderRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx, _ := newTx(StageRcpt)
	tx.Message.Vars = map[string]string{"acl_m_score": "7", "acl_m_name": "Bad Name", "acl_m_evil": "x\r\nInjected: yes"}
	list := List{{Verb: Warn, Conditions: cs(
		Must(AddHeader("X-Score: $acl_m_score\n\tfor $local_part@$domain", AtEnd)),
		Must(AddHeader(":at_start:X-First: 1\n:after_received:X-Second: 2\nX-Third: 3", AtStartRFC)),
		Must(AddHeader("$acl_m_name: v", AtEnd)),
		Must(AddHeader("X-Evil: $acl_m_evil", AtEnd)),
		Must(AddHeader("X-Score: $acl_m_score\n\tfor $local_part@$domain", AtStart)), // duplicate text
		Must(AddHeader("X-Empty: a\n\t$acl_m_unset", AtEnd)),
		Must(AddHeader("$acl_m_unset", AtEnd)),
	)}, {Verb: Accept}}
	if res := list.Run(ctx, tx); res.Verdict != VerdictAccept {
		t.Fatalf("verdict %v err %v", res.Verdict, res.Err)
	}
	want := []AddedHeader{
		{"X-Score: 7\n\tfor user@example.com", AtEnd},
		{"X-First: 1", AtStart},
		{"X-Second: 2", AfterReceived},
		{"X-Third: 3", AtStartRFC},
		{"X-ACL-Warn: Bad Name: v", AtEnd},
		{"X-Evil: x  Injected: yes", AtEnd},
		{"X-Empty: a", AtEnd},
	}
	if tx.Edits == nil || !reflect.DeepEqual(tx.Edits.Add, want) {
		t.Fatalf("added\n%q\nwant\n%q", tx.Edits, want)
	}
}

func TestHeaderModifiersStages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	add := Must(AddHeader("X-A: 1", AtEnd))
	rm := Must(RemoveHeader("X-B"))
	for st := StageConnect; st <= StageNotQuit; st++ {
		allowed := st == StageMail || st == StageRcpt || st == StagePredata || st == StageData || st == StageMIME
		for name, m := range map[string]Action{"add_header": add, "remove_header": rm} {
			tx, _ := newTx(st)
			err := m.Apply(ctx, tx)
			if allowed != (err == nil) {
				t.Errorf("%s at %v: %v", name, st, err)
			}
			if err != nil && err.Error() != "acl: cannot use "+name+" at the "+st.String()+" stage" {
				t.Errorf("%s at %v: %q", name, st, err)
			}
		}
	}
}

func TestRemoveHeader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, "acl: remove_header: no field names"},
		{[]string{""}, "acl: remove_header: no field names"},
		{[]string{"x-a : bad name"}, `acl: remove_header: invalid field name "bad name"`},
	} {
		if _, err := RemoveHeader(tc.names...); err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v", tc.names, err)
		}
	}
	tx, _ := newTx(StageData)
	tx.Session.Vars = map[string]string{"acl_c_ihdrs": "x-route-mail1 : x-route-mail2", "acl_c_bad": "a b"}
	list := List{{Verb: Warn, Conditions: cs(
		Must(RemoveHeader("X-Internal", "x-a : X-B")),
		Must(RemoveHeader("$acl_c_ihdrs", "x-internal")),
	)}, {Verb: Accept}}
	list.Run(ctx, tx)
	want := []string{"X-Internal", "x-a", "X-B", "x-route-mail1", "x-route-mail2"}
	if !slices.Equal(tx.Edits.Remove, want) {
		t.Fatalf("remove %q, want %q", tx.Edits.Remove, want)
	}
	err := Must(RemoveHeader("$acl_c_bad")).Apply(ctx, tx)
	if err == nil || err.Error() != `acl: remove_header: invalid field name "a b" from "$acl_c_bad"` {
		t.Fatalf("got %v", err)
	}
}

func TestSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, name := range []string{"acl_c0", "acl_m9", "acl_c_user", "acl_m_", "acl_m1x", "acl_c_A_b_9"} {
		if _, err := Set(name, "v"); err != nil {
			t.Errorf("Set(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "acl_c", "acl_x0", "acl_ca", "acl_m-x", "acl_m_a.b", "foo", "ACL_C0"} {
		_, err := Set(name, "v")
		if err == nil || err.Error() != `acl: set: invalid ACL variable name "`+name+`" (want acl_c or acl_m, then a digit or _, then letters, digits or _)` {
			t.Errorf("Set(%q): %v", name, err)
		}
	}
	tx, _ := newTx(StageRcpt)
	list := List{{Verb: Warn, Conditions: cs(
		Must(Set("acl_c_count", "1")),
		Must(Set("acl_m_who", "$local_part at $sender_host_address")),
		Must(SetFunc("acl_m_len", func(_ context.Context, tx *Tx) (string, error) { return tx.Expand("${acl_m_who}!"), nil })),
	)}, {Verb: Accept}}
	list.Run(ctx, tx)
	if want := map[string]string{"acl_c_count": "1"}; !reflect.DeepEqual(tx.Session.Vars, want) {
		t.Errorf("session vars %q", tx.Session.Vars)
	}
	if want := map[string]string{"acl_m_who": "user at 192.0.2.1", "acl_m_len": "user at 192.0.2.1!"}; !reflect.DeepEqual(tx.Message.Vars, want) {
		t.Errorf("message vars %q", tx.Message.Vars)
	}
	// acl_m needs a message; acl_c a session.
	for _, st := range []Stage{StageConnect, StageHelo} {
		tx, _ := newTx(st)
		tx.Message = &exigo.Message{}
		err := Must(Set("acl_m0", "x")).Apply(ctx, tx)
		if !errors.Is(err, ErrNoMessage) || err.Error() != "acl: set acl_m0 at the "+st.String()+" stage: no message in progress" {
			t.Errorf("%v: %v", st, err)
		}
		if err := Must(Set("acl_c0", "x")).Apply(ctx, tx); err != nil {
			t.Errorf("%v acl_c0: %v", st, err)
		}
	}
	err := Must(Set("acl_c0", "x")).Apply(ctx, &Tx{Stage: StageMail})
	if !errors.Is(err, ErrNoSession) {
		t.Errorf("no session: %v", err)
	}
	err = Must(SetFunc("acl_m0", func(context.Context, *Tx) (string, error) { return "", errX })).Apply(ctx, tx)
	if err == nil || err.Error() != "acl: set acl_m0: lookup server down" {
		t.Errorf("SetFunc error: %v", err)
	}
	if res := (List{{Verb: Accept, Conditions: cs(Must(Set("acl_m0", "x")))}}).Run(ctx, &Tx{Stage: StageConnect}); res.Verdict != VerdictDefer {
		t.Errorf("set acl_m at connect: verdict %v", res.Verdict)
	}
}

func TestSetVar(t *testing.T) {
	t.Parallel()
	tx, _ := newTx(StageData)
	for name, want := range map[string]string{
		"dcc_result":  "",
		"acl_c_x":     "",
		"acl_bad":     `acl: invalid ACL variable name "acl_bad" (want acl_c or acl_m, then a digit or _, then letters, digits or _)`,
		"bad-name":    `acl: invalid variable name "bad-name"`,
		"":            `acl: invalid variable name ""`,
		"sender_rate": "",
	} {
		err := tx.SetVar(name, "v")
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("SetVar(%q): %q, want %q", name, got, want)
		}
	}
	if got := tx.Expand("$dcc_result $acl_c_x"); got != "v v" {
		t.Errorf("expanded %q", got)
	}
}

func TestLogWrite(t *testing.T) {
	t.Parallel()
	tx, rec := newTx(StageMail)
	list := List{{Verb: Warn, Conditions: cs(
		LogWrite("from $sender_address"),
		LogWrite(":main,reject: both logs"),
		LogWrite(":panic: bad thing"),
		LogWrite(":not a selector: kept"),
	)}, {Verb: Accept}}
	list.Run(context.Background(), tx)
	want := []string{
		"INFO from sender@example.org stage=mail",
		"INFO both logs stage=mail",
		"ERROR bad thing stage=mail",
		"INFO :not a selector: kept stage=mail",
	}
	if got := rec.Lines(); !slices.Equal(got, want) {
		t.Fatalf("log\n%q\nwant\n%q", got, want)
	}
}

func readHeader(t *testing.T, s string) textproto.Header {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(s)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func writeHeader(t *testing.T, h textproto.Header) string {
	t.Helper()
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHeaderEditsApply(t *testing.T) {
	t.Parallel()
	// The same header and edits as an Exim 4.96 run (exim -bs, the data
	// ACL below, then the spool -H file), whose result is the want below
	// without Exim's Message-Id: and Date: fix-ups:
	//   accept remove_header = x-spam
	//          add_header = X-Spam: no
	//          add_header = :at_start:X-First: 1
	//          add_header = :after_received:X-After: 2
	//          add_header = :at_start_rfc:X-A: a
	//          add_header = :at_start:X-Second: 2
	//          add_header = :after_received:X-After2: 3
	//          add_header = :at_start_rfc:X-B: b
	const in = "Received: from root (helo=client.example)\r\n\tby mx.test.example with local-smtp (Exim 4.96)\r\n" +
		"Received: from older1\r\n" +
		"Received: from older2\r\n" +
		"X-Spam: yes\r\n" +
		"From: f@x\r\n" +
		"Received: late\r\n" +
		"Subject: s\r\n" +
		"X-Rcpt: one\r\n\r\n"
	edits := &HeaderEdits{
		Remove: []string{"x-spam", "nonexistent"},
		Add: []AddedHeader{
			{"X-Spam: no", AtEnd},
			{"X-First: 1", AtStart},
			{"X-After: 2", AfterReceived},
			{"X-A: a", AtStartRFC},
			{"X-Second: 2", AtStart},
			{"X-After2: 3", AfterReceived},
			{"X-B: b", AtStartRFC},
		},
	}
	h := readHeader(t, in)
	if err := edits.Apply(&h); err != nil {
		t.Fatal(err)
	}
	want := "X-Second: 2\r\n" +
		"X-B: b\r\n" +
		"X-First: 1\r\n" +
		"Received: from root (helo=client.example)\r\n\tby mx.test.example with local-smtp (Exim 4.96)\r\n" +
		"Received: from older1\r\n" +
		"Received: from older2\r\n" +
		"X-After2: 3\r\n" +
		"X-A: a\r\n" +
		"X-After: 2\r\n" +
		"From: f@x\r\n" +
		"Received: late\r\n" +
		"Subject: s\r\n" +
		"X-Rcpt: one\r\n" +
		"X-Spam: no\r\n" +
		"\r\n"
	if got := writeHeader(t, h); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if got := h.Get("X-After"); got != "2" {
		t.Fatalf("lookup by key after Apply: %q", got)
	}

	// Resent-* fields are skipped by :at_start_rfc:; a Field with several
	// fields is split; folding is kept.
	h = readHeader(t, "Received: by us\r\nResent-From: r@x\r\nReceived: older\r\nFrom: a@b\r\n\r\n")
	e := &HeaderEdits{Add: []AddedHeader{{"X-A: a\nX-B: b\n\tfolded", AtStartRFC}, {"X-End: e", AtEnd}}}
	if err := e.Apply(&h); err != nil {
		t.Fatal(err)
	}
	if got, want := writeHeader(t, h), "Received: by us\r\nResent-From: r@x\r\nReceived: older\r\nX-B: b\r\n\tfolded\r\nX-A: a\r\nFrom: a@b\r\nX-End: e\r\n\r\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// No Received: at all, and an empty header.
	h = readHeader(t, "From: a@b\r\nTo: c@d\r\n\r\n")
	e = &HeaderEdits{Add: []AddedHeader{{"X-R: 1", AfterReceived}, {"X-F: 2", AtStartRFC}}}
	if err := e.Apply(&h); err != nil {
		t.Fatal(err)
	}
	if got, want := writeHeader(t, h), "X-R: 1\r\nX-F: 2\r\nFrom: a@b\r\nTo: c@d\r\n\r\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	var empty textproto.Header
	if err := e.Apply(&empty); err != nil {
		t.Fatal(err)
	}
	if got, want := writeHeader(t, empty), "X-R: 1\r\nX-F: 2\r\n\r\n"; got != want {
		t.Fatalf("empty header: got %q, want %q", got, want)
	}
	// Nil edits leave the header alone; bad fields are errors and change
	// nothing.
	var none *HeaderEdits
	if err := none.Apply(&h); err != nil {
		t.Fatal(err)
	}
	before := writeHeader(t, h)
	for _, bad := range []struct{ field, want string }{
		{"bad field", `acl: applying header edits: "bad field": no colon after the field name`},
		{"X-A: a\r\nInjected", `acl: applying header edits: "X-A: a\r\nInjected": no colon after the field name`},
		{"X-A: a\rb", `acl: applying header edits: "X-A: a\rb": bare CR`},
		{"", `acl: applying header edits: "": empty header text`},
	} {
		e = &HeaderEdits{Add: []AddedHeader{{"X-Ok: 1", AtEnd}, {bad.field, AtEnd}}}
		if err := e.Apply(&h); err == nil || err.Error() != bad.want {
			t.Errorf("%q: %v", bad.field, err)
		}
	}
	if after := writeHeader(t, h); after != before {
		t.Fatalf("failed Apply changed the header: %q", after)
	}
}

func TestCheckField(t *testing.T) {
	t.Parallel()
	for f, want := range map[string]string{
		"X-A: a":         "",
		"X-A: a\n\tb":    "",
		"X-A:":           "",
		"X-A: a\nX-B: b": "a continuation line must start with a space or tab",
		"X-A: a\n \t":    "empty folded line",
		"X-A: a\n":       "empty folded line",
		"X A: a":         `invalid field name "X A"`,
		"X-\xc3\xa9: a":  `invalid field name "X-é"`,
		"X-A: a\r":       "bare CR",
		"no colon":       "no colon after the field name",
	} {
		got := ""
		if err := checkField(f); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("checkField(%q) = %q, want %q", f, got, want)
		}
	}
}
