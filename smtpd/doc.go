// Package smtpd is exigo's SMTP server (RFC 5321): it receives mail,
// runs the ACLs of package acl at every stage, and answers 250 to the end
// of data only once the message is durably in its [Store] (normally the
// Exim-format spool, see [SpoolStore]).
//
// # Protocol
//
// Supported: ESMTP with PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME
// (RFC 6152), CHUNKING/BDAT (RFC 3030, with the same line-ending rules as
// DATA; BINARYMIME is not offered), DSN (RFC 3461: RET, ENVID,
// NOTIFY, ORCPT with xtext and, for the utf-8 address type, RFC 6533
// decoding), SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034; every
// 2xx/4xx/5xx reply but the greeting and the EHLO reply carries one),
// STARTTLS (RFC 3207) with a caller-supplied tls.Config, REQUIRETLS (RFC
// 8689, offered only after TLS), and AUTH PLAIN and LOGIN (RFC 4954)
// through an [Authenticator], offered only after TLS unless
// AllowInsecureAuth.
//
// Replies are buffered and written when the server would otherwise block
// reading, so a pipelined group of commands gets its replies in one
// write. Input that a client pipelined after STARTTLS is discarded
// (it was sent in the clear). After STARTTLS everything learned from the
// client is forgotten and it must EHLO again. Message text sent before
// the 354 reply (DATA must end a pipelined group, RFC 2920 section 3.1)
// ends the session with 554, as Exim's synchronization check does, so it
// is never read as commands.
//
// # ACLs
//
// The lists in Server.ACL run as Exim's acl_smtp_* do (Exim specification,
// chapter 44 "Access control lists"): connect (deny and drop send the
// ACL's reply, 550 by default as in Exim, and close; defer answers 421
// with the ACL's text), helo (at every HELO and EHLO, also after
// STARTTLS), mail, rcpt (once per recipient, with acl.Tx.Recipient set),
// predata, data (with the parsed header, the Received: field and the body
// through Message.Body), and notquit (when a session ends without QUIT;
// the reason is on the Tx's logger as notquit_reason). discard at RCPT
// answers 250 and drops the recipient; at MAIL it drops all recipients;
// at DATA it drops the message. drop answers and closes the connection.
// Header edits (add_header, remove_header) from the connect to the predata
// ACL are applied before the data ACL runs, those of the data ACL after
// it; removals are applied before additions.
//
// # Message data
//
// The body is streamed to the Store's Draft: never held whole in memory
// (only the header is, bounded by MaxHeaderSize). The Draft receives what
// Exim puts in a -D file: the body after the blank line, LF line ends,
// dot-stuffing removed. The header is parsed into Message.Header with the
// raw bytes kept (LF line ends); as in Exim, a first line that is not a
// header field starts the body. A Received: field in the format of Exim's
// default received_header_text (with "exigo" for "Exim 4.96") is put on
// top before the data ACL runs. Message.Stats holds $body_linecount,
// $body_zerocount, $max_received_linelength and the message size (header
// and body bytes as received, LF line ends, without the Received: field
// the server adds).
//
// # SMTP smuggling
//
// The end of data is only CRLF "." CRLF. A bare LF or bare CR (one not in
// a CRLF pair) anywhere in the data makes the server, by default
// ([RejectBare]), read on to the real end of data and answer 550 5.5.2
// without storing anything; with [NormalizeBare] such a line end is a line
// end of the stored body (a leading dot after it is removed as
// dot-stuffing), so "\n.\n", "\r.\r", "\r\n.\n" and the other variants of
// the 2023 smuggling attacks become empty lines of the message. In
// both modes no input after the first CRLF "." CRLF is ever part of a
// message, and nothing before it is ever read as a command.
//
// # Why not github.com/emersion/go-smtp
//
// The design guide names go-smtp. exigo has its own protocol engine
// instead, because go-smtp v0.25.1 cannot give the behaviour above: its
// DATA reader silently drops "." CR after CRLF, so the "\r\n.\r" smuggling
// variant can be neither detected nor normalized; its read deadline is
// set once per command line, so a slow body is cut off (or a stalled one
// is not); NewSession runs only at the first HELO, so there is no HELO
// ACL at a later EHLO (e.g. after STARTTLS); the error threshold is a
// fixed 3; there is no hook for non-mail command limits, for the ACL drop
// verb (reply, then close), for a 554 at connect time, for the greeting
// text, or for new extensions; and replies are flushed one at a time. The
// good shapes are kept: one error type for replies ([exigo.SMTPError],
// shared with the ACLs), and small interfaces ([Store], [Draft],
// [Authenticator]).
//
// # Differences from Exim
//
//   - Limits: MaxCommandsBeforeMail counts non-mail commands since the last
//     accepted MAIL (Exim's smtp_accept_max_nonmail counts over the whole
//     session), so long sessions with keep-alive NOOPs between messages
//     are not cut off. One HELO/EHLO, RSET and STARTTLS per message are
//     free, as in Exim. MaxErrors counts syntax and protocol errors
//     including unknown commands (Exim counts unknown commands apart).
//   - Bare CR and LF in message data are rejected by default (Exim 4.96
//     accepts them); see above.
//   - $tls_in_cipher is written "TLS1.3:TLS_AES_256_GCM_SHA384:256" with
//     the IANA suite name (as Exim built with OpenSSL writes for TLS 1.3);
//     Exim built with GnuTLS writes GnuTLS's names there.
//   - Replies carry enhanced status codes; texts follow Exim's where Exim
//     has one ("250 2.0.0 OK id=...", "354 Enter message, ending with "."
//     on a line by itself").
//   - Duplicate RCPTs are accepted and kept, as Exim does; they are
//     removed at routing time.
package smtpd
