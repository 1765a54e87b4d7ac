package router

import (
	"context"
	"fmt"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
)

// Router decides what happens to one address. The drivers are in the
// sub-packages dnslookup, manualroute and redirect; [AcceptTo] is Exim's
// accept router.
type Router interface {
	// Route returns the outcome for a. An error means the address cannot
	// be routed now: the chain defers it (Exim's "error" outcome).
	Route(ctx context.Context, a *Address) (Result, error)
}

// RouterFunc adapts a function to a [Router].
type RouterFunc func(ctx context.Context, a *Address) (Result, error)

// Route calls f.
func (f RouterFunc) Route(ctx context.Context, a *Address) (Result, error) { return f(ctx, a) }

// Outcome is what a router decided (Exim specification, section 3.10
// "Running an individual router").
type Outcome int

const (
	// Decline: the router does not handle the address; the next router
	// is tried (unless the chain entry has NoMore set). The zero Result
	// declines.
	Decline Outcome = iota
	// Accept: the address goes to Result.Transport, with Result.Hosts
	// for a remote transport.
	Accept
	// Pass: the router recognises the address but hands it on, to the
	// next router or the entry's PassRouter, whatever NoMore says.
	Pass
	// Redirect: the address is replaced by Result.Children, each routed
	// from the top of the chain.
	Redirect
	// Fail: the address is undeliverable; Result.Reply says why.
	Fail
	// Defer: the address cannot be routed now; try again later.
	Defer
	// Discard: the address is dropped without delivery and without a
	// bounce (the redirect router's :blackhole:).
	Discard
)

var outcomeNames = [...]string{"decline", "accept", "pass", "redirect", "fail", "defer", "discard"}

// String returns the outcome's name in lower case, e.g. "accept".
func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is the outcome of routing one address.
type Result struct {
	Outcome Outcome
	// Transport names the transport for Accept (the delivery engine maps
	// names to transports, as Exim does). It may be empty in verify mode.
	Transport string
	// Hosts are the hosts to try in order, for Accept to a remote
	// transport.
	Hosts []transport.Host
	// Children replace the address for Redirect. Make them with
	// (*exigo.Recipient).Child so that they link to their parent and
	// inherit its per-recipient attributes.
	Children []*exigo.Recipient
	// Reply is the reply for Fail (5xx) and Defer (4xx): what an SMTP
	// client is told when verifying and what a bounce says. Nil means
	// the default: 550 "Unrouteable address" for Fail, no text for Defer
	// (the ACL's 451 "Temporary local problem").
	Reply *exigo.SMTPError
	// Freeze asks the delivery engine to freeze the message as well as
	// deferring the address (Exim's self = freeze, host_find_failed =
	// freeze).
	Freeze bool
	// Err is the cause of a Defer that came from an error, for logs.
	Err error
}

// Accepted returns an Accept result for the named transport.
func Accepted(transportName string, hosts ...transport.Host) Result {
	return Result{Outcome: Accept, Transport: transportName, Hosts: hosts}
}

// Declined returns a Decline result.
func Declined() Result { return Result{Outcome: Decline} }

// Passed returns a Pass result.
func Passed() Result { return Result{Outcome: Pass} }

// Redirected returns a Redirect result.
func Redirected(children ...*exigo.Recipient) Result {
	return Result{Outcome: Redirect, Children: children}
}

// Failed returns a Fail result with a 550 reply carrying msg.
func Failed(msg string) Result {
	return Result{Outcome: Fail, Reply: &exigo.SMTPError{Code: 550, Message: msg}}
}

// Deferred returns a Defer result with a 451 reply carrying msg.
func Deferred(msg string) Result {
	return Result{Outcome: Defer, Reply: &exigo.SMTPError{Code: 451, Message: msg}}
}

// UnrouteableText is Exim's message for an address that no router
// accepted.
const UnrouteableText = "Unrouteable address"

// Address is one address being routed: the recipient, the message, and
// the routing state a router may consult. The chain makes one per
// address it routes, original or generated.
type Address struct {
	// Recipient is the recipient being routed; for a generated address,
	// a child whose Parent links to the address it came from. Its Attrs
	// carry per-recipient state, including $address_data.
	Recipient *exigo.Recipient
	// Message is the message; its envelope gives the sender. It may hold
	// only the envelope when verifying at RCPT time, or be nil.
	Message *exigo.Message
	// LocalPart is the local part, without quoting, in lower case unless
	// the router's entry sets CasefulLocalPart (Exim's $local_part).
	LocalPart string
	// Domain is the domain in lower case (Exim's $domain).
	Domain string
	// Verify is true when the address is routed to verify it (an ACL's
	// verify = recipient) rather than to deliver it.
	Verify bool
	// Router is the name of the router running, or whose preconditions
	// are being tested.
	Router string
	// DomainData, LocalPartData and SenderData are the data of the items
	// of the running router's domains, local_parts and senders
	// preconditions that matched (Exim's $domain_data, $local_part_data,
	// $sender_data).
	DomainData, LocalPartData, SenderData string

	parent    *Address // the address this one was generated from
	handledBy string   // the router that redirected this address
	localPart string   // the local part, unquoted, case kept
}

// AddressDataKey is the recipient attribute holding $address_data: set by
// an entry's AddressData, kept with the recipient and inherited by child
// addresses, visible to later routers and to transports.
var AddressDataKey = exigo.NewKey[string]("address_data")

// Data returns $address_data.
func (a *Address) Data() string {
	v, _ := exigo.Get(&a.Recipient.Attrs, AddressDataKey)
	return v
}

// SetData sets $address_data.
func (a *Address) SetData(v string) { exigo.Set(&a.Recipient.Attrs, AddressDataKey, v) }

// Sender returns the envelope sender ("" for the null sender or when
// there is no message).
func (a *Address) Sender() string {
	if a.Message == nil {
		return ""
	}
	return a.Message.Envelope.Sender
}

// Parent returns the address a was generated from, or nil.
func (a *Address) Parent() *Address { return a.parent }

// newAddress splits r's address for routing.
func newAddress(msg *exigo.Message, r *exigo.Recipient, verify bool) *Address {
	local, domain := exigo.SplitAddress(r.Address)
	local = Unquote(local)
	return &Address{
		Recipient: r,
		Message:   msg,
		Domain:    strings.ToLower(domain),
		Verify:    verify,
		localPart: local,
		LocalPart: strings.ToLower(local),
	}
}

// Unquote removes the quoting of a local part written as an RFC 5321
// quoted string ("a b" gives a b, "a\"b" gives a"b); anything else is
// returned unchanged.
func Unquote(local string) string {
	if len(local) < 2 || local[0] != '"' || local[len(local)-1] != '"' {
		return local
	}
	in := local[1 : len(local)-1]
	if strings.IndexByte(in, '\\') < 0 {
		return in
	}
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] == '\\' && i+1 < len(in) {
			i++
		}
		b.WriteByte(in[i])
	}
	return b.String()
}

// loopKey is what ancestors are compared by in loop detection: the local
// part and the domain, both without regard to case.
func (a *Address) loopKey() string {
	return strings.ToLower(a.localPart) + "@" + a.Domain
}

// AcceptTo returns Exim's accept router: it accepts every address for the
// named transport, normally a local one (maildir, file, lmtp). Limit it
// with the entry's preconditions.
func AcceptTo(transportName string) Router {
	return RouterFunc(func(context.Context, *Address) (Result, error) {
		return Accepted(transportName), nil
	})
}
