package manualroute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/dnslookup"
	"github.com/exigo-mta/exigo/transport"
)

// Toggle is a per-rule override of a router option.
type Toggle int

const (
	Default Toggle = iota // use the router's setting
	Yes
	No
)

// Rule is one routing rule: a domain pattern and what to do for domains
// that match it.
type Rule struct {
	// Domains selects the domains the rule applies to; nil matches
	// every domain.
	Domains *acl.DomainList
	// Pattern is the pattern as written in a route_list, for messages.
	Pattern string
	// Hosts are the hosts to send to, in order. Empty for a local
	// transport.
	Hosts []HostItem
	// Transport overrides the router's transport for this rule.
	Transport string
	// Randomize overrides the router's Randomize ("randomize",
	// "no_randomize").
	Randomize Toggle
	// ByName looks host names up with the system resolver
	// (net.DefaultResolver: /etc/hosts, then the DNS) instead of the
	// router's DNS resolver ("byname").
	ByName bool
	// IPv4Only and IPv4Prefer restrict or order the address records
	// looked up ("ipv4_only", "ipv4_prefer").
	IPv4Only, IPv4Prefer bool
}

// Action is what happens when a host cannot be found
// (host_find_failed, host_all_ignored).
type Action int

const (
	// ActionDefault is freeze for HostFindFailed and defer for
	// HostAllIgnored, Exim's defaults.
	ActionDefault Action = iota
	ActionDecline
	ActionDefer
	ActionFail
	ActionFreeze
	// ActionIgnore skips the host (HostFindFailed only).
	ActionIgnore
	ActionPass
)

// Router is Exim's manualroute router (Exim specification, chapter 20):
// the first rule whose pattern matches the domain gives the hosts and
// the transport; when none matches, the router declines. A Router is
// safe for concurrent use.
type Router struct {
	// Rules are tried in order (route_list; see [ParseRouteList]).
	Rules []Rule
	// RouteData, when set, is used instead of Rules: it returns the data
	// part of a rule for the address, "hosts options" (route_data; see
	// [ParseRouteData]), typically from a lookup keyed by the domain. An
	// empty value declines.
	RouteData func(ctx context.Context, a *router.Address) (string, error)
	// Transport is used for rules that name none.
	Transport string
	// Randomize shuffles each rule's hosts (hosts_randomize), within the
	// groups "+" items separate.
	Randomize bool
	// HostFindFailed says what happens when a host does not exist
	// (host_find_failed; default freeze).
	HostFindFailed Action
	// HostAllIgnored says what happens when every host was ignored
	// (host_all_ignored; default defer).
	HostAllIgnored Action
	// Self says what happens when the first host is this host (self;
	// default freeze). A later host that is this host is dropped with
	// all hosts after it.
	Self router.SelfAction
	// Local recognises this host.
	Local *router.LocalHost
	// IgnoreTargetHosts lists addresses to behave as if they did not
	// exist (ignore_target_hosts), for all hosts, /MX ones included.
	IgnoreTargetHosts *acl.HostList
	// Resolver looks host names up; nil means one reading
	// /etc/resolv.conf.
	Resolver *dnslookup.Resolver
	// Family chooses the address records looked up (default both, IPv6
	// first); a rule's IPv4Only and IPv4Prefer override it.
	Family dnslookup.Family
	// PassOnTimeout passes the address on instead of deferring it when a
	// lookup fails temporarily (pass_on_timeout).
	PassOnTimeout bool
	// Rand returns a random integer in [0, n), for Randomize and for
	// ordering /MX hosts; nil means math/rand/v2.IntN.
	Rand func(n int) int
	// Logger receives Debug messages; nil discards.
	Logger *slog.Logger
}

// Smarthost returns a router that sends every address to hosts, tried in
// order, through the named transport. Each host is one item as
// [ParseHost] reads it: "mail.example.net", "mail.example.net:587",
// "192.0.2.1", "[2001:db8::1]:2525". Hosts that do not exist defer the
// address.
func Smarthost(transportName string, hosts ...string) (*Router, error) {
	if len(hosts) == 0 {
		return nil, errors.New("manualroute: smarthost needs at least one host")
	}
	items := make([]HostItem, 0, len(hosts))
	for _, h := range hosts {
		it, err := ParseHost(h)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return &Router{
		Rules:          []Rule{{Pattern: "*", Hosts: items}},
		Transport:      transportName,
		HostFindFailed: ActionDefer,
	}, nil
}

func (r *Router) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return discardLogger
}

var discardLogger = slog.New(slog.DiscardHandler)

// rule finds the rule for a, or nil.
func (r *Router) rule(ctx context.Context, a *router.Address) (*Rule, error) {
	if r.RouteData != nil {
		s, err := r.RouteData(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("manualroute: route_data: %w", err)
		}
		if s == "" {
			return nil, nil
		}
		rule, err := ParseRouteData(s)
		if err != nil {
			return nil, err
		}
		return &rule, nil
	}
	for i := range r.Rules {
		rl := &r.Rules[i]
		if rl.Domains == nil {
			return rl, nil
		}
		ok, _, err := rl.Domains.Match(ctx, a.Domain)
		if err != nil {
			return nil, fmt.Errorf("manualroute: rule %q: %w", rl.Pattern, err)
		}
		if ok {
			return rl, nil
		}
	}
	return nil, nil
}

// Route implements [router.Router]. When verifying, a matching rule is
// enough to accept the address: hosts are not looked up, as in Exim.
func (r *Router) Route(ctx context.Context, a *router.Address) (router.Result, error) {
	rl, err := r.rule(ctx, a)
	if err != nil {
		return router.Result{}, err
	}
	if rl == nil {
		return router.Declined(), nil
	}
	tname := rl.Transport
	if tname == "" {
		tname = r.Transport
	}
	if a.Verify {
		return router.Accepted(tname), nil
	}
	if tname == "" {
		return router.Result{}, errors.New("manualroute: no transport set")
	}
	items := make([]HostItem, len(rl.Hosts))
	copy(items, rl.Hosts)
	if rl.Randomize == Yes || rl.Randomize == Default && r.Randomize {
		for i := 0; i < len(items); {
			j := i
			for j < len(items) && !items[j].Plus {
				j++
			}
			g := items[i:j]
			dnslookup.Shuffle(r.Rand, len(g), func(x, y int) { g[x], g[y] = g[y], g[x] })
			i = j + 1
		}
	}
	fam := r.Family
	if rl.IPv4Only {
		fam = dnslookup.IPv4Only
	} else if rl.IPv4Prefer {
		fam = dnslookup.IPv4First
	}
	var hosts []transport.Host
	listed := 0
	first := true
	for _, it := range items {
		if it.Plus {
			continue
		}
		listed++
		found, self, err := r.find(ctx, it, fam, rl.ByName)
		if err != nil {
			var nf *notFoundError
			switch {
			case errors.As(err, &nf):
				act := r.HostFindFailed
				if act == ActionDefault {
					act = ActionFreeze
				}
				if act == ActionIgnore {
					r.logger().Debug("manualroute: host ignored", "host", it.String(), "err", err)
					continue
				}
				return r.act(act, fmt.Sprintf("lookup of host %q failed in %s router", it.Name, a.Router), err), nil
			case errors.Is(err, dnslookup.ErrTemporary):
				if r.PassOnTimeout {
					return router.Passed(), nil
				}
				return router.Result{Outcome: router.Defer, Err: err}, nil
			default:
				return router.Result{}, err
			}
		}
		if self != "" {
			if !first {
				// This host and the rest are not used.
				break
			}
			if res, ok := router.SelfResult(r.Self, self, it.MX); ok {
				return res, nil
			}
		}
		if len(found) == 0 {
			// All its addresses ignored: as if it were not listed.
			r.logger().Debug("manualroute: all addresses of host ignored", "host", it.String())
			continue
		}
		first = false
		hosts = append(hosts, found...)
	}
	if len(hosts) == 0 && listed > 0 {
		act := r.HostAllIgnored
		if act == ActionDefault || act == ActionIgnore {
			act = ActionDefer
		}
		return r.act(act, "all hosts were ignored", errors.New("manualroute: all hosts were ignored")), nil
	}
	return router.Accepted(tname, hosts...), nil
}

// act turns a host_find_failed or host_all_ignored action into a result.
func (r *Router) act(act Action, msg string, err error) router.Result {
	switch act {
	case ActionDecline:
		return router.Declined()
	case ActionPass:
		return router.Passed()
	case ActionFail:
		return router.Failed(msg)
	case ActionDefer:
		return router.Result{Outcome: router.Defer, Err: err}
	default:
		return router.Result{Outcome: router.Defer, Freeze: true, Err: err}
	}
}

type notFoundError struct{ err error }

func (e *notFoundError) Error() string { return e.err.Error() }
func (e *notFoundError) Unwrap() error { return e.err }

// find returns the hosts of one item, and the name of this host when
// the item is this host (or, for /MX, its most preferred MX is).
func (r *Router) find(ctx context.Context, it HostItem, fam dnslookup.Family, byName bool) ([]transport.Host, string, error) {
	if it.MX {
		d := dnslookup.Router{
			Resolver:          r.Resolver,
			Family:            fam,
			IgnoreTargetHosts: r.IgnoreTargetHosts,
			Local:             r.Local,
			Rand:              r.Rand,
			Logger:            r.Logger,
		}
		h, err := d.FindHosts(ctx, it.Name)
		if err != nil {
			if errors.Is(err, dnslookup.ErrTemporary) {
				return nil, "", err
			}
			if errors.Is(err, dnslookup.ErrNoHosts) {
				// Every MX host ignored or missing.
				return nil, "", nil
			}
			return nil, "", &notFoundError{err}
		}
		for i := range h.Hosts {
			h.Hosts[i].Port = it.Port
		}
		return h.Hosts, h.Self, nil
	}
	var addrs []netip.Addr
	pref := -1
	name := it.Name
	if it.Addr.IsValid() {
		addrs = []netip.Addr{it.Addr}
	} else {
		var err error
		addrs, err = r.lookup(ctx, it.Name, fam, byName)
		if err != nil {
			return nil, "", err
		}
	}
	addrs, err := dnslookup.IgnoreHosts(ctx, r.IgnoreTargetHosts, name, addrs, r.Logger)
	if err != nil {
		return nil, "", err
	}
	var out []transport.Host
	self := ""
	for _, ip := range addrs {
		local, err := r.Local.IsLocal(ctx, name, ip)
		if err != nil {
			return nil, "", err
		}
		if local && self == "" {
			self = it.String()
		}
		out = append(out, transport.Host{Name: name, Addr: ip, Port: it.Port, Pref: pref})
	}
	return out, self, nil
}

// lookup finds the addresses of a host name. Not finding any is a
// *notFoundError.
func (r *Router) lookup(ctx context.Context, name string, fam dnslookup.Family, byName bool) ([]netip.Addr, error) {
	var addrs []netip.Addr
	var err error
	if byName {
		addrs, err = lookupByName(ctx, name, fam)
	} else {
		res := r.Resolver
		if res == nil {
			res = defaultResolver
		}
		addrs, _, err = res.LookupIP(ctx, name, fam)
	}
	if err != nil {
		if errors.Is(err, dnslookup.ErrNotFound) {
			return nil, &notFoundError{err}
		}
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &notFoundError{fmt.Errorf("host %s has no address records", name)}
	}
	return addrs, nil
}

var defaultResolver = &dnslookup.Resolver{}

// lookupByName uses the system resolver (Exim's byname).
func lookupByName(ctx context.Context, name string, fam dnslookup.Family) ([]netip.Addr, error) {
	network := "ip"
	switch fam {
	case dnslookup.IPv4Only:
		network = "ip4"
	case dnslookup.IPv6Only:
		network = "ip6"
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, &notFoundError{err}
		}
		return nil, fmt.Errorf("%w: %w", dnslookup.ErrTemporary, err)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	// IPv6 first unless IPv4 is preferred, as the DNS lookups order them.
	v4first := fam == dnslookup.IPv4First
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int {
		ra, rb := a.Is4() == v4first, b.Is4() == v4first
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	return addrs, nil
}
