package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
)

// Condition is a router precondition over one address (Exim's generic
// "condition" option, and the place for other packages' preconditions
// such as BMI verdicts). An error means it cannot be tested: the address
// is deferred.
type Condition interface {
	Match(ctx context.Context, a *Address) (bool, error)
}

// ConditionFunc adapts a function to a [Condition].
type ConditionFunc func(ctx context.Context, a *Address) (bool, error)

// Match calls f.
func (f ConditionFunc) Match(ctx context.Context, a *Address) (bool, error) { return f(ctx, a) }

// Entry is one router of a [Chain] with its generic options (Exim
// specification, chapter 15 "Generic options for routers"). The
// preconditions are tested in Exim's order: VerifyOnly and NoVerify,
// Domains, LocalParts, Senders, Condition; when one fails the router is
// skipped, whatever NoMore says.
type Entry struct {
	// Name identifies the router in results, logs, PassRouter and
	// RedirectRouter. Names must be unique and not empty.
	Name   string
	Router Router

	// VerifyOnly runs the router only when verifying (verify_only).
	VerifyOnly bool
	// NoVerify skips the router when verifying (no_verify).
	NoVerify bool
	// Domains, if set, must contain the domain (domains); the matching
	// item's data becomes Address.DomainData.
	Domains *acl.DomainList
	// LocalParts, if set, must contain the local part (local_parts),
	// tested with its case; the data becomes Address.LocalPartData.
	LocalParts *acl.LocalPartList
	// Senders, if set, must contain the envelope sender (senders); the
	// data becomes Address.SenderData.
	Senders *acl.AddressList
	// Condition, if set, must be true (condition).
	Condition Condition

	// AddressData, if set, runs after the preconditions and sets
	// $address_data (address_data). When it returns ok false (Exim's
	// forced expansion failure) the router declines; an error defers.
	AddressData func(ctx context.Context, a *Address) (value string, ok bool, err error)
	// CasefulLocalPart keeps the case of Address.LocalPart
	// (caseful_local_part).
	CasefulLocalPart bool
	// NoMore makes a decline final: the address fails as unrouteable
	// (no_more). It does not apply to Pass or to failed preconditions.
	NoMore bool
	// PassRouter names the router, below this one, that Pass goes to
	// (pass_router); "" means the next one.
	PassRouter string
	// RedirectRouter names the router where children of a redirection
	// start (redirect_router); "" means the first one.
	RedirectRouter string
	// FailVerify fails recipient verification when the router accepts
	// the address (fail_verify_recipient).
	FailVerify bool
	// CannotRouteMessage replaces "Unrouteable address" when this is the
	// last router that saw the address (cannot_route_message).
	CannotRouteMessage string
}

// Routed is the final outcome for one address: an original recipient or
// an address generated from it.
type Routed struct {
	// Recipient is the address; generated ones link to their parent.
	Recipient *exigo.Recipient
	// Router is the name of the router that decided, "" when no router
	// accepted the address.
	Router string
	Result
}

// Chain runs routers in order for each address (Exim specification,
// chapter 3 "How Exim receives and delivers mail", sections 3.8 to 3.12).
// It is safe for concurrent use when its routers are.
type Chain struct {
	entries        []Entry
	index          map[string]int
	logger         *slog.Logger
	maxGenerations int
	maxAddresses   int
}

// ChainOption configures a [Chain].
type ChainOption func(*Chain)

// WithLogger sets the logger for routing decisions (Debug level) and
// deferrals (Info level).
func WithLogger(l *slog.Logger) ChainOption { return func(c *Chain) { c.logger = l } }

// WithLimits bounds redirection: generations is the deepest chain of
// redirections from an original recipient (default 100), addresses the
// number of addresses routed for one recipient, itself included (default
// 10000). Reaching either defers the recipient.
func WithLimits(generations, addresses int) ChainOption {
	return func(c *Chain) {
		if generations > 0 {
			c.maxGenerations = generations
		}
		if addresses > 0 {
			c.maxAddresses = addresses
		}
	}
}

var discardLogger = slog.New(slog.DiscardHandler)

// NewChain returns a chain of the given routers. It checks that names
// are unique and not empty, that every router is set, and that
// PassRouter names a later router and RedirectRouter an existing one.
func NewChain(entries []Entry, opts ...ChainOption) (*Chain, error) {
	c := &Chain{
		entries:        append([]Entry(nil), entries...),
		index:          make(map[string]int, len(entries)),
		logger:         discardLogger,
		maxGenerations: 100,
		maxAddresses:   10000,
	}
	for _, o := range opts {
		o(c)
	}
	if c.logger == nil {
		c.logger = discardLogger
	}
	for i, e := range c.entries {
		if e.Name == "" {
			return nil, fmt.Errorf("router: entry %d has no name", i)
		}
		if e.Router == nil {
			return nil, fmt.Errorf("router: %s: no router", e.Name)
		}
		if _, dup := c.index[e.Name]; dup {
			return nil, fmt.Errorf("router: duplicate router name %q", e.Name)
		}
		c.index[e.Name] = i
	}
	for i, e := range c.entries {
		if e.PassRouter != "" {
			j, ok := c.index[e.PassRouter]
			if !ok {
				return nil, fmt.Errorf("router: %s: pass_router %q does not exist", e.Name, e.PassRouter)
			}
			if j <= i {
				return nil, fmt.Errorf("router: %s: pass_router %q is not below it", e.Name, e.PassRouter)
			}
		}
		if e.RedirectRouter != "" {
			if _, ok := c.index[e.RedirectRouter]; !ok {
				return nil, fmt.Errorf("router: %s: redirect_router %q does not exist", e.Name, e.RedirectRouter)
			}
		}
	}
	return c, nil
}

// run is the state of one Route or Verify call.
type run struct {
	c       *Chain
	msg     *exigo.Message
	verify  bool
	count   int
	leaves  []Routed
	seen    map[string]bool // accepted addresses, for duplicate removal
	verdict *Routed         // verify mode: the deciding outcome
}

// Route routes rcpt for delivery and returns the final outcome of every
// address that results: rcpt itself, or the addresses a redirection
// generated from it (recursively), in the order generated. Every outcome
// is Accept, Fail, Defer or Discard. Of several generated addresses that
// are accepted with the same address (local part with its case, domain
// without), only the first is kept, as Exim removes duplicates. A router
// error or a cancelled ctx defers the addresses concerned; nothing is
// lost.
func (c *Chain) Route(ctx context.Context, msg *exigo.Message, rcpt *exigo.Recipient) []Routed {
	r := &run{c: c, msg: msg}
	r.route(ctx, newAddress(msg, rcpt, false), 0, 0)
	return r.leaves
}

// Verify routes rcpt in verify mode (Exim specification, section 44.51
// "Redirection while verifying") and returns the deciding outcome: when
// an address is redirected to exactly one child, verification goes on
// with the child; when it is redirected to several, verification stops
// there with the Redirect outcome, which counts as success. Accept and
// Discard also count as success; Fail and Defer do not.
//
// Verify works on a copy of rcpt, so routing does not change it; the
// copy's attributes (with $address_data) are in the returned Recipient.
func (c *Chain) Verify(ctx context.Context, msg *exigo.Message, rcpt *exigo.Recipient) Routed {
	cp := *rcpt
	cp.Attrs = rcpt.Attrs.Clone()
	r := &run{c: c, msg: msg, verify: true}
	r.route(ctx, newAddress(msg, &cp, true), 0, 0)
	if r.verdict == nil {
		// Not reached: every path records a verdict.
		return Routed{Recipient: &cp, Result: Result{Outcome: Defer, Err: errors.New("router: verification produced no result")}}
	}
	return *r.verdict
}

// VerifyRecipient implements [acl.RecipientVerifier], so a chain can back
// an ACL's verify = recipient: it routes the recipient in verify mode.
// Success returns nil; a failure returns the 5xx reply (550 "Unrouteable
// address" by default, else the router's), a deferral the 4xx reply of
// the router (451 with a :defer: text) or, when the deferral came from
// an error, that error (the ACL then replies with its own 451). The last
// $address_data set is left in the ACL variable address_data.
func (c *Chain) VerifyRecipient(ctx context.Context, tx *acl.Tx, r *exigo.Recipient) error {
	var msg *exigo.Message
	if tx != nil {
		msg = tx.Message
	}
	v := c.Verify(ctx, msg, r)
	if tx != nil {
		if d, ok := exigo.Get(&v.Recipient.Attrs, AddressDataKey); ok {
			_ = tx.SetVar("address_data", d)
		}
	}
	switch v.Outcome {
	case Accept, Discard, Redirect:
		return nil
	case Fail:
		return failReply(v.Reply)
	default:
		if v.Reply != nil && v.Reply.Code/100 == 4 {
			cp := *v.Reply
			return &cp
		}
		if v.Err != nil {
			return fmt.Errorf("router %s: %w", v.Router, v.Err)
		}
		return fmt.Errorf("router %s: %w", v.Router, ErrDeferred)
	}
}

// ErrDeferred is the error [Chain.VerifyRecipient] wraps when a router
// deferred the address without a reply or an error of its own.
var ErrDeferred = errors.New("address deferred")

func failReply(r *exigo.SMTPError) *exigo.SMTPError {
	if r == nil || r.Code/100 != 5 {
		return unrouteable("")
	}
	cp := *r
	return &cp
}

func unrouteable(msg string) *exigo.SMTPError {
	if msg == "" {
		msg = UnrouteableText
	}
	return &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: msg}
}

// leaf records a final outcome.
func (r *run) leaf(a *Address, router string, res Result) {
	l := Routed{Recipient: a.Recipient, Router: router, Result: res}
	if r.verify {
		r.verdict = &l
		return
	}
	if res.Outcome == Accept && a.parent != nil {
		key := a.localPart + "@" + a.Domain
		if r.seen[key] {
			r.c.logger.Debug("router: duplicate address discarded", "address", a.Recipient.Address)
			return
		}
		if r.seen == nil {
			r.seen = make(map[string]bool)
		}
		r.seen[key] = true
	}
	r.leaves = append(r.leaves, l)
}

func (r *run) deferErr(a *Address, router string, err error) {
	r.c.logger.Info("router: address deferred", "address", a.Recipient.Address, "router", router, "err", err)
	r.leaf(a, router, Result{Outcome: Defer, Err: err})
}

// route runs the chain from entry start for a; depth counts generations.
func (r *run) route(ctx context.Context, a *Address, start, depth int) {
	r.count++
	if r.count > r.c.maxAddresses {
		r.deferErr(a, "", fmt.Errorf("router: more than %d addresses generated", r.c.maxAddresses))
		return
	}
	if depth > r.c.maxGenerations {
		r.deferErr(a, "", fmt.Errorf("router: redirections more than %d deep", r.c.maxGenerations))
		return
	}
	if a.Domain == "" {
		// Addresses reaching the routers are qualified; an unqualified
		// one cannot be routed by domain.
		r.leaf(a, "", Result{Outcome: Fail, Reply: unrouteable("")})
		return
	}
	cannotRoute := ""
	log := r.c.logger
	for i := start; i < len(r.c.entries); i++ {
		if err := ctx.Err(); err != nil {
			r.deferErr(a, "", err)
			return
		}
		e := &r.c.entries[i]
		cannotRoute = e.CannotRouteMessage
		a.Router = e.Name
		if r.loops(a, e.Name) {
			log.Debug("router: skipped, address has an ancestor it routed", "router", e.Name, "address", a.Recipient.Address)
			continue
		}
		ok, err := r.preconditions(ctx, e, a)
		if err != nil {
			r.deferErr(a, e.Name, err)
			return
		}
		if !ok {
			continue
		}
		res, err := r.runRouter(ctx, e, a)
		if err != nil {
			r.deferErr(a, e.Name, err)
			return
		}
		log.Debug("router: outcome", "router", e.Name, "address", a.Recipient.Address, "outcome", res.Outcome.String())
		switch res.Outcome {
		case Decline:
			if e.NoMore {
				r.leaf(a, e.Name, Result{Outcome: Fail, Reply: unrouteable(cannotRoute)})
				return
			}
		case Pass:
			if e.PassRouter != "" {
				i = r.c.index[e.PassRouter] - 1
			}
		case Redirect:
			if len(res.Children) == 0 {
				// Nothing generated: treated as a decline.
				if e.NoMore {
					r.leaf(a, e.Name, Result{Outcome: Fail, Reply: unrouteable(cannotRoute)})
					return
				}
				continue
			}
			r.redirect(ctx, e, a, res, depth)
			return
		case Accept:
			if a.Verify && e.FailVerify {
				res = Result{Outcome: Fail, Reply: unrouteable("")}
			}
			r.leaf(a, e.Name, res)
			return
		case Fail, Defer, Discard:
			if res.Outcome == Defer && res.Err != nil {
				log.Info("router: address deferred", "address", a.Recipient.Address, "router", e.Name, "err", res.Err)
			}
			r.leaf(a, e.Name, res)
			return
		default:
			r.deferErr(a, e.Name, fmt.Errorf("router %s returned %v", e.Name, res.Outcome))
			return
		}
	}
	r.leaf(a, "", Result{Outcome: Fail, Reply: unrouteable(cannotRoute)})
}

// runRouter sets $address_data and runs e's router for a.
func (r *run) runRouter(ctx context.Context, e *Entry, a *Address) (Result, error) {
	if e.AddressData != nil {
		v, ok, err := e.AddressData(ctx, a)
		if err != nil {
			return Result{}, fmt.Errorf("address_data: %w", err)
		}
		if !ok {
			return Declined(), nil
		}
		a.SetData(v)
	}
	return e.Router.Route(ctx, a)
}

// redirect routes the children of a redirection.
func (r *run) redirect(ctx context.Context, e *Entry, a *Address, res Result, depth int) {
	a.handledBy = e.Name
	start := 0
	if e.RedirectRouter != "" {
		start = r.c.index[e.RedirectRouter]
	}
	if r.verify && len(res.Children) > 1 {
		r.leaf(a, e.Name, res)
		return
	}
	for _, child := range res.Children {
		if child.Parent == nil {
			child.Parent = a.Recipient
		}
		ca := newAddress(r.msg, child, r.verify)
		ca.parent = a
		r.route(ctx, ca, start, depth+1)
	}
}

// loops reports whether router name must be skipped for a: an ancestor
// of a has the same address and was redirected by that router (Exim's
// loop prevention, section 22.5 "Redirecting to a local mailbox").
func (r *run) loops(a *Address, name string) bool {
	if a.parent == nil {
		return false
	}
	key := a.loopKey()
	for p := a.parent; p != nil; p = p.parent {
		if p.handledBy == name && p.loopKey() == key {
			return true
		}
	}
	return false
}

// preconditions tests e's preconditions for a in Exim's order.
func (r *run) preconditions(ctx context.Context, e *Entry, a *Address) (bool, error) {
	a.DomainData, a.LocalPartData, a.SenderData = "", "", ""
	if e.CasefulLocalPart {
		a.LocalPart = a.localPart
	} else {
		a.LocalPart = strings.ToLower(a.localPart)
	}
	if a.Verify && e.NoVerify || !a.Verify && e.VerifyOnly {
		return false, nil
	}
	if e.Domains != nil {
		ok, data, err := e.Domains.Match(ctx, a.Domain)
		if err != nil {
			return false, fmt.Errorf("domains: %w", err)
		}
		if !ok {
			return false, nil
		}
		a.DomainData = data
	}
	if e.LocalParts != nil {
		ok, data, err := e.LocalParts.Match(ctx, a.localPart)
		if err != nil {
			return false, fmt.Errorf("local_parts: %w", err)
		}
		if !ok {
			return false, nil
		}
		a.LocalPartData = data
	}
	if e.Senders != nil {
		ok, data, err := e.Senders.Match(ctx, a.Sender())
		if err != nil {
			return false, fmt.Errorf("senders: %w", err)
		}
		if !ok {
			return false, nil
		}
		a.SenderData = data
	}
	if e.Condition != nil {
		ok, err := e.Condition.Match(ctx, a)
		if err != nil {
			return false, fmt.Errorf("condition: %w", err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}
