// Package mailtest holds helpers for testing code built on exigo (ACLs,
// routers, transports, lookups, whole pipelines), in the spirit of
// net/http/httptest: real servers on the loopback interface and fakes
// that record what they are given.
//
//   - [Server] ([NewServer], [StartServer]) is a real smtpd.Server on
//     127.0.0.1 with the test's ACLs, optional STARTTLS with a certificate
//     made at test time ([SelfSignedCert]), AUTH ([Users]), an in-memory
//     store or a real spool in a temporary directory ([WithSpool]). It
//     records every message it stores ([Server.Messages],
//     [Server.WaitMessages]) and, with [WithRouting], routes it through a
//     router.Chain and delivers it through the test's transports, with
//     what happened to each address in [Server.Outcomes].
//   - [Client] ([Dial], [DialFrom], [Dialer]) scripts an SMTP session and
//     returns every reply as a [Reply] value: [Client.Cmd],
//     [Client.Expect], raw [Client.Send], [Client.StartTLS],
//     [Client.Auth], and [Client.Transaction] for a whole transaction
//     (pipelined when the server offers PIPELINING). It can connect from
//     another loopback address (127.0.0.2, ...; all of 127.0.0.0/8 is
//     loopback on Linux) to test host-based policy.
//   - [Recorder] is a transport.Transport that records each delivery
//     (envelope, hosts, the message bytes as they would go on the wire)
//     and reports the per-recipient outcomes the test scripted
//     ([Recorder.FailWith]).
//   - [Lookup] is an in-memory lookup.Lookup that can change at run
//     time, counts its calls and fails on request, to test deferrals.
//   - [DNSServer] is a fake recursive DNS server on 127.0.0.1 (UDP and
//     TCP), answering from zone data given as Go values ([DNSZone]), with
//     injectable failures (SERVFAIL, REFUSED, timeouts) and DNSSEC's AD
//     bit; point a resolver at [DNSServer.Addr].
//
// A test of a recipient policy:
//
//	func TestRcptPolicy(t *testing.T) {
//		srv := mailtest.NewServer(t, mailtest.WithACL(smtpd.ACLs{Rcpt: myRcptACL}))
//		c := srv.Dial(t)
//		c.Ehlo("client.example")
//		c.Cmd("MAIL FROM:<a@example.org>")
//		if r := c.Cmd("RCPT TO:<nobody@example.com>"); r.String() != "550 5.1.1 unknown user" {
//			t.Errorf("RCPT: got %q", r)
//		}
//	}
//
// Helpers that take a testing.TB belong to that test: they close what
// they opened at t.Cleanup and fail the test on errors, so call them from
// the test's goroutine. [StartServer] and [Dialer.DialContext] work
// without a test (TestMain, examples) and return errors instead.
//
// # Protocols
//
// The client speaks SMTP as RFC 5321 says, with PIPELINING (RFC 2920),
// STARTTLS (RFC 3207) and AUTH PLAIN (RFC 4954, RFC 4616); it reads
// enhanced status codes (RFC 3463, RFC 2034) into [Reply.Enhanced]. It
// sends what the test says and no more, so malformed and out-of-order
// input can be tested too.
//
// # Relation to Exim
//
// Exim tests policy with its -bh option (a fake SMTP session from a given
// IP address, run against the ACLs; Exim specification, chapter 5 "The
// Exim command line", and the exim_checkaccess utility) and routing with
// -bt (address testing). mailtest does both in-process and for real: the
// session runs over a TCP connection from a loopback address of the
// test's choice, through the same server code as in production, and the
// routing goes on to (recorded) deliveries. Unlike -bh, messages are
// stored; unlike -bt, the routers see the whole message.
package mailtest
