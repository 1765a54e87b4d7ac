// Package transport defines how a message leaves exigo: the Transport
// interface, which delivers one message to a group of recipients and
// reports an outcome for each (the shape of maddy's status collector), and
// the record of a delivery attempt that delivery status notifications need.
//
// The implementations live in sub-packages: smtp (our own pipelining
// client), maildir, file (mbox) and lmtp.
package transport

import (
	"context"
	"errors"
	"net/netip"

	"github.com/exigo-mta/exigo"
)

// Host is one host a router chose for a delivery.
type Host struct {
	// Name is the host name ("" when the router gave only an address).
	Name string
	// Addr is the address to connect to; the zero value means "resolve
	// Name".
	Addr netip.Addr
	// Port is the TCP port; 0 means the transport's default.
	Port int
	// Pref is the MX preference, -1 when the host is not from an MX record.
	Pref int
	// DNSSEC is true when the records that led to the host were
	// authenticated (the AD bit).
	DNSSEC bool
}

// Delivery is one message to deliver to a group of its recipients.
type Delivery struct {
	Message    *exigo.Message
	Recipients []*exigo.Recipient
	// Hosts are the hosts to try in order, for remote transports.
	Hosts []Host
	// ReturnPath is the envelope sender to use, normally the message's
	// sender; transports that rewrite it (SRS) start from this.
	ReturnPath string
}

// Attempt records one connection to a remote host, for logs and for the
// extra fields of delivery status notifications.
type Attempt struct {
	Host      Host
	Remote    netip.AddrPort   // the address and port connected to
	Greeting  string           // the server's greeting line, without the code
	EHLO      string           // the first line of the EHLO response, without the code
	TLS       *exigo.TLSInfo   // when the session used TLS
	LastReply *exigo.SMTPError // the last non-2xx reply, if any
}

// Result is the outcome of a delivery for one recipient.
type Result struct {
	// Err is nil when the recipient was delivered. Otherwise it tells why
	// not; [Permanent] decides whether to retry.
	Err error
	// Reply is the remote server's final reply for this recipient when
	// delivered ("250 OK id=..."), for logs.
	Reply string
	// Attempt is the remote attempt that decided, for remote transports.
	Attempt *Attempt
}

// Status collects per-recipient results. Transports call Set once per
// recipient of the delivery.
type Status interface {
	Set(r *exigo.Recipient, res Result)
}

// HostReporter is implemented by a [Status] that wants to hear about
// every host that failed during a delivery (connection refused, a 4xx
// greeting, a lost connection, a failed address lookup), including those
// the transport left for the next host of the list, not only the host
// whose outcome decided (package queue keeps retry data for each, as Exim
// does). Transports that try several hosts call HostFailed once per
// failed host and delivery when st implements it.
type HostReporter interface {
	HostFailed(h Host, err error)
}

// Transport delivers a message.
type Transport interface {
	// Deliver delivers d and reports each recipient's outcome to st. An
	// error returned is the outcome of every recipient st has not been
	// told about.
	Deliver(ctx context.Context, d *Delivery, st Status) error
}

// Func adapts a function to a [Transport].
type Func func(ctx context.Context, d *Delivery, st Status) error

// Deliver calls f.
func (f Func) Deliver(ctx context.Context, d *Delivery, st Status) error { return f(ctx, d, st) }

// ErrPermanent marks an error that is not worth retrying when wrapped.
var ErrPermanent = errors.New("permanent failure")

// Permanent reports whether err is a permanent failure: a 5xx reply, or an
// error that wraps [ErrPermanent]. Everything else (4xx replies, network
// errors, timeouts) is temporary.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var se *exigo.SMTPError
	if errors.As(err, &se) {
		return se.Code/100 == 5
	}
	return errors.Is(err, ErrPermanent)
}

// StatusMap is a Status that keeps the results in a map.
type StatusMap map[*exigo.Recipient]Result

// Set records res for r.
func (m StatusMap) Set(r *exigo.Recipient, res Result) { m[r] = res }
