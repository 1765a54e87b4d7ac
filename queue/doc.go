// Package queue is exigo's delivery engine and queue runner: it takes
// the messages of an Exim-format spool (package spool), routes their
// recipients (package router), delivers them with transports (package
// transport), keeps retry data in a hints database (package hints) and
// reports permanent failures with RFC 3464 delivery status notifications.
//
// It follows the Exim specification's chapters "How Exim receives and
// delivers mail" (delivery in outline, sections 3.8 to 3.13), "Retry
// configuration" (chapter 32), "Log files" (the delivery lines) and the
// queue runner options -q, -qf, -qff and -qq of "The Exim command line".
//
// # A delivery attempt
//
// [Engine.Deliver] locks the message with the spool's lock (a message
// another process holds is skipped), folds a -J journal left by an
// interrupted attempt into the -H file (the addresses in it are done
// and never delivered again), and routes every recipient not yet done.
// Generated addresses are delivered like the others; when one is
// delivered it is recorded as done, as Exim does, so that a later
// attempt re-routing its parent skips it; the parent is recorded when
// all its addresses are done. Duplicate addresses within a message are
// delivered once, as Exim 4.96 does: routed addresses whose local parts
// are equal byte for byte and whose domains are equal ignoring case are
// one delivery (user@example.com and user@EXAMPLE.com); a local part
// differing in case or quoting (User@, "user"@) is another address and
// gets its own copy, even when it reaches the same mailbox. Routing and
// delivery of one message share one [lookup.Cache] in their context (as
// Exim keeps lookup results until the end of a message), unless the
// caller's context already carries one. The accepted addresses are
// grouped by transport and host list; each group is one [transport.Transport] Deliver call, and
// at most Engine.Parallelism run at once. As the transport reports each
// delivered address, the engine records it durably before the transport
// goes on: it appends it to the -J journal, or, when it is the last
// address of the message (every other one delivered or done before, none
// failed or deferred), it removes the -H file instead
// ([spool.Lock.Dequeue]); a message delivered in one go never gets a
// journal. Permanent failures are handed to the [Bouncer] in one call
// per message; temporary ones update the retry data. At the end the -H
// file is rewritten once (journal folded, done parents added,
// -deliver_firsttime removed, -frozen set or removed) — or, when no
// recipient is left, the message is removed.
//
// # Crash safety
//
// A delivery is recorded on disk before the transport is told the result
// was taken, so a crash (even SIGKILL, or a power loss on a file system
// that honours syncfs) at any point loses nothing and delivers nothing
// twice except in one inherent window: after the transport's success
// (the remote 250, the maildir rename) and before the record is on disk.
// A crash there delivers the address again at the next attempt. Exim has
// the same window. The window is as small as the engine can make it: no
// other work happens between the transport's call to Status.Set and the
// record's write; the sync that ends it is shared with the concurrent
// deliveries of the same spool (one syncfs for all the journal writes
// and -H removals made while the previous sync ran), so it may last up
// to about two syncs instead of one.
//
// The record is one of two:
//
//   - A line in the -J journal. Exim reads it too; the next attempt (or
//     the end of this one) folds it into the -H file's non-recipients.
//   - For the last addresses of a message, the removal of the -H file.
//     A message without its -H file is gone for every queue runner, Exim
//     included, so nothing of it is delivered again; its -D file (and a
//     -J file another transport of the same attempt wrote) are removed
//     at the end of the attempt, or by [spool.Spool.Tidy] after a crash.
//     A crash before the removal is on disk leaves the -H file listing
//     the addresses as not delivered: that is the window above, no
//     wider.
//
// Removing a message at the end of an attempt ([spool.Lock.Remove])
// syncs nothing: it happens only when every address is recorded as done
// — in the -H file, in a synced journal, by a synced -H removal, or, for
// an address a router discarded, by routing that discards it again. A
// crash that undoes the removal brings back a message whose next attempt
// delivers nothing and removes it. A failure is recorded as done only
// once its bounce is committed to the spool, so a crash between the two
// sends the bounce twice rather than never.
//
// # Retries
//
// Retry data is kept per destination in [hints.Retry] records under
// hints.RetryPrefix, with keys after Exim's: "T:host:ip" for a host
// that failed as a whole (no connection, no reply, a timeout),
// "R:domain" for a routing deferral, "R:address" for a local delivery's
// temporary failure and "R:address:<sender>" for a remote server's 4xx
// reply to one address. The first [RetryRule] matching the host name or
// the address gives the intervals; the default is Exim's
// "* * F,2h,15m; G,16h,1h,1.5; F,4d,6h" ([DefaultRetryRules]).
//
// Before delivering, a host whose next retry time has not come is left
// out of the host list; when no host is left the addresses are
// deferred ("retry time not reached for any host"). In queue runs the
// routing and address records are honoured too; a delivery outside a
// queue run (on receipt, [Engine.Kick]) routes every address and tries
// local deliveries whatever they say, as Exim does. A success removes
// the records it passed.
//
// An address fails with "retry timeout exceeded" (Status 5.4.7 in the
// report) when its destination has been failing for longer than the
// rule's final cutoff (4 days by default) — for a host list, every host
// — or when the message itself has been on the queue longer than that
// cutoff and fails once more.
//
// # Queue runs
//
// [Engine.RunOnce] takes the messages oldest first, up to Parallelism
// at once. [Engine.RunTwoPhase] routes every message first and then
// delivers host list by host list, the messages for one host list one
// after the other from one goroutine, so that a transport keeping
// connections sends them down one connection. [Engine.Run] runs the
// queue at an interval; [Engine.Kick] delivers a message just received.
// Frozen messages are skipped unless RunOptions.Thaw is set.
//
// # Logging
//
// Each outcome is one slog line at Info level whose message is Exim's
// log flag: "=>" (delivered), "**" (failed), "==" (deferred); the
// attributes are id, rcpt, parent (the envelope recipient of a
// generated address), router, transport, host ("name [ip]:port"),
// reply (the server's confirmation, Exim's C=), err and retry (the next
// retry time). Addresses skipped because their retry time has not come
// are logged at Debug level only. "Completed" ends a message, "Frozen"
// (Warn) freezes one.
// [SimpleBouncer] logs each report it writes as "<=".
//
// # Differences from Exim
//
//   - Deliveries run in goroutines of one process, not in forked
//     delivery processes; the queue runner is [Engine.Run], one run at a
//     time.
//   - A message that arrives while its destination is already past its
//     final cutoff gets one delivery attempt before it fails, instead of
//     failing at once ("all hosts have been failing for a long time").
//     And, as in Exim since 4.9x for address retries, a message older
//     than the final cutoff fails at its next temporary failure — which
//     also makes it time out when its transport reports only the last of
//     several failing hosts.
//   - A failure while the destination's retry time is still to come
//     (another delivery failed meanwhile) leaves the retry data as it
//     is, so concurrent deliveries do not shorten growing intervals.
//   - Retry rules match by host name or address pattern only (no error
//     names, no senders=, no regular expressions or lookups).
//   - Message-specific retry data (Exim's "T:host:ip:id" after a 4xx to
//     MAIL or DATA) is not kept: a 4xx reply always gives address retry
//     data.
//   - A generated address equal to one of its ancestors is recorded as
//     "address:envelope-recipient" in the journal and the non-recipients
//     tree.
//   - Transports that try several hosts report each failing one to the
//     transport.Status they are given, which is a transport.HostReporter
//     (transport/smtp does), so every failed host gets retry data.
//   - The report a SimpleBouncer writes is its own text; it returns the
//     whole message up to 100 KiB (bounce_return_size_limit) and only
//     the header beyond, or with RET=HDRS.
package queue
