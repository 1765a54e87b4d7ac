// Package acl implements Exim-style access control lists: ordered rules,
// each a verb and a list of conditions, run at every stage of an SMTP
// transaction (Exim specification, chapter 44 "Access control lists", and
// chapter 10 "Domain, host, address, and local part lists").
//
// A [List] is evaluated rule by rule. Each [Rule] has a [Verb] and a list of
// [Condition] values that are tested in order; the rule's conditions are
// true when all are true (an empty list is true). What happens then is
// Exim's:
//
//   - accept: all true, the list returns Accept; otherwise the next rule.
//   - deny: all true, the list returns Deny (5xx); otherwise the next rule.
//   - defer: all true, the list returns Defer (4xx); otherwise the next rule.
//   - discard: all true, the list returns Discard: the client is told
//     success but the recipient (at RCPT) or the message (later) is dropped.
//   - drop: all true, the list returns Drop: a 5xx reply and the
//     connection is closed.
//   - require: all true, the next rule; otherwise the list returns Deny.
//     A require rule fails closed.
//   - warn: never decides; its conditions run for their side effects
//     (modifiers such as add_header or logwrite) and the next rule follows.
//
// A list that reaches its end without a decision denies (Exim's implicit
// "deny" at the end of every ACL). A nil list accepts, as Exim does for an
// ACL that is not defined at most stages.
//
// A condition that returns an error makes the whole list return Defer, as
// an Exim condition that cannot be tested does, unless the condition is
// wrapped in [DeferOK], which turns the error into "true" (Exim's
// defer_ok). In a warn rule an error only stops the rule and is logged.
//
// Modifiers (add_header, set, logwrite, control, message, ...) are
// conditions that act and return true ([Action]), so they run only when
// every condition before them in the same rule was true, exactly as Exim
// orders conditions and modifiers within a statement.
//
// # Replies
//
// The default replies are Exim's: 550 "Administrative prohibition" for
// deny and drop and 451 "Temporary local problem - please try later" for
// defer, at every stage; exigo adds the enhanced codes 5.7.1 and 4.7.1.
// A rule's message (Rule.Message or a [Message] modifier) replaces the
// text and may start with its own codes, "550 5.7.1 text"; codes of the
// wrong class for the verdict are dropped, as Exim drops them. A rule that
// rejects without a message of its own uses the reply of a condition that
// supplied one ([VerifyRecipient], [Call]).
//
// # Conditions and lists
//
// [Hosts], [Domains], [LocalParts], [Senders], [SenderDomains] and
// [Recipients] test the client and the envelope against Exim lists, built
// from Exim's list syntax ([ParseHostList], [ParseDomainList],
// [ParseLocalPartList], [ParseAddressList], [SplitList]) or in Go from
// [Item] values, including lookup items backed by any [lookup.Lookup].
// [Authenticated], [VerifyRecipient], [Ratelimit], [ConditionFunc] and the
// combinators [Not], [All], [Any], [DeferOK] and [Call] complete them.
//
// # Variables
//
// Messages, log messages, add_header text, set values and ratelimit keys
// are expanded with [Tx.Expand]: $name and ${name} for ACL variables and
// a fixed set of Exim variables, nothing else. Unknown variables expand to
// "".
//
// # Differences from Exim
//
//   - Conditions are Go values, not expanded strings; Exim's expansion
//     language is not implemented (see [Tx.Expand] for the subset).
//   - endpass is not supported; nested ACLs are [Call]; "!condition" is
//     [Not].
//   - Regular expressions use Go's RE2 syntax.
//   - Lists do not support file names, @@lookups, @[], @mx_* or host
//     name aliases. Named lists (+name, from [ListConfig]) are resolved
//     when a list is built, so they cannot form cycles; query-style
//     lookups see only the subject's variables ($domain, $local_part,
//     $sender_host_address, $sender_host_name).
//   - An IPv4 client matches host list items written as IPv4-mapped IPv6
//     addresses (::ffff:192.0.2.1); Exim never matches them.
//   - The domain part of "local@domain" address list items is compared
//     caselessly even after +caseful, as the specification says (Exim
//     4.96 compares it case-sensitively).
//   - "<>" in an address list matches the empty sender, like an empty
//     item; in Exim it would change the list separator to ">".
//   - The ratelimit condition has no per_addr or unique= options, and its
//     store is in memory unless another [RateStore] is supplied.
//   - Expanded variable values never add lines: their control characters
//     become spaces, so one add_header cannot add several fields from a
//     variable as it can in Exim.
//   - A warn rule ignores the message modifier (Exim's deprecated use of
//     it as add_header), and warn log messages are not de-duplicated.
package acl
