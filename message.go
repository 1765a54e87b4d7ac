package exigo

import (
	"io"
	"time"

	"github.com/emersion/go-message/textproto"
)

// Opener opens a message body for reading. Each call returns a new reader
// positioned at the start of the body; bodies are never held whole in
// memory.
type Opener interface {
	Open() (io.ReadCloser, error)
}

// OpenerFunc adapts a function to an [Opener].
type OpenerFunc func() (io.ReadCloser, error)

// Open calls f.
func (f OpenerFunc) Open() (io.ReadCloser, error) { return f() }

// BodyStats are the facts about a received body that Exim records in its
// spool and exposes as variables.
type BodyStats struct {
	Lines         int   // $body_linecount
	Zeroes        int   // $body_zerocount: NUL bytes in the body
	MaxLineLength int   // $max_received_linelength, over header and body, without line ends
	Size          int64 // $message_size: header and body bytes with LF line ends
}

// Message is a message with its envelope, as received and as stored.
type Message struct {
	// ID is the message ID given by the spool (Exim format).
	ID string
	// Envelope is what MAIL FROM and RCPT TO said.
	Envelope Envelope
	// Header is the message header, in order, raw bytes kept.
	Header textproto.Header
	// Body opens the body (everything after the blank line).
	Body Opener
	// Session describes the SMTP session the message arrived on; nil for
	// a message that did not arrive by SMTP.
	Session *Session
	// Received is when reception completed.
	Received time.Time
	// Stats are the body statistics gathered while receiving.
	Stats BodyStats
	// Vars are the message's ACL variables (Exim's acl_m*), keyed by full
	// name, e.g. "acl_m_score" or "acl_m0".
	Vars map[string]string
	// Attrs holds typed per-message state.
	Attrs Attrs
}
