package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

// Router routes one envelope recipient of a message and returns the
// final outcome of every address that results (the recipient itself, or
// the addresses a redirection generated from it). *router.Chain
// implements it.
type Router interface {
	Route(ctx context.Context, msg *exigo.Message, rcpt *exigo.Recipient) []router.Routed
}

// RouterFunc adapts a function to a Router.
type RouterFunc func(ctx context.Context, msg *exigo.Message, rcpt *exigo.Recipient) []router.Routed

// Route calls f.
func (f RouterFunc) Route(ctx context.Context, msg *exigo.Message, rcpt *exigo.Recipient) []router.Routed {
	return f(ctx, msg, rcpt)
}

// Engine delivers the messages of a spool: it routes their recipients,
// runs the transports, records the outcomes in the spool, keeps retry
// data in a hints database and has permanent failures reported by a
// Bouncer. Set the fields before first use and do not change them
// afterwards; the methods are safe for concurrent use. Spool, Router and
// Transports are required; the other fields have defaults.
type Engine struct {
	// Spool holds the messages.
	Spool *spool.Spool
	// Router routes each recipient.
	Router Router
	// Transports maps the transport names that routers give to
	// transports.
	Transports map[string]transport.Transport
	// Hints stores the retry data; default an in-memory database, which
	// forgets it when the process ends.
	Hints hints.DB
	// Bouncer reports permanent failures; default a SimpleBouncer
	// writing into Spool, with Hostname, Now and Logger, which hands
	// each report to Kick.
	Bouncer Bouncer
	// Logger receives a line per delivery, failure and deferral (see the
	// package documentation); default: discard.
	Logger *slog.Logger
	// Parallelism bounds the transport deliveries running at once, and
	// the messages a one-pass queue run handles at once; default
	// DefaultParallelism (Exim's defaults, queue_run_max 5 times remote_max_parallel 4,
	// allow as many; Postfix's default_destination_concurrency_limit is
	// 20 too). Deliveries finishing together share their syncs, so more
	// of them at once means fewer syncs per message.
	Parallelism int
	// RetryRules are tried in order for each failing destination; the
	// first that matches applies. Default DefaultRetryRules(). A
	// destination that no rule matches is not retried: its temporary
	// failures are permanent (as in Exim).
	RetryRules []RetryRule
	// MaxRetryInterval caps the interval between retries (Exim's
	// retry_interval_max); default 24h.
	MaxRetryInterval time.Duration
	// RetryDataExpire is how long retry data is kept after its last
	// update (Exim's retry_data_expire); default 7 days.
	RetryDataExpire time.Duration
	// IgnoreBounceErrorsAfter is how long a frozen bounce message (one
	// with the null sender whose delivery failed) is kept: after that, a
	// queue run unfreezes it and tries it once more, discarding it if it
	// fails again (Exim's ignore_bounce_errors_after); default 10 weeks;
	// negative keeps such messages frozen.
	IgnoreBounceErrorsAfter time.Duration
	// QueueOnly makes Kick do nothing: messages wait for a queue run
	// (Exim's queue_only).
	QueueOnly bool
	// TwoPhase makes the queue runs of Run two-phase (Exim's -qq).
	TwoPhase bool
	// MaxBatch bounds the messages a two-phase run holds locked at once;
	// default 1000. Larger queues are run in batches.
	MaxBatch int
	// Hostname names this host in bounces; default os.Hostname().
	Hostname string
	// Now replaces time.Now, for tests.
	Now func() time.Time

	once     sync.Once
	par      int
	sem      chan struct{} // one token per running transport delivery
	hints    hints.DB
	bouncer  Bouncer
	log      *slog.Logger
	rules    []RetryRule
	retryMu  sync.Mutex
	kmu      sync.Mutex
	kctx     context.Context
	kcancel  context.CancelFunc
	kqueue   []string
	kqueued  map[string]bool
	krunning int
	kclosed  bool
	kwg      sync.WaitGroup
}

// DefaultParallelism is the Engine's Parallelism when it is not set.
const DefaultParallelism = 20

const maxKickBacklog = 10000

func (e *Engine) init() {
	e.once.Do(func() {
		e.par = e.Parallelism
		if e.par <= 0 {
			e.par = DefaultParallelism
		}
		e.sem = make(chan struct{}, e.par)
		e.log = e.Logger
		if e.log == nil {
			e.log = slog.New(slog.DiscardHandler)
		}
		e.hints = e.Hints
		if e.hints == nil {
			e.hints = hints.NewMemory(hints.WithClock(e.now))
		}
		e.rules = e.RetryRules
		if e.rules == nil {
			e.rules = DefaultRetryRules()
		}
		e.bouncer = e.Bouncer
		if e.bouncer == nil {
			e.bouncer = &SimpleBouncer{Spool: e.Spool, Hostname: e.Hostname, Now: e.Now, Logger: e.Logger, OnCreated: e.Kick}
		}
		e.kctx, e.kcancel = context.WithCancel(context.Background())
		e.kqueued = make(map[string]bool)
	})
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) maxInterval() time.Duration {
	if e.MaxRetryInterval > 0 {
		return e.MaxRetryInterval
	}
	return 24 * time.Hour
}

func (e *Engine) retryExpire() time.Duration {
	if e.RetryDataExpire > 0 {
		return e.RetryDataExpire
	}
	return 7 * 24 * time.Hour
}

func (e *Engine) ignoreBounceErrorsAfter() time.Duration {
	if e.IgnoreBounceErrorsAfter == 0 {
		return 10 * 7 * 24 * time.Hour
	}
	return e.IgnoreBounceErrorsAfter
}

func (e *Engine) check() error {
	if e.Spool == nil {
		return errors.New("queue: Engine has no Spool")
	}
	if e.Router == nil {
		return errors.New("queue: Engine has no Router")
	}
	return nil
}

// DeliverOptions say how Deliver treats one message.
type DeliverOptions struct {
	// QueueRun marks a delivery by a queue runner: it honours the retry
	// times of routing and of single addresses. A delivery outside a
	// queue run (on receipt) routes every address and tries local
	// deliveries whatever those say, as Exim does; the retry times of
	// remote hosts are honoured in both cases.
	QueueRun bool
	// Force ignores all retry times (exim -qf, -M).
	Force bool
	// Thaw delivers a frozen message too, and unfreezes it (exim -qff,
	// -M); without it a frozen message is skipped.
	Thaw bool
}

// MessageResult is the outcome of one delivery attempt of a message.
type MessageResult struct {
	ID string
	// Skipped says why the message was not tried: "locked" (another
	// process is delivering it) or "frozen"; "" when it was tried.
	Skipped string
	// Delivered, Failed and Deferred list the addresses (envelope
	// recipients or addresses generated from them) by outcome, in
	// routing order. Failed addresses were reported to the sender unless
	// Frozen says otherwise.
	Delivered, Failed, Deferred []string
	// Frozen is true when the attempt froze the message: a router asked
	// for it, or a bounce could not be created (or failed itself, for a
	// bounce message).
	Frozen bool
	// Completed is true when no recipient is left and the message was
	// removed from the spool.
	Completed bool
}

// DeliverMessage delivers message id outside a queue run, as on receipt:
// Deliver with zero DeliverOptions.
func (e *Engine) DeliverMessage(ctx context.Context, id string) (MessageResult, error) {
	return e.Deliver(ctx, id, DeliverOptions{})
}

// Deliver makes one delivery attempt of message id: it locks the message
// (a message locked elsewhere is skipped), folds a journal left by an
// interrupted attempt into the -H file, routes every recipient not yet
// done, delivers them grouped by transport and host list with at most
// Parallelism deliveries at once, and records the outcomes: each
// delivered address in the -J journal as soon as its transport reports
// it, permanent failures in one bounce, temporary ones in the retry
// data, and at the end the -H file rewritten — or the message removed
// when no recipient is left.
func (e *Engine) Deliver(ctx context.Context, id string, opts DeliverOptions) (MessageResult, error) {
	if err := e.check(); err != nil {
		return MessageResult{ID: id}, err
	}
	e.init()
	m, res, err := e.open(id, opts)
	if m == nil {
		return res, err
	}
	m.prepare(ctx)
	var wg sync.WaitGroup
	for _, g := range m.groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.runGroup(ctx, g)
		}()
	}
	wg.Wait()
	return m.finish(ctx)
}

// open locks message id and reads it; a nil run means there is nothing
// to do, with the result saying why.
func (e *Engine) open(id string, opts DeliverOptions) (*msgRun, MessageResult, error) {
	res := MessageResult{ID: id}
	lk, err := e.Spool.Lock(id)
	if errors.Is(err, spool.ErrLocked) {
		e.log.Debug("message locked by another process", "id", id)
		res.Skipped = "locked"
		return nil, res, nil
	}
	if err != nil {
		return nil, res, fmt.Errorf("queue: %w", err)
	}
	ent, err := lk.FoldJournal()
	if err != nil {
		lk.Unlock()
		e.log.Error("cannot read message", "id", id, "err", err)
		return nil, res, fmt.Errorf("queue: %s: %w", id, err)
	}
	m := &msgRun{e: e, opts: opts, lk: lk, ent: ent, msg: ent.Message, start: e.now()}
	if frozen, _ := ent.Frozen(); frozen {
		iba := e.ignoreBounceErrorsAfter()
		switch {
		case opts.Thaw:
			m.thaw = true
		case ent.Sender == "" && iba > 0 && m.start.Sub(ent.Message.Received) > iba:
			// Exim's ignore_bounce_errors_after: one more try, then
			// the failures are discarded.
			m.thaw, m.discardFailures = true, true
			e.log.Info("frozen bounce message unfrozen for a last attempt", "id", id)
		default:
			lk.Unlock()
			res.Skipped = "frozen"
			return nil, res, nil
		}
	}
	return m, res, nil
}
