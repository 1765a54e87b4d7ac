// Package dnslookup is Exim's dnslookup router (Exim specification,
// chapter 17 "The dnslookup router", with the generic options
// ignore_target_hosts, self and pass_on_timeout of chapter 15 and
// section 13.8 "Recognizing the local host"), and the DNS client it uses.
//
// [Resolver] queries recursive servers (from /etc/resolv.conf by default)
// with github.com/miekg/dns, over UDP with EDNS0 and the DNSSEC OK bit,
// falling back to TCP for truncated answers, following CNAME chains in
// answers. NXDOMAIN is [ErrNotFound]; timeouts, SERVFAIL and REFUSED from
// every server are [ErrTemporary].
//
// [Router] finds the hosts for a domain as Exim does:
//
//   - MX records, sorted by preference, in random order within one
//     preference ([Router.Rand] makes it reproducible); without MX
//     records, the domain's own address records (the implicit MX, Pref
//     -1); a domain that does not exist makes the router decline
//     (FailDeferDomains: defer).
//   - The addresses of each MX target: AAAA and A records, IPv6 first
//     (Family chooses); targets that do not exist are skipped; addresses
//     in IgnoreTargetHosts are dropped; if nothing is left, the router
//     declines.
//   - When this host ([router.LocalHost]) is among the MX hosts, it and
//     every host of equal or greater preference are removed; when it is
//     the most preferred, the Self action applies (freeze by default,
//     defer, fail, pass or send).
//   - Each transport.Host records the MX preference and whether both the
//     MX answer and the address answer had the AD bit (DNSSEC).
//   - A lookup that fails temporarily defers the address, or passes it on
//     with PassOnTimeout.
//
// # Differences from Exim
//
//   - A null MX (RFC 7505: a single MX record with target ".") fails the
//     address with 556 5.1.10 "Recipient address has null MX", as RFC
//     7505 asks; Exim declines it. A "." among other MX records is
//     ignored.
//   - When some hosts' address lookups fail temporarily, the others are
//     used; the address is deferred only when no host is usable and a
//     lookup failed.
//   - Not implemented: check_srv and srv_fail_domains, widen_domains,
//     qualify_single and search_parents (names are always looked up as
//     given, without the resolver's search list), rewrite_headers,
//     same_domain_copy_routing, dnssec_require_domains. Exim's
//     dnssec_request_domains is always "*" unless Resolver.NoDNSSEC is
//     set.
//   - ignore_target_hosts is unset by default, as in Exim;
//     [DefaultIgnoreTargetHosts] is the setting of Exim's default
//     configuration.
//   - Domain labels may contain underscores.
package dnslookup
