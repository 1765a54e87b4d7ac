// Package lmdbenv keeps the LMDB environments open in this process, one
// per file, for lookup/lmdb and hints/lmdb.
//
// LMDB's locks belong to the process: two environments on one file (one
// lock file) in a process would release each other's fcntl locks and
// split the reader table, so that a writer could reuse pages a reader
// still uses. [Open] therefore returns the one [Env] of a path (absolute,
// symlinks resolved, which names the lock file too), shared by reference
// count; the options of the first Open apply.
//
// An Env follows the file of its path: [Env.Refresh] (or [Env.MaybeRefresh],
// driven by a timer) stats it and, when it was replaced by rename, closes
// the [State] of the old file once its transactions end and opens the new
// one. Users load [Env.State] for each operation and retry when it
// returns [ErrClosed] while the Env itself is open.
//
// A State runs three kinds of transactions. [State.Read] reuses
// read-only transactions (MDB_NOTLS, which lmdb-go always sets) kept in
// slots that are claimed by one compare-and-swap, without a lock, and
// left active on their snapshot while no commit follows it: the lookup
// fast path. [State.View] and [State.Update] hold a read lock
// that resizing the map ([State.Adopt], growing in Update) and closing
// take for writing, together with every slot, since LMDB allows neither
// with a transaction of this process active.
//
// [State.LastTxnID] reads the id of the last committed transaction (what
// mdb_env_info reports as me_last_txnid) from the data file's two meta
// pages through a small read-only map of its own: two memory loads, no
// cgo call, no lock, so that callers can check a cache on every lookup.
package lmdbenv

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"
	"golang.org/x/sys/unix"
)

// Errors callers may branch on (and map to their own). Errors of this
// package have no package prefix: callers add theirs.
var (
	ErrClosed = errors.New("environment closed")
	ErrShared = errors.New("file already open read-only in this process")
	ErrFull   = errors.New("map size limit reached")
)

// Never, as Options.CheckInterval, turns off the replacement check of
// [Env.MaybeRefresh].
const Never time.Duration = -1

const (
	maxDBs   = 128
	maxSlots = 64
)

// Options configures a new environment; those of the first [Open] of a
// file apply to all.
type Options struct {
	Writable   bool        // read-write (creating the file); else MDB_RDONLY
	MapSize    int64       // initial map of a writable environment (0: LMDB's default)
	MaxReaders int         // reader slots of a new lock file (0: LMDB's default)
	Flags      uint        // extra mdb.Env flags, e.g. mdb.NoMetaSync
	Mode       os.FileMode // permissions of created files
	// CheckInterval is how often MaybeRefresh stats the file: 0 at every
	// call, Never not at all.
	CheckInterval time.Duration
}

// Env is the environment of one path in this process.
type Env struct {
	path   string
	subdir bool
	opts   Options
	refs   int // guarded by registry.mu

	cur      atomic.Pointer[State]
	due      atomic.Bool // MaybeRefresh should stat the file (always with CheckInterval 0)
	reopenMu sync.Mutex
	timer    *time.Timer // sets due; nil unless CheckInterval > 0
	closed   atomic.Bool
}

var registry struct {
	mu   sync.Mutex
	envs map[string]*Env
}

// FileID identifies a data file.
type FileID struct{ Dev, Ino uint64 }

// Canonical returns path made absolute with its symlinks resolved (or, for
// a file that does not exist yet, those of its directory).
func Canonical(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// Open returns the environment of path (made canonical), opening it
// unless this process has it open already. A file is a single-file
// environment (MDB_NOSUBDIR), a directory an environment directory.
// Opening for writing a file open read-only fails with [ErrShared].
func Open(path string, o Options) (*Env, error) {
	abs, err := Canonical(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if e := registry.envs[abs]; e != nil {
		if o.Writable && !e.opts.Writable {
			return nil, fmt.Errorf("open %s for writing: %w", abs, ErrShared)
		}
		e.refs++
		return e, nil
	}
	fi, err := os.Stat(abs)
	if err != nil && (!o.Writable || !errors.Is(err, os.ErrNotExist)) {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	e := &Env{path: abs, subdir: err == nil && fi.IsDir(), opts: o, refs: 1}
	st, err := e.openState()
	if err != nil {
		return nil, err
	}
	e.cur.Store(st)
	switch {
	case o.CheckInterval == 0:
		e.due.Store(true) // for good
	case o.CheckInterval > 0:
		e.timer = time.AfterFunc(o.CheckInterval, func() { e.due.Store(true) })
	}
	if registry.envs == nil {
		registry.envs = make(map[string]*Env)
	}
	registry.envs[abs] = e
	return e, nil
}

// Path returns the canonical path.
func (e *Env) Path() string { return e.path }

// Writable reports whether the environment was opened for writing.
func (e *Env) Writable() bool { return e.opts.Writable }

// State returns the open state of the current file, or nil after Close.
func (e *Env) State() *State { return e.cur.Load() }

// Close drops one reference; the last closes the environment, waiting
// for its transactions to end.
func (e *Env) Close() error {
	// The registry stays locked until the environment is closed, so that
	// an Open of the same path cannot run a second one meanwhile.
	registry.mu.Lock()
	defer registry.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return nil
	}
	delete(registry.envs, e.path)
	e.closed.Store(true)
	if e.timer != nil {
		e.timer.Stop()
	}
	e.reopenMu.Lock()
	defer e.reopenMu.Unlock()
	if st := e.cur.Swap(nil); st != nil {
		return st.close()
	}
	return nil
}

func (e *Env) dataPath() string {
	if e.subdir {
		return filepath.Join(e.path, "data.mdb")
	}
	return e.path
}

// MaybeRefresh calls Refresh when the check interval has passed (at
// every call with interval 0); its cost otherwise is one atomic load.
func (e *Env) MaybeRefresh() error {
	if !e.due.Load() {
		return nil // the common case, inlined
	}
	return e.maybeRefresh()
}

func (e *Env) maybeRefresh() error {
	if e.opts.CheckInterval == 0 {
		return e.Refresh()
	}
	e.reopenMu.Lock()
	defer e.reopenMu.Unlock()
	if !e.due.Load() {
		return nil // another goroutine just checked
	}
	e.due.Store(false)
	err := e.refreshLocked()
	if !e.closed.Load() {
		e.timer.Reset(e.opts.CheckInterval)
	}
	return err
}

// Refresh reopens the file when it was replaced (its device or inode
// changed). A file missing for a moment during a replacement keeps the
// open one in use.
func (e *Env) Refresh() error {
	e.reopenMu.Lock()
	defer e.reopenMu.Unlock()
	return e.refreshLocked()
}

func (e *Env) refreshLocked() error {
	st := e.cur.Load()
	if st == nil || e.closed.Load() {
		return ErrClosed
	}
	id, err := statID(e.dataPath())
	if err != nil || id == st.id {
		return nil
	}
	// Close the old state before opening the new file: both use the same
	// lock file, and two environments on it in one process would drop
	// each other's locks.
	e.cur.Store(nil)
	cerr := st.close()
	nst, err := e.openState()
	if err != nil {
		// Keep going on the old file? It is closed; retry at the next
		// check. Lookups fail until then.
		e.cur.Store(closedState(st))
		return errors.Join(err, cerr)
	}
	e.cur.Store(nst)
	return cerr
}

// closedState returns a closed stand-in keeping st's identity, so that a
// failed reopen is retried by the next Refresh.
func closedState(st *State) *State {
	c := &State{closed: true, slots: make([]slot, 1), views: make(chan struct{}, 1), gen: st.gen, dbis: map[string]mdb.DBI{}}
	c.slots[0].p.Store(closedMark)
	return c
}

func statID(path string) (FileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileID{}, err
	}
	return idOf(fi)
}

func idOf(fi os.FileInfo) (FileID, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, errors.New("no inode number")
	}
	return FileID{uint64(st.Dev), uint64(st.Ino)}, nil
}

var generation atomic.Uint64

// openState opens the environment on the current file. The data file is
// stat'ed before and after, and opened for the meta map, so that the
// State's id is the file LMDB opened even while it is being replaced.
func (e *Env) openState() (*State, error) {
	var lastErr error
	for range 5 {
		st, retry, err := e.tryOpenState()
		if err == nil {
			return st, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return nil, fmt.Errorf("open %s: %w", e.path, lastErr)
}

func (e *Env) tryOpenState() (st *State, retry bool, err error) {
	before, berr := statID(e.dataPath())
	env, err := mdb.NewEnv()
	if err != nil {
		return nil, false, err
	}
	ok := false
	defer func() {
		if !ok {
			env.Close()
		}
	}()
	if err := env.SetMaxDBs(maxDBs); err != nil {
		return nil, false, err
	}
	if e.opts.MaxReaders > 0 {
		if err := env.SetMaxReaders(e.opts.MaxReaders); err != nil {
			return nil, false, err
		}
	}
	flags := e.opts.Flags
	if !e.subdir {
		flags |= mdb.NoSubdir
	}
	if e.opts.Writable {
		if e.opts.MapSize > 0 {
			if err := env.SetMapSize(e.opts.MapSize); err != nil {
				return nil, false, err
			}
		}
	} else {
		flags |= mdb.Readonly
	}
	mode := e.opts.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err := env.Open(e.path, flags, mode); err != nil {
		return nil, false, err
	}
	if e.opts.Writable {
		// A file grown by another process is adopted.
		if err := env.SetMapSize(0); err != nil {
			return nil, false, err
		}
		// Clear reader slots left by dead processes.
		if _, err := env.ReaderCheck(); err != nil {
			return nil, false, err
		}
	}
	f, err := os.Open(e.dataPath())
	if err != nil {
		return nil, true, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	id, err := idOf(fi)
	if err != nil {
		return nil, false, err
	}
	if berr == nil && before != id {
		return nil, true, errors.New("file replaced while opening")
	}
	readers, err := env.MaxReaders()
	if err != nil {
		return nil, false, err
	}
	st = &State{
		env:    env,
		id:     id,
		gen:    generation.Add(1),
		maxKey: env.MaxKeySize(),
		dbis:   make(map[string]mdb.DBI),
		slots:  make([]slot, min(maxSlots, max(1, readers/2))),
		views:  make(chan struct{}, max(1, readers/2)),
		meta:   mapMeta(f, fi.Size()),
	}
	ok = true
	return st, false, nil
}

// State is one open LMDB environment of one data file.
type State struct {
	env    *mdb.Env
	id     FileID
	gen    uint64
	maxKey int
	meta   *metaMap // nil when the meta pages could not be mapped

	slots []slot
	mu    sync.RWMutex // read: a View or Update runs; write: exclusive
	// closed is set under mu and every slot; read under either.
	closed bool
	views  chan struct{} // bounds concurrent View transactions
	// reapArmed: a reap is scheduled.
	reapArmed atomic.Bool
	newDBIs   atomic.Uint32 // databases opened by DBI

	dbiMu sync.Mutex
	dbis  map[string]mdb.DBI
}

// slot holds a reset read transaction (*reader), nil (none made yet),
// busy (claimed by one goroutine) or closedMark; alone on a cache line.
type slot struct {
	p atomic.Pointer[reader]
	_ [56]byte
}

// reader is a read-only transaction, reset or (active) holding the
// snapshot of transaction id. Its fields belong to whoever claimed its
// slot.
type reader struct {
	txn    *mdb.Txn
	active bool
	id     uint64
	dbis   uint32 // st.newDBIs when renewed
}

var busy, closedMark = new(reader), new(reader)

// Env returns the lmdb-go environment, for the calls this package does
// not wrap; transactions must go through the State's methods.
func (st *State) Env() *mdb.Env { return st.env }

// ID returns the identity of the data file.
func (st *State) ID() FileID { return st.id }

// Gen returns a number unique to this State in the process.
func (st *State) Gen() uint64 { return st.gen }

// MaxKeySize is LMDB's largest key.
func (st *State) MaxKeySize() int { return st.maxKey }

// Read runs fn in a read-only transaction on the last committed snapshot
// (RawRead set, so fn must copy what it keeps). Transactions are kept in
// slots and reused: one still on the last committed transaction (its id
// equals [State.LastTxnID]) is used as it is, otherwise it is renewed,
// so a lookup costs no more than mdb_get while nothing is written. A
// transaction left active on a snapshot that became old is reset within
// a second (reapInterval) even without lookups, so that it does not keep
// writers from reusing pages for long. Read allocates nothing once the
// slots have their transactions, and only waits when every slot is busy.
// A map grown by another process is adopted.
func (st *State) Read(fn func(txn *mdb.Txn) error) error {
	for attempt := 0; ; attempt++ {
		err := st.read(fn)
		if err != nil && mdb.IsMapResized(err) && attempt < 3 {
			if err := st.Adopt(); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

func (st *State) read(fn func(txn *mdb.Txn) error) error {
	// Start at a slot picked by the address of this goroutine's stack
	// (which is at least 8 KiB, and rarely moves): a goroutine keeps
	// finding its own slot, warm in its CPU's cache, and concurrent ones
	// do not contend on one slot's cache line.
	var anchor byte
	n := len(st.slots)
	start := int(uint(uintptr(unsafe.Pointer(&anchor))>>13) % uint(n))
	for spins := 0; ; spins++ {
		for k := range n {
			i := start + k
			if i >= n {
				i -= n
			}
			s := &st.slots[i].p
			r := s.Load()
			if r == busy {
				continue
			}
			if r == closedMark {
				return ErrClosed
			}
			if !s.CompareAndSwap(r, busy) {
				continue
			}
			if err := st.renew(&r); err != nil {
				s.Store(r)
				return err
			}
			err := fn(r.txn)
			if st.meta == nil {
				r.txn.Reset() // no cheap way to tell it is current
				r.active = false
			} else if !st.reapArmed.Load() && st.reapArmed.CompareAndSwap(false, true) {
				time.AfterFunc(reapInterval, st.reap)
			}
			s.Store(r)
			return err
		}
		if spins > 100 {
			time.Sleep(50 * time.Microsecond)
		} else {
			runtime.Gosched()
		}
	}
}

// reapInterval is how long a transaction left active may keep a snapshot
// older than the last commit.
const reapInterval = time.Second

// renew makes *rp (nil: none yet) an active transaction on the last
// committed snapshot; on failure *rp is nil or a reset transaction.
func (st *State) renew(rp **reader) error {
	r := *rp
	if r != nil && r.active {
		if st.meta != nil && r.id == st.meta.txnID() && r.dbis == st.newDBIs.Load() {
			// No commit since: its snapshot is the last. (A database
			// opened after it began is unknown to it: then renew.)
			return nil
		}
		r.txn.Reset()
		r.active = false
	}
	dbis := st.newDBIs.Load() // before: a database opened later renews again
	if r == nil {
		txn, err := st.env.BeginTxn(nil, mdb.Readonly)
		if err != nil {
			return err
		}
		txn.RawRead = true
		r = &reader{txn: txn}
		*rp = r
	} else if err := r.txn.Renew(); err != nil {
		r.txn.Abort()
		*rp = nil
		return err
	}
	r.active = true
	r.dbis = dbis
	r.id = uint64(r.txn.ID())
	return nil
}

// reap resets the idle transactions that hold a snapshot older than the
// last commit, and runs again later while some stay active.
func (st *State) reap() {
	st.reapArmed.Store(false)
	last := st.LastTxnID()
	again := false
	for i := range st.slots {
		s := &st.slots[i].p
		r := s.Load()
		if r == nil || r == busy || r == closedMark || !r.active || !s.CompareAndSwap(r, busy) {
			continue
		}
		if r.id != last {
			r.txn.Reset()
			r.active = false
		} else {
			again = true
		}
		s.Store(r)
	}
	if again && st.reapArmed.CompareAndSwap(false, true) {
		time.AfterFunc(reapInterval, st.reap)
	}
}

// lockAll takes st exclusively: mu and every slot.
func (st *State) lockAll() []*reader {
	st.mu.Lock()
	held := make([]*reader, len(st.slots))
	for i := range st.slots {
		s := &st.slots[i].p
		for {
			r := s.Load()
			if r != busy && s.CompareAndSwap(r, busy) {
				held[i] = r
				break
			}
			runtime.Gosched()
		}
	}
	return held
}

func (st *State) unlockAll(held []*reader) {
	for i := range st.slots {
		st.slots[i].p.Store(held[i])
	}
	st.mu.Unlock()
}

// exclusive runs fn with no transaction of st active in this process.
func (st *State) exclusive(fn func() error) error {
	held := st.lockAll()
	defer st.unlockAll(held)
	if st.closed {
		return ErrClosed
	}
	for _, r := range held {
		if r != nil && r.active {
			r.txn.Reset()
			r.active = false
		}
	}
	return fn()
}

// Adopt takes the map size another process set (after MDB_MAP_RESIZED).
func (st *State) Adopt() error {
	return st.exclusive(func() error { return st.env.SetMapSize(0) })
}

func (st *State) close() error {
	held := st.lockAll()
	defer st.mu.Unlock()
	defer func() {
		for i := range st.slots {
			st.slots[i].p.Store(closedMark)
		}
	}()
	if st.closed {
		return nil
	}
	st.closed = true
	for _, r := range held {
		if r != nil && r != closedMark {
			r.txn.Abort()
		}
	}
	return st.env.Close()
}

// begin holds st for one View or Update transaction.
func (st *State) begin() error {
	st.mu.RLock()
	if st.closed {
		st.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// View runs fn in a new read-only transaction (lmdb-go's Env.View),
// waiting while half the reader slots are in use by Views, and adopting
// a map grown by another process.
func (st *State) View(ctx context.Context, fn mdb.TxnOp) error {
	select {
	case st.views <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-st.views }()
	for attempt := 0; ; attempt++ {
		if err := st.begin(); err != nil {
			return err
		}
		err := st.env.View(fn)
		st.mu.RUnlock()
		if mdb.IsMapResized(err) && attempt < 3 {
			if err := st.Adopt(); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// Update runs fn in a write transaction (lmdb-go's Env.Update), doubling
// the map when it is full, up to maxMap (then the error wraps
// [ErrFull]), and adopting a map grown by another process.
func (st *State) Update(fn mdb.TxnOp, maxMap int64) error {
	for attempt := 0; ; attempt++ {
		if err := st.begin(); err != nil {
			return err
		}
		err := st.env.Update(fn)
		st.mu.RUnlock()
		switch {
		case mdb.IsMapFull(err) && attempt < 64:
			if err := st.grow(maxMap); err != nil {
				return err
			}
		case mdb.IsMapResized(err) && attempt < 64:
			if err := st.Adopt(); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// grow doubles the map, unless another goroutine just did.
func (st *State) grow(maxMap int64) error {
	return st.exclusive(func() error {
		info, err := st.env.Info()
		if err != nil {
			return err
		}
		if info.MapSize >= maxMap {
			return fmt.Errorf("%w (%d bytes)", ErrFull, maxMap)
		}
		return st.env.SetMapSize(min(2*info.MapSize, maxMap))
	})
}

// DBI returns the handle of the named database ("" for the unnamed main
// one), opening it (creating it when create is set) at the first call.
func (st *State) DBI(name string, create bool) (mdb.DBI, error) {
	st.dbiMu.Lock()
	defer st.dbiMu.Unlock()
	if dbi, ok := st.dbis[name]; ok {
		return dbi, nil
	}
	if err := st.begin(); err != nil {
		return 0, err
	}
	defer st.mu.RUnlock()
	var dbi mdb.DBI
	op := func(txn *mdb.Txn) (err error) {
		if name == "" {
			dbi, err = txn.OpenRoot(0)
			return err
		}
		var flags uint
		if create {
			flags = mdb.Create
		}
		dbi, err = txn.OpenDBI(name, flags)
		return err
	}
	var err error
	if create {
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
		return 0, err
	}
	st.dbis[name] = dbi
	st.newDBIs.Add(1)
	return dbi, nil
}

// LastTxnID returns the id of the last committed transaction of the data
// file, read from its meta pages (the larger of the two ids, as LMDB
// picks the current meta page), or from mdb_env_info when they could not
// be mapped. It works on a closed State too (returning the id the file
// had then, or 0).
func (st *State) LastTxnID() uint64 {
	if m := st.meta; m != nil {
		return m.txnID()
	}
	if st.closed {
		return 0
	}
	if err := st.begin(); err != nil {
		return 0
	}
	defer st.mu.RUnlock()
	info, err := st.env.Info()
	if err != nil {
		return 0
	}
	return uint64(info.LastTxnID)
}

// Meta page layout of LMDB 0.9 (the on-disk format, lmdb.h/mdb.c): a
// 16-byte page header, then MDB_meta: magic (uint32), version (uint32),
// address (8), mapsize (8), two MDB_db of 48 bytes (the first's md_pad
// is the page size), last_pg (8), txnid (8).
const (
	metaMagicOff = 16
	metaPSizeOff = 40
	metaTxnOff   = 144
	metaMagic    = 0xBEEFC0DE
)

type metaMap struct {
	data  []byte
	psize int
}

// mapMeta maps the two meta pages of the open data file f read-only, or
// returns nil. The map is released when the metaMap is unreachable, so
// that a reader holding a closed State never touches unmapped memory.
func mapMeta(f *os.File, size int64) *metaMap {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		return nil // the 64-bit little-endian layout below
	}
	var hdr [metaPSizeOff + 4]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil
	}
	if binary.LittleEndian.Uint32(hdr[metaMagicOff:]) != metaMagic {
		return nil
	}
	psize := int(binary.LittleEndian.Uint32(hdr[metaPSizeOff:]))
	if psize < 512 || psize&(psize-1) != 0 || int64(2*psize) > size {
		return nil
	}
	data, err := unix.Mmap(int(f.Fd()), 0, 2*psize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil
	}
	m := &metaMap{data: data, psize: psize}
	runtime.AddCleanup(m, func(b []byte) { _ = unix.Munmap(b) }, data)
	return m
}

func (m *metaMap) txnID() uint64 {
	a := atomic.LoadUint64((*uint64)(unsafe.Pointer(&m.data[metaTxnOff])))
	b := atomic.LoadUint64((*uint64)(unsafe.Pointer(&m.data[m.psize+metaTxnOff])))
	runtime.KeepAlive(m)
	return max(a, b)
}
