package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/queue"
	"github.com/exigo-mta/exigo/smtpd"
	"github.com/exigo-mta/exigo/spool"
)

// mta is the assembled MTA: an SMTP server writing to an Exim-format spool.
type mta struct {
	srv    *smtpd.Server
	spool  *spool.Spool
	engine *queue.Engine
	hints  hints.DB
	every  time.Duration
	logger *slog.Logger
}

func newMTA(cfg config, logger *slog.Logger) (*mta, error) {
	spoolDir := filepath.Join(cfg.dataDir, "spool")
	if err := os.MkdirAll(spoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	opts := []spool.Option{spool.WithLogger(logger)}
	if cfg.exim496 {
		opts = append(opts, spool.WithIDFormat(spool.IDShort))
	}
	sp, err := spool.Open(spoolDir, opts...)
	if err != nil {
		return nil, err
	}
	// Temporary files and -D files without a -H older than an hour are
	// left-overs of a crash: nothing was acknowledged for them.
	if removed, err := sp.Tidy(context.Background(), time.Hour); err != nil {
		logger.Warn("spool tidy failed", "err", err)
	} else if len(removed) > 0 {
		logger.Info("spool tidied", "removed", len(removed))
	}
	rcpt, err := rcptACL(cfg)
	if err != nil {
		return nil, err
	}
	srsRules, err := srsRCPTRules(cfg, logger)
	if err != nil {
		return nil, err
	}
	rcpt = append(srsRules, rcpt...)
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	arcs, err := newARC(cfg, logger)
	if err != nil {
		return nil, err
	}
	eng, db, err := newEngine(cfg, sp, arcs, logger)
	if err != nil {
		return nil, err
	}
	m := &mta{spool: sp, engine: eng, hints: db, every: cfg.queueEvery, logger: logger}
	m.srv = &smtpd.Server{
		TLSConfig:      tlsConfig,
		Hostname:       cfg.hostname,
		Store:          smtpd.SpoolStore(sp),
		Logger:         logger,
		MaxMessageSize: cfg.maxSize,
		MaxRecipients:  cfg.maxRcpt,
		ACL: smtpd.ACLs{
			Rcpt: rcpt,
			Data: append(arcs.dataRules(), acl.Rule{Verb: acl.Accept}),
		},
		OnReceived: m.received,
	}
	if cfg.usersFile != "" {
		users := lookup.LSearch(cfg.usersFile)
		if err := users.Load(context.Background()); err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		m.srv.Auth = fileAuth{users: users}
	}
	return m, nil
}

// rcptACL is the policy of Exim's default configuration: no odd characters
// in local parts, mail for the local domains from anyone, relaying only for
// the relay-from hosts and authenticated clients.
func rcptACL(cfg config) (acl.List, error) {
	local, err := acl.NewDomainList(nil, items(cfg.localDomains)...)
	if err != nil {
		return nil, fmt.Errorf("local-domains: %w", err)
	}
	prefixes, err := cfg.relayPrefixes()
	if err != nil {
		return nil, err
	}
	var relayItems []acl.Item
	for _, p := range prefixes {
		relayItems = append(relayItems, acl.Item{Pattern: p.String()})
	}
	relayHosts, err := acl.NewHostList(nil, relayItems...)
	if err != nil {
		return nil, fmt.Errorf("relay-from: %w", err)
	}
	badLocal, err := acl.NewLocalPartList(nil, acl.Item{Pattern: `^[.]`}, acl.Item{Pattern: `^.*[@%!/|]`})
	if err != nil {
		return nil, err
	}
	badRemote, err := acl.NewLocalPartList(nil, acl.Item{Pattern: `^[./|]`}, acl.Item{Pattern: `^.*[@%!]`}, acl.Item{Pattern: `^.*/\.\./`})
	if err != nil {
		return nil, err
	}
	return acl.List{
		{Verb: acl.Deny, Message: "Restricted characters in address",
			Conditions: []acl.Condition{acl.Domains(local), acl.LocalParts(badLocal)}},
		{Verb: acl.Deny, Message: "Restricted characters in address",
			Conditions: []acl.Condition{acl.Not(acl.Domains(local)), acl.LocalParts(badRemote)}},
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Hosts(relayHosts)}},
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Authenticated("*")}},
		{Verb: acl.Require, Message: "relay not permitted", Conditions: []acl.Condition{acl.Domains(local)}},
		{Verb: acl.Accept},
	}, nil
}

func items(patterns []string) []acl.Item {
	out := make([]acl.Item, 0, len(patterns))
	for _, p := range patterns {
		out = append(out, acl.Item{Pattern: p})
	}
	return out
}

// received logs a reception in the spirit of Exim's "<=" log line and
// starts its delivery (unless -queue-only).
func (m *mta) received(_ context.Context, msg *exigo.Message) {
	defer m.engine.Kick(msg.ID)
	rcpts := make([]string, 0, len(msg.Envelope.Recipients))
	for _, r := range msg.Envelope.Recipients {
		rcpts = append(rcpts, r.Address)
	}
	args := []any{"id", msg.ID, "from", "<" + msg.Envelope.Sender + ">", "size", msg.Stats.Size, "for", strings.Join(rcpts, " ")}
	if s := msg.Session; s != nil {
		args = append(args, "host", s.RemoteAddr.String(), "helo", s.HELO, "proto", s.Protocol())
	}
	m.logger.Info("<=", args...)
}

// serve runs the server and the queue runner until ctx is cancelled,
// then shuts both down gracefully.
func (m *mta) serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- m.srv.Serve(ln) }()
	qctx, qcancel := context.WithCancel(ctx)
	qdone := make(chan error, 1)
	if m.every > 0 {
		go func() { qdone <- m.engine.Run(qctx, m.every) }()
	} else {
		qdone <- nil
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	m.logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if serr := m.srv.Shutdown(sctx); err == nil {
		err = serr
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, smtpd.ErrServerClosed) && err == nil {
		err = serr
	}
	qcancel()
	if qerr := <-qdone; qerr != nil && !errors.Is(qerr, context.Canceled) && err == nil {
		err = qerr
	}
	if qerr := m.engine.Shutdown(sctx); qerr != nil && err == nil {
		err = qerr
	}
	m.closeTransports()
	if herr := m.hints.Close(); herr != nil && err == nil {
		err = herr
	}
	return err
}

// closeTransports ends the connections the transports keep for reuse.
func (m *mta) closeTransports() {
	for name, t := range m.engine.Transports {
		if c, ok := t.(io.Closer); ok {
			if err := c.Close(); err != nil {
				m.logger.Warn("closing transport", "transport", name, "err", err)
			}
		}
	}
}

// runQueue runs the queue once (-run-queue), waits for the deliveries it
// started (bounces included), prints one line of counts to w and returns
// the exit status: 0, or 1 when a message could not be handled.
func (m *mta) runQueue(ctx context.Context, twoPhase bool, w io.Writer) int {
	start := time.Now()
	st, err := m.engine.RunQueue(ctx, queue.RunOptions{TwoPhase: twoPhase})
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if serr := m.engine.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	m.closeTransports()
	if herr := m.hints.Close(); herr != nil && err == nil {
		err = herr
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(w, "queue run: messages=%d completed=%d delivered=%d failed=%d deferred=%d skipped=%d errors=%d seconds=%.3f\n",
		st.Messages, st.Completed, st.Delivered, st.Failed, st.Deferred, st.Skipped, st.Errors, secs)
	if err != nil {
		m.logger.Error("queue run failed", "err", err)
		return 1
	}
	if st.Errors > 0 {
		return 1
	}
	return 0
}
