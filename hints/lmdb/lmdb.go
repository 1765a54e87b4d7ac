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
// would drop the other's locks); it is closed with its last DB, and the
// options of the first Open but WithClock apply to all.
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
	"sync"
	"syscall"
	"time"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"

	"github.com/exigo-mta/exigo/hints"
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
	sh     *shared
	path   string
	now    func() time.Time
	closed bool // guarded by sh.mu
}

var _ hints.DB = (*DB)(nil)

// shared is one LMDB environment and what guards it. mu is held for
// reading by every transaction and for writing to resize the map or to
// close: LMDB allows neither with transactions active.
type shared struct {
	key     fileKey
	env     *mdb.Env
	dbi     mdb.DBI
	mu      sync.RWMutex
	readers chan struct{} // limits concurrent read transactions
	maxMap  int64
	refs    int // guarded by registry.mu
}

type fileKey struct{ dev, ino uint64 }

// registry holds the environments open in this process, one per file.
// This is the package's only global state, and it has to be: LMDB's locks
// belong to the process, so two environments on one file in a process
// would break each other.
var registry struct {
	mu   sync.Mutex
	envs map[fileKey]*shared
}

// Open opens (creating if needed) the hints database in the file path.
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
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.envs == nil {
		registry.envs = make(map[fileKey]*shared)
	}
	if k, err := keyOf(abs); err == nil {
		if sh := registry.envs[k]; sh != nil {
			sh.refs++
			return &DB{sh: sh, path: abs, now: c.now}, nil
		}
	}
	sh, err := openEnv(abs, c)
	if err != nil {
		return nil, fmt.Errorf("hints/lmdb: open %s: %w", abs, err)
	}
	sh.refs = 1
	registry.envs[sh.key] = sh
	return &DB{sh: sh, path: abs, now: c.now}, nil
}

func keyOf(path string) (fileKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, errors.New("no inode")
	}
	return fileKey{uint64(st.Dev), st.Ino}, nil
}

func openEnv(path string, c config) (*shared, error) {
	env, err := mdb.NewEnv()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			env.Close()
		}
	}()
	if err := env.SetMapSize(c.mapSize); err != nil {
		return nil, err
	}
	if err := env.SetMaxReaders(c.maxReaders); err != nil {
		return nil, err
	}
	flags := uint(mdb.NoSubdir)
	switch c.sync {
	case SyncData:
		flags |= mdb.NoMetaSync
	case SyncNone:
		flags |= mdb.NoSync
	}
	if err := env.Open(path, flags, c.mode); err != nil {
		return nil, err
	}
	// Clear reader slots left by dead processes.
	if _, err := env.ReaderCheck(); err != nil {
		return nil, err
	}
	var dbi mdb.DBI
	if err := env.Update(func(txn *mdb.Txn) (err error) {
		dbi, err = txn.OpenRoot(0)
		return err
	}); err != nil {
		return nil, err
	}
	readers, err := env.MaxReaders()
	if err != nil {
		return nil, err
	}
	k, err := keyOf(path)
	if err != nil {
		return nil, err
	}
	ok = true
	return &shared{
		key:     k,
		env:     env,
		dbi:     dbi,
		readers: make(chan struct{}, max(1, readers/2)),
		maxMap:  c.maxMapSize,
	}, nil
}

// Path returns the database file's absolute path.
func (db *DB) Path() string { return db.path }

// Close implements hints.DB. The environment is closed with the last DB
// of this process that uses it.
func (db *DB) Close() error {
	sh := db.sh
	sh.mu.Lock()
	if db.closed {
		sh.mu.Unlock()
		return nil
	}
	db.closed = true
	sh.mu.Unlock()

	registry.mu.Lock()
	defer registry.mu.Unlock()
	sh.refs--
	if sh.refs > 0 {
		return nil
	}
	delete(registry.envs, sh.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.env.Close()
}

// begin takes the environment for one transaction; end releases it.
func (db *DB) begin() error {
	db.sh.mu.RLock()
	if db.closed {
		db.sh.mu.RUnlock()
		return hints.ErrClosed
	}
	return nil
}

func (db *DB) end() { db.sh.mu.RUnlock() }

// view runs a read transaction, adopting a map grown by another process.
func (db *DB) view(ctx context.Context, fn mdb.TxnOp) error {
	select {
	case db.sh.readers <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.sh.readers }()
	for attempt := 0; ; attempt++ {
		if err := db.begin(); err != nil {
			return err
		}
		err := db.sh.env.View(fn)
		db.end()
		if mdb.IsMapResized(err) && attempt < 3 {
			if err := db.sh.adopt(); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// update runs a write transaction, growing the map when it is full.
func (db *DB) update(fn mdb.TxnOp) error {
	for attempt := 0; ; attempt++ {
		if err := db.begin(); err != nil {
			return err
		}
		err := db.sh.env.Update(fn)
		db.end()
		switch {
		case mdb.IsMapFull(err) && attempt < 64:
			if err := db.sh.grow(); err != nil {
				return err
			}
		case mdb.IsMapResized(err) && attempt < 64:
			if err := db.sh.adopt(); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// grow doubles the map, unless another goroutine just did.
func (sh *shared) grow() error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	info, err := sh.env.Info()
	if err != nil {
		return err
	}
	if info.MapSize >= sh.maxMap {
		return fmt.Errorf("%w: map size %d reached", hints.ErrFull, sh.maxMap)
	}
	return sh.env.SetMapSize(min(2*info.MapSize, sh.maxMap))
}

// adopt takes the map size another process set.
func (sh *shared) adopt() error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.env.SetMapSize(0)
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
		b, err := txn.Get(db.sh.dbi, []byte(key))
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
		return txn.Put(db.sh.dbi, []byte(key), rec, 0)
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
		err := txn.Del(db.sh.dbi, []byte(key), nil)
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
			cur, err := txn.OpenCursor(db.sh.dbi)
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
			cur, err := txn.OpenCursor(db.sh.dbi)
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
