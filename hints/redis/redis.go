// Package redis is a hints.DB on a Redis server, through
// github.com/redis/go-redis/v9, so that several exigo nodes share one set
// of hints: retry data, TLS session tickets, the SRS database, ratelimit
// data. One node's retry record then keeps the others from trying a
// failing destination too (Exim specification, chapter 32 "Retry
// configuration", where every Exim host keeps its own retry database).
//
// Every record is one Redis string under the key Prefix + key (default
// prefix "exigo:hints:"), so that one Redis database can hold several
// hints databases, or other data, side by side. Its value is what
// hints.EncodeRecord makes: a version byte, the expiry and the value.
//
// # Expiry
//
// The expiry stored in the record decides: Get and Range treat a record
// whose expiry time has come, by the clock of the node that reads, as
// absent, so all nodes agree to the instant whatever Redis's own clock
// says. Redis's TTL removes the record later, Grace (default one hour)
// after its expiry as the writing node computed it (or after the write,
// for a record written already expired), so that a node whose
// clock is behind still sees the record as long as it considers it live,
// and a record nobody purges does not stay for ever. Purge removes the
// expired records at once (only those not rewritten meanwhile: the
// deletion is a Lua script that compares the stored bytes).
//
// # Range
//
// Range walks the keys with SCAN, MATCH on the escaped prefix, COUNT 256
// keys per round trip, checking the context between round trips; it
// collects and sorts the key names (Redis has no key order), then reads
// the values with MGET in batches of 256 and calls fn between them, with
// no connection or lock held. Memory is therefore proportional to the
// number of keys under the prefix (their names only), not to the
// values.
//
// # Differences from the LMDB hints database
//
// Records written or removed by other nodes are seen at once: there is
// no transaction across calls. Redis keeps everything in memory and its
// durability is what the server's persistence settings give (hints can
// be lost without losing mail). Redis Cluster is not supported: SCAN and
// the Purge script need all keys on one server; use one server, or
// Sentinel with a failover client ([New] takes any *redis.Client).
package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/exigo-mta/exigo/hints"
)

// Defaults of the options.
const (
	DefaultPrefix = "exigo:hints:"
	DefaultGrace  = time.Hour
	scanCount     = 256
	batch         = 256
)

// Option configures New and Open.
type Option func(*DB)

// WithPrefix sets the namespace: every key is stored as prefix + key.
// Nodes that share hints use the same prefix; different prefixes keep
// databases apart in one Redis database.
func WithPrefix(prefix string) Option { return func(db *DB) { db.prefix = prefix } }

// WithGrace sets how long after its expiry Redis keeps a record that
// nobody purged (its TTL is the time left to the expiry, at least 0, plus
// grace). A grace of 0 or less makes Redis drop records at their expiry,
// and a Put of a record already expired then deletes the key.
func WithGrace(d time.Duration) Option { return func(db *DB) { db.grace = max(d, 0) } }

// WithClock makes the DB read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(db *DB) { db.now = now } }

// DB is a hints.DB on a Redis server. It is safe for concurrent use.
type DB struct {
	client *goredis.Client
	owned  bool // Close closes client
	prefix string
	grace  time.Duration
	now    func() time.Time
	closed atomic.Bool
}

var _ hints.DB = (*DB)(nil)

// New returns a DB that uses client. Close does not close the client.
func New(client *goredis.Client, opts ...Option) *DB {
	db := &DB{client: client, prefix: DefaultPrefix, grace: DefaultGrace, now: time.Now}
	for _, o := range opts {
		o(db)
	}
	return db
}

// Open connects to the server that url names, in the form go-redis's
// ParseURL reads ("redis://[user:password@]host:port/db", "rediss://" for
// TLS, "unix:///path?db=N"), and checks it with PING. Close closes the
// connections.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("hints/redis: %w", err)
	}
	c := goredis.NewClient(o)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("hints/redis: %s: %w", redactURL(url), err)
	}
	db := New(c, opts...)
	db.owned = true
	return db, nil
}

// redactURL hides a password in a URL for error messages.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return u
	}
	userinfo := rest[:at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		userinfo = user + ":xxxxx"
	}
	return scheme + "://" + userinfo + rest[at:]
}

// Prefix returns the namespace of the DB's keys.
func (db *DB) Prefix() string { return db.prefix }

// Close implements hints.DB.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	if db.owned {
		if err := db.client.Close(); err != nil {
			return fmt.Errorf("hints/redis: close: %w", err)
		}
	}
	return nil
}

// check runs the checks every operation starts with.
func (db *DB) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.closed.Load() {
		return hints.ErrClosed
	}
	return nil
}

func (db *DB) wrap(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.ErrClosed):
		return hints.ErrClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, hints.ErrClosed):
		return err
	case key != "":
		return fmt.Errorf("hints/redis: %s key %q: %w", op, key, err)
	default:
		return fmt.Errorf("hints/redis: %s: %w", op, err)
	}
}

// Get implements hints.DB.
func (db *DB) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := db.check(ctx); err != nil {
		return nil, false, err
	}
	if err := hints.CheckKey(key); err != nil {
		return nil, false, err
	}
	b, err := db.client.Get(ctx, db.prefix+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, db.wrap("get", key, err)
	}
	v, exp, err := hints.DecodeRecord(b)
	if err != nil {
		return nil, false, fmt.Errorf("hints/redis: get key %q: %w", key, err)
	}
	if hints.Expired(exp, db.now()) {
		return nil, false, nil
	}
	return v, true, nil // v is a sub-slice of b, which is ours
}

// ttl returns the Redis TTL for a record expiring at expiry (0: none) and
// whether the record is to be stored at all.
func (db *DB) ttl(expiry time.Time) (time.Duration, bool) {
	if expiry.IsZero() {
		return 0, true
	}
	left := hints.ExpiryTime(hints.ExpiryNanos(expiry)).Sub(db.now()) // saturates
	if left > 100*365*24*time.Hour {
		return 0, true // beyond any useful TTL: no TTL
	}
	if left <= 0 && db.grace <= 0 {
		return 0, false
	}
	return max(left, 0) + max(db.grace, time.Millisecond), true
}

// Put implements hints.DB.
func (db *DB) Put(ctx context.Context, key string, value []byte, expiry time.Time) error {
	if err := db.check(ctx); err != nil {
		return err
	}
	if err := hints.CheckKey(key); err != nil {
		return err
	}
	ttl, store := db.ttl(expiry)
	var err error
	if store {
		// SET without an expiration removes any TTL the key had.
		err = db.client.Set(ctx, db.prefix+key, hints.EncodeRecord(value, expiry), ttl).Err()
	} else {
		err = db.client.Del(ctx, db.prefix+key).Err()
	}
	return db.wrap("put", key, err)
}

// Delete implements hints.DB.
func (db *DB) Delete(ctx context.Context, key string) error {
	if err := db.check(ctx); err != nil {
		return err
	}
	if err := hints.CheckKey(key); err != nil {
		return err
	}
	return db.wrap("delete", key, db.client.Del(ctx, db.prefix+key).Err())
}

// globEscape escapes the characters special to Redis's glob patterns.
func globEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// scan returns the sorted, de-duplicated full Redis keys that begin with
// db.prefix + prefix.
func (db *DB) scan(ctx context.Context, prefix string) ([]string, error) {
	full := db.prefix + prefix
	match := globEscape(full) + "*"
	seen := make(map[string]struct{})
	var cursor uint64
	for {
		if err := db.check(ctx); err != nil {
			return nil, err
		}
		keys, next, err := db.client.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if strings.HasPrefix(k, full) { // MATCH did this; be sure
				seen[k] = struct{}{}
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// record is one record read back by mget.
type record struct {
	key    string // full Redis key
	value  []byte
	expiry int64
}

// mget reads keys (full Redis keys); missing ones are left out.
func (db *DB) mget(ctx context.Context, keys []string) ([]record, error) {
	vals, err := db.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]record, 0, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // nil: removed since the scan
		}
		val, exp, err := hints.DecodeRecord([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", strings.TrimPrefix(keys[i], db.prefix), err)
		}
		out = append(out, record{key: keys[i], value: val, expiry: exp})
	}
	return out, nil
}

// Range implements hints.DB.
func (db *DB) Range(ctx context.Context, prefix string, fn func(key string, value []byte, expiry time.Time) bool) error {
	if err := db.check(ctx); err != nil {
		return err
	}
	keys, err := db.scan(ctx, prefix)
	if err != nil {
		return db.wrap("range", "", err)
	}
	for len(keys) > 0 {
		n := min(len(keys), batch)
		if err := db.check(ctx); err != nil {
			return err
		}
		recs, err := db.mget(ctx, keys[:n])
		if err != nil {
			return db.wrap("range", "", err)
		}
		keys = keys[n:]
		now := db.now()
		for _, r := range recs {
			if hints.Expired(r.expiry, now) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if !fn(r.key[len(db.prefix):], r.value, hints.ExpiryTime(r.expiry)) {
				return nil
			}
		}
	}
	return nil
}

// purgeScript deletes each KEYS[i] whose value is still ARGV[i] and
// returns how many it deleted.
var purgeScript = goredis.NewScript(`
local n = 0
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[i] then
    n = n + redis.call('DEL', k)
  end
end
return n
`)

// Purge implements hints.DB. Records that cannot be decoded are left
// alone (and not counted).
func (db *DB) Purge(ctx context.Context) (int, error) {
	if err := db.check(ctx); err != nil {
		return 0, err
	}
	keys, err := db.scan(ctx, "")
	if err != nil {
		return 0, db.wrap("purge", "", err)
	}
	total := 0
	for len(keys) > 0 {
		n := min(len(keys), batch)
		if err := db.check(ctx); err != nil {
			return total, err
		}
		part := keys[:n]
		keys = keys[n:]
		vals, err := db.client.MGet(ctx, part...).Result()
		if err != nil {
			return total, db.wrap("purge", "", err)
		}
		now := db.now()
		var dk []string
		var dv []any
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue
			}
			_, exp, err := hints.DecodeRecord([]byte(s))
			if err != nil || !hints.Expired(exp, now) {
				continue
			}
			dk = append(dk, part[i])
			dv = append(dv, s)
		}
		if len(dk) == 0 {
			continue
		}
		got, err := purgeScript.Run(ctx, db.client, dk, dv...).Int()
		if err != nil {
			return total, db.wrap("purge", "", err)
		}
		total += got
	}
	return total, nil
}
