package smtpd

import (
	"context"
	"io"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/spool"
)

// Store creates drafts: messages being received. The spool package
// provides one (see SpoolStore); tests use an in-memory one.
type Store interface {
	// Create starts a new message and assigns its ID.
	Create(ctx context.Context) (Draft, error)
}

// Draft is a message being received. The server writes the body to it,
// then either commits or aborts it, exactly once.
type Draft interface {
	// ID returns the message ID (Exim format), known from Create on.
	ID() string
	// Write receives the body exactly as it is stored in the -D file:
	// everything after the header's blank line, LF line ends, dot-stuffing
	// removed.
	io.Writer
	// Body opens the body written so far (for the data ACL).
	Body() exigo.Opener
	// Commit stores the message durably (header and envelope from m). The
	// server answers 250 only after Commit returned nil.
	Commit(ctx context.Context, m *exigo.Message) error
	// Abort discards the draft.
	Abort() error
}

// StoreFunc adapts a function to a [Store].
type StoreFunc func(ctx context.Context) (Draft, error)

// Create calls f.
func (f StoreFunc) Create(ctx context.Context) (Draft, error) { return f(ctx) }

// SpoolStore stores messages in an Exim-format spool: the body goes to
// the -D file as it arrives, and Commit writes the -H file and makes both
// durable before the server answers 250.
func SpoolStore(sp *spool.Spool) Store { return spoolStore{sp} }

type spoolStore struct{ sp *spool.Spool }

func (s spoolStore) Create(ctx context.Context) (Draft, error) {
	d, err := s.sp.Create(ctx)
	if err != nil {
		return nil, err
	}
	return d, nil
}
