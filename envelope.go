package exigo

import "strings"

// DSNRet is the RET parameter of MAIL FROM (RFC 3461): how much of the
// message a failure notification returns. The values are Exim's spool values
// (-dsn_ret 1 or 2).
type DSNRet int

const (
	RetUnset DSNRet = 0 // no RET given: the server decides
	RetFull  DSNRet = 1 // RET=FULL
	RetHdrs  DSNRet = 2 // RET=HDRS
)

// String returns "FULL", "HDRS" or "".
func (r DSNRet) String() string {
	switch r {
	case RetFull:
		return "FULL"
	case RetHdrs:
		return "HDRS"
	}
	return ""
}

// Notify holds the NOTIFY flags of RCPT TO (RFC 3461) with Exim's bit
// values, so they can be written to an Exim spool file unchanged.
type Notify uint8

const (
	// DSNLastHop is set on recipients that arrived from a host that
	// itself had no DSN support: we are the last hop that can report.
	DSNLastHop    Notify = 0x01
	NotifyNever   Notify = 0x02
	NotifySuccess Notify = 0x04
	NotifyFailure Notify = 0x08
	NotifyDelay   Notify = 0x10

	// NotifyMask covers the NOTIFY keywords, without DSNLastHop.
	NotifyMask = NotifyNever | NotifySuccess | NotifyFailure | NotifyDelay
)

// String returns the NOTIFY parameter value, e.g. "SUCCESS,FAILURE", or ""
// when no NOTIFY keyword is set.
func (n Notify) String() string {
	if n&NotifyNever != 0 {
		return "NEVER"
	}
	var parts []string
	if n&NotifySuccess != 0 {
		parts = append(parts, "SUCCESS")
	}
	if n&NotifyFailure != 0 {
		parts = append(parts, "FAILURE")
	}
	if n&NotifyDelay != 0 {
		parts = append(parts, "DELAY")
	}
	return strings.Join(parts, ",")
}

// BodyType is the BODY parameter of MAIL FROM.
type BodyType string

const (
	Body7Bit       BodyType = "7BIT"
	Body8BitMIME   BodyType = "8BITMIME"
	BodyBinaryMIME BodyType = "BINARYMIME"
)

// Envelope is the SMTP envelope of a message: what MAIL FROM and RCPT TO
// said, with their extension parameters.
type Envelope struct {
	// Sender is the reverse path without angle brackets; "" is the null
	// sender of bounces.
	Sender string
	// Recipients in the order they were accepted.
	Recipients []*Recipient

	EnvID      string   // DSN ENVID, xtext-decoded
	Ret        DSNRet   // DSN RET
	RequireTLS bool     // REQUIRETLS (RFC 8689)
	SMTPUTF8   bool     // SMTPUTF8 (RFC 6531)
	Body       BodyType // BODY=, "" when not given
	Size       int64    // SIZE= as declared by the client, 0 when not given
}

// AddRecipient appends a new recipient and returns it.
func (e *Envelope) AddRecipient(address string) *Recipient {
	r := &Recipient{Address: address}
	e.Recipients = append(e.Recipients, r)
	return r
}

// Recipient is one envelope recipient and the per-recipient state that
// travels with it through routing and delivery.
type Recipient struct {
	// Address is the recipient address without angle brackets.
	Address string
	// ORCPT is the DSN original recipient as "addr-type;address", with the
	// address xtext-decoded (e.g. "rfc822;user@example.com"); "" if none.
	ORCPT string
	// Notify holds the DSN NOTIFY flags (and DSNLastHop).
	Notify Notify
	// ErrorsTo overrides where failures for this recipient are reported
	// (Exim's errors_to); "" means the envelope sender.
	ErrorsTo string
	// Parent is the address this one was generated from by a redirection,
	// nil for an original recipient.
	Parent *Recipient
	// Attrs holds typed per-recipient state (verdicts, routing data).
	Attrs Attrs
}

// Child returns a new recipient generated from r by redirection. It links
// back to r and starts with a copy of r's attributes and DSN data, so
// per-recipient state such as a spam verdict follows the address.
func (r *Recipient) Child(address string) *Recipient {
	return &Recipient{
		Address:  address,
		ORCPT:    r.ORCPT,
		Notify:   r.Notify,
		ErrorsTo: r.ErrorsTo,
		Parent:   r,
		Attrs:    r.Attrs.Clone(),
	}
}

// Root returns the original recipient r descends from (r itself if it has
// no parent).
func (r *Recipient) Root() *Recipient {
	for r.Parent != nil {
		r = r.Parent
	}
	return r
}

// SplitAddress splits an address at its last '@' into local part and
// domain. An address without '@' is all local part.
func SplitAddress(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}
