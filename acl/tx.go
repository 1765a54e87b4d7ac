package acl

import (
	"fmt"
	"log/slog"

	"github.com/exigo-mta/exigo"
)

// Tx is what an ACL sees: the session, the message being built, and at
// RCPT the recipient being considered. The SMTP server makes one per stage
// run (one per SMTP command); conditions read it and modifiers change it.
// A Tx belongs to one goroutine at a time.
type Tx struct {
	Stage   Stage
	Session *exigo.Session
	// Message is the message in progress: its envelope from MAIL FROM on,
	// its header and body at the data stage. Nil before MAIL.
	Message *exigo.Message
	// Recipient is the recipient under test at the rcpt stage.
	Recipient *exigo.Recipient
	// Edits collects header changes made by add_header and remove_header
	// for the message in progress; the server applies them (see
	// [HeaderEdits.Apply]) when the message is stored. When it is nil, the
	// first add_header or remove_header creates it, so the server should
	// read it back after [List.Run].
	Edits *HeaderEdits
	// Logger receives logwrite and log_message output; nil discards.
	Logger *slog.Logger
	// Controls are the named controls set by the control modifier for
	// the rest of the connection or message (e.g. "bmi_run"), name to
	// value ("" for a control without options). Created when nil.
	Controls map[string]string

	// rule is the state of the rule being evaluated; it is reset at the
	// start of every rule (Exim keeps message, log_message and
	// $acl_verify_message per statement).
	rule ruleState
	// vars holds the variables set by conditions during this run
	// ($sender_rate, $domain_data, variables of other packages, ...).
	vars map[string]string
	// rates caches ratelimit results for the rest of this command.
	rates map[string]float64
	// depth is the nesting depth of Call.
	depth int
}

// ruleState is what one rule accumulates while its conditions run.
type ruleState struct {
	message       string // set by the message modifier
	messageSet    bool   // the message modifier was reached
	logMessage    string // set by the log_message modifier
	logMessageSet bool
	// condReply is the reply a condition supplied (a failed recipient
	// verification, a nested ACL's rejection); used when the rule gives
	// no message of its own.
	condReply *exigo.SMTPError
	// condLog is what a condition supplied for the log.
	condLog string
	// verifyMessage is $acl_verify_message.
	verifyMessage string
	// callDrop is set when a nested ACL returned drop.
	callDrop bool
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
	AtEnd         HeaderPosition = iota // after the existing fields (default, :at_end:)
	AtStart                             // before all fields (:at_start:)
	AfterReceived                       // after the first block of Received: fields (:after_received:)
	AtStartRFC                          // before the first field that is not Received: or Resent-* (:at_start_rfc:)
)

var positionNames = [...]string{":at_end:", ":at_start:", ":after_received:", ":at_start_rfc:"}

// String returns the position's Exim name, e.g. ":at_start:".
func (p HeaderPosition) String() string {
	if p >= 0 && int(p) < len(positionNames) {
		return positionNames[p]
	}
	return fmt.Sprintf("position(%d)", int(p))
}

// AddedHeader is a header field to add: the whole field, "Name: value",
// possibly folded with "\n" followed by a space or tab, without the final
// line end.
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

// SetVar sets a variable. An ACL variable name (acl_c0-acl_c9,
// acl_c_name, acl_m0-acl_m9, acl_m_name; see [Set]) stores the value in
// the session's or the message's Vars, which are created when nil; an
// acl_m variable needs a message, so it cannot be set at the connect or
// helo stage. Any other name of letters, digits and underscores sets a
// variable that lasts for the rest of this ACL run and is seen by
// [Tx.Expand]; packages use this to publish their results
// ($dcc_result, $arc_state, ...). A built-in variable of the same name
// (see [Tx.Expand]) takes precedence in expansions.
func (tx *Tx) SetVar(name, value string) error {
	switch aclVarKind(name) {
	case 'c':
		if tx.Session == nil {
			return fmt.Errorf("acl: set %s: %w", name, ErrNoSession)
		}
		if tx.Session.Vars == nil {
			tx.Session.Vars = make(map[string]string)
		}
		tx.Session.Vars[name] = value
		return nil
	case 'm':
		if tx.Message == nil || tx.Stage == StageConnect || tx.Stage == StageHelo {
			return fmt.Errorf("acl: set %s at the %s stage: %w", name, tx.Stage, ErrNoMessage)
		}
		if tx.Message.Vars == nil {
			tx.Message.Vars = make(map[string]string)
		}
		tx.Message.Vars[name] = value
		return nil
	}
	if len(name) >= 4 && name[:4] == "acl_" {
		return fmt.Errorf("acl: invalid ACL variable name %q (want acl_c or acl_m, then a digit or _, then letters, digits or _)", name)
	}
	if !isVarName(name) {
		return fmt.Errorf("acl: invalid variable name %q", name)
	}
	tx.setVar(name, value)
	return nil
}

func (tx *Tx) setVar(name, value string) {
	if tx.vars == nil {
		tx.vars = make(map[string]string)
	}
	tx.vars[name] = value
}

// aclVarKind returns 'c' or 'm' for a valid ACL variable name, 0 for
// anything else. Exim's rule: acl_c or acl_m, then a digit or an
// underscore, then any letters, digits and underscores.
func aclVarKind(name string) byte {
	if len(name) < 6 || name[:4] != "acl_" || (name[4] != 'c' && name[4] != 'm') {
		return 0
	}
	if c := name[5]; c != '_' && (c < '0' || c > '9') {
		return 0
	}
	for i := 6; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return 0
		}
	}
	return name[4]
}

func isNameByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}
