package srs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/transport"
)

// Scheme is what the routing pieces need of an SRS implementation; both
// [Native] and [*SRS] satisfy it.
type Scheme interface {
	// Forward rewrites sender for forwarding through domain.
	Forward(ctx context.Context, sender, domain string, now time.Time) (string, error)
	// Reverse returns the address an SRS address (or local part) stands
	// for.
	Reverse(ctx context.Context, address string, now time.Time) (string, error)
}

// Forward is [Native.Encode] for [Scheme].
func (n Native) Forward(_ context.Context, sender, domain string, now time.Time) (string, error) {
	return n.Encode(sender, domain, now)
}

// Reverse is [Native.Check] on the local part of address (unquoted),
// for [Scheme]. Unlike Check it returns "" with an error.
func (n Native) Reverse(_ context.Context, address string, now time.Time) (string, error) {
	lp, _, ok := splitAddress(address)
	if !ok {
		lp = address
	}
	r, err := n.Check(lp, now)
	if err != nil {
		return "", err
	}
	return r, nil
}

// Router variables, kept in the recipient's attributes (exigo.Get) of the
// address the routers looked at, and inherited by the redirected child.
var (
	// VarRecipient is $srs_recipient: the decoded original address.
	VarRecipient = exigo.NewKey[string]("srs_recipient")
	// VarOrigRecipient is $srs_orig_recipient: the SRS address that was
	// decoded.
	VarOrigRecipient = exigo.NewKey[string]("srs_orig_recipient")
	// VarOrigSender is $srs_orig_sender: the return path before [ReturnPath]
	// rewrote it (set on the recipients of the rewritten delivery).
	VarOrigSender = exigo.NewKey[string]("srs_orig_sender")
	// VarStatus is $srs_status: "passed" or the reason decoding failed.
	VarStatus = exigo.NewKey[string]("srs_status")
	// VarDBKey and VarDBAddress are $srs_db_key and $srs_db_address: in
	// database mode, the key found in the SRS address and the address
	// stored under it.
	VarDBKey     = exigo.NewKey[string]("srs_db_key")
	VarDBAddress = exigo.NewKey[string]("srs_db_address")
)

// Router is the redirect router of Exim's sample SRS configuration
// (inbound_srs): for a bounce (null sender) to one of Domains whose local
// part is a valid SRS address for Scheme, it redirects to the original
// address ($srs_recipient). Anything else is declined: put [FailRouter]
// after it to fail invalid SRS addresses.
type Router struct {
	Scheme Scheme
	// Domains reports whether a (lower-case) domain is one of ours; nil
	// means every domain.
	Domains func(domain string) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (r *Router) applies(a *router.Address) bool {
	return a.Sender() == "" && (r.Domains == nil || r.Domains(a.Domain))
}

// Route implements router.Router.
func (r *Router) Route(ctx context.Context, a *router.Address) (router.Result, error) {
	local, _ := exigo.SplitAddress(a.Recipient.Address)
	local = router.Unquote(local) // with its case: base64 hashes are caseful
	if !r.applies(a) || !looksSRS(local) {
		return router.Declined(), nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	attrs := &a.Recipient.Attrs
	exigo.Set(attrs, VarOrigRecipient, a.Recipient.Address)
	if s, ok := r.Scheme.(*SRS); ok && s.DB != nil {
		if f := strings.SplitN(local, "=", 4); len(f) == 4 {
			exigo.Set(attrs, VarDBKey, f[3])
		}
	}
	orig, err := r.Scheme.Reverse(ctx, local, now())
	if err != nil {
		exigo.Set(attrs, VarStatus, err.Error())
		if errors.Is(err, ErrNotSRS) || errors.Is(err, ErrHash) || errors.Is(err, ErrTimestamp) || errors.Is(err, ErrNotFound) {
			return router.Declined(), nil
		}
		return router.Result{}, err // a store failure: defer
	}
	exigo.Set(attrs, VarStatus, "passed")
	exigo.Set(attrs, VarRecipient, orig)
	if s, ok := r.Scheme.(*SRS); ok && s.DB != nil {
		exigo.Set(attrs, VarDBAddress, orig)
	}
	return router.Redirected(a.Recipient.Child(orig)), nil
}

// looksSRS reports whether a local part has an SRS tag.
func looksSRS(lp string) bool {
	_, ok0 := tagged(lp, "SRS0")
	_, ok1 := tagged(lp, "SRS1")
	return ok0 || ok1
}

// InvalidText is the reply [FailRouter] gives.
const InvalidText = "Invalid SRS recipient address"

// FailRouter is the companion of [Router] (Exim's inbound_srs_failure):
// a bounce to one of Domains whose local part looks like an SRS address
// but did not verify fails with 550 "Invalid SRS recipient address".
type FailRouter struct {
	Domains func(domain string) bool
}

// Route implements router.Router.
func (f *FailRouter) Route(_ context.Context, a *router.Address) (router.Result, error) {
	if a.Sender() != "" || (f.Domains != nil && !f.Domains(a.Domain)) || !looksSRS(a.LocalPart) {
		return router.Declined(), nil
	}
	return router.Failed(InvalidText), nil
}

// ReturnPath wraps t so that it sends with the return path rewritten by
// scheme for forwarded mail, as Exim's sample smtp transport with
// return_path = ${srs_encode {SECRET}{$return_path}{$original_domain}}.
// The forwarding domain is the domain of each recipient's original
// address (Recipient.Root), so a delivery is split by it (Exim's
// max_rcpt = 1 does it per recipient). Bounces (empty return path) pass
// unchanged; [SRS] also leaves senders of the forwarding domain alone.
// The recipients of a rewritten delivery get [VarOrigSender]. A return
// path the scheme cannot rewrite fails its recipients permanently. now
// nil means time.Now.
func ReturnPath(t transport.Transport, scheme Scheme, now func() time.Time) transport.Transport {
	if now == nil {
		now = time.Now
	}
	return transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
		if d.ReturnPath == "" {
			return t.Deliver(ctx, d, st)
		}
		var order []string
		groups := map[string][]*exigo.Recipient{}
		for _, r := range d.Recipients {
			_, dom := exigo.SplitAddress(r.Root().Address)
			dom = strings.ToLower(dom)
			if _, ok := groups[dom]; !ok {
				order = append(order, dom)
			}
			groups[dom] = append(groups[dom], r)
		}
		for _, dom := range order {
			rcpts := groups[dom]
			rp, err := scheme.Forward(ctx, d.ReturnPath, dom, now())
			if err != nil {
				err = fmt.Errorf("srs: rewriting return path %q: %w: %w", d.ReturnPath, transport.ErrPermanent, err)
				for _, r := range rcpts {
					st.Set(r, transport.Result{Err: err})
				}
				continue
			}
			for _, r := range rcpts {
				exigo.Set(&r.Attrs, VarOrigSender, d.ReturnPath)
			}
			sub := *d
			sub.Recipients, sub.ReturnPath = rcpts, rp
			ts := &trackStatus{st: st, set: map[*exigo.Recipient]bool{}}
			if err := t.Deliver(ctx, &sub, ts); err != nil {
				for _, r := range rcpts {
					if !ts.set[r] {
						st.Set(r, transport.Result{Err: err})
					}
				}
			}
		}
		return nil
	})
}

// trackStatus passes results on and remembers who got one.
type trackStatus struct {
	mu  sync.Mutex
	st  transport.Status
	set map[*exigo.Recipient]bool
}

func (s *trackStatus) Set(r *exigo.Recipient, res transport.Result) {
	s.mu.Lock()
	s.set[r] = true
	s.mu.Unlock()
	s.st.Set(r, res)
}
