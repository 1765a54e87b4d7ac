// Package srs implements the Sender Rewriting Scheme, which lets a
// forwarder rewrite the envelope sender of forwarded mail into an address
// of its own domain (so that SPF checks pass) and route bounces to that
// address back to the original sender.
//
// Two schemes are provided.
//
// [Native] is Exim's built-in SRS (Exim specification chapter "Sender
// rewriting", the ${srs_encode} expansion item and the inbound_srs
// condition of Exim 4.95+). Encode writes, byte for byte what Exim 4.96
// writes for the same secret, return path, forwarding domain and day:
//
//	SRS0=HHHH=TT=domain=local@forwarder
//
// with a 4-hex-digit HMAC-MD5 of the lower-cased return path and a
// 2-digit lower-case base32 day stamp that wraps every 1024 days.
// Check accepts what inbound_srs accepts (ages 0 to 10 days) and
// rebuilds $srs_recipient the same way. Exim has no SRS1: re-encoding
// an SRS0 address nests it. Where Exim 4.96 is inconsistent, exigo
// differs as documented on [Native.Check]: it decodes an upper-case day
// stamp (Exim's pattern matches it caselessly but its decoder does not),
// and like Exim it treats an empty secret as "check the syntax only"
// (and sets the recipient), which Exim's documentation does not say.
// The quoting rules are Exim's, quirks included: Encode drops every
// double quote of a quoted local part and quotes the whole SRS local
// part; Check quotes the rebuilt local part when any byte of the SRS
// local part (the domain field included) is outside RFC 5322 atext, and
// lower-cases the result. So a return path given with unnecessary
// quotes or angle brackets does not verify after the round trip, in
// Exim as in exigo.
//
// [SRS] is the full scheme of libsrs2 / libsrs_alt (Exim's old
// EXPERIMENTAL_SRS), Mail::SRS and postsrsd: base64 HMAC-SHA1 hashes,
// upper-case day stamps, SRS1 for re-forwarding, configurable hash
// length and minimum, maximum age, separator, secret rotation (first
// secret signs, all verify), the usehash / usetimestamp switches and a
// database mode that stores the original address under a key. For the
// same secret and day, its addresses are the bytes Mail::SRS (Guarded)
// and postsrsd 1.10 write, and each reverses the others'.
//
// [Router], [FailRouter] and [ReturnPath] wire both into a routing chain
// and a transport as Exim's sample SRS configuration does.
package srs
