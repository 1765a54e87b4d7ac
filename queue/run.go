package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/exigo-mta/exigo/spool"
)

// RunOptions say how a queue run treats the messages.
type RunOptions struct {
	// Force ignores retry times (exim -qf).
	Force bool
	// Thaw delivers frozen messages too (exim -qff).
	Thaw bool
	// TwoPhase routes every message first, then delivers host by host
	// (exim -qq): the messages for one host list go out one after the
	// other from one goroutine, so that a transport that keeps
	// connections (the smtp transport does) sends them all down one
	// connection.
	TwoPhase bool
}

// Stats count what a queue run did.
type Stats struct {
	Messages  int // messages looked at
	Skipped   int // locked or frozen
	Completed int // delivered to the end and removed
	Errors    int // messages that could not be read or updated
	// Addresses by outcome.
	Delivered, Failed, Deferred int
}

func (s *Stats) add(r MessageResult, err error) {
	if errors.Is(err, spool.ErrNotFound) {
		return // done by someone else since the listing
	}
	s.Messages++
	switch {
	case err != nil:
		s.Errors++
	case r.Skipped != "":
		s.Skipped++
	case r.Completed:
		s.Completed++
	}
	s.Delivered += len(r.Delivered)
	s.Failed += len(r.Failed)
	s.Deferred += len(r.Deferred)
}

// RunOnce runs the queue once (exim -q): every message, oldest first,
// with up to Parallelism messages at once, honouring retry times.
func (e *Engine) RunOnce(ctx context.Context) (Stats, error) {
	return e.RunQueue(ctx, RunOptions{})
}

// RunTwoPhase runs the queue once in two phases (exim -qq): see
// RunOptions.TwoPhase.
func (e *Engine) RunTwoPhase(ctx context.Context) (Stats, error) {
	return e.RunQueue(ctx, RunOptions{TwoPhase: true})
}

// RunQueue runs the queue once. It returns early, with ctx.Err(), when
// ctx ends; the deliveries running then end as deferrals, and every
// message started is left consistent.
func (e *Engine) RunQueue(ctx context.Context, opts RunOptions) (Stats, error) {
	var st Stats
	if err := e.check(); err != nil {
		return st, err
	}
	e.init()
	ids, err := e.Spool.List(ctx)
	if err != nil {
		return st, fmt.Errorf("queue: %w", err)
	}
	dopts := DeliverOptions{QueueRun: true, Force: opts.Force, Thaw: opts.Thaw}
	if opts.TwoPhase {
		e.runTwoPhase(ctx, ids, dopts, &st)
	} else {
		e.runOnePass(ctx, ids, dopts, &st)
	}
	e.log.LogAttrs(ctx, slog.LevelDebug, "queue run done", slog.Int("messages", st.Messages),
		slog.Int("completed", st.Completed), slog.Int("delivered", st.Delivered),
		slog.Int("failed", st.Failed), slog.Int("deferred", st.Deferred))
	return st, ctx.Err()
}

func (e *Engine) runOnePass(ctx context.Context, ids []string, opts DeliverOptions, st *Stats) {
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(e.par, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				r, err := e.Deliver(ctx, id, opts)
				mu.Lock()
				st.add(r, err)
				mu.Unlock()
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case work <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

func (e *Engine) runTwoPhase(ctx context.Context, ids []string, opts DeliverOptions, st *Stats) {
	batch := e.MaxBatch
	if batch <= 0 {
		batch = 1000
	}
	var mu sync.Mutex
	add := func(r MessageResult, err error) {
		mu.Lock()
		st.add(r, err)
		mu.Unlock()
	}
	for start := 0; start < len(ids) && ctx.Err() == nil; start += batch {
		chunk := ids[start:min(start+batch, len(ids))]

		// Phase 1: lock and route every message of the batch, with up
		// to Parallelism routing at once; the results keep queue order.
		runs := make([]*msgRun, len(chunk))
		next := make(chan int)
		var wg sync.WaitGroup
		for range min(e.par, len(chunk)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					m, r, err := e.open(chunk[i], opts)
					if m == nil {
						add(r, err)
						continue
					}
					m.prepare(ctx)
					runs[i] = m
				}
			}()
		}
	feed:
		for i := range chunk {
			select {
			case next <- i:
			case <-ctx.Done():
				break feed
			}
		}
		close(next)
		wg.Wait()

		// Phase 2: the groups by host list, in the order of their first
		// message; one goroutine delivers a host list's groups in queue
		// order.
		var order []string
		buckets := make(map[string][]*group)
		for _, m := range runs {
			if m == nil {
				continue
			}
			if len(m.groups) == 0 {
				add(m.finish(ctx))
				continue
			}
			for _, g := range m.groups {
				if _, ok := buckets[g.key]; !ok {
					order = append(order, g.key)
				}
				buckets[g.key] = append(buckets[g.key], g)
			}
		}
		work := make(chan []*group)
		for range min(e.par, len(order)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for gs := range work {
					for _, g := range gs {
						e.runGroup(ctx, g)
						if g.m.groupDone() {
							add(g.m.finish(ctx))
						}
					}
				}
			}()
		}
		// Every message locked in phase 1 must be finished, so the
		// buckets are handed out even when ctx has ended (runGroup then
		// defers at once).
		for _, k := range order {
			work <- buckets[k]
		}
		close(work)
		wg.Wait()
	}
}

// Run runs the queue every interval until ctx ends (a queue runner
// daemon, exim -q30m), two-phase when e.TwoPhase is set. It returns
// ctx.Err().
func (e *Engine) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("queue: run interval %v is not positive", interval)
	}
	if err := e.check(); err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := e.RunQueue(ctx, RunOptions{TwoPhase: e.TwoPhase})
		if err != nil && ctx.Err() == nil {
			e.log.Error("queue run failed", "err", err)
		}
		if st.Messages > 0 {
			e.log.LogAttrs(ctx, slog.LevelInfo, "queue run", slog.Int("messages", st.Messages),
				slog.Int("completed", st.Completed), slog.Int("delivered", st.Delivered),
				slog.Int("failed", st.Failed), slog.Int("deferred", st.Deferred), slog.Int("skipped", st.Skipped))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Kick delivers message id at once in the background, outside a queue
// run (see DeliverOptions.QueueRun), for example from smtpd's
// OnReceived. At most Parallelism kicked messages are delivered at once;
// more wait in a backlog (of 10000; beyond, a kicked message waits for
// the next queue run). Kick does nothing when QueueOnly is set or after
// Shutdown.
func (e *Engine) Kick(id string) {
	if e.QueueOnly || e.check() != nil {
		return
	}
	e.init()
	e.kmu.Lock()
	defer e.kmu.Unlock()
	if e.kclosed || e.kqueued[id] {
		return
	}
	if e.krunning < e.par {
		e.krunning++
		e.kwg.Add(1)
		go e.kickWorker(id)
		return
	}
	if len(e.kqueue) >= maxKickBacklog {
		e.log.Debug("kick backlog full; message left for the queue runner", "id", id)
		return
	}
	e.kqueue = append(e.kqueue, id)
	e.kqueued[id] = true
}

func (e *Engine) kickWorker(id string) {
	defer e.kwg.Done()
	for {
		if _, err := e.Deliver(e.kctx, id, DeliverOptions{}); err != nil && !errors.Is(err, spool.ErrNotFound) {
			e.log.Error("delivery failed", "id", id, "err", err)
		}
		e.kmu.Lock()
		if len(e.kqueue) == 0 {
			e.krunning--
			e.kmu.Unlock()
			return
		}
		id = e.kqueue[0]
		e.kqueue = e.kqueue[1:]
		delete(e.kqueued, id)
		e.kmu.Unlock()
	}
}

// Shutdown stops Kick and waits for the kicked deliveries, those waiting
// included, to end. When ctx ends first, it cancels them (they end as
// deferrals), drops the backlog, waits for them and returns ctx.Err().
func (e *Engine) Shutdown(ctx context.Context) error {
	e.init()
	e.kmu.Lock()
	e.kclosed = true
	e.kmu.Unlock()
	done := make(chan struct{})
	go func() {
		e.kwg.Wait()
		close(done)
	}()
	select {
	case <-done:
		e.kcancel()
		return nil
	case <-ctx.Done():
		e.kmu.Lock()
		e.kqueue = nil
		clear(e.kqueued)
		e.kmu.Unlock()
		e.kcancel()
		<-done
		return ctx.Err()
	}
}
