package dnslookup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/transport"
	"github.com/miekg/dns"
)

// DefaultIgnoreTargetHosts is the ignore_target_hosts setting of Exim's
// default configuration (the option itself defaults to nothing): hosts
// whose DNS records point at "this host" or the loopback network are
// ignored. Debian's packaging adds the private and link-local ranges.
const DefaultIgnoreTargetHosts = "0.0.0.0 : 127.0.0.0/8"

// Sentinel errors of [Router.FindHosts]. Route declines for all but
// ErrNullMX, for which it fails.
var (
	// ErrNullMX: the domain publishes a null MX (RFC 7505): it accepts no
	// mail.
	ErrNullMX = errors.New("domain has a null MX record")
	// ErrNoHosts: MX records exist but none leads to a usable address
	// (targets that do not exist, IP addresses as targets, addresses all
	// in IgnoreTargetHosts), or the domain has no MX record and matches
	// MXDomains, or it has no address either.
	ErrNoHosts = errors.New("no usable hosts")
	// ErrInvalidDomain: the domain is not a syntactically valid DNS name.
	ErrInvalidDomain = errors.New("invalid domain name")
)

// Router is Exim's dnslookup router (Exim specification, chapter 17): it
// looks up the MX records of the address's domain, or its address
// records when it has none (the implicit MX), and accepts the address for
// Transport with the hosts found, in MX preference order. A Router is
// safe for concurrent use.
type Router struct {
	// Transport is the (remote) transport to accept addresses for. It
	// must be set unless the router is only used to verify.
	Transport string
	// Resolver sends the queries; nil means one reading /etc/resolv.conf.
	Resolver *Resolver
	// Family chooses the address records looked up (default both, IPv6
	// first).
	Family Family
	// IgnoreTargetHosts lists addresses to behave as if they did not
	// exist (ignore_target_hosts), such as [DefaultIgnoreTargetHosts].
	// Only addresses are matched: host names and lookups keyed by name
	// in the list see the MX target's name as a client host name would
	// be seen, which is rarely what is wanted.
	IgnoreTargetHosts *acl.HostList
	// Local recognises this host among the hosts found.
	Local *router.LocalHost
	// Self says what to do when the most preferred host is this host
	// (self; default freeze).
	Self router.SelfAction
	// CheckSecondaryMX declines unless this host was found in, and
	// removed from, the MX hosts (check_secondary_mx).
	CheckSecondaryMX bool
	// MXDomains lists domains that must have MX records: without one,
	// the router declines instead of using address records (mx_domains).
	MXDomains *acl.DomainList
	// MXFailDomains lists domains for which a failed MX lookup counts as
	// "no MX records" (mx_fail_domains).
	MXFailDomains *acl.DomainList
	// FailDeferDomains lists domains for which not finding the domain or
	// its hosts defers instead of declining (fail_defer_domains).
	FailDeferDomains *acl.DomainList
	// AllowMXToIP accepts MX records whose target is an IP address
	// (allow_mx_to_ip); otherwise they are ignored.
	AllowMXToIP bool
	// PassOnTimeout passes the address on instead of deferring it when a
	// lookup fails temporarily (pass_on_timeout).
	PassOnTimeout bool
	// Rand returns a random integer in [0, n); it orders MX records of
	// equal preference and the addresses of a host within each family.
	// Nil means math/rand/v2.IntN. A function returning n-1 keeps the
	// order the DNS gave. It must be safe for concurrent use.
	Rand func(n int) int
	// Logger receives Debug messages about ignored hosts; nil discards.
	Logger *slog.Logger
}

// Hosts is what [Router.FindHosts] found.
type Hosts struct {
	// Hosts are the hosts to try, in order, one per address: Name is the
	// MX target (or the domain for the implicit MX), Pref the MX
	// preference (-1 for the implicit MX), DNSSEC true when both the MX
	// answer and the address answer were authenticated.
	Hosts []transport.Host
	// Self is the name of the most preferred host when it is this host
	// (then Hosts is the whole list): the router's Self action applies.
	Self string
	// LocalRemoved is true when this host was found among less
	// preferred MX hosts and removed with every host of equal or greater
	// preference.
	LocalRemoved bool
	// ImplicitMX is true when the domain had no MX records and its own
	// address records were used.
	ImplicitMX bool
}

var defaultResolver = &Resolver{}

func (r *Router) resolver() *Resolver {
	if r.Resolver != nil {
		return r.Resolver
	}
	return defaultResolver
}

func (r *Router) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return discardLogger
}

var discardLogger = slog.New(slog.DiscardHandler)

// Shuffle puts the elements [0, n) into a random order with rnd
// (math/rand/v2.IntN when nil), by Fisher-Yates. A function returning
// n-1 leaves the order unchanged.
func Shuffle(rnd func(int) int, n int, swap func(i, j int)) {
	if rnd == nil {
		rnd = rand.IntN
	}
	for i := n - 1; i > 0; i-- {
		j := rnd(i + 1)
		if j < 0 || j > i {
			j = i
		}
		swap(i, j)
	}
}

// Route implements [router.Router].
func (r *Router) Route(ctx context.Context, a *router.Address) (router.Result, error) {
	if r.Transport == "" && !a.Verify {
		return router.Result{}, errors.New("dnslookup: no transport set")
	}
	h, err := r.FindHosts(ctx, a.Domain)
	switch {
	case err == nil:
	case errors.Is(err, ErrNullMX):
		return router.Result{Outcome: router.Fail, Reply: &exigo.SMTPError{
			Code: 556, Enhanced: exigo.EnhancedCode{5, 1, 10}, Message: "Recipient address has null MX"}}, nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoHosts), errors.Is(err, ErrInvalidDomain):
		if ok, _, lerr := r.FailDeferDomains.Match(ctx, a.Domain); lerr != nil {
			return router.Result{}, fmt.Errorf("dnslookup: fail_defer_domains: %w", lerr)
		} else if ok {
			return router.Result{Outcome: router.Defer, Err: err}, nil
		}
		r.logger().Debug("dnslookup: declined", "domain", a.Domain, "reason", err)
		return router.Declined(), nil
	case errors.Is(err, ErrTemporary):
		if r.PassOnTimeout {
			return router.Passed(), nil
		}
		return router.Result{Outcome: router.Defer, Err: err}, nil
	default:
		return router.Result{}, err
	}
	if r.CheckSecondaryMX && !h.LocalRemoved {
		return router.Declined(), nil
	}
	if h.Self != "" {
		if res, ok := router.SelfResult(r.Self, h.Self, !h.ImplicitMX); ok {
			return res, nil
		}
	}
	return router.Accepted(r.Transport, h.Hosts...), nil
}

type candidate struct {
	name string
	pref int
	addr netip.Addr // set for an MX target that is an IP address
}

// FindHosts finds the hosts for domain: its MX records in preference
// order (random order within a preference), or its own address records
// when it has none, each host's addresses with IgnoreTargetHosts
// removed, this host and less preferred hosts removed. Errors:
// ErrInvalidDomain, ErrNotFound (wrapped in an *Error), ErrNullMX,
// ErrNoHosts, errors wrapping ErrTemporary, and errors of the host and
// domain lists.
func (r *Router) FindHosts(ctx context.Context, domain string) (Hosts, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if !ValidDomain(domain) {
		return Hosts{}, fmt.Errorf("%w: %q", ErrInvalidDomain, domain)
	}
	res := r.resolver()
	mxs, mxAD, err := res.LookupMX(ctx, domain)
	if err != nil {
		if !errors.Is(err, ErrTemporary) {
			return Hosts{}, err
		}
		ok, _, lerr := r.MXFailDomains.Match(ctx, domain)
		if lerr != nil {
			return Hosts{}, fmt.Errorf("dnslookup: mx_fail_domains: %w", lerr)
		}
		if !ok {
			return Hosts{}, err
		}
		mxs, mxAD = nil, false
	}
	var out Hosts
	var cands []candidate
	if len(mxs) == 0 {
		ok, _, lerr := r.MXDomains.Match(ctx, domain)
		if lerr != nil {
			return Hosts{}, fmt.Errorf("dnslookup: mx_domains: %w", lerr)
		}
		if ok {
			return Hosts{}, fmt.Errorf("%w: %s has no MX record", ErrNoHosts, domain)
		}
		out.ImplicitMX = true
		cands = []candidate{{name: domain, pref: -1}}
	} else {
		if len(mxs) == 1 && mxs[0].Mx == "." {
			return Hosts{}, fmt.Errorf("%w: %s", ErrNullMX, domain)
		}
		cands = r.sortMX(mxs)
	}

	var tempErr error
	for _, c := range cands {
		var addrs []netip.Addr
		ad := mxAD
		if c.addr.IsValid() {
			addrs = []netip.Addr{c.addr}
		} else {
			var err error
			var aAD bool
			addrs, aAD, err = res.LookupIP(ctx, c.name, r.Family)
			if err != nil {
				if errors.Is(err, ErrTemporary) {
					tempErr = err
				}
				r.logger().Debug("dnslookup: host skipped", "domain", domain, "host", c.name, "err", err)
				continue
			}
			ad = ad && aAD
		}
		addrs, err = r.ignore(ctx, c.name, addrs)
		if err != nil {
			return Hosts{}, err
		}
		r.shuffleFamilies(addrs)
		for _, ip := range addrs {
			out.Hosts = append(out.Hosts, transport.Host{Name: c.name, Addr: ip, Pref: c.pref, DNSSEC: ad})
		}
	}
	if len(out.Hosts) == 0 {
		if tempErr != nil {
			return Hosts{}, tempErr
		}
		return Hosts{}, fmt.Errorf("%w for %s", ErrNoHosts, domain)
	}
	if err := r.removeLocal(ctx, &out); err != nil {
		return Hosts{}, err
	}
	return out, nil
}

// sortMX orders MX records by preference, randomly within a preference,
// and drops null targets and repeated targets.
func (r *Router) sortMX(mxs []*dns.MX) []candidate {
	cands := make([]candidate, 0, len(mxs))
	seen := make(map[string]bool, len(mxs))
	for _, mx := range mxs {
		name := strings.ToLower(strings.TrimSuffix(mx.Mx, "."))
		if name == "" || seen[name] {
			continue
		}
		c := candidate{name: name, pref: int(mx.Preference)}
		if ip, err := netip.ParseAddr(name); err == nil {
			if !r.AllowMXToIP {
				r.logger().Debug("dnslookup: MX target is an IP address, ignored", "target", name)
				continue
			}
			c.addr = ip.Unmap()
		} else if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
			continue
		}
		seen[name] = true
		cands = append(cands, c)
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(a.pref, b.pref) })
	for i := 0; i < len(cands); {
		j := i + 1
		for j < len(cands) && cands[j].pref == cands[i].pref {
			j++
		}
		g := cands[i:j]
		Shuffle(r.Rand, len(g), func(x, y int) { g[x], g[y] = g[y], g[x] })
		i = j
	}
	return cands
}

// shuffleFamilies randomises the order of the addresses of one host
// within each address family, keeping the families in order.
func (r *Router) shuffleFamilies(addrs []netip.Addr) {
	for i := 0; i < len(addrs); {
		j := i + 1
		for j < len(addrs) && addrs[j].Is4() == addrs[i].Is4() {
			j++
		}
		g := addrs[i:j]
		Shuffle(r.Rand, len(g), func(x, y int) { g[x], g[y] = g[y], g[x] })
		i = j
	}
}

// ignore removes the addresses in IgnoreTargetHosts.
func (r *Router) ignore(ctx context.Context, name string, addrs []netip.Addr) ([]netip.Addr, error) {
	return IgnoreHosts(ctx, r.IgnoreTargetHosts, name, addrs, r.logger())
}

// IgnoreHosts returns addrs without those in list (ignore_target_hosts);
// name is the host's name, for list items that match names.
func IgnoreHosts(ctx context.Context, list *acl.HostList, name string, addrs []netip.Addr, log *slog.Logger) ([]netip.Addr, error) {
	if list == nil {
		return addrs, nil
	}
	kept := addrs[:0:0]
	for _, ip := range addrs {
		ok, _, err := list.Match(ctx, &acl.Host{Addr: ip, Name: name})
		if err != nil {
			return nil, fmt.Errorf("dnslookup: ignore_target_hosts: %w", err)
		}
		if ok {
			if log != nil {
				log.Debug("dnslookup: address ignored (ignore_target_hosts)", "host", name, "addr", ip)
			}
			continue
		}
		kept = append(kept, ip)
	}
	return kept, nil
}

// removeLocal applies Exim's rule for MX lists that contain this host:
// when a more preferred host exists, this host and every host of equal or
// greater preference are removed; when it is the most preferred, Self is
// set.
func (r *Router) removeLocal(ctx context.Context, h *Hosts) error {
	if r.Local == nil {
		return nil
	}
	for i, host := range h.Hosts {
		local, err := r.Local.IsLocal(ctx, host.Name, host.Addr)
		if err != nil {
			return err
		}
		if !local {
			continue
		}
		if host.Pref == h.Hosts[0].Pref {
			h.Self = host.Name
			return nil
		}
		cut := i
		for cut > 0 && h.Hosts[cut-1].Pref >= host.Pref {
			cut--
		}
		h.Hosts = h.Hosts[:cut]
		h.LocalRemoved = true
		return nil
	}
	return nil
}

// ValidDomain reports whether domain (without a final dot) is a
// syntactically valid mail domain name: dot-separated labels of 1 to 63
// letters, digits, hyphens and underscores, not starting or ending with a
// hyphen, at most 253 characters.
func ValidDomain(domain string) bool {
	if domain == "" || len(domain) > 253 {
		return false
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
