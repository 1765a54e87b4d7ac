// Command mta is a complete MTA assembled from exigo's packages.
//
// With no arguments it listens on 127.0.0.1:2525 and keeps its data under
// ./exigo-data: the Exim-format spool in exigo-data/spool. Clients on
// 127.0.0.1 and ::1 may relay (like Exim's default relay_from_hosts =
// localhost); mail for the local domains is accepted from anyone.
//
// This first version receives and spools; delivery comes with the router,
// transport and queue packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m, err := newMTA(cfg, logger)
	if err != nil {
		logger.Error("startup failed", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		logger.Error("listen failed", "addr", cfg.listen, "err", err)
		return 1
	}
	logger.Info("exigo mta listening", "addr", ln.Addr().String(), "data", cfg.dataDir)
	if err := m.serve(ctx, ln); err != nil {
		logger.Error("server stopped", "err", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("mta", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := defaultConfig()
	fs.StringVar(&cfg.listen, "listen", cfg.listen, "address and port to listen on")
	fs.StringVar(&cfg.dataDir, "data", cfg.dataDir, "data directory: spool, maildirs, hints")
	fs.StringVar(&cfg.hostname, "hostname", cfg.hostname, "host name for the greeting and Received: fields (default: the system's)")
	fs.Var(&listFlag{&cfg.localDomains}, "local-domains", "comma-separated domains delivered locally")
	fs.Var(&listFlag{&cfg.relayFrom}, "relay-from", "comma-separated CIDR list of clients that may relay")
	fs.BoolVar(&cfg.exim496, "exim496-ids", cfg.exim496, "use Exim 4.96's 16-character message IDs, so an Exim 4.96 can share the spool")
	fs.Int64Var(&cfg.maxSize, "max-message-size", cfg.maxSize, "largest message accepted, in bytes")
	fs.IntVar(&cfg.maxRcpt, "max-recipients", cfg.maxRcpt, "most recipients per message")
	debug := fs.Bool("debug", false, "log at debug level")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mta [flags]\n\nAn MTA built from exigo's packages. Flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mta: unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return cfg, errors.New("unexpected arguments")
	}
	if *debug {
		cfg.logLevel = slog.LevelDebug
	}
	return cfg, nil
}
