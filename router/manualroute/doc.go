// Package manualroute is Exim's manualroute router (Exim specification,
// chapter 20 "The manualroute router"): routing rules map domain patterns
// to lists of hosts and a transport, as a route_list ([ParseRouteList])
// or per-address route data ([Router.RouteData], [ParseRouteData]).
// [Smarthost] builds the common case: every domain to one or more relays.
//
// Host items are host names, IP addresses, "[address]:port",
// "name:port" (doubled colon in a colon-separated list), "name/MX" (the
// MX hosts of name, in preference order) and "+" (a boundary between
// groups randomised separately with Randomize or the "randomize" rule
// option). Names are resolved with the dnslookup package's resolver;
// ignore_target_hosts, self, host_find_failed, host_all_ignored and
// pass_on_timeout behave as in Exim: a host that is this host is handled
// by Self when it is first in the list, and dropped with all hosts after
// it otherwise.
//
// # Differences from Exim
//
//   - Host lists are not string-expanded: no $value, $0 or $1 from the
//     pattern match.
//   - Without "byname" or "bydns", names are looked up in the DNS only
//     (Exim then falls back to the system resolver); "byname" uses Go's
//     system resolver (net.DefaultResolver, which reads /etc/hosts).
//   - When verifying, a matching rule accepts the address without looking
//     hosts up, as the specification describes.
//   - Host lists for local transports are resolved like others when they
//     are given; Exim passes them unresolved in $host.
//   - Smarthost defers when a host does not exist (host_find_failed =
//     defer) instead of freezing.
//   - self = reroute is not implemented.
package manualroute
