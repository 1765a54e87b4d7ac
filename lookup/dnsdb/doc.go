// Package dnsdb is Exim's dnsdb lookup: the DNS used as a query-style
// database (Exim specification, chapter 9 "File and database lookups",
// sections 9.10 "More about dnsdb", 9.11 "Dnsdb lookup modifiers", 9.12
// "Pseudo dnsdb record types" and 9.13 "Multiple dnsdb lookups", as in
// Exim 4.96), over github.com/miekg/dns.
//
// A [DB] is a [github.com/exigo-mta/exigo/lookup.Lookup] whose key is the
// query text, as written between the braces of ${lookup dnsdb{...}}:
//
//	>|,: defer_strict, dnssec_lax, retrans_2s, retry_1, mx=<;example.com;example.net
//
// # Query syntax
//
//   - ">c" first sets the separator between records (and between the data
//     of the names of the list) to the byte c (default newline); a
//     following ",d" sets the separator between the fields of a record to
//     d, and ";" concatenates the fields.
//   - Modifiers, in any order and any case, each followed by a comma:
//     defer_strict, defer_lax (default), defer_never; dnssec_strict,
//     dnssec_lax (default), dnssec_never; retrans_<time> (an Exim time:
//     5s, 1m30s, ...) sets the timeout of each query; retry_<n> sets the
//     number of attempts of each server.
//   - "type=": a, aaaa, a+ (AAAA then A), cname, mx, mxh (MX host names
//     only), ns, zns (NS of the name or its nearest parent), ptr, soa,
//     spf, srv, tlsa, txt (the default when there is no "="); csa is
//     recognised but not performed ([ErrUnsupported]).
//   - Then an Exim list of names: colon-separated, "<c" at the start
//     changes the separator, a doubled separator stands for itself. For
//     ptr, an IP address (IPv4 or IPv6) is turned into its in-addr.arpa
//     or ip6.arpa name, and the whole list is one item when it is a single
//     IP address (so "ptr=2001:db8::1" works without "<;").
//
// # Results
//
// The records of every name are formatted and joined by the separator:
// an address per A/AAAA record; "pref host" for MX; "prio weight port
// target" for SRV; "usage selector type hexdata" (lower-case hex) for
// TLSA; the target for CNAME, NS and PTR; for SOA the primary server,
// or with a field separator all seven fields; for TXT only the first
// character string of each record unless a field separator is given;
// for SPF all strings concatenated. Domain names have no final dot (the
// root, as in a null MX, is empty: "0 ") and are escaped as the C
// library's dn_expand does.
//
// The lookup finds something when the output is not empty. A name that
// does not exist (NXDOMAIN) or has no such records gives nothing. A
// temporary failure (every server timing out or answering SERVFAIL,
// REFUSED or another error rcode, or, under dnssec_strict, an answer
// with records but without the AD bit) defers the whole lookup under
// defer_strict; under defer_lax it defers only when no other name gave
// data; under defer_never it counts as nothing found. Deferring is an
// error wrapping [ErrDefer] (and [ErrInsecure] for dnssec_strict); not
// found is ("", false, nil). [Result.Authenticated] is Exim's
// $lookup_dnssec_authenticated.
//
// Queries go to the servers of [WithServers] (else /etc/resolv.conf) in
// order, each tried up to the attempts setting, over UDP with EDNS0 (DO
// bit and AD bit set unless dnssec_never), again over TCP when the
// answer is truncated. Names are looked up as given: no search list.
// A CNAME chain is followed (at most 10 queries) when the server did not
// follow it.
//
// The package's tests compare these results byte for byte with Exim
// 4.96's own dnsdb (exim -be), both asking the same fake DNS server, in
// private network and mount namespaces (root and unshare needed).
//
// # Differences from Exim
//
//   - csa (Client SMTP Authorization, an expired draft) is not
//     implemented.
//   - With ";" (fields concatenated), MX, SRV, TLSA and SOA fields are
//     concatenated; Exim writes a NUL byte there, which truncates TLSA
//     data and embeds a NUL in SOA data.
//   - Empty items of the list are skipped (Exim queries the empty name), and
//     names that cannot be encoded in a query (a label over 63 bytes, an
//     empty label) are not found.
//   - retrans_ is limited to [MaxRetrans] and retry_ to [MaxRetry]; a
//     retrans_ time must be followed by a comma (Exim reads past the end
//     of the query without one).
//   - [Result.Authenticated] requires every answer used to be
//     authenticated, including the answers along a CNAME chain and the
//     parents tried by zns and soa; Exim reports only the last answer.
//   - zns and soa never query the root, even for a name with a final
//     dot, and walk up by labels, honouring escaped dots.
//   - Results are not cached: caching is the resolver's job.
//   - Non-ASCII names are sent as UTF-8, not converted to A-labels.
package dnsdb
