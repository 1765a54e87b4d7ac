package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"
)

// config is the MTA's whole configuration: embedded defaults, changed by
// flags. No configuration file is needed.
type config struct {
	listen       string
	dataDir      string
	hostname     string
	localDomains []string
	relayFrom    []string
	exim496      bool
	smarthost    string
	queueOnly    bool
	queueEvery   time.Duration
	runQueue     bool
	twoPhase     bool
	parallelism  int
	cpuProfile   string
	tlsCert      string
	tlsKey       string
	usersFile    string
	hintsRedis   string
	maxSize      int64
	maxRcpt      int
	logLevel     slog.Level
	fwd          forwardConfig // -aliases and the SRS flags (srs.go)
	arcSign      string        // -arc-sign: Exim's arc_sign value (arc.go)
}

func defaultConfig() config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return config{
		listen:       "127.0.0.1:2525",
		dataDir:      "exigo-data",
		hostname:     host,
		localDomains: []string{"localhost"},
		relayFrom:    []string{"127.0.0.1/32", "::1/128"},
		maxSize:      50 << 20,
		maxRcpt:      1000,
		queueEvery:   time.Minute,
		logLevel:     slog.LevelInfo,
	}
}

// relayPrefixes parses the relay-from list.
func (c *config) relayPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.relayFrom {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("relay-from %q: %w", s, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// listFlag is a comma-separated list flag.
type listFlag struct{ p *[]string }

func (l *listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l *listFlag) Set(s string) error {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	*l.p = out
	return nil
}
