// Command mta is a complete MTA assembled from exigo's packages.
//
// With no arguments it listens on 127.0.0.1:2525 and keeps its data under
// ./exigo-data: the Exim-format spool in exigo-data/spool. Clients on
// 127.0.0.1 and ::1 may relay (like Exim's default relay_from_hosts =
// localhost); mail for the local domains is accepted from anyone.
//
// Local domains (-local-domains, default localhost) are delivered to
// DATA/mail/<local part>/Maildir; other domains go to the -smarthost or,
// without one, to their MX hosts. Messages are delivered as they arrive
// (unless -queue-only) and by a queue runner every -queue-interval;
// -run-queue runs the queue once and exits instead of listening.
//
// -aliases FILE redirects local parts of the local domains (lsearch
// lines "fwd: someone@elsewhere.example"). With -srs-secret, forwarded
// mail leaves with an SRS0 return path (Exim's native SRS by default),
// bounces to it are routed back to the original sender, and forged ones
// are refused at RCPT with 550 "Invalid SRS recipient address"; see
// srs.go.
//
// -arc-sign "ADMD:SELECTOR:KEYFILE" verifies the ARC chain of every
// message, adds an Authentication-Results field of ADMD (removing forged
// ones) and seals relayed mail with a new ARC set (RFC 8617); see arc.go.
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
	"runtime/pprof"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
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

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			logger.Error("cpu profile", "err", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			logger.Error("cpu profile", "err", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				logger.Error("cpu profile", "err", err)
			}
		}()
	}

	m, err := newMTA(cfg, logger)
	if err != nil {
		logger.Error("startup failed", "err", err)
		return 1
	}
	if cfg.runQueue {
		return m.runQueue(ctx, cfg.twoPhase, stdout)
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
	fs.StringVar(&cfg.smarthost, "smarthost", "", "send all non-local mail to this HOST:PORT instead of looking up MX records")
	fs.BoolVar(&cfg.queueOnly, "queue-only", false, "spool messages without delivering them (Exim's queue_only); queue runs still happen")
	fs.DurationVar(&cfg.queueEvery, "queue-interval", cfg.queueEvery, "time between queue runs; 0 disables the queue runner")
	fs.BoolVar(&cfg.runQueue, "run-queue", false, "run the queue once (exim -q) without listening, print what was done and exit")
	fs.BoolVar(&cfg.twoPhase, "two-phase", false, "queue runs route every message first, then deliver host by host down kept connections (exim -qq)")
	fs.IntVar(&cfg.parallelism, "parallelism", 0, "deliveries running at once (0: the queue engine's default)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate for STARTTLS (default: a self-signed one generated into DATA/tls)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key for -tls-cert")
	fs.StringVar(&cfg.usersFile, "users", "", "file of \"user: password\" lines (lsearch format) for SMTP AUTH; authenticated clients may relay")
	fs.StringVar(&cfg.hintsRedis, "hints-redis", "", "keep the hints (retry data) in Redis at this URL, redis://[:PASSWORD@]HOST:PORT/DB, shared with other mta processes, instead of DATA/hints")
	cfg.fwd.register(fs)
	fs.StringVar(&cfg.arcSign, "arc-sign", "", "ARC: verify every message, add Authentication-Results, and seal relayed mail with\nExim's arc_sign value \"ADMD:SELECTOR:KEYFILE[:OPTIONS]\" (a missing KEYFILE is generated; ADMD is d=)")
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
