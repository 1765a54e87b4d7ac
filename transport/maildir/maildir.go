// Package maildir delivers messages into Maildir directories, as
// described at https://cr.yp.to/proto/maildir.html and as Exim's
// appendfile transport does with maildir_format.
//
// Each recipient gets its own file, since each copy carries its own
// Delivered-To: field. A file is written under tmp/ with a unique name
// (time.MusecPpid_Qseq.host, the modern form of the specification's
// time.pid.host), synced to disk, linked into new/ (renamed when the file
// system cannot link), the directory synced, and the tmp/ name removed: a
// reader never sees a partial message, and a crash leaves at most a stray
// file in tmp/. tmp, new and cur are created when missing.
//
// In front of the message's own header the file gets
// "Return-Path: <sender>" and "Delivered-To: recipient" (Exim's
// return_path_add and a Delivered-To as Postfix and Dovecot write it).
// Line ends are LF, as in Exim's maildir files.
//
// Differences from Exim: no maildir++ quota handling (maildir_use_size_file)
// and no ",S=size" tag; the unique name carries a per-process sequence
// number (Q) rather than Exim's H<usec> only, so two deliveries in the
// same microsecond from one process cannot collide.
package maildir

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/hostname"
	"github.com/exigo-mta/exigo/internal/msgio"
	"github.com/exigo-mta/exigo/transport"
)

var errBadAddress = fmt.Errorf("address with control characters: %w", transport.ErrPermanent)

// Transport delivers into maildirs. It is safe for concurrent use.
type Transport struct {
	// Path returns the maildir (the directory that holds tmp, new and
	// cur) for a recipient, e.g. DataDir/mail/<local part>/Maildir.
	// Required. An error wrapping transport.ErrPermanent fails the
	// recipient permanently; other errors are temporary.
	Path func(r *exigo.Recipient) (string, error)
	// Hostname goes into the unique file names; default os.Hostname().
	Hostname string
	// DirMode is the mode of directories created (default 0700) and
	// FileMode that of message files (default 0600).
	DirMode  fs.FileMode
	FileMode fs.FileMode
	// Logger receives delivery events; nil discards them.
	Logger *slog.Logger

	seq  atomic.Uint64
	host hostname.Lazy
}

// Deliver writes a copy of the message for each recipient. It returns an
// error only when Path is not set.
func (t *Transport) Deliver(ctx context.Context, d *transport.Delivery, st transport.Status) error {
	if t.Path == nil {
		return errors.New("maildir: Path not set")
	}
	for _, r := range d.Recipients {
		if err := ctx.Err(); err != nil {
			st.Set(r, transport.Result{Err: err})
			continue
		}
		if !msgio.SafeInHeader(r.Address) || !msgio.SafeInHeader(d.ReturnPath) {
			st.Set(r, transport.Result{Err: fmt.Errorf("maildir: %q: %w", r.Address, errBadAddress)})
			continue
		}
		dir, err := t.Path(r)
		if err != nil {
			st.Set(r, transport.Result{Err: fmt.Errorf("maildir: %s: %w", r.Address, err)})
			continue
		}
		name, err := t.deliverOne(dir, d, r)
		if err != nil {
			st.Set(r, transport.Result{Err: err})
			continue
		}
		if t.Logger != nil {
			t.Logger.Debug("maildir delivery", "rcpt", r.Address, "file", name)
		}
		st.Set(r, transport.Result{Reply: "saved as " + name})
	}
	return nil
}

// uniqueName returns a new file name: time.M<usec>P<pid>Q<seq>.host, with
// '/' and ':' in the host name escaped as the specification asks.
func (t *Transport) uniqueName() string {
	now := time.Now()
	host := strings.NewReplacer("/", `\057`, ":", `\072`).Replace(t.host.Get(t.Hostname))
	return strconv.FormatInt(now.Unix(), 10) + ".M" + strconv.Itoa(now.Nanosecond()/1000) +
		"P" + strconv.Itoa(os.Getpid()) + "Q" + strconv.FormatUint(t.seq.Add(1), 10) + "." + host
}

// deliverOne writes one copy and returns its path relative to dir
// ("new/NAME").
func (t *Transport) deliverOne(dir string, d *transport.Delivery, r *exigo.Recipient) (string, error) {
	dmode := t.DirMode
	if dmode == 0 {
		dmode = 0o700
	}
	fmode := t.FileMode
	if fmode == 0 {
		fmode = 0o600
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), dmode); err != nil {
			return "", fmt.Errorf("maildir: %w", err)
		}
	}
	name := t.uniqueName()
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fmode)
	if err != nil {
		return "", fmt.Errorf("maildir: %w", err)
	}
	err = writeMessage(f, d, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("maildir: writing %s: %w", tmp, err)
	}
	dst := filepath.Join(dir, "new", name)
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			os.Remove(tmp)
			return "", fmt.Errorf("maildir: %w", err)
		}
		// File systems without hard links: rename (name is unique).
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("maildir: %w", err)
		}
	} else {
		os.Remove(tmp)
	}
	if err := syncDir(filepath.Join(dir, "new")); err != nil {
		// The message is in place but not known to be durable: remove it
		// so that the retry does not deliver it twice.
		os.Remove(dst)
		return "", fmt.Errorf("maildir: %w", err)
	}
	return "new/" + name, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeMessage writes the copy for r.
func writeMessage(f io.Writer, d *transport.Delivery, r *exigo.Recipient) error {
	bw := bufio.NewWriterSize(f, 32<<10)
	if err := msgio.WriteLocal(bw, d.Message, d.ReturnPath, r.Address, false); err != nil {
		return err
	}
	return bw.Flush()
}
