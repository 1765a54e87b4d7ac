package acl

import (
	"log/slog"

	"github.com/exigo-mta/exigo"
)

// Tx is what an ACL sees: the session, the message being built, and at
// RCPT the recipient being considered. The SMTP server makes one per stage
// run; conditions read it and modifiers change it.
type Tx struct {
	Stage   Stage
	Session *exigo.Session
	// Message is the message in progress: its envelope from MAIL FROM on,
	// its header and body at the data stage. Nil before MAIL.
	Message *exigo.Message
	// Recipient is the recipient under test at the rcpt stage.
	Recipient *exigo.Recipient
	// Edits collects header changes made by add_header and remove_header
	// for the message in progress; the server applies them when the
	// message is stored. Nil where no message is in progress.
	Edits *HeaderEdits
	// Logger receives logwrite and log_message output; nil discards.
	Logger *slog.Logger
	// Controls are the named controls set by the control modifier for
	// the rest of the connection or message (e.g. "bmi_run").
	Controls map[string]string

	message string // set by the message modifier, used by the next decision
}

func (tx *Tx) logger() *slog.Logger {
	if tx.Logger == nil {
		return discardLogger
	}
	return tx.Logger
}

// HeaderPosition says where an added header field goes.
type HeaderPosition int

const (
	AtEnd         HeaderPosition = iota // after the existing fields (default)
	AtStart                             // before all fields (:at_start:)
	AfterReceived                       // after the first Received: (:after_received:)
	AtStartRFC                          // after leading Received:/Resent- fields (:at_start_rfc:)
)

// AddedHeader is a header field to add: the whole field, "Name: value",
// possibly folded, without the final line end.
type AddedHeader struct {
	Field    string
	Position HeaderPosition
}

// HeaderEdits are the pending header changes of a message.
type HeaderEdits struct {
	Add    []AddedHeader
	Remove []string // field names, case-insensitive
}

// Var returns an ACL variable (acl_c* from the session, acl_m* from the
// message).
func (tx *Tx) Var(name string) (string, bool) {
	var m map[string]string
	switch {
	case len(name) > 5 && name[:5] == "acl_c":
		if tx.Session != nil {
			m = tx.Session.Vars
		}
	case len(name) > 5 && name[:5] == "acl_m":
		if tx.Message != nil {
			m = tx.Message.Vars
		}
	}
	v, ok := m[name]
	return v, ok
}
