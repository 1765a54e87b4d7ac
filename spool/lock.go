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
// FoldJournal, Remove) belong here because only the lock holder may
// call them.
type Lock struct {
	s   *Spool
	id  string
	rel string
	f   *os.File // the -D file, holding the lock

	mu sync.Mutex
	j  *os.File // the -J file, opened by AddDelivered
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

// Read reads the locked message.
func (l *Lock) Read() (*Entry, error) { return l.s.readIn(l.rel, l.id) }

// AddDelivered appends addr to the -J journal and syncs it, so that a
// crash before the next Rewrite does not deliver addr again. Exim reads
// the same journal (one address per line) before its next attempt.
func (l *Lock) AddDelivered(addr string) error {
	if addr == "" || len(addr) > 64<<10 || slices.Contains([]byte(addr), '\n') {
		return fmt.Errorf("spool: journal %s: bad address %q", l.id, addr)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.j == nil {
		f, err := os.OpenFile(l.path("-J"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("spool: journal %s: %w", l.id, err)
		}
		// A new -J file needs its directory entry on disk too.
		if err := syncDir(filepath.Dir(l.path(""))); err != nil {
			f.Close()
			return fmt.Errorf("spool: journal %s: %w", l.id, err)
		}
		l.j = f
	}
	if _, err := l.j.Write([]byte(addr + "\n")); err != nil {
		return fmt.Errorf("spool: journal %s: %w", l.id, err)
	}
	if err := unix.Fdatasync(int(l.j.Fd())); err != nil {
		return fmt.Errorf("spool: journal %s: %w", l.id, err)
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
		if err := os.Remove(l.path("-J")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("spool: %w", err)
		}
		return e, nil
	}
	for _, a := range e.Journal {
		e.AddNonRecipient(a)
	}
	if err := l.Rewrite(e.HeaderFile); err != nil {
		return nil, err
	}
	if err := os.Remove(l.path("-J")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(filepath.Dir(l.path(""))); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	e.Journal = nil
	return e, nil
}

// Remove deletes the message: -H first (so it is no longer a message),
// then -J, -D and Exim's msglog file, and releases the lock.
func (l *Lock) Remove() error {
	var errs []error
	for _, p := range []string{l.path("-H"), l.path("-J"), l.path("-D"),
		filepath.Join(l.s.dir, "msglog", l.rel[len("input"):], l.id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := syncDir(filepath.Dir(l.path(""))); err != nil {
		errs = append(errs, err)
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
