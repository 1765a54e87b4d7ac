// Package exigo is the shared vocabulary of the exigo mail-pipeline
// components: the envelope, recipients, the message, the SMTP session it
// arrived on, SMTP replies as values, and typed attribute keys with which a
// package keeps its own per-message and per-recipient state.
//
// The root package does no I/O. Everything that receives, routes, stores or
// delivers mail lives in a sub-package (smtpd, acl, spool, ...) and speaks in
// these types, so the pieces can be assembled freely and tested in isolation.
//
// # Attributes
//
// A package that needs to remember something about a message or a recipient
// declares a key once and uses it with [Get] and [Set]:
//
//	var verdictKey = exigo.NewKey[string]("bmi.verdict")
//	exigo.Set(&rcpt.Attrs, verdictKey, "deliver")
//	v, ok := exigo.Get(&rcpt.Attrs, verdictKey)
//
// Keys compare by identity, so two packages that both call their key
// "verdict" never collide, and no package needs a string map or an import of
// another's internals.
//
// # Relation to Exim
//
// The field names follow the Exim specification's variables where a user of
// Exim would look for them ($sender_address, $received_protocol,
// $body_linecount, $acl_m_*, ...), and DSN flag values are Exim's own
// (rf_notify_* in Exim's source), so the spool package can write them
// unchanged into Exim-format spool files.
package exigo
