package spool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by Lock when another process (Exim or exigo) or
// another Lock in this process holds the message.
var ErrLocked = errors.New("spool: message is locked by another process")

// Lock is the exclusive right to deliver one message. It is Exim's own
// lock: a write lock on the first line of the -D file (the bytes
// "<id>-D\n"). exigo takes it as an open-file-description lock
// (F_OFD_SETLK), which conflicts with Exim's fcntl(F_SETLK) locks across
// processes and, unlike those, also with other Locks in the same
// process. The lock ends with Unlock or when the process dies.
//
// The methods that change the message (AddDelivered, Rewrite,
// FoldJournal, Dequeue, Remove) belong here because only the lock holder may
// call them.
type Lock struct {
	s   *Spool
	id  string
	rel string
	f   *os.File // the -D file, holding the lock

	mu      sync.Mutex
	j       *os.File // the -J file, opened by AddDelivered
	jExists bool     // a -J file exists (seen by Read, or written)
	jNew    bool     // the -J file's directory entry may not be on disk yet
	hGone   bool     // Dequeue removed the -H file
}

// Lock locks message id for delivery. It returns ErrLocked at once if
// the message is locked, ErrNotFound if it does not exist.
func (s *Spool) Lock(id string) (*Lock, error) {
	rel, err := s.locate(id)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, rel, id+"-D"), os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (no -D file)", ErrNotFound, id)
		}
		return nil, fmt.Errorf("spool: lock %s: %w", id, err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: 0, Len: int64(len(id) + 3)}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, id)
		}
		return nil, fmt.Errorf("spool: lock %s: %w", id, err)
	}
	return &Lock{s: s, id: id, rel: rel, f: f}, nil
}

// ID returns the locked message's ID.
func (l *Lock) ID() string { return l.id }

func (l *Lock) path(suffix string) string {
	return filepath.Join(l.s.dir, l.rel, l.id+suffix)
}

// Read reads the locked message. It checks the -D file through the
// lock's descriptor instead of opening it again.
func (l *Lock) Read() (*Entry, error) {
	l.mu.Lock()
	f := l.f
	l.mu.Unlock()
	e, jExists, err := l.s.readEntry(l.rel, l.id, f)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.jExists = l.jExists || jExists
	l.mu.Unlock()
	return e, nil
}

// AddDelivered appends addr to the -J journal and makes it durable
// (file and directory entry), so that a crash before the next Rewrite
// does not deliver addr again. Exim reads the same journal (one address
// per line) before its next attempt.
//
// Concurrent AddDelivered and Dequeue calls of all the Locks of a Spool
// share their syncs (group commit): each returns once a batch that
// started after its write has synced the files and directories the
// batch's calls changed, each directory once.
func (l *Lock) AddDelivered(addr string) error {
	if addr == "" || len(addr) > 64<<10 || slices.Contains([]byte(addr), '\n') {
		return fmt.Errorf("spool: journal %s: bad address %q", l.id, addr)
	}
	l.mu.Lock()
	if l.j == nil {
		f, err := os.OpenFile(l.path("-J"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("spool: journal %s: %w", l.id, err)
		}
		l.j, l.jExists, l.jNew = f, true, true
	}
	j := l.j
	_, err := j.Write([]byte(addr + "\n"))
	var dir string
	if l.jNew {
		// A new -J file needs its directory entry on disk too.
		dir = filepath.Dir(l.path(""))
	}
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("spool: journal %s: %w", l.id, err)
	}
	if err := l.s.fsync.sync(dir, j); err != nil {
		return fmt.Errorf("spool: journal %s: %w", l.id, err)
	}
	if dir != "" {
		l.mu.Lock()
		l.jNew = false
		l.mu.Unlock()
	}
	return nil
}

// Dequeue removes the -H file and makes the removal durable, sharing
// the sync with concurrent AddDelivered and Dequeue calls. From then on
// the message is gone for every queue runner (Exim included), whatever
// its recipients: the caller uses it instead of journaling the last
// recipients of a message once they are delivered. Remove must still be
// called to delete the other files and release the lock; until then
// the lock is kept.
func (l *Lock) Dequeue() error {
	l.mu.Lock()
	if l.hGone {
		l.mu.Unlock()
		return nil
	}
	err := os.Remove(l.path("-H"))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		l.hGone = true
	}
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("spool: dequeue %s: %w", l.id, err)
	}
	if err := l.s.fsync.sync(filepath.Dir(l.path("")), nil); err != nil {
		return fmt.Errorf("spool: dequeue %s: %w", l.id, err)
	}
	return nil
}

// Rewrite replaces the -H file with h atomically: it writes a temporary
// file, syncs it, renames it over the old one and syncs the directory.
func (l *Lock) Rewrite(h *HeaderFile) error {
	if h.ID != l.id {
		return fmt.Errorf("spool: rewrite %s: header file is for %s", l.id, h.ID)
	}
	b, err := h.AppendBinary(nil)
	if err != nil {
		return err
	}
	tmp := l.path(tmpH)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: rewrite %s: %w", l.id, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, l.path("-H"))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: rewrite %s: %w", l.id, err)
	}
	if err := syncDir(filepath.Dir(tmp)); err != nil {
		return fmt.Errorf("spool: rewrite %s: %w", l.id, err)
	}
	return nil
}

// FoldJournal moves the addresses of the -J file into the -H file's
// non-recipients, rewrites the -H file and removes the -J file, as Exim
// does at the start and end of a delivery attempt. It returns the entry
// as now on disk.
func (l *Lock) FoldJournal() (*Entry, error) {
	e, err := l.Read()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.j != nil {
		l.j.Close()
		l.j = nil
	}
	l.mu.Unlock()
	if len(e.Journal) == 0 {
		if l.takeJournal() {
			if err := os.Remove(l.path("-J")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("spool: %w", err)
			}
		}
		return e, nil
	}
	for _, a := range e.Journal {
		e.AddNonRecipient(a)
	}
	if err := l.Rewrite(e.HeaderFile); err != nil {
		return nil, err
	}
	l.takeJournal()
	if err := os.Remove(l.path("-J")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(filepath.Dir(l.path(""))); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	e.Journal = nil
	return e, nil
}

// takeJournal reports whether a -J file may exist and forgets it: the
// caller removes it.
func (l *Lock) takeJournal() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	had := l.jExists
	l.jExists = false
	return had
}

// Remove deletes the message: -H first (so it is no longer a message;
// unless Dequeue removed it), then -J (if Read saw one or AddDelivered
// wrote one), -D and Exim's msglog file (if the spool has a msglog
// directory), and releases the lock.
//
// Nothing is synced: the caller removes a message only when every
// recipient is done and recorded as done (in the -H file, in a synced
// journal, or by a durable Dequeue), so a removal that a crash undoes
// brings back a message whose next attempt delivers nothing and removes
// it again. Files left without their -H file that way are deleted by
// Tidy.
func (l *Lock) Remove() error {
	var errs []error
	l.mu.Lock()
	paths := make([]string, 0, 4)
	if !l.hGone {
		paths = append(paths, l.path("-H"))
	}
	if l.jExists || l.j != nil {
		paths = append(paths, l.path("-J"))
	}
	l.mu.Unlock()
	paths = append(paths, l.path("-D"))
	if l.s.hasMsglog() {
		paths = append(paths, filepath.Join(l.s.dir, "msglog", l.rel[len("input"):], l.id))
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, l.Unlock())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: remove %s: %w", l.id, err)
	}
	return nil
}

// Unlock releases the lock. It is safe to call more than once.
func (l *Lock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.j != nil {
		err = l.j.Close()
		l.j = nil
	}
	if l.f != nil {
		err = errors.Join(err, l.f.Close())
		l.f = nil
	}
	return err
}

// hasMsglog reports whether the spool has Exim's msglog directory,
// looking again at most once a second.
func (s *Spool) hasMsglog() bool {
	s.msglogMu.Lock()
	defer s.msglogMu.Unlock()
	now := time.Now()
	if now.Sub(s.msglogCheck) < time.Second && !s.msglogCheck.IsZero() {
		return s.msglogSeen
	}
	_, err := os.Lstat(filepath.Join(s.dir, "msglog"))
	s.msglogSeen = err == nil || !errors.Is(err, fs.ErrNotExist)
	s.msglogCheck = now
	return s.msglogSeen
}
