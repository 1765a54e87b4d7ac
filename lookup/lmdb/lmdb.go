package lmdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"

	"github.com/exigo-mta/exigo/lookup"
)

// Defaults.
const (
	DefaultCheckInterval = time.Second
	DefaultMapSize       = 64 << 20 // initial map of a writable DB
	DefaultMaxMapSize    = 16 << 30 // how far a writable DB's map may grow
	maxDBs               = 128
	maxFree              = 64 // read transactions kept for reuse per file
)

// Errors callers may branch on.
var (
	ErrClosed   = errors.New("lmdb: database closed")
	ErrReadOnly = errors.New("lmdb: database opened read-only")
	ErrShared   = errors.New("lmdb: file already open read-only in this process")
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
}

// WithDatabase selects the named sub-database name instead of the
// unnamed main database.
func WithDatabase(name string) Option { return func(c *config) { c.name = name } }

// Writable opens the file for writing, creating it (and the named
// database) if needed. Without it the DB is read-only, as Exim opens it.
func Writable() Option { return func(c *config) { c.writable = true } }

// CheckInterval sets how often a lookup checks whether the file was
// replaced (default [DefaultCheckInterval]; 0 checks at every lookup).
func CheckInterval(d time.Duration) Option { return func(c *config) { c.checkInterval = d } }

// WithMapSize sets the initial memory map size of a writable DB.
func WithMapSize(n int64) Option { return func(c *config) { c.mapSize = n } }

// WithMaxMapSize bounds how far a writable DB's map grows.
func WithMaxMapSize(n int64) Option { return func(c *config) { c.maxMapSize = n } }

// WithFileMode sets the permissions of a file created by a writable DB.
func WithFileMode(m os.FileMode) Option { return func(c *config) { c.mode = m } }

// DB is one database of an LMDB file. It implements [lookup.Lookup] and
// is safe for concurrent use.
type DB struct {
	e        *envRef
	name     string
	writable bool
	closed   atomic.Bool
	h        atomic.Pointer[handle]
}

var _ lookup.Lookup = (*DB)(nil)

type handle struct {
	st  *state
	dbi mdb.DBI
}

// envRef is the process-wide entry for one file.
type envRef struct {
	path     string // absolute, symlinks resolved
	subdir   bool
	writable bool
	check    int64 // nanoseconds
	mapSize  int64
	maxMap   int64
	mode     os.FileMode
	refs     int // guarded by registry.mu

	cur       atomic.Pointer[state]
	nextCheck atomic.Int64 // monotonic nanoseconds since base
	reopenMu  sync.Mutex
	base      time.Time
}

// state is one open LMDB environment of a file. Every transaction holds
// the lock of one shard for reading; closing the environment or changing
// its map size takes all of them (lockAll). Sharding keeps concurrent
// lookups off each other's cache lines.
type state struct {
	closed bool // guarded by the shard locks
	env    *mdb.Env
	id     fileID
	shards []shard
	maxKey int
	dbiMu  sync.Mutex
	dbis   map[string]mdb.DBI
}

// reader is a reusable read-only transaction (MDB_NOTLS, which lmdb-go
// always sets, lets it move between threads).
type reader struct {
	txn *mdb.Txn
}

// shard is a lock and a free reader (a reset read transaction kept for
// reuse), alone on their cache lines.
type shard struct {
	mu sync.RWMutex
	r  atomic.Pointer[reader]
	_  [64 - 32]byte
}

func (st *state) lockAll() {
	for i := range st.shards {
		st.shards[i].mu.Lock()
	}
}

func (st *state) unlockAll() {
	for i := range st.shards {
		st.shards[i].mu.Unlock()
	}
}

type fileID struct{ dev, ino uint64 }

// registry holds the environments open in this process, one per file:
// LMDB's locks belong to the process, so two environments on one file
// in a process would break each other.
var registry struct {
	mu   sync.Mutex
	envs map[string]*envRef
}

// Open opens the database in path: a single-file environment
// (MDB_NOSUBDIR) when path is a file, an environment directory when it
// is a directory. All DBs of a file in a process share one environment.
func Open(path string, opts ...Option) (*DB, error) {
	c := config{checkInterval: DefaultCheckInterval, mapSize: DefaultMapSize, maxMapSize: DefaultMaxMapSize, mode: 0o644}
	for _, o := range opts {
		o(&c)
	}
	c.maxMapSize = max(c.maxMapSize, c.mapSize)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("lmdb: %w", err)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	} else if !c.writable || !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lmdb: open %s: %w", abs, err)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.envs == nil {
		registry.envs = make(map[string]*envRef)
	}
	e := registry.envs[abs]
	if e != nil && c.writable && !e.writable {
		return nil, fmt.Errorf("lmdb: open %s for writing: %w", abs, ErrShared)
	}
	if e == nil {
		fi, err := os.Stat(abs)
		e = &envRef{
			path: abs, subdir: err == nil && fi.IsDir(), writable: c.writable,
			check: int64(c.checkInterval), mapSize: c.mapSize, maxMap: c.maxMapSize, mode: c.mode,
			base: time.Now(),
		}
		st, err := e.openState()
		if err != nil {
			return nil, err
		}
		e.cur.Store(st)
		e.nextCheck.Store(e.check)
		registry.envs[abs] = e
	}
	db := &DB{e: e, name: c.name, writable: c.writable}
	// Open (or, when writable, create) the database now, so that a
	// missing name is reported by Open.
	st := e.cur.Load()
	st.shards[0].mu.RLock()
	_, err = db.dbiOf(st)
	st.shards[0].mu.RUnlock()
	if err != nil {
		if e.refs == 0 {
			delete(registry.envs, abs)
			e.closeState(st)
		}
		return nil, err
	}
	e.refs++
	return db, nil
}

func statID(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errors.New("no inode number")
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, nil
}

func (e *envRef) openState() (*state, error) {
	env, err := mdb.NewEnv()
	if err != nil {
		return nil, fmt.Errorf("lmdb: open %s: %w", e.path, err)
	}
	ok := false
	defer func() {
		if !ok {
			env.Close()
		}
	}()
	if err := env.SetMaxDBs(maxDBs); err != nil {
		return nil, fmt.Errorf("lmdb: open %s: %w", e.path, err)
	}
	var flags uint
	if !e.subdir {
		flags |= mdb.NoSubdir
	}
	if e.writable {
		if err := env.SetMapSize(e.mapSize); err != nil {
			return nil, fmt.Errorf("lmdb: open %s: %w", e.path, err)
		}
	} else {
		flags |= mdb.Readonly
	}
	if err := env.Open(e.path, flags, e.mode); err != nil {
		return nil, fmt.Errorf("lmdb: open %s: %w", e.path, err)
	}
	idPath := e.path
	if e.subdir {
		idPath = filepath.Join(e.path, "data.mdb")
	}
	id, err := statID(idPath)
	if err != nil {
		return nil, fmt.Errorf("lmdb: open %s: %w", e.path, err)
	}
	if e.writable {
		// A file grown by another process is adopted.
		if err := env.SetMapSize(0); err != nil {
			return nil, fmt.Errorf("lmdb: open %s: %w", e.path, err)
		}
	}
	readers, err := env.MaxReaders()
	if err != nil {
		return nil, fmt.Errorf("lmdb: open %s: %w", e.path, err)
	}
	ok = true
	return &state{env: env, id: id, dbis: make(map[string]mdb.DBI), shards: make([]shard, min(maxFree, max(1, readers/2))), maxKey: env.MaxKeySize()}, nil
}

// closeState closes st once no transaction uses it.
func (e *envRef) closeState(st *state) {
	st.lockAll()
	defer st.unlockAll()
	if st.closed {
		return
	}
	st.closed = true
	for i := range st.shards {
		if r := st.shards[i].r.Swap(nil); r != nil {
			r.txn.Abort()
		}
	}
	st.env.Close()
}

// dbiOf returns db's handle in st; a shard of st is locked.
func (db *DB) dbiOf(st *state) (mdb.DBI, error) {
	st.dbiMu.Lock()
	defer st.dbiMu.Unlock()
	if dbi, ok := st.dbis[db.name]; ok {
		return dbi, nil
	}
	var dbi mdb.DBI
	op := func(txn *mdb.Txn) (err error) {
		if db.name == "" {
			dbi, err = txn.OpenRoot(0)
			return err
		}
		var flags uint
		if db.writable {
			flags = mdb.Create
		}
		dbi, err = txn.OpenDBI(db.name, flags)
		return err
	}
	var err error
	if db.e.writable {
		err = st.env.Update(op)
	} else {
		var txn *mdb.Txn
		txn, err = st.env.BeginTxn(nil, mdb.Readonly)
		if err == nil {
			if err = op(txn); err == nil {
				err = txn.Commit() // a read-only txn must commit to keep the handle
			} else {
				txn.Abort()
			}
		}
	}
	if err != nil {
		if db.name != "" {
			return 0, fmt.Errorf("lmdb: %s database %q: %w", db.e.path, db.name, err)
		}
		return 0, fmt.Errorf("lmdb: %s: %w", db.e.path, err)
	}
	st.dbis[db.name] = dbi
	return dbi, nil
}

// Path returns the file's absolute path.
func (db *DB) Path() string { return db.e.path }

// String returns Exim's notation, "lmdb;PATH".
func (db *DB) String() string { return "lmdb;" + db.e.path }

// Close releases db; the environment is closed with the last DB of the
// file in this process.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	e := db.e
	e.refs--
	if e.refs > 0 {
		return nil
	}
	delete(registry.envs, e.path)
	e.reopenMu.Lock()
	defer e.reopenMu.Unlock()
	if st := e.cur.Swap(nil); st != nil {
		e.closeState(st)
	}
	return nil
}

// acquire returns the current environment state with the lock of its
// shard i held for reading, reopening the file first when it has been
// replaced. With pick, i is a shard with a free reader if there is one.
func (db *DB) acquire(pick bool) (h *handle, i int, err error) {
	if db.closed.Load() {
		return nil, 0, ErrClosed
	}
	e := db.e
	if e.check == 0 || int64(time.Since(e.base)) >= e.nextCheck.Load() {
		if err := e.refresh(); err != nil {
			return nil, 0, err
		}
	}
	for range 3 {
		st := e.cur.Load()
		if st == nil {
			if err := e.refresh(); err != nil {
				return nil, 0, err
			}
			continue
		}
		i = 0
		if pick {
			for j := range st.shards {
				if st.shards[j].r.Load() != nil {
					i = j
					break
				}
			}
		}
		mu := &st.shards[i].mu
		mu.RLock()
		if st.closed {
			mu.RUnlock()
			continue
		}
		h := db.h.Load()
		if h == nil || h.st != st {
			dbi, err := db.dbiOf(st)
			if err != nil {
				mu.RUnlock()
				return nil, 0, err
			}
			h = &handle{st: st, dbi: dbi}
			db.h.Store(h)
		}
		return h, i, nil
	}
	return nil, 0, fmt.Errorf("lmdb: %s: environment kept changing", e.path)
}

// refresh reopens the file when it was replaced (or not yet reopened).
func (e *envRef) refresh() error {
	e.reopenMu.Lock()
	defer e.reopenMu.Unlock()
	if db := e.cur.Load(); db == nil && e.refs == 0 {
		return ErrClosed
	}
	idPath := e.path
	if e.subdir {
		idPath = filepath.Join(e.path, "data.mdb")
	}
	id, err := statID(idPath)
	st := e.cur.Load()
	if st != nil && (err != nil || id == st.id) {
		// Unchanged, or missing for a moment during a replacement:
		// keep using the open file.
		e.nextCheck.Store(int64(time.Since(e.base)) + e.check)
		return nil
	}
	if err != nil {
		return fmt.Errorf("lmdb: %s: %w", e.path, err)
	}
	// Close the old environment before opening the new file: both use
	// the same lock file, and two environments on it in one process
	// would drop each other's locks.
	if st != nil {
		e.cur.Store(nil)
		e.closeState(st)
	}
	nst, err := e.openState()
	if err != nil {
		return err
	}
	e.cur.Store(nst)
	e.nextCheck.Store(int64(time.Since(e.base)) + e.check)
	return nil
}

func (h *handle) release(i int) { h.st.shards[i].mu.RUnlock() }

// getReader returns a renewed read transaction of st, preferably the
// free one of shard i; a shard of st is locked.
func (st *state) getReader(i int) (*reader, error) {
	for k := range st.shards {
		sl := &st.shards[(i+k)%len(st.shards)].r
		if r := sl.Load(); r != nil && sl.CompareAndSwap(r, nil) {
			if err := r.txn.Renew(); err != nil {
				r.txn.Abort()
				return nil, err
			}
			return r, nil
		}
	}
	txn, err := st.env.BeginTxn(nil, mdb.Readonly)
	if err != nil {
		return nil, err
	}
	txn.RawRead = true
	txn.Pooled = true
	return &reader{txn: txn}, nil
}

// putReader resets r and keeps it for reuse in a free shard (i's if
// possible), or aborts it when none is free. Every reader is thus in use
// or in a shard, so closing st (under all shard locks) aborts them all.
func (st *state) putReader(r *reader, i int) {
	r.txn.Reset()
	for k := range st.shards {
		sl := &st.shards[(i+k)%len(st.shards)].r
		if sl.Load() == nil && sl.CompareAndSwap(nil, r) {
			return
		}
	}
	r.txn.Abort()
}

// Lookup implements [lookup.Lookup]: the value stored under key, with
// all its bytes (Exim cuts it at the first NUL).
func (db *DB) Lookup(ctx context.Context, key string) (string, bool, error) {
	var v string
	found, err := db.view(ctx, []byte(key), func(b []byte) { v = string(b) })
	return v, found, err
}

// LookupBytes appends the value stored under key to dst and returns it;
// with a dst of enough capacity it allocates nothing.
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
		h, i, err := db.acquire(true)
		if err != nil {
			return false, err
		}
		if len(key) > h.st.maxKey {
			h.release(i)
			return false, nil // too long to be stored, so not there
		}
		r, err := h.st.getReader(i)
		if err != nil {
			h.release(i)
			if mdb.IsMapResized(err) && attempt < 3 {
				if err := h.st.adopt(); err != nil {
					return false, db.wrap("lookup", err)
				}
				continue
			}
			return false, db.wrap("lookup", err)
		}
		v, err := r.txn.Get(h.dbi, key)
		found := err == nil
		if found {
			fn(v)
		}
		h.st.putReader(r, i)
		h.release(i)
		if err != nil && !mdb.IsNotFound(err) {
			return false, db.wrap("lookup", err)
		}
		return found, nil
	}
}

// adopt takes the map size another process set.
func (st *state) adopt() error {
	st.lockAll()
	defer st.unlockAll()
	if st.closed {
		return nil
	}
	return st.env.SetMapSize(0)
}

func (db *DB) wrap(op string, err error) error {
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrReadOnly) {
		return err
	}
	if db.name != "" {
		return fmt.Errorf("lmdb: %s %s database %q: %w", op, db.e.path, db.name, err)
	}
	return fmt.Errorf("lmdb: %s %s: %w", op, db.e.path, err)
}
