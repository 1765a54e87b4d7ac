// Package lmdb is the default on-disk hints.DB: one LMDB environment in a
// single file (MDB_NOSUBDIR, with its lock file beside it as
// "<path>-lock"), through github.com/PowerDNS/lmdb-go (cgo, LMDB 0.9.35).
//
// Records are stored in LMDB's unnamed database under their keys, in the
// encoding of hints.EncodeRecord (a version byte, the expiry, the value),
// so `mdb_dump -n` shows them and other processes may open the same file.
//
// The memory map starts at MapSize (default 256 MiB; the file only grows
// as data is written) and doubles whenever a write finds it full, up to
// MaxMapSize (default 16 GiB), after which writes fail with hints.ErrFull.
// A file grown by another process is adopted (MDB_MAP_RESIZED).
//
// A DB is safe for concurrent use by many goroutines: write transactions
// run through lmdb-go's Env.Update, which locks the goroutine to its OS
// thread as LMDB requires; read transactions are read-only with MDB_NOTLS,
// so they need no thread. Opening the same file twice in one process
// shares one environment (LMDB forbids two in a process: closing one
// would drop the other's locks), also with lookup/lmdb (both use
// internal/lmdbenv); it is closed with its last DB, and the options of
// the first Open but WithClock and WithMaxMapSize apply to all.
//
// Range reads records in batches of 256 in short read transactions and
// calls its function between them, so that a slow function neither holds
// a reader slot nor blocks the reuse of freed pages.
//
// Differences from Exim's hints: Exim opens its hints DBM files with a
// separate lock file per database and a blocking fcntl lock for writers;
// LMDB gives readers that never block and a single writer at a time, and
// survives crashes without exim_fixdb. Durability: by default the data
// pages are synced at every commit but the meta page is not
// (MDB_NOMETASYNC), so a system crash can lose the last transaction but
// never corrupts the file; WithSync(SyncFull) syncs everything and
// WithSync(SyncNone) leaves flushing to the OS.
package lmdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"

	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/internal/lmdbenv"
)

// Defaults for the options.
const (
	DefaultMapSize    = 256 << 20
	DefaultMaxMapSize = 16 << 30
	DefaultMaxReaders = 510
	rangeBatch        = 256
	purgeBatch        = 4096
)

// SyncMode says how hard a commit pushes data to disk.
type SyncMode int

const (
	SyncData SyncMode = iota // MDB_NOMETASYNC: the default
	SyncFull                 // fsync data and meta page at every commit
	SyncNone                 // MDB_NOSYNC: the OS writes back when it likes
)

// Option configures Open.
type Option func(*config)

type config struct {
	mapSize, maxMapSize int64
	maxReaders          int
	mode                os.FileMode
	sync                SyncMode
	now                 func() time.Time
}

// WithMapSize sets the initial size of the memory map, in bytes.
func WithMapSize(n int64) Option { return func(c *config) { c.mapSize = n } }

// WithMaxMapSize sets how far the memory map may grow, in bytes.
func WithMaxMapSize(n int64) Option { return func(c *config) { c.maxMapSize = n } }

// WithMaxReaders sets the number of reader slots of a new environment
// (processes share them); the DB never runs more concurrent read
// transactions than half of them.
func WithMaxReaders(n int) Option { return func(c *config) { c.maxReaders = n } }

// WithFileMode sets the permissions of a new file (default 0600).
func WithFileMode(m os.FileMode) Option { return func(c *config) { c.mode = m } }

// WithSync sets the durability of commits.
func WithSync(m SyncMode) Option { return func(c *config) { c.sync = m } }

// WithClock makes the DB read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// DB is a hints.DB in an LMDB file.
type DB struct {
	env    *lmdbenv.Env
	dbi    mdb.DBI // the unnamed database: MAIN_DBI in every environment
	path   string
	now    func() time.Time
	maxMap int64
	closed atomic.Bool
}

var _ hints.DB = (*DB)(nil)

// Open opens (creating if needed) the hints database in the file path.
// The environment is shared with every other DB of this process on the
// same file, lookup/lmdb's included (internal/lmdbenv).
func Open(path string, opts ...Option) (*DB, error) {
	c := config{
		mapSize:    DefaultMapSize,
		maxMapSize: DefaultMaxMapSize,
		maxReaders: DefaultMaxReaders,
		mode:       0o600,
		now:        time.Now,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.maxMapSize < c.mapSize {
		c.maxMapSize = c.mapSize
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("hints/lmdb: %w", err)
	}
	var flags uint
	switch c.sync {
	case SyncData:
		flags |= mdb.NoMetaSync
	case SyncNone:
		flags |= mdb.NoSync
	}
	env, err := lmdbenv.Open(abs, lmdbenv.Options{
		Writable:      true,
		MapSize:       c.mapSize,
		MaxReaders:    c.maxReaders,
		Flags:         flags,
		Mode:          c.mode,
		CheckInterval: lmdbenv.Never,
	})
	if err != nil {
		return nil, fmt.Errorf("hints/lmdb: %w", err)
	}
	st := env.State()
	if st == nil {
		env.Close()
		return nil, fmt.Errorf("hints/lmdb: open %s: %w", abs, hints.ErrClosed)
	}
	dbi, err := st.DBI("", true)
	if err != nil {
		env.Close()
		return nil, fmt.Errorf("hints/lmdb: open %s: %w", abs, err)
	}
	return &DB{env: env, dbi: dbi, path: abs, now: c.now, maxMap: c.maxMapSize}, nil
}

// Path returns the database file's absolute path.
func (db *DB) Path() string { return db.path }

// Close implements hints.DB. The environment is closed with the last DB
// of this process that uses it.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	return db.env.Close()
}

// state returns the open environment.
func (db *DB) state() (*lmdbenv.State, error) {
	if db.closed.Load() {
		return nil, hints.ErrClosed
	}
	st := db.env.State()
	if st == nil {
		return nil, hints.ErrClosed
	}
	return st, nil
}

// view runs a read transaction, adopting a map grown by another process.
func (db *DB) view(ctx context.Context, fn mdb.TxnOp) error {
	st, err := db.state()
	if err != nil {
		return err
	}
	return closedErr(st.View(ctx, fn))
}

// update runs a write transaction, growing the map when it is full.
func (db *DB) update(fn mdb.TxnOp) error {
	st, err := db.state()
	if err != nil {
		return err
	}
	err = st.Update(fn, db.maxMap)
	if errors.Is(err, lmdbenv.ErrFull) {
		return fmt.Errorf("%w: map size %d reached", hints.ErrFull, db.maxMap)
	}
	return closedErr(err)
}

func closedErr(err error) error {
	if errors.Is(err, lmdbenv.ErrClosed) {
		return hints.ErrClosed
	}
	return err
}

func (db *DB) wrap(op, key string, err error) error {
	if err == nil || errors.Is(err, hints.ErrClosed) || errors.Is(err, hints.ErrFull) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if key != "" {
		return fmt.Errorf("hints/lmdb: %s %s key %q: %w", op, db.path, key, err)
	}
	return fmt.Errorf("hints/lmdb: %s %s: %w", op, db.path, err)
}

// Get implements hints.DB.
func (db *DB) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := hints.CheckKey(key); err != nil {
		return nil, false, err
	}
	var (
		val   []byte
		found bool
	)
	err := db.view(ctx, func(txn *mdb.Txn) error {
		txn.RawRead = true
		b, err := txn.Get(db.dbi, []byte(key))
		if mdb.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		v, exp, err := hints.DecodeRecord(b)
		if err != nil {
			return err
		}
		if hints.Expired(exp, db.now()) {
			return nil
		}
		val, found = append([]byte{}, v...), true
		return nil
	})
	if err != nil {
		return nil, false, db.wrap("get", key, err)
	}
	return val, found, nil
}

// Put implements hints.DB.
func (db *DB) Put(ctx context.Context, key string, value []byte, expiry time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := hints.CheckKey(key); err != nil {
		return err
	}
	rec := hints.EncodeRecord(value, expiry)
	return db.wrap("put", key, db.update(func(txn *mdb.Txn) error {
		return txn.Put(db.dbi, []byte(key), rec, 0)
	}))
}

// Delete implements hints.DB.
func (db *DB) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := hints.CheckKey(key); err != nil {
		return err
	}
	return db.wrap("delete", key, db.update(func(txn *mdb.Txn) error {
		err := txn.Del(db.dbi, []byte(key), nil)
		if mdb.IsNotFound(err) {
			return nil
		}
		return err
	}))
}

type kv struct {
	key    string
	value  []byte
	expiry int64
}

// Range implements hints.DB.
func (db *DB) Range(ctx context.Context, prefix string, fn func(key string, value []byte, expiry time.Time) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	prefixB := []byte(prefix)
	from := prefix // the first key of the next batch, inclusive
	skip := false  // whether to skip a record with key == from
	batch := make([]kv, 0, rangeBatch)
	for {
		batch = batch[:0]
		more := false
		err := db.view(ctx, func(txn *mdb.Txn) error {
			txn.RawRead = true
			cur, err := txn.OpenCursor(db.dbi)
			if err != nil {
				return err
			}
			defer cur.Close()
			now := db.now()
			var k, v []byte
			if from == "" {
				k, v, err = cur.Get(nil, nil, mdb.First)
			} else {
				k, v, err = cur.Get([]byte(from), nil, mdb.SetRange)
			}
			for ; err == nil; k, v, err = cur.Get(nil, nil, mdb.Next) {
				if !bytes.HasPrefix(k, prefixB) {
					return nil
				}
				if skip && string(k) == from {
					continue
				}
				val, exp, derr := hints.DecodeRecord(v)
				if derr != nil {
					return fmt.Errorf("key %q: %w", k, derr)
				}
				if hints.Expired(exp, now) {
					continue
				}
				if len(batch) == rangeBatch {
					more = true
					return nil
				}
				batch = append(batch, kv{string(k), append([]byte{}, val...), exp})
			}
			if mdb.IsNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return db.wrap("range", "", err)
		}
		for _, r := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !fn(r.key, r.value, hints.ExpiryTime(r.expiry)) {
				return nil
			}
		}
		if !more {
			return nil
		}
		from, skip = batch[len(batch)-1].key, true
	}
}

// Purge implements hints.DB. It deletes in transactions of at most 4096
// records, so that a large purge does not hold the writer lock for long.
func (db *DB) Purge(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	total := 0
	from := ""
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, next := 0, ""
		err := db.update(func(txn *mdb.Txn) error {
			n, next = 0, ""
			txn.RawRead = true
			cur, err := txn.OpenCursor(db.dbi)
			if err != nil {
				return err
			}
			defer cur.Close()
			now := db.now()
			var k, v []byte
			if from == "" {
				k, v, err = cur.Get(nil, nil, mdb.First)
			} else {
				k, v, err = cur.Get([]byte(from), nil, mdb.SetRange)
			}
			for ; err == nil; k, v, err = cur.Get(nil, nil, mdb.Next) {
				_, exp, derr := hints.DecodeRecord(v)
				if derr != nil || !hints.Expired(exp, now) {
					continue // corrupt records are left for Get to report
				}
				if n == purgeBatch {
					next = string(k)
					return nil
				}
				if err := cur.Del(0); err != nil {
					return err
				}
				n++
			}
			if mdb.IsNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return total, db.wrap("purge", "", err)
		}
		total += n
		if next == "" {
			return total, nil
		}
		from = next
	}
}
