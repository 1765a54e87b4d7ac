package smtp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
)

// Error is why a delivery to one host failed, for one or more recipients.
// Err is an *exigo.SMTPError when the server said so (and for the local
// decisions [ErrSMTPUTF8], [ErrREQUIRETLS] and [ErrTooBig], which are
// shaped as replies so that a DSN can carry their codes); otherwise a
// network, TLS or local error. [transport.Permanent] sees through Error.
type Error struct {
	Host   transport.Host
	Remote netip.AddrPort // zero when no connection was made
	// After names the step that failed, in the words Exim uses in
	// bounces ("SMTP error from remote mail server after ..."):
	// "connect", "initial connection", "EHLO", "STARTTLS", "AUTH",
	// "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA", "end of data".
	After string
	Err   error
}

// Error formats the failure as a log line, e.g.
// "mx.example [192.0.2.1]:25: after RCPT TO:<c@d>: 550 5.1.1 unknown".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Host.Name != "" {
		b.WriteString(e.Host.Name)
		b.WriteByte(' ')
	}
	if e.Remote.IsValid() {
		b.WriteByte('[')
		b.WriteString(e.Remote.Addr().String())
		b.WriteString("]:")
		b.WriteString(strconv.Itoa(int(e.Remote.Port())))
	} else if e.Host.Addr.IsValid() {
		b.WriteByte('[')
		b.WriteString(e.Host.Addr.String())
		b.WriteByte(']')
	}
	b.WriteString(": ")
	if e.After != "" {
		b.WriteString("after ")
		b.WriteString(e.After)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Reply returns the server's reply when the server's answer (or a local
// decision shaped as one) caused the failure, else nil.
func (e *Error) Reply() *exigo.SMTPError {
	var se *exigo.SMTPError
	if errors.As(e.Err, &se) {
		return se
	}
	return nil
}

var (
	// ErrTLSRequired: the host's policy requires TLS and the server does
	// not offer STARTTLS, or refused it. Temporary.
	ErrTLSRequired = errors.New("TLS required but not available")
	// ErrAuthInsecure: credentials are configured, TLS is not active and
	// AllowInsecureAuth is false. Temporary.
	ErrAuthInsecure = errors.New("not sending credentials over a connection without TLS")
	// ErrNoHosts: the delivery has no hosts. Temporary (a routing
	// problem).
	ErrNoHosts = errors.New("no hosts to deliver to")
	// ErrBadAddress: an address holds bytes that cannot be sent in an
	// SMTP command (control characters). Permanent.
	ErrBadAddress = fmt.Errorf("address not valid in an SMTP command: %w", transport.ErrPermanent)

	// ErrSMTPUTF8: the message needs SMTPUTF8 (RFC 6531) and the server
	// does not offer it. Permanent (RFC 6531 section 3.2).
	ErrSMTPUTF8 = &exigo.SMTPError{Code: 553, Enhanced: exigo.EnhancedCode{5, 6, 7}, Message: "message needs SMTPUTF8, which the server does not support"}
	// ErrREQUIRETLS: the message carries REQUIRETLS (RFC 8689) and the
	// session is not TLS-protected or the server does not offer
	// REQUIRETLS. Permanent, with RFC 8689's code 5.7.30.
	ErrREQUIRETLS = &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 7, 30}, Message: "REQUIRETLS support required"}
	// ErrTooBig: the message is larger than the SIZE the server
	// announced (RFC 1870). Permanent.
	ErrTooBig = &exigo.SMTPError{Code: 552, Enhanced: exigo.EnhancedCode{5, 3, 4}, Message: "message larger than the server's SIZE limit"}
)

// AuthError is a refused authentication. It is temporary whatever the
// code, as in Exim with hosts_require_auth: a wrong password is fixed by
// the administrator, not by bouncing the mail.
type AuthError struct {
	Mechanism string
	Reply     *exigo.SMTPError
}

func (e *AuthError) Error() string { return "AUTH " + e.Mechanism + " refused: " + e.Reply.Error() }
