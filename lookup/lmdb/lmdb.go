package lmdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"

	"github.com/exigo-mta/exigo/internal/lmdbenv"
	"github.com/exigo-mta/exigo/lookup"
)

// Defaults.
const (
	DefaultCheckInterval = time.Second
	DefaultMapSize       = 64 << 20 // initial map of a writable DB
	DefaultMaxMapSize    = 16 << 30 // how far a writable DB's map may grow
	// MaxCachedValue is the largest value WithCache keeps.
	MaxCachedValue = 1024
)

// Errors callers may branch on.
var (
	ErrClosed   = errors.New("lmdb: database closed")
	ErrReadOnly = errors.New("lmdb: database opened read-only")
	ErrShared   = lmdbenv.ErrShared // opening for writing a file open read-only
)

// Option configures [Open].
type Option func(*config)

type config struct {
	name          string
	writable      bool
	checkInterval time.Duration
	mapSize       int64
	maxMapSize    int64
	mode          os.FileMode
	cache         int
}

// WithDatabase selects the named sub-database name instead of the
// unnamed main database.
func WithDatabase(name string) Option { return func(c *config) { c.name = name } }

// Writable opens the file for writing, creating it (and the named
// database) if needed. Without it the DB is read-only, as Exim opens it.
func Writable() Option { return func(c *config) { c.writable = true } }

// CheckInterval sets how often a lookup checks whether the file was
// replaced (default [DefaultCheckInterval]; 0 checks at every lookup).
// Between checks a lookup pays one atomic load for it.
func CheckInterval(d time.Duration) Option { return func(c *config) { c.checkInterval = d } }

// WithMapSize sets the initial memory map size of a writable DB.
func WithMapSize(n int64) Option { return func(c *config) { c.mapSize = n } }

// WithMaxMapSize bounds how far a writable DB's map grows.
func WithMaxMapSize(n int64) Option { return func(c *config) { c.maxMapSize = n } }

// WithFileMode sets the permissions of a file created by a writable DB.
func WithFileMode(m os.FileMode) Option { return func(c *config) { c.mode = m } }

// WithCache keeps up to n recently used results (values of up to
// [MaxCachedValue] bytes, and keys not found) in memory. A cached result
// is used only while the file's last committed transaction id is the one
// it was read in, and the file is the same (not replaced), so a commit by
// any process, or a replacement once seen by the check, invalidates the
// whole cache at once. A hit costs no cgo call, no lock and (in
// [DB.LookupBytes]) no allocation; a miss allocates the cached copy. The
// cache has room for n rounded up to a multiple of 4 that is a power of
// two. n <= 0 turns the cache off. DBs of one file have separate caches.
func WithCache(n int) Option { return func(c *config) { c.cache = n } }

// DB is one database of an LMDB file. It implements [lookup.Lookup] and
// is safe for concurrent use.
type DB struct {
	env      *lmdbenv.Env
	name     string
	writable bool
	maxMap   int64
	closed   atomic.Bool
	h        atomic.Pointer[handle]
	cache    *cache // nil without WithCache
}

var _ lookup.Lookup = (*DB)(nil)

// handle is the database's handle in one state of the environment.
type handle struct {
	st  *lmdbenv.State
	dbi mdb.DBI
}

// Open opens the database in path: a single-file environment
// (MDB_NOSUBDIR) when path is a file, an environment directory when it
// is a directory. All DBs of a file in a process share one environment
// (also with hints/lmdb), opened with the options of the first.
func Open(path string, opts ...Option) (*DB, error) {
	c := config{checkInterval: DefaultCheckInterval, mapSize: DefaultMapSize, maxMapSize: DefaultMaxMapSize, mode: 0o644}
	for _, o := range opts {
		o(&c)
	}
	c.maxMapSize = max(c.maxMapSize, c.mapSize)
	if c.checkInterval < 0 {
		c.checkInterval = 0
	}
	env, err := lmdbenv.Open(path, lmdbenv.Options{
		Writable:      c.writable,
		MapSize:       c.mapSize,
		Mode:          c.mode,
		CheckInterval: c.checkInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("lmdb: %w", err)
	}
	db := &DB{env: env, name: c.name, writable: c.writable, maxMap: c.maxMapSize}
	if c.cache > 0 {
		db.cache = newCache(c.cache)
	}
	// Open (or, when writable, create) the database now, so that a
	// missing name is reported by Open.
	if _, err := db.handle(); err != nil {
		env.Close()
		return nil, err
	}
	return db, nil
}

// Path returns the file's absolute path.
func (db *DB) Path() string { return db.env.Path() }

// String returns Exim's notation, "lmdb;PATH".
func (db *DB) String() string { return "lmdb;" + db.env.Path() }

// Close releases db; the environment is closed with the last DB of the
// file in this process.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.h.Store(nil)
	return db.env.Close()
}

// handle returns db's handle in the current state of the environment,
// reopening the file first when the check is due and finds it replaced.
func (db *DB) handle() (*handle, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if err := db.env.MaybeRefresh(); err != nil {
		return nil, db.wrap("reopen", err)
	}
	st := db.env.State()
	if st == nil {
		return nil, ErrClosed
	}
	if h := db.h.Load(); h != nil && h.st == st {
		return h, nil
	}
	dbi, err := st.DBI(db.name, db.writable)
	if err != nil {
		if errors.Is(err, lmdbenv.ErrClosed) {
			return nil, err // replaced meanwhile: the caller retries
		}
		if db.name != "" {
			return nil, fmt.Errorf("lmdb: %s database %q: %w", db.env.Path(), db.name, err)
		}
		return nil, fmt.Errorf("lmdb: %s: %w", db.env.Path(), err)
	}
	h := &handle{st: st, dbi: dbi}
	db.h.Store(h)
	return h, nil
}

// retry runs fn with the current handle, again (at most three times in
// all) when the state it used was closed by a replacement meanwhile.
func (db *DB) retry(fn func(h *handle) error) error {
	for range 3 {
		h, err := db.handle()
		if err == nil {
			err = fn(h)
		}
		if errors.Is(err, lmdbenv.ErrClosed) && !db.closed.Load() {
			continue
		}
		if errors.Is(err, lmdbenv.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	return fmt.Errorf("lmdb: %s: environment kept changing", db.env.Path())
}

// Lookup implements [lookup.Lookup]: the value stored under key, with
// all its bytes (Exim cuts it at the first NUL).
func (db *DB) Lookup(ctx context.Context, key string) (string, bool, error) {
	var v string
	found, err := db.view(ctx, []byte(key), func(b []byte) { v = string(b) })
	return v, found, err
}

// LookupBytes appends the value stored under key to dst and returns it;
// with a dst of enough capacity it allocates nothing (a cache miss that
// fills the cache allocates the cached copy).
func (db *DB) LookupBytes(ctx context.Context, key, dst []byte) ([]byte, bool, error) {
	found, err := db.view(ctx, key, func(b []byte) { dst = append(dst, b...) })
	return dst, found, err
}

func (db *DB) view(ctx context.Context, key []byte, fn func([]byte)) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if len(key) == 0 {
		return false, nil // LMDB has no empty keys
	}
	for attempt := 0; ; attempt++ {
		h, err := db.handle()
		if err != nil {
			if errors.Is(err, lmdbenv.ErrClosed) && !db.closed.Load() && attempt < 3 {
				continue
			}
			return false, db.wrap("lookup", err)
		}
		st := h.st
		if len(key) > st.MaxKeySize() {
			return false, nil // too long to be stored, so not there
		}
		c := db.cache
		var hash uint64
		if c != nil {
			var e *centry
			hash, e = c.get(key, st.Gen(), st.LastTxnID())
			if e != nil {
				if e.found {
					fn(e.val)
				}
				return e.found, nil
			}
		}
		found := false
		err = st.Read(func(txn *mdb.Txn) error {
			v, err := txn.Get(h.dbi, key)
			if err != nil && !mdb.IsNotFound(err) {
				return err
			}
			found = err == nil
			if found {
				fn(v)
			}
			if c != nil {
				// Tagged with the id of the snapshot read (the meta
				// pages may already show a commit that is not yet
				// visible to new readers).
				c.put(hash, key, v, found, st.Gen(), uint64(txn.ID()))
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, lmdbenv.ErrClosed) && !db.closed.Load() && attempt < 3 {
				continue // the file was replaced meanwhile
			}
			return false, db.wrap("lookup", err)
		}
		return found, nil
	}
}

func (db *DB) wrap(op string, err error) error {
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrReadOnly) {
		return err
	}
	if errors.Is(err, lmdbenv.ErrClosed) {
		return ErrClosed
	}
	if db.name != "" {
		return fmt.Errorf("lmdb: %s %s database %q: %w", op, db.env.Path(), db.name, err)
	}
	return fmt.Errorf("lmdb: %s %s: %w", op, db.env.Path(), err)
}
