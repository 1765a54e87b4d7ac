// Package smtp is exigo's SMTP transport: it delivers a message to the
// hosts a router chose, with its own client (RFC 5321) rather than
// net/smtp or go-smtp's, which lack PIPELINING and hide the greeting.
//
// # Protocol
//
// The client speaks ESMTP with PIPELINING (RFC 2920: RSET, MAIL, every
// RCPT and DATA — or the first BDAT chunk with its data — go out in one
// write), CHUNKING (RFC 3030, BDAT when offered; NoChunking turns it off),
// SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC
// 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, xtext-encoded;
// utf-8 ORCPT per RFC 6533), REQUIRETLS (RFC 8689), STARTTLS (RFC 3207),
// AUTH PLAIN and LOGIN (RFC 4954) and enhanced status codes (RFC 2034,
// 3463). Replies are read with bounded line length (4096 bytes) and line
// count. The message goes out as stored: header fields as their raw
// bytes, then the body from its Opener, with every line end made CRLF
// and, for DATA, dot-stuffing — both done over whole buffers. Connections
// are kept per host (name and address) and reused by later deliveries,
// with RSET in front of every further transaction, up to
// MaxMessagesPerConnection transactions and IdleTimeout of idleness. A
// reused connection that turns out dead before MAIL is answered is
// replaced by a new one transparently.
//
// Signing: Transport.Signers ([transport.HeaderSigner], e.g. an
// *arc.Signer for Exim's arc_sign) sign a message once per Deliver,
// before the first host, reading the body once; their fields go on top of
// the message (after Prepend's) in every transaction, by DATA or BDAT,
// and are counted in SIZE=. A signer's error is every recipient's
// outcome, permanent when it wraps [transport.ErrPermanent].
//
// # Outcomes
//
// Each recipient gets exactly one [transport.Result]. Failures are
// [*Error] values naming the step ("after RCPT TO:<x>") and wrapping the
// server's reply as an *exigo.SMTPError, so [transport.Permanent]
// classifies them by the reply code. Following the Exim specification's
// chapters "The smtp transport" and "SMTP processing" (section "Errors in
// outgoing SMTP"):
//
//   - A failed connection, a 4xx or 5xx greeting or EHLO, a 4xx to MAIL,
//     a TLS requirement not met, a refused AUTH, or a connection lost
//     before the end of the data was sent: the next host (and the next
//     address of a host) is tried; when none is left, the last host's
//     error is every remaining recipient's outcome.
//   - A 5xx to MAIL fails the transaction's recipients permanently.
//   - A 4xx or 5xx to RCPT is that recipient's outcome; it is not tried
//     at the next host (as in Exim).
//   - A refusal of DATA or of a BDAT chunk, or a negative reply to the
//     end of data, is the outcome of every recipient accepted at RCPT.
//   - A connection lost, or a timeout, after the end of the data was sent
//     is a temporary failure of the accepted recipients, and no other
//     host is tried in this delivery: the message may have arrived.
//
// Every Result carries the [transport.Attempt] that decided it: remote
// address and port, greeting, first EHLO line, TLS details and the last
// 4xx/5xx reply (for a recipient refused at RCPT, its own refusal).
//
// # Where exigo differs from Exim
//
//   - A 5xx greeting or EHLO/HELO refusal moves on to the next host, as
//     Postfix's smtp_skip_5xx_greeting does, instead of failing the
//     message at the first host that says so.
//   - SIZE= is the stored size with one byte added per line for CRLF,
//     exact for spool messages; Exim adds size_addition (1024) instead.
//   - Connections are reused across deliveries within the process, not
//     handed between delivery processes.
//   - BODY=8BITMIME is sent when the message arrived with it and the
//     server offers 8BITMIME; when it does not, the message is sent
//     unchanged without BODY=, as Exim does by default (no downgrade).
//   - With opportunistic TLS (the default), a server's refusal of
//     STARTTLS continues in clear, and a failed handshake reconnects in
//     clear (Exim's tls_tempfail_tryclear). TLSRequired hosts
//     (hosts_require_tls) fail over to the next host instead.
//     Certificates are verified only for TLSRequired hosts;
//     Attempt.TLS.Verified records whether an opportunistic session's
//     certificate would have verified.
//   - A refused AUTH is temporary whatever its code (Exim:
//     hosts_require_auth defers), so a wrong smarthost password does not
//     bounce mail.
//   - Needing SMTPUTF8 (envelope flag or a non-ASCII address) at a server
//     that does not offer it fails with 553 5.6.7 ([ErrSMTPUTF8]); a
//     REQUIRETLS message without TLS or without the server's REQUIRETLS
//     fails with 550 5.7.30 ([ErrREQUIRETLS]); a message above the
//     server's SIZE fails with 552 5.3.4 ([ErrTooBig]) — each only when
//     no later host does better.
//   - REQUIRETLS does not yet imply certificate verification (RFC 8689
//     asks for MTA-STS or DANE validation): use TLSRequired with a
//     verifying TLSConfig for such hosts.
package smtp
