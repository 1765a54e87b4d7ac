package router

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/exigo-mta/exigo/acl"
)

// LocalHost says which hosts are this host (Exim specification, section
// 13.8 "Recognizing the local host"): a host is local when one of its
// addresses is in Addrs (Exim's local_interfaces and
// extra_local_interfaces) or its name is in Names (hosts_treat_as_local).
// A nil *LocalHost recognises nothing. Exim's "0.0.0.0" and "::0" items
// (all interfaces) have no equivalent: list the addresses, for example
// from net.InterfaceAddrs.
type LocalHost struct {
	Addrs []netip.Addr
	Names *acl.DomainList
}

// IsLocal reports whether the host with the given name and address is
// this host. The zero Addr and the empty name are never local. An error
// means Names could not be tested (a lookup failed).
func (l *LocalHost) IsLocal(ctx context.Context, name string, addr netip.Addr) (bool, error) {
	if l == nil {
		return false, nil
	}
	if addr.IsValid() {
		a := addr.Unmap().WithZone("")
		for _, x := range l.Addrs {
			if x.Unmap().WithZone("") == a {
				return true, nil
			}
		}
	}
	if name == "" || l.Names == nil {
		return false, nil
	}
	ok, _, err := l.Names.Match(ctx, trimDot(name))
	if err != nil {
		return false, fmt.Errorf("router: hosts_treat_as_local: %w", err)
	}
	return ok, nil
}

func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// SelfAction is what a router that found hosts does when the first of
// them is the local host (Exim's generic "self" option). The zero value
// is Exim's default, freeze.
type SelfAction int

const (
	// SelfFreeze defers the address and asks for the message to be
	// frozen.
	SelfFreeze SelfAction = iota
	// SelfDefer defers the address.
	SelfDefer
	// SelfFail fails the address.
	SelfFail
	// SelfPass passes the address to the next router (or the entry's
	// PassRouter), overriding NoMore.
	SelfPass
	// SelfSend ignores the anomaly and sends to the hosts anyway.
	SelfSend
)

var selfNames = [...]string{"freeze", "defer", "fail", "pass", "send"}

// String returns the action's Exim name.
func (s SelfAction) String() string {
	if s >= 0 && int(s) < len(selfNames) {
		return selfNames[s]
	}
	return fmt.Sprintf("self(%d)", int(s))
}

// SelfResult returns the result of action when the first host, named
// host, is the local host; lowestMX says whether it came from the most
// preferred MX record. ok is false for SelfSend, when the caller goes on
// with its hosts. The failure and deferral texts are Exim's; the host
// name is in the result's Err, for logs.
func SelfResult(action SelfAction, host string, lowestMX bool) (res Result, ok bool) {
	what := "remote host address is the local host"
	if lowestMX {
		what = "lowest numbered MX record points to local host"
	}
	switch action {
	case SelfSend:
		return Result{}, false
	case SelfPass:
		return Passed(), true
	case SelfFail:
		return Failed(what), true
	default:
		r := Deferred(what)
		r.Err = fmt.Errorf("router: %s (%s)", what, host)
		r.Freeze = action != SelfDefer
		return r, true
	}
}
