// Package file appends messages to mailboxes in mbox format, as Exim's
// appendfile transport does for a single file (the Exim specification,
// chapter "The appendfile transport").
//
// Each message is written as
//
//	From sender Sat Nov 21 14:25:06 2026
//	Return-Path: <sender>
//	Delivered-To: recipient
//	header fields
//
//	body, lines starting with "From " written as ">From "
//	(blank line)
//
// with LF line ends. The separator line uses "MAILER-DAEMON" for the null
// sender and the delivery time in asctime form, like Exim's default
// message_prefix; the quoting is Exim's default check_string "From " and
// escape_string ">From " (mboxo), and the blank line is its default
// message_suffix.
//
// Locking: the mailbox is locked with fcntl (POSIX record locks, what
// Exim's use_fcntl_lock does) and, with DotLock, also with a
// "mailbox.lock" file created exclusively (use_lockfile; a lock file older
// than StaleLock is taken over). Locks are retried for LockTimeout.
// After the write the file is synced; when any step fails, the mailbox is
// truncated back to its size before the delivery, so no half message is
// left behind. A mailbox that is a symbolic link or not a regular file is
// refused (Exim's default allow_symlink = false).
//
// Differences from Exim: no flock() or MBX locking, no quota, and the
// mailbox is created (mode Mode) when missing, as Exim does with
// create_file = anywhere.
package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/msgio"
	"github.com/exigo-mta/exigo/transport"
)

// Transport appends to mbox files. It is safe for concurrent use.
type Transport struct {
	// Path returns the mailbox file for a recipient. Required. An error
	// wrapping transport.ErrPermanent fails the recipient permanently.
	Path func(r *exigo.Recipient) (string, error)
	// Mode is the mode of a mailbox created by a delivery; default 0600.
	Mode fs.FileMode
	// DotLock also takes a "<mailbox>.lock" lock file.
	DotLock bool
	// LockTimeout is how long to wait for the locks; default 30s (Exim's
	// lock_retries × lock_interval).
	LockTimeout time.Duration
	// StaleLock is the age after which a lock file is taken over;
	// default 30m (Exim's lockfile_timeout).
	StaleLock time.Duration
	// Now gives the time for the "From " line; default time.Now.
	Now func() time.Time
	// Logger receives delivery events; nil discards them.
	Logger *slog.Logger

	// fcntl locks belong to the process, not to the goroutine, and any
	// close of the file drops them: deliveries to one mailbox from this
	// process are serialized here before the file is even opened.
	mu    sync.Mutex
	paths map[string]*pathLock
}

type pathLock struct {
	ch   chan struct{} // holds a token while the lock is taken
	refs int
}

// lockPath takes the in-process lock for path, waiting until deadline.
func (t *Transport) lockPath(ctx context.Context, path string, deadline time.Time) (func(), error) {
	t.mu.Lock()
	if t.paths == nil {
		t.paths = make(map[string]*pathLock)
	}
	pl := t.paths[path]
	if pl == nil {
		pl = &pathLock{ch: make(chan struct{}, 1)}
		t.paths[path] = pl
	}
	pl.refs++
	t.mu.Unlock()
	release := func() {
		t.mu.Lock()
		if pl.refs--; pl.refs == 0 {
			delete(t.paths, path)
		}
		t.mu.Unlock()
	}
	tm := time.NewTimer(time.Until(deadline))
	defer tm.Stop()
	select {
	case pl.ch <- struct{}{}:
		return func() { <-pl.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	case <-tm.C:
		release()
		return nil, ErrLockTimeout
	}
}

var errBadAddress = fmt.Errorf("address with control characters: %w", transport.ErrPermanent)

// ErrLockTimeout is wrapped by the error of a delivery that could not get
// the mailbox lock in time.
var ErrLockTimeout = errors.New("timed out waiting for the mailbox lock")

// Deliver appends a copy of the message to each recipient's mailbox. It
// returns an error only when Path is not set.
func (t *Transport) Deliver(ctx context.Context, d *transport.Delivery, st transport.Status) error {
	if t.Path == nil {
		return errors.New("file: Path not set")
	}
	for _, r := range d.Recipients {
		if !msgio.SafeInHeader(r.Address) || !msgio.SafeInHeader(d.ReturnPath) {
			st.Set(r, transport.Result{Err: fmt.Errorf("file: %q: %w", r.Address, errBadAddress)})
			continue
		}
		path, err := t.Path(r)
		if err != nil {
			st.Set(r, transport.Result{Err: fmt.Errorf("file: %s: %w", r.Address, err)})
			continue
		}
		if err := t.append(ctx, path, d, r); err != nil {
			st.Set(r, transport.Result{Err: fmt.Errorf("file: %s: %w", path, err)})
			continue
		}
		if t.Logger != nil {
			t.Logger.Debug("mbox delivery", "rcpt", r.Address, "file", path)
		}
		st.Set(r, transport.Result{Reply: "appended to " + path})
	}
	return nil
}

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// FromLine returns the mbox separator line for a sender and time, without
// the line end: "From sender Sat Nov 21 14:25:06 2026".
func FromLine(sender string, tm time.Time) string {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	return "From " + sender + " " + tm.Format("Mon Jan _2 15:04:05 2006")
}

// append locks the mailbox, appends the message and unlocks.
func (t *Transport) append(ctx context.Context, path string, d *transport.Delivery, r *exigo.Recipient) (err error) {
	timeout := t.LockTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	unlockPath, err := t.lockPath(ctx, filepath.Clean(path), deadline)
	if err != nil {
		return err
	}
	defer unlockPath()
	if t.DotLock {
		unlock, err := dotLock(ctx, path, deadline, t.staleLock())
		if err != nil {
			return err
		}
		defer unlock()
	}
	f, err := openMailbox(path, t.mode())
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockFile(ctx, f, deadline); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	defer func() {
		if err != nil {
			// Take the partial message back out.
			if terr := f.Truncate(size); terr == nil {
				f.Sync()
			}
		}
	}()
	bw := bufio.NewWriterSize(f, 32<<10)
	bw.WriteString(FromLine(d.ReturnPath, t.now()))
	bw.WriteByte('\n')
	if err := msgio.WriteLocal(bw, d.Message, d.ReturnPath, r.Address, true); err != nil {
		return err
	}
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

func (t *Transport) mode() fs.FileMode {
	if t.Mode == 0 {
		return 0o600
	}
	return t.Mode
}

func (t *Transport) staleLock() time.Duration {
	if t.StaleLock <= 0 {
		return 30 * time.Minute
	}
	return t.StaleLock
}

// openMailbox opens (or creates) the mailbox for appending, refusing
// symbolic links and anything but regular files.
func openMailbox(path string, mode fs.FileMode) (*os.File, error) {
	before, err := os.Lstat(path)
	switch {
	case err == nil && !before.Mode().IsRegular():
		return nil, fmt.Errorf("mailbox is not a regular file (%v)", before.Mode().Type())
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|noFollow, mode)
	if err != nil {
		return nil, err
	}
	after, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !after.Mode().IsRegular() || (before != nil && !os.SameFile(before, after)) {
		f.Close()
		return nil, errors.New("mailbox changed while being opened")
	}
	return f, nil
}

// dotLock creates path.lock exclusively, waiting until deadline and
// taking over a lock file older than stale.
func dotLock(ctx context.Context, path string, deadline time.Time, stale time.Duration) (func(), error) {
	lock := path + ".lock"
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(lock) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock file: %w", err)
		}
		if fi, err := os.Stat(lock); err == nil && time.Since(fi.ModTime()) > stale {
			os.Remove(lock)
			continue
		}
		if err := sleep(ctx, wait, deadline); err != nil {
			return nil, err
		}
	}
}

// sleep waits d, or fails when the deadline would pass or ctx ends.
func sleep(ctx context.Context, d time.Duration, deadline time.Time) error {
	if time.Now().Add(d).After(deadline) {
		return ErrLockTimeout
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
