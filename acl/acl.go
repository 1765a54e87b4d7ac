package acl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
)

// Stage is the point of the SMTP transaction an ACL runs at.
type Stage int

const (
	StageConnect Stage = iota // after the TCP connection (acl_smtp_connect)
	StageHelo                 // after HELO/EHLO (acl_smtp_helo)
	StageMail                 // after MAIL FROM (acl_smtp_mail)
	StageRcpt                 // after each RCPT TO (acl_smtp_rcpt)
	StagePredata              // after DATA, before the 354 (acl_smtp_predata)
	StageData                 // after the end of data (acl_smtp_data)
	StageMIME                 // for each MIME part (acl_smtp_mime)
	StageNotQuit              // when a connection ends without QUIT (acl_smtp_notquit)
)

var stageNames = [...]string{"connect", "helo", "mail", "rcpt", "predata", "data", "mime", "notquit"}

// String returns the stage's Exim name, e.g. "rcpt".
func (s Stage) String() string {
	if s >= 0 && int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "stage(" + strconv.Itoa(int(s)) + ")"
}

// Verb is the action of a rule.
type Verb int

const (
	Accept Verb = iota
	Deny
	Defer
	Discard
	Drop
	Require
	Warn
)

var verbNames = [...]string{"accept", "deny", "defer", "discard", "drop", "require", "warn"}

// String returns the verb's Exim name.
func (v Verb) String() string {
	if v >= 0 && int(v) < len(verbNames) {
		return verbNames[v]
	}
	return "verb(" + strconv.Itoa(int(v)) + ")"
}

// Verdict is the outcome of running a list.
type Verdict int

const (
	VerdictAccept Verdict = iota
	VerdictDeny
	VerdictDefer
	VerdictDiscard
	VerdictDrop
)

var verdictNames = [...]string{"accept", "deny", "defer", "discard", "drop"}

// String returns the verdict's name.
func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Condition is a predicate over the transaction at one stage. It may record
// results on the transaction (variables, headers to add). An error means
// the condition could not be tested; see the package doc for what follows.
type Condition interface {
	Eval(ctx context.Context, tx *Tx) (bool, error)
}

// ConditionFunc adapts a function to a [Condition].
type ConditionFunc func(ctx context.Context, tx *Tx) (bool, error)

// Eval calls f.
func (f ConditionFunc) Eval(ctx context.Context, tx *Tx) (bool, error) { return f(ctx, tx) }

// Modifier acts on the transaction and never decides. Use [Do] to place a
// modifier among a rule's conditions.
type Modifier interface {
	Apply(ctx context.Context, tx *Tx) error
}

// ModifierFunc adapts a function to a [Modifier].
type ModifierFunc func(ctx context.Context, tx *Tx) error

// Apply calls f.
func (f ModifierFunc) Apply(ctx context.Context, tx *Tx) error { return f(ctx, tx) }

// Do turns a modifier into a condition that applies it and is true. An
// error from the modifier is the condition's error.
func Do(m Modifier) Condition {
	if c, ok := m.(Condition); ok {
		return c
	}
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		return true, m.Apply(ctx, tx)
	})
}

// Rule is one ACL statement.
type Rule struct {
	Verb Verb
	// Conditions are tested in order; all must be true.
	Conditions []Condition
	// Message is the text sent to the client when the rule decides (for
	// deny, defer, drop and a failing require; for accept and discard it
	// replaces the success text). It may start with an SMTP code and an
	// enhanced code of the right class ("550 5.7.1 go away"), which then
	// replace the defaults; codes of another class are dropped, as Exim
	// does. It is expanded when the rule decides (see [Tx.Expand]); an
	// empty result means the default text, or the reply a condition such
	// as [VerifyRecipient] supplied. A [Message] modifier reached among
	// the conditions replaces it, as Exim's positional message modifier
	// does; Rule.Message acts as if it came first.
	Message string
	// LogMessage is logged when the rule decides, and by a warn rule whose
	// conditions were all true. It is expanded like Message; a
	// [LogMessage] modifier replaces it. For a rejection without one, the
	// reply text is logged (Exim's rule).
	LogMessage string
}

// List is an ACL: rules evaluated in order.
type List []Rule

// Result is the outcome of [List.Run].
type Result struct {
	Verdict Verdict
	// Reply is the reply for the client. For an accepting verdict it is
	// nil unless the rule gave a message.
	Reply *exigo.SMTPError
	// LogMessage is what to log about the decision: the deciding rule's
	// log message (with a condition's own message appended, as Exim does
	// for a failed verification), else for a rejection the reply text;
	// the text of the error that caused a defer. Only its first line.
	LogMessage string
	// Rule is the index of the deciding rule, -1 for the implicit deny at
	// the end or a nil list.
	Rule int
	// Err is the condition error that caused a defer, if any.
	Err error
}

// Errors for conditions and modifiers used where what they test does not
// exist yet; they make the list defer, as Exim's "cannot test ... in ...
// ACL" errors do.
var (
	ErrNoSession   = errors.New("no SMTP session")
	ErrNoMessage   = errors.New("no message in progress")
	ErrNoRecipient = errors.New("no recipient (only at the rcpt stage)")
)

// maxDepth limits the nesting of [Call], as Exim limits nested ACLs.
const maxDepth = 20

// Run evaluates the list for tx.
func (l List) Run(ctx context.Context, tx *Tx) Result {
	if l == nil {
		return Result{Verdict: VerdictAccept, Rule: -1}
	}
	for i := range l {
		r := &l[i]
		tx.rule = ruleState{}
		ok, err := r.test(ctx, tx)
		if errors.Is(err, errNestedDiscard) {
			if r.Verb == Accept || r.Verb == Discard {
				return r.decide(VerdictDiscard, tx, i)
			}
			err = fmt.Errorf("acl: nested ACL returned discard for a %s rule (only allowed with accept or discard)", r.Verb)
		}
		if err != nil {
			if r.Verb == Warn {
				tx.logger().Warn("acl warn condition failed", "stage", tx.Stage.String(), "rule", i, "err", err)
				continue
			}
			tx.logger().Info("acl condition deferred", "stage", tx.Stage.String(), "rule", i, "err", err)
			res := Result{Verdict: VerdictDefer, Reply: defaultReply(VerdictDefer, tx.Stage, ""), LogMessage: err.Error(), Rule: i, Err: err}
			var se *exigo.SMTPError
			if errors.As(err, &se) && se.Code/100 == 4 {
				res.Reply = condReply(VerdictDefer, tx.Stage, se)
			}
			tx.rule = ruleState{}
			return res
		}
		switch r.Verb {
		case Warn:
			if ok {
				if lm := firstLine(tx.Expand(r.logMessage(tx))); lm != "" {
					tx.logger().Warn(lm, "stage", tx.Stage.String(), "rule", i)
				}
			}
			tx.rule = ruleState{}
			continue
		case Require:
			if ok {
				tx.rule = ruleState{}
				continue
			}
			if tx.rule.callDrop {
				return r.decide(VerdictDrop, tx, i)
			}
			return r.decide(VerdictDeny, tx, i)
		default:
			if !ok {
				tx.rule = ruleState{}
				continue
			}
			return r.decide(verbVerdict(r.Verb), tx, i)
		}
	}
	return Result{Verdict: VerdictDeny, Reply: defaultReply(VerdictDeny, tx.Stage, ""), Rule: -1}
}

func (r *Rule) test(ctx context.Context, tx *Tx) (bool, error) {
	for _, c := range r.Conditions {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		ok, err := c.Eval(ctx, tx)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// userMessage is the rule's current message: the last message modifier
// reached, else Rule.Message.
func (r *Rule) userMessage(tx *Tx) string {
	if tx.rule.messageSet {
		return tx.rule.message
	}
	return r.Message
}

func (r *Rule) logMessage(tx *Tx) string {
	if tx.rule.logMessageSet {
		return tx.rule.logMessage
	}
	return r.LogMessage
}

// decide builds the result of a rule that decided. Messages are expanded
// now, with $acl_verify_message still set; an expansion that yields ""
// leaves the default (Exim ignores an empty message).
func (r *Rule) decide(v Verdict, tx *Tx, i int) Result {
	text := tx.Expand(r.userMessage(tx))
	logText := tx.Expand(r.logMessage(tx))
	res := Result{Verdict: v, Rule: i}
	switch v {
	case VerdictAccept, VerdictDiscard:
		// Messages from conditions are not used when accepting.
		if text != "" {
			res.Reply = defaultReply(v, tx.Stage, text)
		}
	default:
		switch {
		case text != "":
			res.Reply = defaultReply(v, tx.Stage, text)
		case tx.rule.condReply != nil:
			res.Reply = condReply(v, tx.Stage, tx.rule.condReply)
		default:
			res.Reply = defaultReply(v, tx.Stage, "")
		}
		// Exim: log_message adds to the condition's own log text; with
		// neither, the user message is logged.
		under := tx.rule.condLog
		if under == "" && tx.rule.condReply != nil {
			under = tx.rule.condReply.Message
		}
		switch {
		case logText != "" && under != "":
			logText += ": " + under
		case logText == "" && under != "":
			logText = under
		case logText == "" && (text != "" || tx.rule.condReply != nil):
			logText = res.Reply.Message
		}
	}
	res.LogMessage = firstLine(logText)
	tx.rule = ruleState{}
	if res.LogMessage != "" {
		tx.logger().Info(res.LogMessage, "stage", tx.Stage.String(), "verdict", v.String())
	}
	return res
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func verbVerdict(v Verb) Verdict {
	switch v {
	case Accept:
		return VerdictAccept
	case Deny:
		return VerdictDeny
	case Defer:
		return VerdictDefer
	case Discard:
		return VerdictDiscard
	case Drop:
		return VerdictDrop
	}
	panic(fmt.Sprintf("acl: verb %v has no verdict", v))
}

// defaultReply builds the reply for a verdict at a stage, with Exim's codes
// and texts (observed from Exim 4.96: 550 for deny and drop, 451 for defer,
// at every stage), from an optional message that may carry its own codes.
// Exim sends no enhanced status codes by default; exigo adds X.7.1.
func defaultReply(v Verdict, st Stage, msg string) *exigo.SMTPError {
	var e exigo.SMTPError
	switch v {
	case VerdictAccept, VerdictDiscard:
		switch st {
		case StageConnect:
			e = exigo.SMTPError{Code: 220}
		case StagePredata:
			e = exigo.SMTPError{Code: 354, Message: `Enter message, ending with "." on a line by itself`}
		case StageRcpt:
			e = exigo.SMTPError{Code: 250, Enhanced: exigo.EnhancedCode{2, 0, 0}, Message: "Accepted"}
		default:
			e = exigo.SMTPError{Code: 250, Enhanced: exigo.EnhancedCode{2, 0, 0}, Message: "OK"}
		}
	case VerdictDefer:
		e = exigo.SMTPError{Code: 451, Enhanced: exigo.EnhancedCode{4, 7, 1}, Message: "Temporary local problem - please try later"}
	default:
		e = exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 7, 1}, Message: "Administrative prohibition"}
	}
	if msg == "" {
		return &e
	}
	code, enh, text := splitReplyCodes(msg)
	class := e.Code / 100
	// As Exim does, codes of the wrong class are removed from the text
	// and the defaults kept.
	if code != 0 && code/100 == class {
		e.Code = code
	}
	if enh != (exigo.EnhancedCode{}) && enh[0] == class && (code == 0 || code/100 == class) {
		e.Enhanced = enh
	}
	e.Message = text
	return &e
}

// condReply adapts a reply supplied by a condition (a failed verification,
// a nested ACL) to the verdict: its codes when they are of the verdict's
// class, else the defaults with its text.
func condReply(v Verdict, st Stage, se *exigo.SMTPError) *exigo.SMTPError {
	e := defaultReply(v, st, "")
	if se.Code/100 == e.Code/100 {
		e.Code = se.Code
		if se.Enhanced != (exigo.EnhancedCode{}) && se.Enhanced[0] == e.Code/100 {
			e.Enhanced = se.Enhanced
		}
	}
	if se.Message != "" {
		e.Message = se.Message
	}
	return e
}

// splitReplyCodes splits "550 5.7.1 text" into its parts, as Exim
// recognizes them: three digits and a space, then optionally an enhanced
// code d.ddd.ddd and a space. An enhanced code without a basic code is
// recognized too (Exim sends it as text after its default code, which
// puts the same bytes on the wire). Parts that are absent are zero.
func splitReplyCodes(msg string) (int, exigo.EnhancedCode, string) {
	var code int
	if len(msg) >= 4 && isDigits(msg[:3]) && isSpace(msg[3]) {
		code, _ = strconv.Atoi(msg[:3])
		msg = msg[4:]
	}
	var enh exigo.EnhancedCode
	sp := strings.IndexAny(msg, " \t")
	if sp < 0 {
		return code, enh, msg
	}
	parts := strings.Split(msg[:sp], ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return code, enh, msg
	}
	for i, p := range parts {
		if len(p) < 1 || len(p) > 3 || !isDigits(p) {
			return code, exigo.EnhancedCode{}, msg
		}
		enh[i], _ = strconv.Atoi(p)
	}
	return code, enh, msg[sp+1:]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// discardLogger drops everything; used when a Tx has no logger.
var discardLogger = slog.New(slog.DiscardHandler)
