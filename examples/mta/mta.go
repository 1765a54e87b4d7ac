package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/smtpd"
	"github.com/exigo-mta/exigo/spool"
)

// mta is the assembled MTA: an SMTP server writing to an Exim-format spool.
type mta struct {
	srv    *smtpd.Server
	spool  *spool.Spool
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
	m := &mta{spool: sp, logger: logger}
	m.srv = &smtpd.Server{
		Hostname:       cfg.hostname,
		Store:          smtpd.SpoolStore(sp),
		Logger:         logger,
		MaxMessageSize: cfg.maxSize,
		MaxRecipients:  cfg.maxRcpt,
		ACL: smtpd.ACLs{
			Rcpt: rcpt,
			Data: acl.List{{Verb: acl.Accept}},
		},
		OnReceived: m.received,
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

// received logs a reception in the spirit of Exim's "<=" log line.
func (m *mta) received(_ context.Context, msg *exigo.Message) {
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

// serve runs the server until ctx is cancelled, then shuts down gracefully.
func (m *mta) serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- m.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	m.logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := m.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, smtpd.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
