package mailtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/smtpd"
	"github.com/exigo-mta/exigo/spool"
)

// memStore is an smtpd.Store that keeps messages in memory. IDs are in
// Exim's long format (spool.IDLong), with a per-store sequence number in
// place of the process ID, so they are unique within the store.
type memStore struct {
	seq atomic.Uint64
}

func (s *memStore) Create(ctx context.Context) (smtpd.Draft, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &memDraft{id: spool.FormatID(spool.IDLong, time.Now(), s.seq.Add(1))}, nil
}

// errDraftClosed is returned by a memDraft used after Commit or Abort.
var errDraftClosed = errors.New("mailtest: draft already committed or aborted")

type memDraft struct {
	id string

	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (d *memDraft) ID() string { return d.id }

func (d *memDraft) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, errDraftClosed
	}
	return d.buf.Write(p)
}

// Body opens the body as written so far.
func (d *memDraft) Body() exigo.Opener {
	return exigo.OpenerFunc(func() (io.ReadCloser, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return bytesOpener(bytes.Clone(d.buf.Bytes())).Open()
	})
}

func (d *memDraft) Commit(ctx context.Context, m *exigo.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errDraftClosed
	}
	if m.ID != d.id {
		return fmt.Errorf("mailtest: commit: message ID %q is not the draft's %q", m.ID, d.id)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.closed = true
	return nil
}

func (d *memDraft) Abort() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		d.buf = bytes.Buffer{}
	}
	return nil
}
