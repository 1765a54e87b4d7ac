package acl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/exigo-mta/exigo"
)

// hostNameFailed remembers on the session that the client's host name
// could not be found, so host lists do not look it up again.
var hostNameFailed = exigo.NewKey[bool]("acl.hostNameLookupFailed")

// Hosts is Exim's hosts condition: true when the client host is in l. The
// host name, when an item needs it and the session does not have it, is
// looked up once per session and stored in Session.HostName. The matching
// lookup's value becomes $host_data.
func Hosts(l *HostList) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		var h Host
		if s := tx.Session; s != nil {
			h.Addr = s.RemoteAddr.Addr()
			h.Name = s.HostName
			h.NameLookupFailed, _ = exigo.Get(&s.Attrs, hostNameFailed)
		}
		ok, data, err := l.Match(ctx, &h)
		if s := tx.Session; s != nil {
			if h.Name != "" && s.HostName == "" {
				s.HostName = h.Name
			}
			if h.NameLookupFailed {
				exigo.Set(&s.Attrs, hostNameFailed, true)
			}
		}
		if err != nil {
			return false, err
		}
		if ok {
			tx.setVar("host_data", data)
		}
		return ok, nil
	})
}

// Domains is Exim's domains condition: true when the domain of the
// recipient under test is in l (lower-cased; $domain_data is set from the
// matching item). Like Exim's, it is an error (so the list defers) where
// there is no recipient: it cannot test the sender's domain; use
// [SenderDomains] for that.
func Domains(l *DomainList) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		if tx.Recipient == nil {
			return false, fmt.Errorf("acl: domains condition at the %s stage: %w", tx.Stage, ErrNoRecipient)
		}
		_, d := exigo.SplitAddress(tx.Recipient.Address)
		return setData(tx, "domain_data")(l.Match(ctx, d))
	})
}

// LocalParts is Exim's local_parts condition: true when the local part of
// the recipient under test is in l ($local_part_data is set from the
// matching item). An error where there is no recipient.
func LocalParts(l *LocalPartList) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		if tx.Recipient == nil {
			return false, fmt.Errorf("acl: local_parts condition at the %s stage: %w", tx.Stage, ErrNoRecipient)
		}
		lp, _ := exigo.SplitAddress(tx.Recipient.Address)
		return setData(tx, "local_part_data")(l.Match(ctx, lp))
	})
}

// Recipients is Exim's recipients condition: true when the recipient
// under test is in l ($recipient_data is set). An error where there is no
// recipient.
func Recipients(l *AddressList) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		if tx.Recipient == nil {
			return false, fmt.Errorf("acl: recipients condition at the %s stage: %w", tx.Stage, ErrNoRecipient)
		}
		return setData(tx, "recipient_data")(l.Match(ctx, tx.Recipient.Address))
	})
}

// Senders is Exim's senders condition: true when the envelope sender is in
// l; the empty sender of bounces is matched by the items "" and "<>"
// ($sender_data is set). An error before MAIL FROM.
func Senders(l *AddressList) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		if tx.Message == nil {
			return false, fmt.Errorf("acl: senders condition at the %s stage: %w", tx.Stage, ErrNoMessage)
		}
		return setData(tx, "sender_data")(l.Match(ctx, tx.Message.Envelope.Sender))
	})
}

// SenderDomains is Exim's sender_domains condition: true when the domain
// of the envelope sender is in l. It does not set $domain_data. An error
// before MAIL FROM.
func SenderDomains(l *DomainList) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		if tx.Message == nil {
			return false, fmt.Errorf("acl: sender_domains condition at the %s stage: %w", tx.Stage, ErrNoMessage)
		}
		_, d := exigo.SplitAddress(tx.Message.Envelope.Sender)
		ok, _, err := l.Match(ctx, d)
		return ok, err
	})
}

func setData(tx *Tx, name string) func(bool, string, error) (bool, error) {
	return func(ok bool, data string, err error) (bool, error) {
		if err == nil && ok {
			tx.setVar(name, data)
		}
		return ok, err
	}
}

// Authenticated is Exim's authenticated condition: false when the client
// has not authenticated, else true when the name of the authenticator that
// succeeded (Session.AuthMech) is one of names, compared caselessly. The
// name "*" matches any authenticator, so Authenticated("*") tests for
// authentication.
func Authenticated(names ...string) Condition {
	return ConditionFunc(func(_ context.Context, tx *Tx) (bool, error) {
		s := tx.Session
		if s == nil || s.AuthMech == "" && s.AuthID == "" {
			return false, nil
		}
		for _, n := range names {
			if n == "*" || strings.EqualFold(n, s.AuthMech) {
				return true, nil
			}
		}
		return false, nil
	})
}

// RecipientVerifier verifies a recipient address, normally by running it
// through the router chain in verify mode. It returns nil when the address
// is deliverable, an *exigo.SMTPError with a 5xx code when it is not (its
// text becomes $acl_verify_message and the reply), and any other error,
// or an SMTPError with a 4xx code, when the answer is not known now.
type RecipientVerifier interface {
	VerifyRecipient(ctx context.Context, tx *Tx, r *exigo.Recipient) error
}

// RecipientVerifierFunc adapts a function to a [RecipientVerifier].
type RecipientVerifierFunc func(ctx context.Context, tx *Tx, r *exigo.Recipient) error

// VerifyRecipient calls f.
func (f RecipientVerifierFunc) VerifyRecipient(ctx context.Context, tx *Tx, r *exigo.Recipient) error {
	return f(ctx, tx, r)
}

// VerifyRecipient is Exim's "verify = recipient": true when v accepts the
// recipient under test. When v rejects it with an *exigo.SMTPError, the
// condition is false, $acl_verify_message holds the error's text for the
// rest of the rule, and a rule that then rejects without a message of its
// own replies with v's error (its codes when they are of the rejection's
// class). A temporary failure makes the list defer, with v's reply when it
// is a 4xx SMTPError; wrap the condition in [DeferOK] to treat it as
// success (Exim's verify = recipient/defer_ok). An error where there is no
// recipient.
func VerifyRecipient(v RecipientVerifier) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		if tx.Recipient == nil {
			return false, fmt.Errorf("acl: verify = recipient at the %s stage: %w", tx.Stage, ErrNoRecipient)
		}
		err := v.VerifyRecipient(ctx, tx, tx.Recipient)
		if err == nil {
			return true, nil
		}
		var se *exigo.SMTPError
		if errors.As(err, &se) {
			tx.rule.verifyMessage = se.Message
			if se.Code/100 == 5 {
				cp := *se
				tx.rule.condReply = &cp
				return false, nil
			}
		}
		return false, fmt.Errorf("acl: verifying recipient %s: %w", tx.Recipient.Address, err)
	})
}

// Not negates a condition (Exim's "!condition"). Errors pass through.
func Not(c Condition) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		ok, err := c.Eval(ctx, tx)
		if err != nil {
			return false, err
		}
		return !ok, nil
	})
}

// All is true when every condition is true, tested in order until one is
// false or fails. All() is true.
func All(cs ...Condition) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		for _, c := range cs {
			ok, err := c.Eval(ctx, tx)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	})
}

// Any is true when one of the conditions is true, tested in order until
// one is true. An error stops it: the conditions after it are not tested
// and the error is Any's. Any() is false.
func Any(cs ...Condition) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		for _, c := range cs {
			ok, err := c.Eval(ctx, tx)
			if err != nil || ok {
				return ok && err == nil, err
			}
		}
		return false, nil
	})
}

// DeferOK turns an error of c into true, as Exim's defer_ok option does
// for conditions that cannot be tested. The error is logged at Info level.
func DeferOK(c Condition) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		ok, err := c.Eval(ctx, tx)
		if err != nil {
			if errors.Is(err, errNestedDiscard) || ctx.Err() != nil {
				return false, err
			}
			tx.logger().Info("acl condition error ignored (defer_ok)", "stage", tx.Stage.String(), "err", err)
			return true, nil
		}
		return ok, nil
	})
}

// errNestedDiscard is how Call reports a nested list's discard to Run.
var errNestedDiscard = errors.New("acl: nested ACL returned discard")

// Call runs a nested list, as Exim's "acl =" condition: true when it
// accepts, false when it denies (its reply and log message then become the
// rule's, unless the rule has its own message). When it defers, the
// condition fails with an error (the outer list defers, or a warn rule
// stops). When it drops, the condition is false and a require rule that
// fails because of it drops the connection. When it discards, an accept or
// discard rule discards at once; in any other rule it is an error. Lists
// nest at most 20 deep.
func Call(l List) Condition {
	return ConditionFunc(func(ctx context.Context, tx *Tx) (bool, error) {
		if tx.depth >= maxDepth {
			return false, fmt.Errorf("acl: nested ACLs more than %d deep", maxDepth)
		}
		saved := tx.rule
		tx.depth++
		res := l.Run(ctx, tx)
		tx.depth--
		tx.rule = saved
		switch res.Verdict {
		case VerdictAccept:
			return true, nil
		case VerdictDiscard:
			return false, errNestedDiscard
		case VerdictDefer:
			if res.Err != nil {
				return false, res.Err
			}
			return false, fmt.Errorf("acl: nested ACL deferred: %w", res.Reply)
		}
		if res.Reply != nil {
			cp := *res.Reply
			tx.rule.condReply = &cp
		}
		tx.rule.condLog = res.LogMessage
		if res.Verdict == VerdictDrop {
			tx.rule.callDrop = true
		}
		return false, nil
	})
}
