package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
)

// Draft is a message being received: its -D file is open under a
// temporary name until Commit. A Draft is used by one goroutine.
type Draft struct {
	s     *Spool
	id    string
	rel   string // input directory relative to the spool
	start time.Time

	f   *os.File // the -D file, temporary name
	w   *bufio.Writer
	err error // sticky write error

	mu    sync.Mutex
	state draftState
}

type draftState int

const (
	draftOpen draftState = iota
	draftCommitted
	draftAborted
)

// Temporary names: Exim takes only "<id>-H" for a message, so these are
// never mistaken for one. Tidy removes stale ones.
const (
	tmpD = "-D.tmp"
	tmpH = "-H.tmp"
)

// ErrClosed is returned by a Draft that was committed or aborted.
var ErrClosed = errors.New("spool: draft already committed or aborted")

// Create allocates a new message ID and opens its -D file (under a
// temporary name), with the first line "<id>-D" written.
func (s *Spool) Create(ctx context.Context) (*Draft, error) {
	for tries := 0; ; tries++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, start := s.ids.next()
		rel := s.subdir(id, s.split)
		if err := s.ensureDir(rel); err != nil {
			return nil, err
		}
		dir := filepath.Join(s.dir, rel)
		// An ID in use by a message already in the spool (written by
		// another process or Spool) is skipped.
		if _, err := os.Lstat(filepath.Join(dir, id+"-D")); err == nil {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, id+tmpD), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) && tries < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("spool: create: %w", err)
		}
		d := &Draft{s: s, id: id, rel: rel, start: start, f: f, w: bufio.NewWriterSize(f, 32<<10)}
		if _, err := d.w.WriteString(id + "-D\n"); err != nil {
			d.Abort()
			return nil, fmt.Errorf("spool: create: %w", err)
		}
		s.log.Debug("spool: draft created", "id", id)
		return d, nil
	}
}

// ID returns the message ID.
func (d *Draft) ID() string { return d.id }

// Write appends body bytes, exactly as stored in the -D file: LF line
// ends, no dot-stuffing, everything after the header section's blank
// line.
func (d *Draft) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.closed() {
		return 0, ErrClosed
	}
	n, err := d.w.Write(p)
	if err != nil {
		d.err = fmt.Errorf("spool: writing %s-D: %w", d.id, err)
	}
	return n, d.err
}

func (d *Draft) closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state != draftOpen
}

func (d *Draft) flush() error {
	if d.err != nil {
		return d.err
	}
	if err := d.w.Flush(); err != nil {
		d.err = fmt.Errorf("spool: writing %s-D: %w", d.id, err)
	}
	return d.err
}

// Body returns an opener for the body written so far (for content
// checks before the message is committed). Each Open flushes the
// buffered writes first; the reader sees the body as of that moment.
func (d *Draft) Body() exigo.Opener {
	return exigo.OpenerFunc(func() (io.ReadCloser, error) {
		d.mu.Lock()
		state := d.state
		d.mu.Unlock()
		name := d.id + tmpD
		switch state {
		case draftAborted:
			return nil, ErrClosed
		case draftCommitted:
			name = d.id + "-D"
		default:
			if err := d.flush(); err != nil {
				return nil, err
			}
		}
		f, err := os.Open(filepath.Join(d.s.dir, d.rel, name))
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		return &sectionFile{SectionReader: io.NewSectionReader(f, int64(len(d.id)+3), 1<<62), f: f}, nil
	})
}

// Commit writes the -H file for m (m.ID must be d.ID(); m.Header holds
// the whole header section, Received field included) and returns once
// the -D and -H files are durably on disk under their final names. It
// shares the disk flushes with concurrent Commits (group commit).
//
// If ctx ends before the flush that covers this message has started,
// Commit removes the files and returns ctx.Err(); once it has started,
// Commit waits for it, so a nil error always means a durable message and
// an error always means no message.
func (d *Draft) Commit(ctx context.Context, m *exigo.Message) error {
	if d.closed() {
		return ErrClosed
	}
	if m.ID != d.id {
		d.Abort()
		return fmt.Errorf("spool: commit: message ID %q is not the draft's %q", m.ID, d.id)
	}
	if err := d.flush(); err != nil {
		d.Abort()
		return err
	}
	h, err := buildHeaderFile(m, d.start, d.s.orig)
	if err != nil {
		d.Abort()
		return err
	}
	b, err := h.AppendBinary(nil)
	if err != nil {
		d.Abort()
		return err
	}
	dir := filepath.Join(d.s.dir, d.rel)
	hf, err := os.OpenFile(filepath.Join(dir, d.id+tmpH), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		d.Abort()
		return fmt.Errorf("spool: commit: %w", err)
	}
	if _, err := hf.Write(b); err != nil {
		hf.Close()
		d.Abort()
		return fmt.Errorf("spool: commit: writing %s-H: %w", d.id, err)
	}
	j := &commitJob{d: d, hf: hf, dir: dir, done: make(chan commitResult, 1)}
	err = d.s.gc.commit(ctx, j)
	hf.Close()
	if err != nil {
		d.Abort()
		return err
	}
	d.mu.Lock()
	d.state = draftCommitted
	d.mu.Unlock()
	d.f.Close()
	d.s.log.Debug("spool: message committed", "id", d.id)
	return nil
}

// Abort removes the draft's files. It does nothing after a successful
// Commit (so it can be deferred) or a previous Abort.
func (d *Draft) Abort() error {
	d.mu.Lock()
	if d.state != draftOpen {
		d.mu.Unlock()
		return nil
	}
	d.state = draftAborted
	d.mu.Unlock()
	dir := filepath.Join(d.s.dir, d.rel)
	err := d.f.Close()
	for _, n := range []string{d.id + tmpH, d.id + tmpD} {
		if e := os.Remove(filepath.Join(dir, n)); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = errors.Join(err, e)
		}
	}
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("spool: abort %s: %w", d.id, err)
	}
	return nil
}
