package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

// Texts of deferrals that were not attempted.
var (
	// ErrRetryNotReached is the deferral of an address whose retry time
	// (for routing its domain, or for the address) has not come.
	ErrRetryNotReached = errors.New("retry time not reached")
	// ErrRetryNotReachedAnyHost is the deferral of an address none of
	// whose hosts has reached its retry time.
	ErrRetryNotReachedAnyHost = errors.New("retry time not reached for any host")
	// errNoOutcome is the deferral of an address the transport said
	// nothing about.
	errNoOutcome = errors.New("transport reported no outcome")
)

type status int

const (
	pending   status = iota
	delivered        // by this attempt
	failed           // permanently, by this attempt
	deferred         // by this attempt
	done             // discarded, or done by an earlier attempt
)

// leaf is one address to deliver: an envelope recipient or an address
// generated from one.
type leaf struct {
	top       *topRcpt
	rcpt      *exigo.Recipient
	key       string // the address recorded in the journal when done
	router    string
	transport string

	st       status
	err      error
	attempt  *transport.Attempt
	timeout  bool
	reported bool    // failure handed to the Bouncer (or not to be reported)
	dups     []*leaf // later leaves with the same address, delivered with this one
}

// topRcpt is an envelope recipient and the leaves routing made of it.
type topRcpt struct {
	rcpt   *exigo.Recipient
	leaves []*leaf
}

// group is the leaves of one message that go to one transport with one
// host list: one transport delivery.
type group struct {
	m         *msgRun
	key       string
	transport string
	tr        transport.Transport
	hosts     []transport.Host
	leaves    []*leaf
}

// msgRun is one delivery attempt of one message, holding its lock.
type msgRun struct {
	e *Engine
	// lookups caches the lookups made while routing and delivering this
	// message (Exim keeps lookup results until the end of a message).
	lookups lookup.Cache
	opts    DeliverOptions
	lk      *spool.Lock
	ent     *spool.Entry
	msg     *exigo.Message
	start   time.Time

	thaw            bool // remove the frozen mark at the end
	discardFailures bool // drop permanent failures without a report

	mu      sync.Mutex
	tops    []*topRcpt
	groups  []*group
	freeze  string                  // why to freeze; "" not to
	retry   map[string]*hints.Retry // retry data read or written; nil: none
	pending int                     // groups not yet run (two-phase runs)
	// dequeued is set when the delivery of the last addresses removed
	// the -H file instead of journaling them (see setDelivered).
	dequeued bool
}

// doneKey is the address recorded as done for r: its address, except
// that an address generated from an ancestor with the same address (as
// "cleo: cleo, cleopatra@example.net" keeps a copy for cleo) is recorded
// as "address:envelope-recipient", so that it does not mark the ancestor
// done while a sibling is still pending.
func doneKey(r *exigo.Recipient) string {
	for p := r.Parent; p != nil; p = p.Parent {
		if strings.EqualFold(p.Address, r.Address) {
			return r.Address + ":" + r.Root().Address
		}
	}
	return r.Address
}

// dedupeKey is what duplicates are found by: the local part with its
// case, the domain without.
func dedupeKey(addr string) string {
	l, d := exigo.SplitAddress(addr)
	return l + "@" + strings.ToLower(d)
}

func groupKey(tr string, hosts []transport.Host) string {
	var b strings.Builder
	b.WriteString(tr)
	for _, h := range hosts {
		b.WriteByte(0)
		b.WriteString(strings.ToLower(h.Name))
		b.WriteByte('/')
		if h.Addr.IsValid() {
			b.WriteString(h.Addr.String())
		}
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(h.Port))
	}
	return b.String()
}

func domainOf(addr string) string {
	_, d := exigo.SplitAddress(addr)
	return d
}

// withLookups returns ctx carrying the message's lookup cache, unless
// the caller put one there.
func (m *msgRun) withLookups(ctx context.Context) context.Context {
	if lookup.CacheFrom(ctx) != nil {
		return ctx
	}
	return lookup.WithCache(ctx, &m.lookups)
}

// prepare routes every recipient not yet done and builds the groups.
func (m *msgRun) prepare(ctx context.Context) {
	ctx = m.withLookups(ctx)
	e := m.e
	m.retry = make(map[string]*hints.Retry)
	seen := make(map[string]bool)
	accepted := make(map[string]*leaf)
	groups := make(map[string]*group)
	for _, r := range m.msg.Envelope.Recipients {
		if m.ent.Delivered(r.Address) || seen[r.Address] {
			continue
		}
		seen[r.Address] = true
		top := &topRcpt{rcpt: r}
		m.tops = append(m.tops, top)
		domain := domainOf(r.Address)
		var routeRec *hints.Retry
		if domain != "" {
			routeRec = m.getRetry(ctx, routeKey(domain))
		}
		if routeRec != nil && m.opts.QueueRun && !m.opts.Force && m.start.Before(routeRec.NextTry) {
			l := &leaf{top: top, rcpt: r, key: r.Address}
			top.leaves = append(top.leaves, l)
			m.notReached(ctx, []*leaf{l}, []*hints.Retry{routeRec}, []string{r.Address}, ErrRetryNotReached)
			continue
		}
		routed := e.Router.Route(ctx, m.msg, r)
		if len(routed) == 0 {
			l := &leaf{top: top, rcpt: r, key: r.Address}
			top.leaves = append(top.leaves, l)
			m.setDeferred(ctx, l, errors.New("routing produced no outcome"), time.Time{})
			continue
		}
		for _, rt := range routed {
			if rt.Recipient == nil {
				rt.Recipient = r
			}
			l := &leaf{top: top, rcpt: rt.Recipient, key: doneKey(rt.Recipient), router: rt.Router}
			top.leaves = append(top.leaves, l)
			if l.rcpt != r && m.ent.Delivered(l.key) {
				l.st = done
				continue
			}
			if rt.Outcome != router.Defer {
				m.clearRetry(ctx, routeKey(domainOf(l.rcpt.Address)))
			}
			switch rt.Outcome {
			case router.Accept:
				l.transport = rt.Transport
				tr := e.Transports[rt.Transport]
				if tr == nil {
					e.log.Error("router chose an unknown transport", "id", m.msg.ID, "rcpt", l.rcpt.Address, "router", rt.Router, "transport", rt.Transport)
					m.setDeferred(ctx, l, fmt.Errorf("transport %q not defined", rt.Transport), time.Time{})
					continue
				}
				dk := dedupeKey(l.rcpt.Address)
				if p := accepted[dk]; p != nil {
					p.dups = append(p.dups, l)
					l.st = pending
					continue
				}
				accepted[dk] = l
				gk := groupKey(rt.Transport, rt.Hosts)
				g := groups[gk]
				if g == nil {
					g = &group{m: m, key: gk, transport: rt.Transport, tr: tr, hosts: slices.Clone(rt.Hosts)}
					groups[gk] = g
					m.groups = append(m.groups, g)
				}
				g.leaves = append(g.leaves, l)
			case router.Fail:
				reply := rt.Reply
				if reply == nil || reply.Code/100 != 5 {
					reply = &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: router.UnrouteableText}
				}
				m.setFailed(ctx, l, reply, nil, false)
			case router.Defer:
				var err error
				switch {
				case rt.Reply != nil && rt.Err != nil:
					err = fmt.Errorf("%w (%w)", rt.Reply, rt.Err)
				case rt.Reply != nil:
					err = rt.Reply
				case rt.Err != nil:
					err = rt.Err
				default:
					err = errors.New("routing deferred")
				}
				if rt.Freeze {
					m.setFreeze("router " + rt.Router + ": " + err.Error())
				}
				m.temporary(ctx, []*leaf{l}, routeKey(domainOf(l.rcpt.Address)), []string{l.rcpt.Address}, err, nil, nil)
			case router.Discard:
				l.st = done
				m.logLeaf(ctx, slog.LevelInfo, "=>", l, slog.String("to", ":blackhole:"))
			default:
				m.setDeferred(ctx, l, fmt.Errorf("router %s: unexpected outcome %v", rt.Router, rt.Outcome), time.Time{})
			}
		}
	}
	m.pending = len(m.groups)
}

// runGroup makes the transport delivery of g, after the retry checks.
func (e *Engine) runGroup(ctx context.Context, g *group) {
	m := g.m
	ctx = m.withLookups(ctx)
	now := e.now()
	ls := slices.Clone(g.leaves)
	hosts := g.hosts
	remote := len(g.hosts) > 0
	if remote {
		var usable []transport.Host
		var skipped []*hints.Retry
		for _, h := range g.hosts {
			rec := m.getRetry(ctx, hostKey(h))
			if rec != nil && !m.opts.Force && now.Before(rec.NextTry) {
				skipped = append(skipped, rec)
				continue
			}
			usable = append(usable, h)
		}
		if len(usable) == 0 {
			m.notReached(ctx, ls, skipped, []string{g.hosts[0].Name, ls[0].rcpt.Address}, ErrRetryNotReachedAnyHost)
			return
		}
		hosts = usable
	}
	kept := ls[:0]
	for _, l := range ls {
		rec := m.getRetry(ctx, addressKey(l.rcpt.Address, m.msg.Envelope.Sender, remote))
		if rec != nil && m.opts.QueueRun && !m.opts.Force && now.Before(rec.NextTry) {
			m.notReached(ctx, []*leaf{l}, []*hints.Retry{rec}, []string{l.rcpt.Address}, ErrRetryNotReached)
			continue
		}
		kept = append(kept, l)
	}
	ls = kept
	if len(ls) == 0 {
		return
	}

	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		for _, l := range ls {
			m.setDeferred(ctx, l, ctx.Err(), time.Time{})
		}
		return
	}
	col := &collector{m: m, g: g, byRcpt: make(map[*exigo.Recipient]*leaf, len(ls)), got: make(map[*leaf]transport.Result, len(ls))}
	d := &transport.Delivery{Message: m.msg, Hosts: slices.Clone(hosts), ReturnPath: m.msg.Envelope.Sender}
	for _, l := range ls {
		col.byRcpt[l.rcpt] = l
		d.Recipients = append(d.Recipients, l.rcpt)
	}
	err := e.callTransport(ctx, g, d, col)
	<-e.sem

	// Outcomes: temporary failures are grouped by retry key, so that a
	// host that failed for many addresses is recorded once.
	type tempGroup struct {
		key    string
		names  []string
		leaves []*leaf
		err    error
		att    *transport.Attempt
		host   bool
	}
	var temps []*tempGroup
	byKey := make(map[string]*tempGroup)
	for _, l := range ls {
		res, ok := col.result(l)
		if !ok {
			res.Err = err
			if res.Err == nil {
				res.Err = errNoOutcome
			}
		}
		switch {
		case res.Err == nil:
			if a := res.Attempt; a != nil && remote {
				m.clearRetry(ctx, hostKey(a.Host))
			}
			m.clearRetry(ctx, addressKey(l.rcpt.Address, m.msg.Envelope.Sender, remote))
		case transport.Permanent(res.Err):
			m.setFailed(ctx, l, res.Err, res.Attempt, false)
		default:
			key, names, host := addressKey(l.rcpt.Address, m.msg.Envelope.Sender, remote), []string{l.rcpt.Address}, false
			if a := res.Attempt; a != nil && remote && a.LastReply == nil {
				key, names, host = hostKey(a.Host), []string{a.Host.Name, l.rcpt.Address}, true
			}
			tg := byKey[key]
			if tg == nil {
				tg = &tempGroup{key: key, names: names, err: res.Err, att: res.Attempt, host: host}
				byKey[key] = tg
				temps = append(temps, tg)
			}
			tg.leaves = append(tg.leaves, l)
		}
	}
	// Hosts the transport reported as failed on its way to another.
	for _, hf := range col.hostFailures() {
		key := hostKey(hf.host)
		if byKey[key] == nil && ctx.Err() == nil {
			if rule, ok := findRule(e.rules, hf.host.Name, ls[0].rcpt.Address); ok && len(rule.Steps) > 0 {
				m.updateRetry(ctx, key, rule, hf.err.Error())
			}
		}
	}
	for _, tg := range temps {
		var allExpired func() bool
		if tg.host {
			allExpired = func() bool {
				for _, h := range g.hosts {
					if rec := m.getRetry(ctx, hostKey(h)); rec == nil || !rec.Expired {
						return false
					}
				}
				return true
			}
		}
		m.temporary(ctx, tg.leaves, tg.key, tg.names, tg.err, tg.att, allExpired)
	}
}

// callTransport runs the transport, turning a panic into an error.
func (e *Engine) callTransport(ctx context.Context, g *group, d *transport.Delivery, st transport.Status) (err error) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("transport panicked", "id", g.m.msg.ID, "transport", g.transport, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("transport %s panicked: %v", g.transport, p)
		}
	}()
	return g.tr.Deliver(ctx, d, st)
}

// temporary handles a temporary failure of ls at the destination with
// retry key key: it updates the retry data (by the first rule matching
// one of names) and defers the addresses, or fails them when the
// destination has timed out (allExpired, if set, must agree: all hosts
// of a host list) or the message is older than the rule's final cutoff.
// Without a matching rule, or with a rule without steps, the failure is
// permanent.
func (m *msgRun) temporary(ctx context.Context, ls []*leaf, key string, names []string, err error, att *transport.Attempt, allExpired func() bool) {
	e := m.e
	if ctx.Err() != nil {
		// Our own shutdown: not the destination's fault.
		for _, l := range ls {
			m.setDeferred(ctx, l, err, time.Time{})
		}
		return
	}
	rule, ok := findRule(e.rules, names...)
	if !ok || len(rule.Steps) == 0 {
		for _, l := range ls {
			m.setFailed(ctx, l, fmt.Errorf("%w (no retries configured)", err), att, false)
		}
		return
	}
	rec := m.updateRetry(ctx, key, rule, err.Error())
	giveUp := rec.Expired && (allExpired == nil || allExpired())
	if m.start.Sub(m.msg.Received) > rule.FinalCutoff() {
		giveUp = true
	}
	for _, l := range ls {
		if giveUp {
			m.setFailed(ctx, l, err, att, true)
		} else {
			m.setDeferredAt(ctx, l, err, att, rec.NextTry, slog.LevelInfo)
		}
	}
}

// notReached handles addresses not tried because their retry time (for
// the records recs) has not come: they are deferred, or failed when
// every record is past its final cutoff and the message arrived before
// the destination timed out (a message that arrived later gets one
// attempt first).
func (m *msgRun) notReached(ctx context.Context, ls []*leaf, recs []*hints.Retry, names []string, why error) {
	giveUp := len(recs) > 0
	var last *hints.Retry
	if rule, ok := findRule(m.e.rules, names...); ok {
		for _, r := range recs {
			if !r.Expired || m.msg.Received.After(r.FirstFailed.Add(rule.FinalCutoff())) {
				giveUp = false
			}
			if last == nil || r.LastTry.After(last.LastTry) {
				last = r
			}
		}
	} else {
		giveUp = false
	}
	for _, l := range ls {
		if giveUp {
			text := last.Text
			if text == "" {
				text = "destination failing"
			}
			m.setFailed(ctx, l, fmt.Errorf("%s (%w)", text, why), nil, true)
			continue
		}
		var next time.Time
		for _, r := range recs {
			if next.IsZero() || r.NextTry.Before(next) {
				next = r.NextTry
			}
		}
		// Like Exim without its retry_defer log selector, skipped
		// addresses are not worth a line at Info level.
		m.setDeferredAt(ctx, l, why, nil, next, slog.LevelDebug)
	}
}

// getRetry returns the retry data under key, read once per attempt.
func (m *msgRun) getRetry(ctx context.Context, key string) *hints.Retry {
	m.mu.Lock()
	r, ok := m.retry[key]
	m.mu.Unlock()
	if ok {
		return r
	}
	rec, found, err := hints.GetRetry(ctx, m.e.hints, key)
	if err != nil && ctx.Err() == nil {
		m.e.log.Warn("cannot read retry data", "key", key, "err", err)
	}
	if found {
		r = &rec
	}
	m.mu.Lock()
	m.retry[key] = r
	m.mu.Unlock()
	return r
}

// updateRetry records a failure at key. A record whose next try is still
// to come (another delivery failed meanwhile) is left as it is.
func (m *msgRun) updateRetry(ctx context.Context, key string, rule RetryRule, text string) hints.Retry {
	e := m.e
	e.retryMu.Lock()
	defer e.retryMu.Unlock()
	now := e.now()
	old, found, err := hints.GetRetry(ctx, e.hints, key)
	if err != nil {
		e.log.Warn("cannot read retry data", "key", key, "err", err)
	}
	var rec hints.Retry
	if found && now.Before(old.NextTry) {
		rec = old
	} else {
		var op *hints.Retry
		if found {
			op = &old
		}
		rec = nextRetry(rule, op, now, e.maxInterval(), oneLine(text))
		if err := hints.PutRetry(ctx, e.hints, key, rec, now.Add(e.retryExpire())); err != nil {
			e.log.Warn("cannot write retry data", "key", key, "err", err)
		}
	}
	m.mu.Lock()
	m.retry[key] = &rec
	m.mu.Unlock()
	return rec
}

// clearRetry removes the retry data under key after a success, if this
// attempt saw some.
func (m *msgRun) clearRetry(ctx context.Context, key string) {
	m.mu.Lock()
	r := m.retry[key]
	m.retry[key] = nil
	m.mu.Unlock()
	if r == nil {
		return
	}
	if err := m.e.hints.Delete(ctx, hints.RetryPrefix+key); err != nil {
		m.e.log.Warn("cannot remove retry data", "key", key, "err", err)
	}
}

func (m *msgRun) setFreeze(why string) {
	m.mu.Lock()
	if m.freeze == "" {
		m.freeze = why
	}
	m.mu.Unlock()
}

// setFailed records a permanent failure of l and its duplicates.
func (m *msgRun) setFailed(ctx context.Context, l *leaf, err error, att *transport.Attempt, timeout bool) {
	for _, x := range append([]*leaf{l}, l.dups...) {
		m.mu.Lock()
		x.st, x.err, x.attempt, x.timeout = failed, err, att, timeout
		m.mu.Unlock()
		attrs := []slog.Attr{slog.String("err", oneLine(err.Error()))}
		if att != nil {
			attrs = append(attrs, slog.String("host", hostLabel(att.Host, att.Remote)))
		}
		if timeout {
			attrs = append(attrs, slog.Bool("retry_timeout", true))
		}
		m.logLeaf(ctx, slog.LevelInfo, "**", x, attrs...)
	}
}

// setDeferred records a deferral of l and its duplicates; next is the
// retry time, if known.
func (m *msgRun) setDeferred(ctx context.Context, l *leaf, err error, next time.Time) {
	m.setDeferredAt(ctx, l, err, nil, next, slog.LevelInfo)
}

// setDeferredAt is setDeferred for a deferral decided by the remote
// attempt att, logged at level.
func (m *msgRun) setDeferredAt(ctx context.Context, l *leaf, err error, att *transport.Attempt, next time.Time, level slog.Level) {
	for _, x := range append([]*leaf{l}, l.dups...) {
		m.mu.Lock()
		x.st, x.err, x.attempt = deferred, err, att
		m.mu.Unlock()
		attrs := []slog.Attr{slog.String("err", oneLine(err.Error()))}
		if a := att; a != nil {
			attrs = append(attrs, slog.String("host", hostLabel(a.Host, a.Remote)))
		}
		if !next.IsZero() {
			attrs = append(attrs, slog.Time("retry", next))
		}
		m.logLeaf(ctx, level, "==", x, attrs...)
	}
}

// setDelivered records the delivery of l and its duplicates durably,
// then logs it. When they are the last addresses of the message (every
// other one delivered or done, none failed or deferred, no freeze), the
// record is the durable removal of the -H file (spool.Lock.Dequeue):
// the message is finished, and no journal file is created. Otherwise
// the addresses are appended to the -J journal. Either way the sync is
// shared with concurrent deliveries.
func (m *msgRun) setDelivered(ctx context.Context, l *leaf, res transport.Result) {
	xs := append([]*leaf{l}, l.dups...)
	m.mu.Lock()
	for _, x := range xs {
		x.st, x.attempt = delivered, res.Attempt
	}
	last := !m.dequeued && m.freeze == "" && m.allDelivered()
	if last {
		m.dequeued = true
	}
	m.mu.Unlock()
	journal := !last
	if last {
		if err := m.lk.Dequeue(); err != nil {
			m.e.log.Error("cannot remove a delivered message's -H file", "id", m.msg.ID, "err", err)
			journal = true
		}
	}
	for _, x := range xs {
		if journal {
			if err := m.lk.AddDelivered(x.key); err != nil {
				m.e.log.Error("cannot record a delivery in the journal", "id", m.msg.ID, "rcpt", x.rcpt.Address, "err", err)
			}
		}
		var attrs []slog.Attr
		if a := res.Attempt; a != nil {
			attrs = append(attrs, slog.String("host", hostLabel(a.Host, a.Remote)))
		}
		if res.Reply != "" {
			attrs = append(attrs, slog.String("reply", oneLine(res.Reply)))
		}
		m.logLeaf(ctx, slog.LevelInfo, "=>", x, attrs...)
	}
}

// logLeaf writes one log line about l in the manner of Exim's main log:
// tag is "=>" (delivered), "**" (failed) or "==" (deferred).
func (m *msgRun) logLeaf(ctx context.Context, level slog.Level, tag string, l *leaf, extra ...slog.Attr) {
	attrs := make([]slog.Attr, 0, 6+len(extra))
	attrs = append(attrs, slog.String("id", m.msg.ID), slog.String("rcpt", l.rcpt.Address))
	if root := l.rcpt.Root(); root != l.rcpt {
		attrs = append(attrs, slog.String("parent", root.Address))
	}
	if l.router != "" {
		attrs = append(attrs, slog.String("router", l.router))
	}
	if l.transport != "" {
		attrs = append(attrs, slog.String("transport", l.transport))
	}
	attrs = append(attrs, extra...)
	m.e.log.LogAttrs(ctx, level, tag, attrs...)
}

// allDelivered reports whether every address of the attempt is delivered
// or was done before. It needs m.mu.
func (m *msgRun) allDelivered() bool {
	for _, t := range m.tops {
		for _, l := range t.leaves {
			if l.st != delivered && l.st != done {
				return false
			}
		}
	}
	return true
}

// groupDone counts a finished group and reports whether it was the last.
func (m *msgRun) groupDone() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending--
	return m.pending == 0
}

// wantsFailureReport reports whether a failure of r is to be reported:
// not when its NOTIFY list is set without FAILURE (RFC 3461).
func wantsFailureReport(r *exigo.Recipient) bool {
	n := r.Notify & exigo.NotifyMask
	return n == 0 || n&exigo.NotifyFailure != 0
}

// finish reports the failures, records the outcome in the spool (or
// removes the message) and unlocks it.
func (m *msgRun) finish(ctx context.Context) (MessageResult, error) {
	e := m.e
	defer m.lk.Unlock()
	res := MessageResult{ID: m.msg.ID}
	var report []Failure
	var reportLeaves []*leaf
	for _, t := range m.tops {
		for _, l := range t.leaves {
			if l.st != failed {
				continue
			}
			switch {
			case m.discardFailures:
				l.reported = true
				m.logLeaf(ctx, slog.LevelInfo, "**", l, slog.String("err", "failure of a bounce message ignored (ignore_bounce_errors_after)"))
			case !wantsFailureReport(l.rcpt):
				l.reported = true
			case (&Failure{Recipient: l.rcpt}).ReportTo(m.msg) == "":
				m.setFreeze("delivery of a bounce message failed")
			default:
				report = append(report, Failure{Recipient: l.rcpt, Err: l.err, Attempt: l.attempt, Router: l.router, Transport: l.transport, Timeout: l.timeout})
				reportLeaves = append(reportLeaves, l)
			}
		}
	}
	if len(report) > 0 {
		// Finish the bookkeeping even when ctx ends: the deliveries have
		// happened.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err := e.bouncer.Bounce(bctx, m.msg, report)
		cancel()
		if err != nil {
			e.log.Error("cannot create a bounce message", "id", m.msg.ID, "err", err)
			m.setFreeze("cannot create a bounce message: " + oneLine(err.Error()))
		} else {
			for _, l := range reportLeaves {
				l.reported = true
			}
		}
	}
	// A reported failure is done: record it before anything else, so a
	// crash cannot report it twice.
	var jerr error
	for _, t := range m.tops {
		for _, l := range t.leaves {
			if l.st == failed && l.reported {
				if err := m.lk.AddDelivered(l.key); err != nil {
					jerr = err
				}
			}
		}
	}
	if jerr != nil {
		e.log.Error("cannot record failures in the journal", "id", m.msg.ID, "err", jerr)
	}

	remaining := false
	var topsDone []string
	for _, t := range m.tops {
		all := len(t.leaves) > 0
		for _, l := range t.leaves {
			switch l.st {
			case delivered:
				res.Delivered = append(res.Delivered, l.rcpt.Address)
			case failed:
				res.Failed = append(res.Failed, l.rcpt.Address)
				all = all && l.reported
			case deferred:
				res.Deferred = append(res.Deferred, l.rcpt.Address)
				all = false
			case done:
			default:
				all = false
			}
		}
		if all {
			topsDone = append(topsDone, t.rcpt.Address)
		} else {
			remaining = true
		}
	}
	if m.dequeued || (!remaining && m.freeze == "") {
		if err := m.lk.Remove(); err != nil {
			e.log.Error("cannot remove a delivered message", "id", m.msg.ID, "err", err)
			return res, fmt.Errorf("queue: %w", err)
		}
		res.Completed = true
		e.log.LogAttrs(ctx, slog.LevelInfo, "Completed", slog.String("id", m.msg.ID))
		return res, nil
	}
	ent, err := m.lk.FoldJournal()
	if err != nil {
		e.log.Error("cannot update the message's -H file", "id", m.msg.ID, "err", err)
		return res, fmt.Errorf("queue: %w", err)
	}
	h := ent.HeaderFile
	changed := false
	// The journal holds the addresses done by this attempt; adding them
	// again covers a journal write that failed.
	for _, t := range m.tops {
		for _, l := range t.leaves {
			if l.st == delivered || (l.st == failed && l.reported) {
				changed = h.AddNonRecipient(l.key) || changed
			}
		}
	}
	for _, a := range topsDone {
		changed = h.AddNonRecipient(a) || changed
	}
	if h.Has("deliver_firsttime") {
		h.DelVar("deliver_firsttime")
		changed = true
	}
	if frozen, _ := h.Frozen(); frozen && m.thaw && m.freeze == "" {
		h.Thaw(m.opts.Thaw)
		changed = true
	}
	if m.freeze != "" {
		h.Freeze(e.now())
		changed = true
		res.Frozen = true
		e.log.LogAttrs(ctx, slog.LevelWarn, "Frozen", slog.String("id", m.msg.ID), slog.String("reason", m.freeze))
	}
	if changed {
		if err := m.lk.Rewrite(h); err != nil {
			e.log.Error("cannot update the message's -H file", "id", m.msg.ID, "err", err)
			return res, fmt.Errorf("queue: %w", err)
		}
	}
	return res, nil
}

// collector is the transport.Status of one delivery: it journals each
// delivered address before returning, so that the window in which a
// crash can deliver an address twice is the time between the
// transport's success and its call to Set.
type collector struct {
	m      *msgRun
	g      *group
	byRcpt map[*exigo.Recipient]*leaf

	mu    sync.Mutex
	got   map[*leaf]transport.Result
	hosts []hostFailure
}

type hostFailure struct {
	host transport.Host
	err  error
}

// Set implements transport.Status. For a delivered recipient it returns
// only when the delivery is durably recorded in the -J journal.
func (c *collector) Set(r *exigo.Recipient, res transport.Result) {
	c.mu.Lock()
	l := c.byRcpt[r]
	_, dup := c.got[l]
	if l == nil || dup {
		c.mu.Unlock()
		if l == nil {
			c.m.e.log.Warn("transport reported a recipient it was not given", "id", c.m.msg.ID, "transport", c.g.transport, "rcpt", r.Address)
		}
		return
	}
	c.got[l] = res
	c.mu.Unlock()
	if res.Err == nil {
		c.m.setDelivered(context.Background(), l, res)
	}
}

var _ transport.HostReporter = (*collector)(nil)

// HostFailed records that host failed temporarily with err during the
// delivery, although the transport went on to another host. Transports
// that try several hosts call it (the collector is a
// transport.HostReporter), so that every failing host gets retry data, not
// only the one whose error decided.
func (c *collector) HostFailed(host transport.Host, err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	c.hosts = append(c.hosts, hostFailure{host, err})
	c.mu.Unlock()
}

func (c *collector) hostFailures() []hostFailure {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.hosts)
}

func (c *collector) result(l *leaf) (transport.Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.got[l]
	return r, ok
}
