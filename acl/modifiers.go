package acl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Action is a modifier that can stand directly among a rule's conditions:
// Eval applies it and is true when it succeeds. The modifiers of this
// package are Actions.
type Action interface {
	Condition
	Modifier
}

type actionFunc func(ctx context.Context, tx *Tx) error

func (f actionFunc) Apply(ctx context.Context, tx *Tx) error { return f(ctx, tx) }

func (f actionFunc) Eval(ctx context.Context, tx *Tx) (bool, error) {
	err := f(ctx, tx)
	return err == nil, err
}

// Must returns v, or panics if err is not nil. It is for building rules
// from constant arguments, like regexp.MustCompile:
//
//	acl.Must(acl.AddHeader("X-Relay: yes", acl.AtEnd))
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// headerStage reports whether add_header and remove_header may be used at
// st: the stages concerned with receiving a message, as in Exim.
func headerStage(st Stage) bool {
	switch st {
	case StageMail, StageRcpt, StagePredata, StageData, StageMIME:
		return true
	}
	return false
}

// addedLine is one header field of an add_header template.
type addedLine struct {
	text string // the field, folded with "\n", may contain variables
	pos  HeaderPosition
}

// AddHeader is Exim's add_header modifier: it adds header fields to the
// message being received (Exim specification, "Adding header lines in
// ACLs"). text is one field, "Name: value", or several separated by line
// ends; a line end followed by a space or tab folds a field. Each field
// may start with ":at_start:", ":after_received:", ":at_start_rfc:" or
// ":at_end:", which overrides pos for it. Line ends may be "\n" or "\r\n";
// leading and trailing ones are ignored.
//
// The text is checked now: every field needs a name of printable ASCII
// characters without ":" followed by ":", a folded line must not be empty
// or blank, no line of the text may exceed 998 characters (a variable may
// make one longer when it is expanded, which Exim does not check either),
// and a lone CR is an error.
// Variables ($acl_m_score, ${sender_address}, see [Tx.Expand]) are
// expanded when the modifier runs (a field that is only a variable, such
// as "$acl_m_hdr", is checked then); a field that is invalid after
// expansion gets "X-ACL-Warn: " in front, and one that expands to nothing
// is not added, as in Exim. Values never add lines (see [Tx.Expand]). A
// field identical to one already pending is not added twice.
//
// It may be used at the mail, rcpt, predata, data and mime stages; at
// other stages it is an error (the list defers).
func AddHeader(text string, pos HeaderPosition) (Action, error) {
	if pos < AtEnd || pos > AtStartRFC {
		return nil, fmt.Errorf("acl: add_header: invalid position %d", int(pos))
	}
	lines, err := splitHeaderText(text, pos)
	if err != nil {
		return nil, fmt.Errorf("acl: add_header %q: %w", text, err)
	}
	for _, l := range lines {
		err := checkTemplate(placeholder(l.text))
		if errors.Is(err, errNoColon) && strings.IndexByte(l.text, '$') >= 0 {
			err = nil // "$acl_m_headers": only known when it runs
		}
		if err != nil {
			return nil, fmt.Errorf("acl: add_header %q: %w", l.text, err)
		}
	}
	return actionFunc(func(_ context.Context, tx *Tx) error {
		if !headerStage(tx.Stage) {
			return fmt.Errorf("acl: cannot use add_header at the %s stage", tx.Stage)
		}
		if tx.Edits == nil {
			tx.Edits = &HeaderEdits{}
		}
		for _, l := range lines {
			f := tidyField(tx.Expand(l.text))
			if f == "" {
				continue
			}
			if checkField(f) != nil {
				f = "X-ACL-Warn: " + f
				if err := checkField(f); err != nil {
					return fmt.Errorf("acl: add_header %q: %w", f, err)
				}
			}
			if hasAdded(tx.Edits, f) {
				continue
			}
			tx.Edits.Add = append(tx.Edits.Add, AddedHeader{Field: f, Position: l.pos})
		}
		return nil
	}), nil
}

func hasAdded(e *HeaderEdits, f string) bool {
	for _, a := range e.Add {
		if a.Field == f {
			return true
		}
	}
	return false
}

// splitHeaderText splits add_header text into fields with their
// positions.
func splitHeaderText(text string, pos HeaderPosition) ([]addedLine, error) {
	t := strings.ReplaceAll(text, "\r\n", "\n")
	if strings.IndexByte(t, '\r') >= 0 {
		return nil, errors.New("bare CR")
	}
	t = strings.Trim(t, "\n")
	if strings.TrimSpace(t) == "" {
		return nil, errors.New("empty header text")
	}
	var out []addedLine
	start := 0
	for i := 0; i <= len(t); i++ {
		if i < len(t) && (t[i] != '\n' || i+1 < len(t) && (t[i+1] == ' ' || t[i+1] == '\t')) {
			continue
		}
		f, p := t[start:i], pos
		for j, name := range positionNames {
			if rest, ok := strings.CutPrefix(f, name); ok {
				f, p = rest, HeaderPosition(j)
				break
			}
		}
		out = append(out, addedLine{text: f, pos: p})
		start = i + 1
	}
	return out, nil
}

var errNoColon = errors.New("no colon after the field name")

// checkField checks one header field, folded with "\n". The 998-character
// line limit is checked by checkTemplate only: a variable may make a line
// longer, which Exim does not check either.
func checkField(f string) error { return checkFieldLen(f, 0) }

func checkTemplate(f string) error { return checkFieldLen(f, 998) }

func checkFieldLen(f string, maxLine int) error {
	colon := strings.IndexByte(f, ':')
	if colon < 0 {
		return errNoColon
	}
	if !validFieldName(f[:colon]) {
		return fmt.Errorf("invalid field name %q", f[:colon])
	}
	for i, line := range strings.Split(f, "\n") {
		if maxLine > 0 && len(line) > maxLine {
			return fmt.Errorf("line longer than %d characters", maxLine)
		}
		if strings.IndexByte(line, '\r') >= 0 {
			return errors.New("bare CR")
		}
		if i > 0 && line != "" && line[0] != ' ' && line[0] != '\t' {
			return errors.New("a continuation line must start with a space or tab")
		}
		if i > 0 && strings.TrimLeft(line, " \t") == "" {
			return errors.New("empty folded line")
		}
	}
	return nil
}

// tidyField drops blank folded lines and trailing white space that
// expansion may leave.
func tidyField(f string) string {
	lines := strings.Split(f, "\n")
	out := lines[:0]
	for i, l := range lines {
		l = strings.TrimRight(l, " \t")
		if i > 0 && l == "" {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// validFieldName reports whether s is a header field name: printable
// US-ASCII characters other than ":" (RFC 5322).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

// RemoveHeader is Exim's remove_header modifier: the named header fields
// (all of them, names compared caselessly) are removed from the message
// being received. Each argument may itself be a colon-separated list
// ("x-route-mail1 : x-route-mail2"). An argument containing "$" is
// expanded when the modifier runs (the result is split and checked then);
// the others are checked now. The same stages as [AddHeader].
func RemoveHeader(names ...string) (Action, error) {
	var fixed, dynamic []string
	for _, n := range names {
		if strings.IndexByte(n, '$') >= 0 {
			dynamic = append(dynamic, n)
			continue
		}
		for _, f := range SplitList(n) {
			if !validFieldName(f) {
				return nil, fmt.Errorf("acl: remove_header: invalid field name %q", f)
			}
			fixed = append(fixed, f)
		}
	}
	if len(fixed) == 0 && len(dynamic) == 0 {
		return nil, errors.New("acl: remove_header: no field names")
	}
	return actionFunc(func(_ context.Context, tx *Tx) error {
		if !headerStage(tx.Stage) {
			return fmt.Errorf("acl: cannot use remove_header at the %s stage", tx.Stage)
		}
		all := fixed
		for _, d := range dynamic {
			for _, f := range SplitList(tx.Expand(d)) {
				if !validFieldName(f) {
					return fmt.Errorf("acl: remove_header: invalid field name %q from %q", f, d)
				}
				all = append(all, f)
			}
		}
		if tx.Edits == nil {
			tx.Edits = &HeaderEdits{}
		}
	next:
		for _, f := range all {
			for _, r := range tx.Edits.Remove {
				if strings.EqualFold(r, f) {
					continue next
				}
			}
			tx.Edits.Remove = append(tx.Edits.Remove, f)
		}
		return nil
	}), nil
}

// Set is Exim's "set" modifier: it stores value, expanded when the
// modifier runs, in an ACL variable. name must be acl_c or acl_m followed
// by a digit or an underscore and then letters, digits or underscores
// (acl_c0, acl_m_score); acl_c variables live in Session.Vars for the
// whole connection, acl_m variables in Message.Vars for the message (the
// maps are created when nil). Setting an acl_m variable at the connect or
// helo stage, where there is no message, is an error.
func Set(name, value string) (Action, error) {
	return SetFunc(name, func(_ context.Context, tx *Tx) (string, error) {
		return tx.Expand(value), nil
	})
}

// SetFunc is [Set] with a value computed by f when the modifier runs; an
// error from f is the modifier's error.
func SetFunc(name string, f func(ctx context.Context, tx *Tx) (string, error)) (Action, error) {
	if aclVarKind(name) == 0 {
		return nil, fmt.Errorf("acl: set: invalid ACL variable name %q (want acl_c or acl_m, then a digit or _, then letters, digits or _)", name)
	}
	return actionFunc(func(ctx context.Context, tx *Tx) error {
		v, err := f(ctx, tx)
		if err != nil {
			return fmt.Errorf("acl: set %s: %w", name, err)
		}
		return tx.SetVar(name, v)
	}), nil
}

// LogWrite is Exim's logwrite modifier: it logs text, expanded, through
// Tx.Logger as soon as it is reached. A leading ":main:", ":reject:" or
// ":panic:" (Exim's log selection, possibly a comma-separated list) is
// removed; ":panic:" logs at Error level, the others at Info.
func LogWrite(text string) Action {
	return actionFunc(func(_ context.Context, tx *Tx) error {
		msg := tx.Expand(text)
		level := "info"
		if strings.HasPrefix(msg, ":") {
			if end := strings.IndexByte(msg[1:], ':'); end >= 0 {
				sel := msg[1 : end+1]
				if strings.Trim(sel, "abcdefghijklmnopqrstuvwxyz,") == "" {
					if strings.Contains(sel, "panic") {
						level = "error"
					}
					msg = strings.TrimLeft(msg[end+2:], " ")
				}
			}
		}
		if level == "error" {
			tx.logger().Error(msg, "stage", tx.Stage.String())
		} else {
			tx.logger().Info(msg, "stage", tx.Stage.String())
		}
		return nil
	})
}

// Message is Exim's message modifier: from where it is reached, text is
// the rule's reply if the rule decides (replacing Rule.Message and any
// earlier Message). It is expanded only when the rule decides, so it may
// use variables set by later conditions. A warn rule ignores it.
func Message(text string) Action {
	return actionFunc(func(_ context.Context, tx *Tx) error {
		tx.rule.message, tx.rule.messageSet = text, true
		return nil
	})
}

// LogMessage is Exim's log_message modifier: like [Message], for
// Rule.LogMessage.
func LogMessage(text string) Action {
	return actionFunc(func(_ context.Context, tx *Tx) error {
		tx.rule.logMessage, tx.rule.logMessageSet = text, true
		return nil
	})
}

// Apply applies the edits to h as Exim 4.96 applies the header changes of
// its ACLs (observed in its spool files): first every field named in
// Remove is removed, then the fields of Add are inserted one by one, in
// order:
//
//   - :at_end: after the last field;
//   - :at_start: before the first field;
//   - :after_received: after the first block of Received: fields (the
//     place is found once, so several such fields end up in reverse
//     order), or at the start if there is no Received: field;
//   - :at_start_rfc: after the first field, which Exim assumes is its own
//     Received:, and after the Received: and Resent-* fields that follow
//     it (so several end up in reverse order).
//
// A Field holding several fields ("X-A: 1\nX-B: 2") is split into them, as
// add_header does. Added fields get CRLF line ends. Apply fails, changing
// nothing, if an added field is not a valid header field.
func (e *HeaderEdits) Apply(h *textproto.Header) error {
	if e == nil || len(e.Add) == 0 && len(e.Remove) == 0 {
		return nil
	}
	type field struct {
		key string
		raw []byte
	}
	var added []AddedHeader
	for _, a := range e.Add {
		parts, err := splitHeaderText(a.Field, a.Position)
		if err == nil {
			for _, p := range parts {
				if err = checkField(p.text); err != nil {
					break
				}
				added = append(added, AddedHeader{Field: p.text, Position: a.Position})
			}
		}
		if err != nil {
			return fmt.Errorf("acl: applying header edits: %q: %w", a.Field, err)
		}
	}
	var fields []*field
	fs := h.Fields()
	for fs.Next() {
		raw, err := fs.Raw()
		if err != nil {
			return fmt.Errorf("acl: applying header edits: %w", err)
		}
		fields = append(fields, &field{key: fs.Key(), raw: raw})
	}
	kept := fields[:0]
next:
	for _, f := range fields {
		for _, r := range e.Remove {
			if strings.EqualFold(f.key, r) {
				continue next
			}
		}
		kept = append(kept, f)
	}
	fields = kept
	isReceived := func(f *field) bool { return strings.EqualFold(f.key, "Received") }
	isResent := func(f *field) bool { return len(f.key) >= 7 && strings.EqualFold(f.key[:7], "Resent-") }
	var anchor *field // the last Received: of the first block
	anchorSet := false
	for _, a := range added {
		colon := strings.IndexByte(a.Field, ':')
		nf := &field{key: a.Field[:colon], raw: []byte(strings.ReplaceAll(a.Field, "\n", "\r\n") + "\r\n")}
		at := len(fields)
		switch a.Position {
		case AtStart:
			at = 0
		case AfterReceived:
			if !anchorSet {
				anchorSet = true
				for i := 0; i < len(fields); i++ {
					if isReceived(fields[i]) {
						for i+1 < len(fields) && isReceived(fields[i+1]) {
							i++
						}
						anchor = fields[i]
						break
					}
				}
			}
			at = 0
			for i, f := range fields {
				if f == anchor {
					at = i + 1
					break
				}
			}
		case AtStartRFC:
			at = min(1, len(fields))
			for at < len(fields) && (isReceived(fields[at]) || isResent(fields[at])) {
				at++
			}
		}
		fields = append(fields, nil)
		copy(fields[at+1:], fields[at:])
		fields[at] = nf
	}
	var nh textproto.Header
	for i := len(fields) - 1; i >= 0; i-- {
		nh.AddRaw(fields[i].raw)
	}
	*h = nh
	return nil
}
