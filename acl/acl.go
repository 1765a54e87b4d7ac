// Package acl implements Exim-style access control lists: ordered rules,
// each a verb and a list of conditions, run at every stage of an SMTP
// transaction (Exim specification, chapter "Access control lists").
//
// A [List] is evaluated rule by rule. Each [Rule] has a [Verb] and a list of
// [Condition] values that are tested in order; the rule's conditions are
// true when all are true (an empty list is true). What happens then is
// Exim's:
//
//   - accept: all true, the list returns Accept; otherwise the next rule.
//   - deny: all true, the list returns Deny (5xx); otherwise the next rule.
//   - defer: all true, the list returns Defer (4xx); otherwise the next rule.
//   - discard: all true, the list returns Discard: the client is told
//     success but the recipient (at RCPT) or the message (later) is dropped.
//   - drop: all true, the list returns Drop: a 5xx reply and the
//     connection is closed.
//   - require: all true, the next rule; otherwise the list returns Deny.
//     A require rule fails closed.
//   - warn: never decides; its conditions run for their side effects
//     (modifiers such as add_header or logwrite) and the next rule follows.
//
// A list that reaches its end without a decision denies (Exim's implicit
// "deny" at the end of every ACL). A nil list accepts, as Exim does for an
// ACL that is not defined at most stages.
//
// A condition that returns an error makes the whole list return Defer, as
// an Exim condition that cannot be tested does, unless the condition is
// wrapped in [DeferOK], which turns the error into "true" (Exim's
// defer_ok). In a warn rule an error only stops the rule and is logged.
//
// Modifiers (add_header, set, logwrite, control, message, ...) are
// conditions that act and return true, so they run only when every
// condition before them in the same rule was true, exactly as Exim orders
// conditions and modifiers within a statement.
//
// Differences from Exim: conditions are Go values, not expanded strings;
// the endpass and acl = (nested ACL) forms are expressed by composing
// Conditions ([Not], [Any], [Call]).
package acl

import (
	"context"
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
	// deny, defer, drop and a failing require; for accept and discard at
	// RCPT it replaces the success text). It may start with an SMTP code
	// and an enhanced code of the right class ("550 5.7.1 go away"),
	// which then replace the defaults. Empty means the default text.
	Message string
	// LogMessage is logged when the rule decides, and by a warn rule whose
	// conditions were all true.
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
	// LogMessage is the deciding rule's log message, or the text of the
	// error that caused a defer.
	LogMessage string
	// Rule is the index of the deciding rule, -1 for the implicit deny at
	// the end or a nil list.
	Rule int
	// Err is the condition error that caused a defer, if any.
	Err error
}

// Run evaluates the list for tx.
func (l List) Run(ctx context.Context, tx *Tx) Result {
	if l == nil {
		return Result{Verdict: VerdictAccept, Rule: -1}
	}
	for i := range l {
		r := &l[i]
		ok, err := r.test(ctx, tx)
		if err != nil {
			if r.Verb == Warn {
				tx.logger().Warn("acl warn condition failed", "stage", tx.Stage.String(), "rule", i, "err", err)
				continue
			}
			tx.logger().Info("acl condition deferred", "stage", tx.Stage.String(), "rule", i, "err", err)
			return Result{Verdict: VerdictDefer, Reply: defaultReply(VerdictDefer, tx.Stage, ""), LogMessage: err.Error(), Rule: i, Err: err}
		}
		switch r.Verb {
		case Warn:
			if ok && r.LogMessage != "" {
				tx.logger().Warn(r.LogMessage, "stage", tx.Stage.String(), "rule", i)
			}
			continue
		case Require:
			if ok {
				continue
			}
			return r.decide(VerdictDeny, tx, i)
		default:
			if !ok {
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

func (r *Rule) decide(v Verdict, tx *Tx, i int) Result {
	msg := r.Message
	if tx.message != "" {
		msg = tx.message
		tx.message = ""
	}
	res := Result{Verdict: v, LogMessage: r.LogMessage, Rule: i}
	switch v {
	case VerdictAccept, VerdictDiscard:
		if msg != "" {
			res.Reply = defaultReply(v, tx.Stage, msg)
		}
	default:
		res.Reply = defaultReply(v, tx.Stage, msg)
	}
	if res.LogMessage != "" {
		tx.logger().Info(res.LogMessage, "stage", tx.Stage.String(), "verdict", v.String())
	}
	return res
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
// and texts, from an optional message that may carry its own codes.
func defaultReply(v Verdict, st Stage, msg string) *exigo.SMTPError {
	var e exigo.SMTPError
	switch v {
	case VerdictAccept, VerdictDiscard:
		e = exigo.SMTPError{Code: 250, Enhanced: exigo.EnhancedCode{2, 0, 0}, Message: "Accepted"}
		if st == StageData {
			e.Message = "OK"
		}
	case VerdictDefer:
		e = exigo.SMTPError{Code: 450, Enhanced: exigo.EnhancedCode{4, 7, 1}, Message: "Temporary local problem - please try later"}
		if st == StageData || st == StagePredata {
			e.Code = 451
		}
	default:
		e = exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 7, 1}, Message: "Administrative prohibition"}
		switch st {
		case StageConnect, StageData, StagePredata:
			e.Code = 554
		}
	}
	if msg == "" {
		return &e
	}
	code, enh, text := splitReplyCodes(msg)
	if code != 0 && code/100 == e.Code/100 {
		e.Code = code
		if enh != (exigo.EnhancedCode{}) {
			e.Enhanced = enh
		}
	} else if enh != (exigo.EnhancedCode{}) && enh[0] == e.Code/100 {
		e.Enhanced = enh
	} else {
		text = msg
	}
	e.Message = text
	return &e
}

// splitReplyCodes splits "550 5.7.1 text" into its parts. Parts that are
// absent are zero.
func splitReplyCodes(msg string) (int, exigo.EnhancedCode, string) {
	var code int
	if len(msg) >= 4 && msg[3] == ' ' && isDigits(msg[:3]) && msg[0] >= '2' && msg[0] <= '5' {
		code, _ = strconv.Atoi(msg[:3])
		msg = msg[4:]
	}
	var enh exigo.EnhancedCode
	if sp := strings.IndexByte(msg, ' '); sp > 0 {
		if parts := strings.Split(msg[:sp], "."); len(parts) == 3 {
			ok := true
			for i, p := range parts {
				n, err := strconv.Atoi(p)
				if err != nil || !isDigits(p) || len(p) > 3 {
					ok = false
					break
				}
				enh[i] = n
			}
			if ok && enh[0] >= 2 && enh[0] <= 5 {
				msg = msg[sp+1:]
			} else {
				enh = exigo.EnhancedCode{}
			}
		}
	}
	return code, enh, msg
}

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
