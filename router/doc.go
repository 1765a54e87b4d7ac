// Package router decides, for each recipient address, where a message
// goes: Exim's routers (Exim specification, chapter 3 "How Exim receives
// and delivers mail", sections 3.8 to 3.12; chapter 15 "Generic options
// for routers"; chapter 16 "The accept router"; section 44.51
// "Redirection while verifying").
//
// A [Router] looks at one [Address] and returns a [Result]: accept (to a
// named transport, with hosts for a remote one), decline, pass, redirect
// (to child addresses), fail (with a reply) or defer. A [Chain] runs
// routers in order, each in an [Entry] with Exim's generic options:
//
//   - Preconditions, tested in Exim's order: VerifyOnly / NoVerify,
//     Domains, LocalParts, Senders, Condition. A failed precondition skips
//     the router. The data of matching list items is in
//     Address.DomainData, LocalPartData and SenderData.
//   - AddressData sets $address_data ([AddressDataKey]), which stays with
//     the recipient, is inherited by child addresses and is seen by later
//     routers and by transports.
//   - Decline goes to the next router, or fails the address with NoMore;
//     Pass goes to the next router (or PassRouter) whatever NoMore says;
//     children of a redirection are routed from the top (or from
//     RedirectRouter). At the end of the chain the address fails with
//     550 "Unrouteable address" or the CannotRouteMessage of the last
//     router that saw it.
//   - Loop prevention as in Exim: a router is skipped for an address that
//     has an ancestor with the same address (without regard to case) that
//     this router redirected. So "a: b" and "b: a" end as an unrouteable
//     "a", and "cleo: cleo, cleopatra@egypt.example" keeps a copy for cleo.
//
// Child addresses are made with (*exigo.Recipient).Child: they link to
// their parent and start with a copy of its attributes and DSN fields, so
// per-recipient state such as a spam verdict follows redirections.
//
// [Chain.Route] returns the final outcome of every address that results
// from a recipient; [Chain.Verify] routes in verify mode, where a
// redirection to one address goes on with it and one to several succeeds;
// [Chain.VerifyRecipient] makes a chain an [acl.RecipientVerifier] for
// verify = recipient, with Exim's replies.
//
// The drivers are in sub-packages: dnslookup (MX and address records
// through github.com/miekg/dns), manualroute (route lists, smarthosts) and
// redirect (aliases and forwarding). [AcceptTo] is the accept router. The
// fake DNS server for tests is mailtest.DNSServer.
//
// # Differences from Exim
//
//   - Options are Go values, not expanded strings: Condition is a Go
//     [Condition], AddressData a function whose "not ok" is Exim's forced
//     expansion failure.
//   - Not implemented: local_part_prefix/suffix, check_local_user,
//     require_files, unseen, expn, address_test, errors_to, headers_add,
//     headers_remove, fallback_hosts, translate_ip_address, self =
//     reroute, and separate verify_sender / verify_recipient (only
//     recipient verification exists; NoVerify covers it).
//   - Freezing belongs to the delivery engine: a router asks for it with
//     Result.Freeze.
//   - Duplicate removal (Exim section 3.11) is done among the addresses
//     generated from one recipient; across recipients it is the delivery
//     engine's job.
//   - Redirection is bounded (100 generations, 10000 addresses per
//     recipient by default, see [WithLimits]); beyond, the recipient is
//     deferred. Exim relies on loop prevention alone.
//   - The "Unrouteable address" reply carries the enhanced code 5.1.1;
//     Exim sends none.
//   - A redirect result without children declines, as Exim's redirect
//     router does for empty data.
//   - Verification works on a copy of the recipient, so the ACL's
//     recipient is not changed by routing; $address_data is passed back
//     as the ACL variable address_data.
package router
