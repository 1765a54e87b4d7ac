// Package arc implements Authenticated Received Chain (ARC, RFC 8617):
// verification of a message's chain (section 5.2) and sealing of a new
// ARC set (section 5.1), with DKIM-style tag lists, canonicalization and
// key records (RFC 6376) written here, rsa-sha256 and ed25519-sha256
// (RFC 8463). It is the Go counterpart of Exim's experimental ARC support
// (doc/experimental-spec.txt, "ARC support"): the acl condition
// "verify = arc/<list>", the variables $arc_state, $arc_state_reason,
// $arc_domains and $arc_oldest_pass, ${authresults {admd}}, and the
// transport option arc_sign.
//
// Verification: a Verifier reads a message once (header, then the body
// streamed through every hash the chain needs) and returns a Result:
// State pass, fail or none, the failure Reason, the chain Domains in
// instance order (empty for problematic instances), the chain length and
// OldestPass. Keys come from an injectable TXTResolver (net.Resolver by
// default; MapResolver for offline use). rsa-sha1 is rejected, as RFC
// 8617 requires; RSA keys under 1024 bits (configurable) are rejected.
// Hostile input is bounded: at most 50 instances, a bounded header
// section (DefaultMaxHeaderBytes).
//
// Verification options: SkipOldestPass saves the older AMSs (4 signature
// checks instead of 6 for three instances; RFC 8617 needs only the newest
// AMS and the seals), Parallel checks a message's signatures in
// goroutines (lower latency, not less CPU). A Verifier keeps the key
// records it parsed (256 at most) so a key seen again is not decoded
// again; DNS is asked every time. Public-key operations use crypto/rsa:
// math/big alternatives (Exp, or Montgomery with cached per-key
// constants) measured slower (BenchmarkRSAPublic).
//
// Signing: a Signer builds ARC-Authentication-Results from every
// Authentication-Results field of its ADMD, then ARC-Message-Signature
// and ARC-Seal with the right instance and cv=. The body is hashed once,
// for the new signature and for checking the existing chain together.
//
// Signing in a transport (Exim's arc_sign): a *Signer is a
// transport.HeaderSigner; put it in smtp.Transport.Signers (after a DKIM
// signer, when there is one, so that the AMS covers the DKIM-Signature).
// The transport signs once per delivery, before the first host, reading
// the body once from its Opener (streamed, never held whole), and sends
// the new set on top of the message to every host and in every
// transaction of that delivery, by DATA or BDAT. ParseSignSpec reads
// Exim's "admd : selector : key [: options]".
//
// Differences from Exim:
//   - The AAR takes all Authentication-Results fields of the ADMD, in
//     order (Exim takes only the first, and requires it to be the top
//     field).
//   - An AMS without c= is read as relaxed/relaxed (as dkimpy and the
//     public ARC test suite do), not DKIM's simple/simple.
//   - $arc_oldest_pass is the lowest instance whose AMS and all newer
//     AMSs verify, as in Exim; it is 0 when the chain does not pass.
//   - A refusal to sign (no Authentication-Results field of the ADMD, 50
//     sets already, a chain ending in cv=fail) fails the delivery
//     permanently with the reason (Exim logs "no Authentication-Results
//     header for signing" and sends the message unsigned; it does not
//     check the other two). Signer.SendUnsigned restores Exim's way.
//     Other signing errors (a key that cannot sign, a DNS failure while
//     checking the chain, reading the body) defer the delivery.
//   - When the existing chain fails but its newest seal does not say
//     cv=fail yet, the signer adds a set with cv=fail whose seal covers
//     only that set (RFC 8617 5.1.1, as dkimpy does); it refuses to add
//     a set after a cv=fail seal, after 50 sets, or without an
//     Authentication-Results field of its ADMD.
//   - Authentication-Results rendering is done here: go-msgauth's
//     authres.Format mishandles arc= results (header.oldest-pass).
package arc
