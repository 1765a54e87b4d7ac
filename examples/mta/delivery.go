package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/queue"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/dnslookup"
	"github.com/exigo-mta/exigo/router/manualroute"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/maildir"
	"github.com/exigo-mta/exigo/transport/smtp"
)

// Transport names the routers hand addresses to.
const (
	localTransport  = "local_delivery"
	remoteTransport = "remote_smtp"
)

// newEngine assembles the delivery side: a router chain (local domains to
// maildirs, everything else to the smarthost or by MX), the transports and
// the queue engine with retry hints in an LMDB file under the data
// directory.
func newEngine(cfg config, sp *spool.Spool, arcs *arcSetup, logger *slog.Logger) (*queue.Engine, hints.DB, error) {
	local, err := acl.NewDomainList(nil, items(cfg.localDomains)...)
	if err != nil {
		return nil, nil, fmt.Errorf("local-domains: %w", err)
	}
	fwd, err := newForwarding(cfg, local, logger)
	if err != nil {
		return nil, nil, err
	}
	entries := []router.Entry{{
		Name:    "localuser",
		Router:  router.AcceptTo(localTransport),
		Domains: local,
	}}
	if cfg.smarthost != "" {
		r, err := manualroute.Smarthost(remoteTransport, smarthostItem(cfg.smarthost))
		if err != nil {
			return nil, nil, fmt.Errorf("smarthost: %w", err)
		}
		entries = append(entries, router.Entry{Name: "smarthost", Router: r, NoMore: true})
	} else {
		ignore, err := acl.ParseHostList(dnslookup.DefaultIgnoreTargetHosts, nil)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, router.Entry{
			Name:   "dnslookup",
			Router: &dnslookup.Router{Transport: remoteTransport, IgnoreTargetHosts: ignore, Logger: logger},
			NoMore: true,
		})
	}
	chain, err := router.NewChain(fwd.routers(entries), router.WithLogger(logger))
	if err != nil {
		return nil, nil, err
	}
	mailDir := filepath.Join(cfg.dataDir, "mail")
	transports := map[string]transport.Transport{
		localTransport: &maildir.Transport{
			Hostname: cfg.hostname,
			Logger:   logger,
			Path: func(r *exigo.Recipient) (string, error) {
				lp, _ := exigo.SplitAddress(r.Address)
				lp = strings.ToLower(router.Unquote(lp))
				if lp == "" || lp == "." || lp == ".." || strings.ContainsAny(lp, "/\x00") {
					return "", fmt.Errorf("local part %q cannot name a maildir: %w", lp, transport.ErrPermanent)
				}
				return filepath.Join(mailDir, lp, "Maildir"), nil
			},
		},
		remoteTransport: &smtp.Transport{
			Hostname: cfg.hostname,
			Logger:   logger,
			// Keep a connection for every delivery that may run at once,
			// so that a queue run reuses them instead of reconnecting.
			MaxIdlePerHost: cmp.Or(cfg.parallelism, queue.DefaultParallelism),
		},
	}
	fwd.addTransports(transports, cfg)
	arcs.sign(transports)
	hintsDir := filepath.Join(cfg.dataDir, "hints")
	if err := os.MkdirAll(hintsDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("hints directory: %w", err)
	}
	db, err := openHints(cfg, filepath.Join(hintsDir, "hints.lmdb"), logger)
	if err != nil {
		return nil, nil, err
	}
	eng := &queue.Engine{
		Spool:       sp,
		Router:      chain,
		Transports:  transports,
		Hints:       db,
		Logger:      logger,
		Hostname:    cfg.hostname,
		QueueOnly:   cfg.queueOnly,
		TwoPhase:    cfg.twoPhase,
		Parallelism: cfg.parallelism,
	}
	return eng, db, nil
}

// smarthostItem turns the -smarthost value into a manualroute host item:
// an IP address with a port, "127.0.0.1:2525" or "[::1]:2525", becomes
// "[127.0.0.1]:2525" (manualroute wants IP addresses with a port in
// brackets); anything else is passed on as it is.
func smarthostItem(s string) string {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return fmt.Sprintf("[%s]:%d", ap.Addr().Unmap(), ap.Port())
	}
	return s
}
