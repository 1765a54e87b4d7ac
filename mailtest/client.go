package mailtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout bounds each network operation of a [Client] (and the
// connection) when the [Dialer] gives no timeout.
const DefaultTimeout = 10 * time.Second

// DefaultHeloName is the name a [Client] gives in the EHLO it sends by
// itself (see [Client.Transaction]).
const DefaultHeloName = "client.example"

// Dialer connects [Client] values to SMTP servers. The zero value dials
// from the system's choice of source address with [DefaultTimeout].
type Dialer struct {
	// LocalAddr is the source IP address, e.g. "127.0.0.2" to connect
	// from another loopback address than the server's (all of
	// 127.0.0.0/8 is loopback on Linux). Empty lets the system choose.
	LocalAddr string
	// Timeout bounds the connection and every later read or write;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// HeloName is the name for the EHLO the client sends by itself;
	// "" means DefaultHeloName.
	HeloName string
}

// Dial connects to the SMTP server at addr and reads its greeting. The
// client is closed at the end of the test; on failure the test fails.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	var d Dialer
	return d.Dial(t, addr)
}

// DialFrom is [Dial] from the source address local, e.g. "127.0.0.2".
func DialFrom(t testing.TB, addr, local string) *Client {
	t.Helper()
	d := Dialer{LocalAddr: local}
	return d.Dial(t, addr)
}

// Dial connects to addr and reads the greeting, for test t: the client
// is closed at the end of the test, and a failure to connect or to read
// the greeting fails the test.
func (d *Dialer) Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := d.DialContext(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	t.Cleanup(func() { c.Close() })
	return c
}

// DialContext connects to addr and reads the greeting, outside a test
// (in TestMain, a benchmark's setup or an example). The client keeps
// the first error it meets (see [Client.Err]) instead of failing a
// test. Close it when done.
func (d *Dialer) DialContext(ctx context.Context, addr string) (*Client, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	nd := net.Dialer{Timeout: timeout}
	if d.LocalAddr != "" {
		ip, err := netip.ParseAddr(d.LocalAddr)
		if err != nil {
			return nil, fmt.Errorf("mailtest: source address: %w", err)
		}
		nd.LocalAddr = &net.TCPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mailtest: %w", err)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := &Client{
		conn:     nc,
		r:        bufio.NewReader(nc),
		timeout:  timeout,
		heloName: d.HeloName,
		host:     host,
	}
	if c.heloName == "" {
		c.heloName = DefaultHeloName
	}
	g, err := c.read()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("mailtest: reading the greeting from %s: %w", addr, err)
	}
	c.greeting = g
	return c, nil
}

// Client is an SMTP client that scripts a session command by command and
// returns every reply as a [Reply] value, to assert on. It speaks what the
// test says: commands are sent as given, and nothing is sent by itself
// except the EHLO [Client.Transaction] sends when the session has none.
//
// A client made by [Dial] belongs to its test: an I/O error or an
// unexpected reply code fails the test (with t.Fatal, so use it from the
// test's goroutine only). A client made by [Dialer.DialContext] keeps the
// first such error instead (see [Client.Err]); after it, its methods do
// nothing and return zero Replies.
type Client struct {
	t        testing.TB
	conn     net.Conn
	r        *bufio.Reader
	timeout  time.Duration
	heloName string
	host     string // for the TLS server name

	greeting Reply
	hello    bool              // a HELO or EHLO was accepted
	ext      map[string]string // EHLO keywords (upper case) and parameters
	err      error             // sticky: the first failure

	transcript bytes.Buffer
}

// Greeting returns the server's greeting (220, or a rejection of the
// connection such as 554).
func (c *Client) Greeting() Reply { return c.greeting }

// Err returns the first I/O or protocol error the client met, nil if
// none. Clients made by [Dial] fail their test instead.
func (c *Client) Err() error { return c.err }

// Transcript returns the session so far, one line per command and reply
// line, each prefixed with "C: " or "S: ", with the message data of
// Transaction abbreviated to "C: <n octets of message data>".
func (c *Client) Transcript() string { return c.transcript.String() }

// LocalAddr returns the client's end of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Close closes the connection without QUIT.
func (c *Client) Close() error { return c.conn.Close() }

// fail records err and, for a test's client, fails the test.
func (c *Client) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	if c.t != nil {
		c.t.Helper()
		c.t.Fatalf("%v\nsession:\n%s", err, c.Transcript())
	}
}

func (c *Client) logf(prefix, s string) {
	for _, l := range strings.SplitAfter(s, "\n") {
		if l == "" {
			continue
		}
		c.transcript.WriteString(prefix)
		c.transcript.WriteString(strings.TrimRight(l, "\r\n"))
		c.transcript.WriteByte('\n')
	}
}

// write sends raw bytes.
func (c *Client) write(s string) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	_, err := io.WriteString(c.conn, s)
	return err
}

// read reads one reply.
func (c *Client) read() (Reply, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return Reply{}, err
	}
	return readReply(c.r, func(l string) { c.logf("S: ", l) })
}

// Send writes raw bytes to the server as they are (no line end is added):
// for pipelined groups, message data, or malformed input. Read the
// replies with [Client.Expect] or [Client.ReadReply].
func (c *Client) Send(raw string) {
	if c.t != nil {
		c.t.Helper()
	}
	if c.err != nil {
		c.fail(c.err)
		return
	}
	c.logf("C: ", raw)
	if err := c.write(raw); err != nil {
		c.fail(fmt.Errorf("mailtest: sending %q: %w", clip(raw), err))
	}
}

// ReadReply reads the next reply. It never fails the test: it returns
// the error (also for a client made by [Dial]), e.g. to check that the
// server closed the connection.
func (c *Client) ReadReply() (Reply, error) {
	if c.err != nil {
		return Reply{}, c.err
	}
	r, err := c.read()
	if err != nil {
		err = fmt.Errorf("mailtest: reading a reply: %w", err)
		if c.err == nil {
			c.err = err
		}
		return Reply{}, err
	}
	return r, nil
}

// Expect reads the next reply and checks its code.
func (c *Client) Expect(code int) Reply {
	if c.t != nil {
		c.t.Helper()
	}
	if c.err != nil {
		c.fail(c.err)
		return Reply{}
	}
	r, err := c.read()
	if err != nil {
		c.fail(fmt.Errorf("mailtest: reading a reply: %w", err))
		return Reply{}
	}
	if r.Code != code {
		c.fail(fmt.Errorf("mailtest: got reply %q, want code %d", r.String(), code))
		return r
	}
	return r
}

// Cmd sends one command line (CRLF is added) and returns the reply.
// After a successful HELO or EHLO the client knows it has greeted and,
// for EHLO, which extensions the server offers (see [Client.Extension]).
func (c *Client) Cmd(line string) Reply {
	if c.t != nil {
		c.t.Helper()
	}
	r, err := c.cmd(line)
	if err != nil {
		c.fail(err)
	}
	return r
}

// cmd is Cmd returning its I/O error instead of failing.
func (c *Client) cmd(line string) (Reply, error) {
	if c.err != nil {
		return Reply{}, c.err
	}
	c.logf("C: ", line)
	if err := c.write(line + "\r\n"); err != nil {
		return Reply{}, c.broken(fmt.Errorf("mailtest: sending %q: %w", clip(line), err))
	}
	r, err := c.read()
	if err != nil {
		return Reply{}, c.broken(fmt.Errorf("mailtest: reply to %q: %w", clip(line), err))
	}
	c.observe(line, r)
	return r, nil
}

// broken records err as the client's sticky error and returns it.
func (c *Client) broken(err error) error {
	if c.err == nil {
		c.err = err
	}
	return err
}

// observe tracks the session state a command's reply changes.
func (c *Client) observe(line string, r Reply) {
	verb, _, _ := strings.Cut(line, " ")
	switch strings.ToUpper(verb) {
	case "EHLO":
		if r.Code == 250 {
			c.hello = true
			c.ext = make(map[string]string)
			for _, l := range r.Lines[1:] {
				k, v, _ := strings.Cut(l, " ")
				c.ext[strings.ToUpper(k)] = v
			}
		}
	case "HELO":
		if r.Code == 250 {
			c.hello = true
			c.ext = nil
		}
	}
}

// Ehlo sends "EHLO name" and returns the reply; the extensions offered
// are then available from [Client.Extension].
func (c *Client) Ehlo(name string) Reply {
	if c.t != nil {
		c.t.Helper()
	}
	return c.Cmd("EHLO " + name)
}

// Extension reports whether the last accepted EHLO offered the
// extension name (case-insensitive), and with which parameters, e.g.
// "SIZE" gives "52428800".
func (c *Client) Extension(name string) (param string, ok bool) {
	param, ok = c.ext[strings.ToUpper(name)]
	return param, ok
}

// StartTLS sends STARTTLS, expects 220 and makes the TLS handshake,
// trusting the certificates in pool (nil means: do not verify the
// server's certificate). The server name checked is the host of the
// address dialed. As RFC 3207 requires, the session starts afresh: the
// client forgets the EHLO, so say EHLO again (Transaction does).
func (c *Client) StartTLS(pool *x509.CertPool) tls.ConnectionState {
	if c.t != nil {
		c.t.Helper()
	}
	cfg := &tls.Config{ServerName: c.host, RootCAs: pool}
	if pool == nil {
		cfg.InsecureSkipVerify = true
	}
	return c.StartTLSConfig(cfg)
}

// StartTLSConfig is [Client.StartTLS] with a TLS configuration of the
// test's own, e.g. with a client certificate. An empty ServerName means
// the host of the address dialed.
func (c *Client) StartTLSConfig(cfg *tls.Config) tls.ConnectionState {
	if c.t != nil {
		c.t.Helper()
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = c.host
	}
	r, err := c.cmd("STARTTLS")
	if err != nil {
		c.fail(err)
		return tls.ConnectionState{}
	}
	if r.Code != 220 {
		c.fail(fmt.Errorf("mailtest: STARTTLS refused: %q", r.String()))
		return tls.ConnectionState{}
	}
	if n := c.r.Buffered(); n > 0 {
		c.fail(c.broken(fmt.Errorf("mailtest: %d bytes from the server after its 220 to STARTTLS", n)))
		return tls.ConnectionState{}
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.fail(c.broken(err))
		return tls.ConnectionState{}
	}
	if err := tc.Handshake(); err != nil {
		c.fail(c.broken(fmt.Errorf("mailtest: TLS handshake: %w", err)))
		return tls.ConnectionState{}
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
	c.hello, c.ext = false, nil
	c.logf("", "-- TLS started\n")
	return tc.ConnectionState()
}

// Auth authenticates with AUTH PLAIN (RFC 4954, RFC 4616), the
// credentials in the initial response, and returns the reply (235 on
// success).
func (c *Client) Auth(user, pass string) Reply {
	if c.t != nil {
		c.t.Helper()
	}
	resp := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	return c.Cmd("AUTH PLAIN " + resp)
}

// Quit sends QUIT, reads the reply (221) and closes the connection.
func (c *Client) Quit() Reply {
	if c.t != nil {
		c.t.Helper()
	}
	r := c.Cmd("QUIT")
	c.conn.Close()
	return r
}

// ExpectClosed checks that the server closes the connection (within the
// client's timeout) without sending anything more.
func (c *Client) ExpectClosed() {
	if c.t != nil {
		c.t.Helper()
	}
	if c.err != nil {
		c.fail(c.err)
		return
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		c.fail(c.broken(err))
		return
	}
	b, err := c.r.ReadByte()
	if err == nil {
		rest, _ := c.r.Peek(c.r.Buffered())
		c.fail(c.broken(fmt.Errorf("mailtest: connection still open: the server sent %q", clip(string(b)+string(rest)))))
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.fail(c.broken(fmt.Errorf("mailtest: connection still open after %v", c.timeout)))
		return
	}
	c.logf("", "-- connection closed by the server\n")
	c.broken(fmt.Errorf("mailtest: connection closed by the server: %w", err))
}

// Transaction scripts a mail transaction: MAIL FROM, one RCPT TO per
// recipient, DATA and the message, and returns the replies in that
// order. Addresses are put in angle brackets; an argument that starts
// with "<" is sent as it is, so it can carry parameters ("<a@b.example>
// RET=HDRS"). The message text is sent with "\n" line ends turned into
// CRLF, dot-stuffed, and ended with CRLF "." CRLF (use Send for raw
// bytes).
//
// When the client has not said EHLO, Transaction first sends "EHLO" with
// the Dialer's HeloName (its reply is not among the replies). When the
// server offers PIPELINING (RFC 2920), MAIL, the RCPTs and DATA go in one
// write and every one gets a reply; otherwise each command waits for the
// reply to the one before, and the transaction stops at a rejected MAIL,
// when no recipient was accepted, or at a rejected DATA.
//
// err is nil when the message was accepted (the reply to its end was
// 2xx), even if some recipients were refused. Otherwise it says what
// failed first and wraps the reply as an *[exigo.SMTPError] (or the I/O
// error). Transaction never fails the test by itself and sends nothing
// after a failure: the server may still hold the transaction open, so
// send RSET before the next one.
func (c *Client) Transaction(from string, rcpts []string, data string) (replies []Reply, err error) {
	if c.err != nil {
		return nil, c.err
	}
	if len(rcpts) == 0 {
		return nil, errors.New("mailtest: Transaction needs at least one recipient")
	}
	if !c.hello {
		r, err := c.cmd("EHLO " + c.heloName)
		if err != nil {
			return nil, err
		}
		if r.Code != 250 {
			return nil, fmt.Errorf("mailtest: EHLO %s: %w", c.heloName, failure(r))
		}
	}
	cmds := make([]string, 0, len(rcpts)+2)
	cmds = append(cmds, "MAIL FROM:"+pathArg(from))
	for _, r := range rcpts {
		cmds = append(cmds, "RCPT TO:"+pathArg(r))
	}
	cmds = append(cmds, "DATA")

	if _, ok := c.Extension("PIPELINING"); ok {
		replies, err = c.pipelined(cmds)
	} else {
		replies, err = c.lockstep(cmds)
	}
	if err != nil {
		return replies, err
	}
	if err := txError(cmds, replies); err != nil {
		return replies, err
	}
	final, err := c.sendData(data)
	if err != nil {
		return replies, err
	}
	replies = append(replies, final)
	if final.Code/100 != 2 {
		return replies, fmt.Errorf("mailtest: end of data: %w", failure(final))
	}
	return replies, nil
}

// pathArg returns the argument of MAIL FROM: or RCPT TO: for addr.
func pathArg(addr string) string {
	if strings.HasPrefix(addr, "<") {
		return addr
	}
	return "<" + addr + ">"
}

// pipelined sends cmds in one write and reads a reply to each.
func (c *Client) pipelined(cmds []string) ([]Reply, error) {
	var b strings.Builder
	for _, cmd := range cmds {
		c.logf("C: ", cmd)
		b.WriteString(cmd)
		b.WriteString("\r\n")
	}
	if err := c.write(b.String()); err != nil {
		return nil, c.broken(fmt.Errorf("mailtest: sending %s...: %w", cmds[0], err))
	}
	replies := make([]Reply, 0, len(cmds))
	for _, cmd := range cmds {
		r, err := c.read()
		if err != nil {
			return replies, c.broken(fmt.Errorf("mailtest: reply to %q: %w", cmd, err))
		}
		replies = append(replies, r)
	}
	return replies, nil
}

// lockstep sends cmds one by one, stopping where the transaction cannot
// go on.
func (c *Client) lockstep(cmds []string) ([]Reply, error) {
	var replies []Reply
	accepted := 0
	for i, cmd := range cmds {
		isData := i == len(cmds)-1
		if isData && accepted == 0 {
			break
		}
		r, err := c.cmd(cmd)
		if err != nil {
			return replies, err
		}
		replies = append(replies, r)
		switch {
		case i == 0 && r.Code/100 != 2:
			return replies, nil
		case i > 0 && !isData && r.Code/100 == 2:
			accepted++
		}
	}
	return replies, nil
}

// txError returns the first failure among the replies to cmds (MAIL, the
// RCPTs, DATA), nil when the server waits for the message (354).
func txError(cmds []string, replies []Reply) error {
	if len(replies) == 0 || replies[0].Code/100 != 2 {
		if len(replies) == 0 {
			return errors.New("mailtest: no reply to MAIL")
		}
		return fmt.Errorf("mailtest: %s: %w", cmds[0], failure(replies[0]))
	}
	nrcpt := len(cmds) - 2
	var firstRcpt error
	accepted := 0
	for i := 1; i <= nrcpt && i < len(replies); i++ {
		if replies[i].Code/100 == 2 {
			accepted++
		} else if firstRcpt == nil {
			firstRcpt = fmt.Errorf("%s: %w", cmds[i], failure(replies[i]))
		}
	}
	if accepted == 0 {
		return fmt.Errorf("mailtest: no recipient accepted (%w)", firstRcpt)
	}
	if len(replies) < len(cmds) {
		return errors.New("mailtest: no reply to DATA")
	}
	if r := replies[len(cmds)-1]; r.Code != 354 {
		return fmt.Errorf("mailtest: DATA: %w", failure(r))
	}
	return nil
}

// sendData sends the message text after a 354 and reads the reply.
func (c *Client) sendData(data string) (Reply, error) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	dw := textproto.NewWriter(bw).DotWriter()
	io.WriteString(dw, data)
	dw.Close()
	bw.Flush()
	c.logf("C: ", fmt.Sprintf("<%d octets of message data>\n.", buf.Len()-len(".\r\n")))
	if err := c.write(buf.String()); err != nil {
		return Reply{}, c.broken(fmt.Errorf("mailtest: sending message data: %w", err))
	}
	r, err := c.read()
	if err != nil {
		return Reply{}, c.broken(fmt.Errorf("mailtest: reply to the end of data: %w", err))
	}
	return r, nil
}
