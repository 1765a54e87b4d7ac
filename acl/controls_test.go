package acl

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestControls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var reg Controls
	var applied []string
	if err := reg.Register(ControlDef{Name: "bmi_run", Stages: []Stage{StageRcpt, StageData}, Apply: func(_ context.Context, tx *Tx, v string) error {
		applied = append(applied, tx.Stage.String()+":"+v)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(ControlDef{Name: "freeze", Check: func(v string) error {
		if v != "" && v != "no_tell" {
			return errors.New("bad option " + v)
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(ControlDef{Name: "failing", Apply: func(context.Context, *Tx, string) error { return errX }}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d    ControlDef
		want string
	}{
		{ControlDef{Name: "freeze"}, `acl: control "freeze" registered twice`},
		{ControlDef{Name: "bad/name"}, `acl: invalid control name "bad/name"`},
		{ControlDef{}, `acl: invalid control name ""`},
	} {
		if err := reg.Register(tc.d); err == nil || err.Error() != tc.want {
			t.Errorf("Register(%q): %v", tc.d.Name, err)
		}
	}
	if got, want := reg.Names(), []string{"bmi_run", "failing", "freeze"}; !slices.Equal(got, want) {
		t.Errorf("Names %q", got)
	}
	// Unknown names and bad values fail when the modifier is built.
	for _, tc := range []struct {
		spec string
		want string
	}{
		{"queue_only", `acl: control "queue_only": unknown control`},
		{"bmi_run/x", `acl: control "bmi_run" takes no options (got "x")`},
		{"freeze/tell", `acl: control "freeze": bad option tell`},
	} {
		_, err := reg.Parse(tc.spec)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q): %v", tc.spec, err)
		}
	}
	if _, err := reg.Control("nope", ""); !errors.Is(err, ErrUnknownControl) {
		t.Errorf("not ErrUnknownControl: %v", err)
	}

	tx, _ := newTx(StageRcpt)
	list := List{{Verb: Warn, Conditions: cs(Must(reg.Parse("bmi_run")), Must(reg.Parse(" freeze/no_tell ")))}, {Verb: Accept}}
	if res := list.Run(ctx, tx); res.Verdict != VerdictAccept {
		t.Fatalf("verdict %v %v", res.Verdict, res.Err)
	}
	if want := map[string]string{"bmi_run": "", "freeze": "no_tell"}; !reflect.DeepEqual(tx.Controls, want) {
		t.Errorf("controls %q", tx.Controls)
	}
	if want := []string{"rcpt:"}; !slices.Equal(applied, want) {
		t.Errorf("applied %q", applied)
	}
	// At a stage the control does not allow, the list defers.
	tx, _ = newTx(StageMail)
	res := List{{Verb: Accept, Conditions: cs(Must(reg.Control("bmi_run", "")))}}.Run(ctx, tx)
	if res.Verdict != VerdictDefer || res.Err.Error() != `acl: cannot use control "bmi_run" at the mail stage` {
		t.Errorf("wrong stage: %v %v", res.Verdict, res.Err)
	}
	res = List{{Verb: Accept, Conditions: cs(Must(reg.Control("failing", "")))}}.Run(ctx, tx)
	if res.Verdict != VerdictDefer || res.Err.Error() != `acl: control "failing": lookup server down` {
		t.Errorf("failing apply: %v %v", res.Verdict, res.Err)
	}
}
