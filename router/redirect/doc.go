// Package redirect is Exim's redirect router for alias and forwarding
// data (Exim specification, chapter 22 "The redirect router", sections
// 22.1 to 22.9), and the parser of its data ([Parse]).
//
// The data comes from a [Source]: a lookup keyed by the local part
// ([ByLocalPart], Exim's data = ${lookup{$local_part}...}) or the whole
// address ([ByAddress]), or any Go function. Empty data, or data without
// items, declines. Otherwise the listed addresses become child addresses
// (made with (*exigo.Recipient).Child, so they inherit the parent's
// attributes), which the chain routes from its top with loop prevention.
// Special items act on the whole redirection: ":fail: text" fails the
// address (with AllowFail; the text may start with an SMTP code and an
// enhanced code of the right class, "551 5.1.6 moved"), ":defer: text"
// defers it (with AllowDefer), ":unknown:" declines, ":blackhole:"
// discards the address without delivery (unless ForbidBlackhole). A
// special item not allowed, or malformed data, defers the address (or,
// with SkipSyntaxErrors, malformed items are skipped and logged).
//
// # Differences from Exim
//
//   - Filters (allow_filter), pipes ("|command"), files ("/path") and
//     ":include:" are not delivered to: they are recognised by [Parse]
//     but the router defers the address with [ErrUnsupported]. There is
//     no file option: read files through a [Source].
//   - Unqualified addresses get the incoming domain (Exim's
//     qualify_preserve_domain) unless Qualify is set; Exim's default is
//     qualify_recipient.
//   - The first of :fail:, :defer: and :unknown: in the data decides,
//     and the other items are ignored, as the specification says
//     ("exim -bt" of Exim 4.96 lists the other addresses of a list
//     holding :fail: as routed as well).
//   - "\address" (no further redirection, from Sendmail) is parsed and
//     qualified with the incoming domain; as in Exim, it has no other
//     effect: loop prevention does not need it.
//   - Not implemented: one_time, check_ancestor, repeat_use,
//     syntax_errors_to, forbid_file / forbid_pipe (those items are never
//     allowed), rewrite.
package redirect
