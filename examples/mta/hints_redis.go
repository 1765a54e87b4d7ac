package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/exigo-mta/exigo/hints"
	hintslmdb "github.com/exigo-mta/exigo/hints/lmdb"
	hintsredis "github.com/exigo-mta/exigo/hints/redis"
)

// openHints opens the hints database: the LMDB file lmdbPath, or, with
// -hints-redis URL, the Redis database at URL under hints/redis's default
// key prefix, so that several mta processes (nodes of a cluster) share
// their retry data: a destination one of them found failing is not tried
// by the others before its retry time.
func openHints(cfg config, lmdbPath string, logger *slog.Logger) (hints.DB, error) {
	if cfg.hintsRedis == "" {
		return hintslmdb.Open(lmdbPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := hintsredis.Open(ctx, cfg.hintsRedis)
	if err != nil {
		return nil, fmt.Errorf("hints-redis: %w", err)
	}
	shown := cfg.hintsRedis
	if u, err := url.Parse(cfg.hintsRedis); err == nil {
		shown = u.Redacted()
	}
	logger.Info("hints in redis", "url", shown, "prefix", db.Prefix())
	return db, nil
}
