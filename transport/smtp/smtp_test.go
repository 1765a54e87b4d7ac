package smtp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/smtpclient"
	"github.com/exigo-mta/exigo/transport"
)

// TestPipelinedDATA checks the exact bytes of a pipelined DATA
// transaction with DSN, SIZE and 8BITMIME parameters, the body's
// dot-stuffing and CRLF conversion, and the attempt record.
func TestPipelinedDATA(t *testing.T) {
	t.Parallel()
	mail := "MAIL FROM:<sender@example.org> SIZE=" + testSize + " BODY=8BITMIME RET=HDRS ENVID=id+2B1+3Dx\r\n"
	rcpts := "RCPT TO:<r1@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bx@example.com\r\n" +
		"RCPT TO:<r2@example.com>\r\n"
	srv := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING", "8BITMIME", "SIZE 1000000", "DSN", "ENHANCEDSTATUSCODES")
		c.expect(mail + rcpts + "DATA\r\n")
		c.send("250 2.1.0 sender ok\r\n250 2.1.5 r1 ok\r\n250 2.1.5 r2 ok\r\n354 go ahead\r\n")
		if got := c.readData(); got != testWire {
			t.Errorf("data:\n got %q\nwant %q", got, testWire)
		}
		c.send("250-2.0.0 OK\r\n250 2.0.0 id=1abc\r\n")
		c.expectQuit()
	})
	rec := &recDialer{}
	tr := newTransport(t, rec)
	m := newMsg(t, testHeader, testBody)
	m.Envelope.Body = exigo.Body8BitMIME
	m.Envelope.EnvID = "id+1=x"
	m.Envelope.Ret = exigo.RetHdrs
	d, rs := newDelivery(m, []transport.Host{srv.host("mx1.test")}, "r1@example.com", "r2@example.com")
	rs[0].Notify = exigo.NotifySuccess | exigo.NotifyFailure
	rs[0].ORCPT = "rfc822;orig+x@example.com"
	got, st := deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{"ok 250 2.0.0 OK id=1abc", "ok 250 2.0.0 OK id=1abc"})
	att := st[rs[0]].Attempt
	if att == nil {
		t.Fatal("no attempt recorded")
	}
	want := transport.Attempt{Host: srv.host("mx1.test"), Remote: srv.addr, Greeting: "fake.example ESMTP ready", EHLO: "fake.example hello client.test"}
	if *att != want {
		t.Errorf("attempt %+v, want %+v", *att, want)
	}
	tr.Close()
	srv.close()
	equalStrings(t, "writes", rec.Writes(), []string{"EHLO client.test\r\n", mail + rcpts + "DATA\r\n", testWire, "QUIT\r\n"})
}

// TestBDAT checks that with CHUNKING the whole small message goes in the
// same write as the envelope, as one BDAT LAST chunk.
func TestBDAT(t *testing.T) {
	t.Parallel()
	env := "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\n"
	srv := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING", "CHUNKING")
		c.expect(env)
		data, last := c.readBDAT()
		if data != testChunk || !last {
			t.Errorf("chunk %q last=%v, want %q LAST", data, last, testChunk)
		}
		c.send("250 sender ok\r\n250 r1 ok\r\n250 queued as 42\r\n")
		c.expectQuit()
	})
	rec := &recDialer{}
	tr := newTransport(t, rec)
	m := newMsg(t, testHeader, testBody)
	m.Stats = exigo.BodyStats{} // unknown size: no SIZE=
	d, _ := newDelivery(m, []transport.Host{srv.host("mx1.test")}, "r1@example.com")
	got, _ := deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{"ok 250 queued as 42"})
	tr.Close()
	srv.close()
	equalStrings(t, "writes", rec.Writes(), []string{"EHLO client.test\r\n", env + "BDAT " + testSize + " LAST\r\n" + testChunk, "QUIT\r\n"})
}

// TestBDATChunks cuts the message into small chunks and keeps one BDAT
// reply outstanding.
func TestBDATChunks(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING", "CHUNKING")
		c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\n")
		var all strings.Builder
		for i := 0; ; i++ {
			data, last := c.readBDAT()
			all.WriteString(data)
			if i == 0 {
				c.send("250 sender ok\r\n250 r1 ok\r\n")
			}
			if !last && len(data) != 16 {
				t.Errorf("chunk %d has %d bytes", i, len(data))
			}
			if last {
				c.send("250 chunk\r\n250 all done\r\n")
				break
			}
			if i > 0 {
				c.send("250 chunk\r\n")
			}
		}
		if all.String() != testChunk {
			t.Errorf("data %q, want %q", all.String(), testChunk)
		}
		c.expectQuit()
	})
	tr := newTransport(t, nil)
	tr.ChunkSize = 16
	d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
	got, _ := deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{"ok 250 all done"})
}

// TestLockstep checks a server without PIPELINING: one command per write,
// HELO after a refused EHLO.
func TestLockstep(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, func(c *fakeConn) {
		c.send("220 old.example SMTP\r\n")
		c.expect("EHLO client.test\r\n")
		c.send("502 what\r\n")
		c.expect("HELO client.test\r\n")
		c.send("250 old.example\r\n")
		c.expect("MAIL FROM:<sender@example.org>\r\n")
		c.send("250 ok\r\n")
		c.expect("RCPT TO:<r1@example.com>\r\n")
		c.send("550 no such user\r\n")
		c.expect("RCPT TO:<r2@example.com>\r\n")
		c.send("250 ok\r\n")
		c.expect("DATA\r\n")
		c.send("354 go\r\n")
		if got := c.readData(); got != testWire {
			t.Errorf("data %q", got)
		}
		c.send("250 fine\r\n")
		// A second message on the same connection, RSET first.
		c.expect("RSET\r\n")
		c.send("250 reset\r\n")
		c.expect("MAIL FROM:<sender@example.org>\r\n")
		c.send("250 ok\r\n")
		c.expect("RCPT TO:<r3@example.com>\r\n")
		c.send("550 no\r\n")
		c.expectQuit()
	})
	rec := &recDialer{}
	tr := newTransport(t, rec)
	m := newMsg(t, testHeader, testBody)
	m.Envelope.Body = exigo.Body8BitMIME // not offered: sent anyway, without BODY=
	d, _ := newDelivery(m, []transport.Host{srv.host("mx1.test")}, "r1@example.com", "r2@example.com")
	got, st := deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{
		"perm mx1.test [S1]: after RCPT TO:<r1@example.com>: 550 5.0.0 no such user",
		"ok 250 fine",
	})
	if a := st[d.Recipients[0]].Attempt; a == nil || a.EHLO != "old.example" || a.LastReply == nil || a.LastReply.Message != "no such user" {
		t.Errorf("attempt %+v", a)
	}
	d, _ = newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r3@example.com")
	got, _ = deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{"perm mx1.test [S1]: after RCPT TO:<r3@example.com>: 550 5.0.0 no"})
	tr.Close()
	srv.close()
	equalStrings(t, "writes", rec.Writes(), []string{
		"EHLO client.test\r\n", "HELO client.test\r\n", "MAIL FROM:<sender@example.org>\r\n",
		"RCPT TO:<r1@example.com>\r\n", "RCPT TO:<r2@example.com>\r\n", "DATA\r\n", testWire,
		"RSET\r\n", "MAIL FROM:<sender@example.org>\r\n", "RCPT TO:<r3@example.com>\r\n", "QUIT\r\n",
	})
}

// TestReuse sends two messages over one connection, RSET pipelined in
// front of the second, then a third after the server dropped the idle
// connection (with or without a 421), which goes over a new one
// transparently.
func TestReuse(t *testing.T) {
	t.Parallel()
	for _, goodbye := range []string{"", "421 4.4.2 idle timeout\r\n"} {
		env := "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nDATA\r\n"
		done := make(chan struct{})
		srv := newFakeServer(t, func(c *fakeConn) {
			defer close(done)
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n250 ok\r\n354 go\r\n")
			c.readData()
			c.send("250 first\r\n")
			c.expect("RSET\r\n" + env)
			c.send("250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n")
			c.readData()
			c.send("250 second\r\n")
			// Then the server times the idle client out.
			c.send(goodbye)
		}, func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n250 ok\r\n354 go\r\n")
			c.readData()
			c.send("250 third\r\n")
			c.expectQuit()
		})
		rec := &recDialer{}
		tr := newTransport(t, rec)
		for i, want := range []string{"ok 250 first", "ok 250 second"} {
			d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
			got, _ := deliver(t, tr, d, srv)
			equalStrings(t, "outcome "+string(rune('1'+i)), got, []string{want})
		}
		<-done
		time.Sleep(20 * time.Millisecond) // let the close reach the client's socket
		d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
		got, _ := deliver(t, tr, d, srv)
		equalStrings(t, "outcome 3", got, []string{"ok 250 third"})
		tr.Close()
		srv.close()
		if rec.dials != 2 {
			t.Errorf("%d connections, want 2", rec.dials)
		}
	}
}

// TestResolve looks up a host given by name only and tries its addresses
// in order; TestPrepend puts header fields in front, counted in SIZE.
func TestResolve(t *testing.T) {
	t.Parallel()
	prep := "ARC-Seal: i=1; a=rsa-sha256;\n\tb=xyz\n"
	wirePrep := "ARC-Seal: i=1; a=rsa-sha256;\r\n\tb=xyz\r\n"
	srv := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING", "CHUNKING", "SIZE")
		c.expect("MAIL FROM:<sender@example.org> SIZE=" + strconv.Itoa(len(wirePrep+testChunk)) + "\r\nRCPT TO:<r1@example.com>\r\n")
		data, _ := c.readBDAT()
		if data != wirePrep+testChunk {
			t.Errorf("data %q", data)
		}
		c.send("250 ok\r\n250 ok\r\n250 done\r\n")
		c.expectQuit()
	})
	tr := newTransport(t, nil)
	// The first address has nothing listening on the server's port.
	tr.Resolver = resolverFunc(func(_ context.Context, network, host string) ([]netip.Addr, error) {
		if network != "ip" || host != "mx.example" {
			return nil, errors.New("unexpected lookup")
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.254"), srv.addr.Addr()}, nil
	})
	tr.Prepend = func(context.Context, *transport.Delivery) ([]byte, error) { return []byte(prep), nil }
	d, rs := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{{Name: "mx.example", Port: int(srv.addr.Port())}}, "r1@example.com")
	got, st := deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{"ok 250 done"})
	if a := st[rs[0]].Attempt; a.Remote != srv.addr || a.Host.Name != "mx.example" {
		t.Errorf("attempt %+v", a)
	}
}

type resolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// TestMaxRcpt splits five recipients into transactions of two on one
// connection, and MaxMessagesPerConnection 1 closes after each message.
func TestMaxRcpt(t *testing.T) {
	t.Parallel()
	rc := func(n string) string { return "RCPT TO:<r" + n + "@example.com>\r\n" }
	mail := "MAIL FROM:<sender@example.org>\r\n"
	srv := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING")
		c.expect(mail + rc("1") + rc("2") + "DATA\r\n")
		c.send("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 t1\r\n")
		c.expect("RSET\r\n" + mail + rc("3") + rc("4") + "DATA\r\n")
		c.send("250 ok\r\n250 ok\r\n450 try later\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 t2\r\n")
		c.expect("RSET\r\n" + mail + rc("5") + "DATA\r\n")
		c.send("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 t3\r\n")
		c.expectQuit()
	}, func(c *fakeConn) {
		c.hello("PIPELINING")
		c.expect(mail + rc("6") + "DATA\r\n")
		c.send("250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 t4\r\n")
		c.expectQuit()
	})
	tr := newTransport(t, nil)
	tr.MaxRcpt = 2
	tr.MaxMessagesPerConnection = 3
	d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")},
		"r1@example.com", "r2@example.com", "r3@example.com", "r4@example.com", "r5@example.com")
	got, _ := deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{
		"ok 250 t1", "ok 250 t1",
		"temp mx1.test [S1]: after RCPT TO:<r3@example.com>: 450 4.0.0 try later", "ok 250 t2",
		"ok 250 t3",
	})
	// Three transactions used the first connection up.
	d, _ = newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r6@example.com")
	got, _ = deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{"ok 250 t4"})
}

// TestFaults runs a one-connection script per fault and checks every
// recipient's outcome.
func TestFaults(t *testing.T) {
	t.Parallel()
	env := "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nRCPT TO:<r2@example.com>\r\nDATA\r\n"
	tests := []struct {
		name   string
		script func(*fakeConn)
		want   []string
	}{
		{"greeting 554", func(c *fakeConn) {
			c.send("554-5.7.1 go away\r\n554 5.7.1 really\r\n")
			c.expectQuit()
		}, []string{
			"perm mx1.test [S1]: after initial connection: 554 5.7.1 go away really",
			"perm mx1.test [S1]: after initial connection: 554 5.7.1 go away really",
		}},
		{"EHLO 421", func(c *fakeConn) {
			c.send("220 hi\r\n")
			c.expect("EHLO client.test\r\n")
			c.send("421 4.3.2 shutting down\r\n")
			c.expectEOF()
		}, []string{
			"temp mx1.test [S1]: after EHLO: 421 4.3.2 shutting down",
			"temp mx1.test [S1]: after EHLO: 421 4.3.2 shutting down",
		}},
		{"MAIL 451", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("451 4.3.0 sender check failed\r\n550 5.5.1 no MAIL\r\n550 5.5.1 no MAIL\r\n503 5.5.1 no valid recipients\r\n")
			c.expectQuit()
		}, []string{
			"temp mx1.test [S1]: after MAIL FROM:<sender@example.org>: 451 4.3.0 sender check failed",
			"temp mx1.test [S1]: after MAIL FROM:<sender@example.org>: 451 4.3.0 sender check failed",
		}},
		{"MAIL 550", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("550 5.7.1 sender refused\r\n503 no MAIL\r\n503 no MAIL\r\n503 no valid recipients\r\n")
			c.expectQuit()
		}, []string{
			"perm mx1.test [S1]: after MAIL FROM:<sender@example.org>: 550 5.7.1 sender refused",
			"perm mx1.test [S1]: after MAIL FROM:<sender@example.org>: 550 5.7.1 sender refused",
		}},
		{"RCPT 550 and 452", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n550 5.1.1 unknown user\r\n452 4.2.2 mailbox full\r\n554 5.5.1 no valid recipients\r\n")
			c.expectQuit()
		}, []string{
			"perm mx1.test [S1]: after RCPT TO:<r1@example.com>: 550 5.1.1 unknown user",
			"temp mx1.test [S1]: after RCPT TO:<r2@example.com>: 452 4.2.2 mailbox full",
		}},
		{"RCPT all refused, server still says 354", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n550 no\r\n550 no\r\n354 go on\r\n")
			c.expect(".\r\n")
			c.send("554 no valid recipients\r\n")
			c.expectQuit()
		}, []string{
			"perm mx1.test [S1]: after RCPT TO:<r1@example.com>: 550 5.0.0 no",
			"perm mx1.test [S1]: after RCPT TO:<r2@example.com>: 550 5.0.0 no",
		}},
		{"DATA 554", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n554 5.7.0 not now, not ever\r\n")
			c.expectQuit()
		}, []string{
			"perm mx1.test [S1]: after DATA: 554 5.7.0 not now, not ever",
			"perm mx1.test [S1]: after RCPT TO:<r2@example.com>: 550 5.1.1 unknown",
		}},
		{"DATA 451", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n250 ok\r\n250 ok\r\n451 4.3.0 try later\r\n")
			c.expectQuit()
		}, []string{
			"temp mx1.test [S1]: after DATA: 451 4.3.0 try later",
			"temp mx1.test [S1]: after DATA: 451 4.3.0 try later",
		}},
		{"end of data 552", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
			c.readData()
			c.send("552 5.3.4 too big\r\n")
			c.expectQuit()
		}, []string{
			"perm mx1.test [S1]: after end of data: 552 5.3.4 too big",
			"perm mx1.test [S1]: after end of data: 552 5.3.4 too big",
		}},
		{"end of data 451", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
			c.readData()
			c.send("451 4.7.1 greylisted\r\n")
			c.expectQuit()
		}, []string{
			"temp mx1.test [S1]: after end of data: 451 4.7.1 greylisted",
			"temp mx1.test [S1]: after end of data: 451 4.7.1 greylisted",
		}},
		{"drop after RCPT", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n250 ok\r\n")
			c.nc.Close()
		}, []string{
			"temp mx1.test [S1]: after RCPT TO:<r2@example.com>: EOF",
			"temp mx1.test [S1]: after RCPT TO:<r2@example.com>: EOF",
		}},
		{"drop after all RCPT replies", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n250 ok\r\n550 no\r\n")
			c.nc.Close()
		}, []string{
			"temp mx1.test [S1]: after DATA: EOF",
			"perm mx1.test [S1]: after RCPT TO:<r2@example.com>: 550 5.0.0 no",
		}},
		{"malformed reply", func(c *fakeConn) {
			c.hello("PIPELINING")
			c.expect(env)
			c.send("250 ok\r\n2x0 what\r\n")
			c.expectEOF()
		}, []string{
			`temp mx1.test [S1]: after RCPT TO:<r1@example.com>: malformed SMTP reply: "2x0 what"`,
			`temp mx1.test [S1]: after RCPT TO:<r1@example.com>: malformed SMTP reply: "2x0 what"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, tc.script)
			tr := newTransport(t, nil)
			d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com", "r2@example.com")
			got, _ := deliver(t, tr, d, srv)
			equalStrings(t, "outcomes", got, tc.want)
			tr.Close()
		})
	}
}

// TestDataTimeout: the server takes the data and never answers.
func TestDataTimeout(t *testing.T) {
	t.Parallel()
	for _, chunking := range []bool{false, true} {
		srv := newFakeServer(t, func(c *fakeConn) {
			if chunking {
				c.hello("PIPELINING", "CHUNKING")
				c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\n")
				c.readBDAT()
				c.send("250 ok\r\n250 ok\r\n")
			} else {
				c.hello("PIPELINING")
				c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nDATA\r\n")
				c.send("250 ok\r\n250 ok\r\n354 go\r\n")
				c.readData()
			}
			c.expectEOF() // silence until the client gives up
		})
		tr := newTransport(t, nil)
		tr.FinalTimeout = 200 * time.Millisecond
		d, rs := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
		st := transport.StatusMap{}
		start := time.Now()
		if err := tr.Deliver(context.Background(), d, st); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("took %v", el)
		}
		err := st[rs[0]].Err
		if err == nil || transport.Permanent(err) || !errors.Is(err, smtpclient.ErrTimeout) ||
			!strings.HasPrefix(outcome(st[rs[0]], srv), "temp mx1.test [S1]: after end of data: timeout: ") {
			t.Errorf("chunking=%v: outcome %q", chunking, outcome(st[rs[0]], srv))
		}
		tr.Close()
		srv.close()
	}
}

// TestNextHost: refused connection, 4xx greeting, then a host that works;
// the attempt of the host that decided, and the hosts reported failed.
func TestNextHost(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	busy := newFakeServer(t, func(c *fakeConn) {
		c.send("421 4.3.2 busy\r\n")
		c.expectEOF() // no QUIT after 421
	})
	good := newFakeServer(t, func(c *fakeConn) {
		c.send("220 good.example\r\n")
		c.expect("EHLO client.test\r\n")
		c.send("250-good.example says hi\r\n250 PIPELINING\r\n")
		c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nDATA\r\n")
		c.send("250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 ok\r\n")
		c.expectQuit()
	})
	tr := newTransport(t, nil)
	hosts := []transport.Host{
		{Name: "mx0.test", Addr: refused.Addr(), Port: int(refused.Port())},
		busy.host("mx1.test"),
		good.host("mx2.test"),
	}
	d, rs := newDelivery(newMsg(t, testHeader, testBody), hosts, "r1@example.com")
	rst := &reportingStatus{StatusMap: transport.StatusMap{}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Deliver(ctx, d, rst); err != nil {
		t.Fatal(err)
	}
	st := rst.StatusMap
	equalStrings(t, "outcomes", []string{outcome(st[rs[0]], busy, good)}, []string{"ok 250 ok"})
	if a := st[rs[0]].Attempt; a == nil || a.Host.Name != "mx2.test" || a.Greeting != "good.example" || a.EHLO != "good.example says hi" || a.Remote != good.addr {
		t.Errorf("attempt %+v", a)
	}
	// Every host given up on is reported to a transport.HostReporter
	// Status, once; the host that delivered is not.
	if len(rst.failed) != 2 || !strings.HasPrefix(rst.failed[0], "mx0.test: ") || !strings.Contains(rst.failed[0], "after connect: ") ||
		!strings.HasPrefix(rst.failed[1], "mx1.test: ") || !strings.Contains(rst.failed[1], "421 4.3.2 busy") {
		t.Errorf("hosts reported as failed: %q", rst.failed)
	}

	// All hosts failing: the last one's error decides.
	d, _ = newDelivery(newMsg(t, testHeader, testBody), hosts[:1], "r1@example.com")
	st = transport.StatusMap{}
	tr.Deliver(context.Background(), d, st)
	res := st[d.Recipients[0]]
	if res.Err == nil || transport.Permanent(res.Err) || !strings.Contains(res.Err.Error(), "after connect: ") || res.Attempt == nil || res.Attempt.Remote != refused {
		t.Errorf("refused: %v %+v", res.Err, res.Attempt)
	}
}

// TestFallbackDropAfterRCPT: a connection lost before the end of data
// sends the undecided recipients to the next host.
func TestFallbackDropAfterRCPT(t *testing.T) {
	t.Parallel()
	env := "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nRCPT TO:<r2@example.com>\r\nRCPT TO:<r3@example.com>\r\nDATA\r\n"
	s1 := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING")
		c.expect(env)
		c.send("250 ok\r\n250 ok\r\n550 5.1.1 r2 unknown\r\n")
		c.nc.Close()
	})
	s2 := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING")
		c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nRCPT TO:<r3@example.com>\r\nDATA\r\n")
		c.send("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 2.0.0 at s2\r\n")
		c.expectQuit()
	})
	tr := newTransport(t, nil)
	d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{s1.host("mx1.test"), s2.host("mx2.test")},
		"r1@example.com", "r2@example.com", "r3@example.com")
	got, _ := deliver(t, tr, d, s1, s2)
	equalStrings(t, "outcomes", got, []string{
		"ok 250 2.0.0 at s2",
		"perm mx1.test [S1]: after RCPT TO:<r2@example.com>: 550 5.1.1 r2 unknown",
		"ok 250 2.0.0 at s2",
	})
}

// TestLocalRefusals: SMTPUTF8, REQUIRETLS and SIZE decided before MAIL.
func TestLocalRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ext  []string
		mod  func(m *exigo.Message)
		rcpt string
		want string
	}{
		{"SMTPUTF8 needed", []string{"PIPELINING"}, func(*exigo.Message) {}, "rené@example.com",
			"perm mx1.test [S1]: after EHLO: 553 5.6.7 message needs SMTPUTF8, which the server does not support"},
		{"REQUIRETLS without TLS", []string{"PIPELINING", "REQUIRETLS"}, func(m *exigo.Message) { m.Envelope.RequireTLS = true }, "r1@example.com",
			"perm mx1.test [S1]: after EHLO: 550 5.7.30 REQUIRETLS support required"},
		{"too big", []string{"PIPELINING", "SIZE 20"}, func(*exigo.Message) {}, "r1@example.com",
			"perm mx1.test [S1]: after EHLO: 552 5.3.4 message larger than the server's SIZE limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, func(c *fakeConn) {
				c.hello(tc.ext...)
				c.expectQuit()
			})
			tr := newTransport(t, nil)
			m := newMsg(t, testHeader, testBody)
			tc.mod(m)
			d, _ := newDelivery(m, []transport.Host{srv.host("mx1.test")}, tc.rcpt)
			got, _ := deliver(t, tr, d, srv)
			equalStrings(t, "outcomes", got, []string{tc.want})
		})
	}
}

// TestSMTPUTF8 sends the SMTPUTF8 parameter and a utf-8 ORCPT.
func TestSMTPUTF8(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING", "SMTPUTF8", "DSN")
		c.expect("MAIL FROM:<sender@example.org> SMTPUTF8\r\nRCPT TO:<rené@example.com> NOTIFY=NEVER ORCPT=utf-8;rené\\x{2B}x@example.com\r\nDATA\r\n")
		c.send("250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 ok\r\n")
		c.expectQuit()
	})
	tr := newTransport(t, nil)
	m := newMsg(t, testHeader, testBody)
	m.Stats = exigo.BodyStats{}
	d, rs := newDelivery(m, []transport.Host{srv.host("mx1.test")}, "rené@example.com")
	rs[0].Notify = exigo.NotifyNever
	rs[0].ORCPT = "utf-8;rené+x@example.com"
	got, _ := deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{"ok 250 ok"})
}

// TestBadAddress: control characters never reach the wire.
func TestBadAddress(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, func(c *fakeConn) {
		c.hello("PIPELINING")
		c.expect("MAIL FROM:<sender@example.org>\r\nRCPT TO:<\"a b\"@example.com>\r\nDATA\r\n")
		c.send("250 ok\r\n250 ok\r\n354 go\r\n")
		c.readData()
		c.send("250 ok\r\n")
		c.expectQuit()
	})
	tr := newTransport(t, nil)
	d, _ := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")},
		"x@example.com>\r\nRCPT TO:<evil@example.com", "a b@example.com")
	got, _ := deliver(t, tr, d, srv)
	equalStrings(t, "outcomes", got, []string{
		"perm : after RCPT TO: address not valid in an SMTP command: permanent failure",
		"ok 250 ok",
	})
}

// TestCancel: a cancelled context ends a stalled session promptly.
func TestCancel(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, func(c *fakeConn) {
		c.send("220 slow\r\n")
		c.expect("EHLO client.test\r\n")
		c.expectEOF()
	})
	tr := newTransport(t, nil)
	d, rs := newDelivery(newMsg(t, testHeader, testBody), []transport.Host{srv.host("mx1.test")}, "r1@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	st := transport.StatusMap{}
	start := time.Now()
	tr.Deliver(ctx, d, st)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %v", el)
	}
	err := st[rs[0]].Err
	if !errors.Is(err, context.DeadlineExceeded) || transport.Permanent(err) {
		t.Errorf("outcome %v", err)
	}
}

// TestNoHosts returns an error for every recipient.
func TestNoHosts(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, nil)
	d, _ := newDelivery(newMsg(t, testHeader, testBody), nil, "r1@example.com")
	if err := tr.Deliver(context.Background(), d, transport.StatusMap{}); !errors.Is(err, ErrNoHosts) {
		t.Errorf("err %v", err)
	}
}

// TestBDATFaults: refusals with CHUNKING.
func TestBDATFaults(t *testing.T) {
	t.Parallel()
	env := "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.com>\r\nRCPT TO:<r2@example.com>\r\n"
	tests := []struct {
		name   string
		script func(*fakeConn)
		want   []string
	}{
		{"all RCPT refused", func(c *fakeConn) {
			c.hello("PIPELINING", "CHUNKING")
			c.expect(env)
			c.readBDAT()
			c.send("250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n")
			c.expectQuit()
		}, []string{
			"perm mx1.test [S1]: after RCPT TO:<r1@example.com>: 550 5.1.1 no",
			"perm mx1.test [S1]: after RCPT TO:<r2@example.com>: 550 5.1.1 no",
		}},
		{"first chunk refused", func(c *fakeConn) {
			c.hello("PIPELINING", "CHUNKING")
			c.expect(env)
			if data, last := c.readBDAT(); len(data) != 100 || last {
				t.Errorf("first chunk %d bytes, last=%v", len(data), last)
			}
			c.send("250 ok\r\n250 ok\r\n250 ok\r\n451 4.3.0 chunk lost\r\n")
			if data, last := c.readBDAT(); len(data) != 6 || !last {
				t.Errorf("second chunk %d bytes, last=%v", len(data), last)
			}
			c.send("503 5.5.1 no transaction\r\n")
			// The next transaction (here: none) would start with RSET.
			c.expectQuit()
		}, []string{
			"temp mx1.test [S1]: after BDAT: 451 4.3.0 chunk lost",
			"temp mx1.test [S1]: after BDAT: 451 4.3.0 chunk lost",
		}},
		{"last chunk refused", func(c *fakeConn) {
			c.hello("PIPELINING", "CHUNKING")
			c.expect(env)
			c.readBDAT()
			c.send("250 ok\r\n250 ok\r\n250 ok\r\n250 chunk ok\r\n")
			c.readBDAT()
			c.send("554 5.7.1 spam\r\n")
			c.expectQuit()
		}, []string{
			"perm mx1.test [S1]: after end of data: 554 5.7.1 spam",
			"perm mx1.test [S1]: after end of data: 554 5.7.1 spam",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, tc.script)
			tr := newTransport(t, nil)
			tr.ChunkSize = 100
			m := newMsg(t, testHeader, testBody)
			m.Stats = exigo.BodyStats{}
			d, _ := newDelivery(m, []transport.Host{srv.host("mx1.test")}, "r1@example.com", "r2@example.com")
			got, _ := deliver(t, tr, d, srv)
			equalStrings(t, "outcomes", got, tc.want)
		})
	}
}

// reportingStatus is a Status that also records the hosts reported as
// failed.
type reportingStatus struct {
	transport.StatusMap
	failed []string
}

func (s *reportingStatus) HostFailed(h transport.Host, err error) {
	s.failed = append(s.failed, h.Name+": "+err.Error())
}
