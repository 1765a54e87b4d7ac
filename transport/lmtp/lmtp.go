// Package lmtp delivers messages to a mail store by LMTP (RFC 2033), over
// a unix socket or TCP, as Exim's lmtp transport does over a socket
// (the Exim specification, chapter "The lmtp transport").
//
// The client says LHLO, sends MAIL, every RCPT and DATA in one write
// (PIPELINING is mandatory in LMTP), then the message (header fields as
// their raw bytes, body from its Opener, CRLF line ends, dot-stuffed),
// and reads one reply per accepted recipient after the data: each
// recipient gets its own outcome. SIZE, 8BITMIME, SMTPUTF8 and the DSN
// parameters are passed as for SMTP when the server offers them. The LMTP
// server adds Return-Path (and Delivered-To, as configured) itself.
//
// Failures before the first RCPT reply (connection, greeting, LHLO) are
// temporary whatever their code, as in Exim, where they defer the
// delivery: a broken store must not bounce mail. A 5xx to MAIL fails the
// recipients permanently; replies to RCPT and after the data decide per
// recipient; a connection lost after the data leaves the recipients
// without a reply temporarily failed. One connection serves one Deliver
// call (and its MaxRcpt batches); there is no reuse across calls.
package lmtp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/hostname"
	"github.com/exigo-mta/exigo/internal/smtpclient"
	"github.com/exigo-mta/exigo/transport"
)

// Dialer makes connections; *net.Dialer satisfies it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Transport delivers by LMTP to one server. It is safe for concurrent use.
type Transport struct {
	// Network is "unix" or "tcp"; empty means "unix" when Address holds
	// a '/', else "tcp".
	Network string
	// Address is the socket path or host:port. Required.
	Address string
	// Hostname is the LHLO argument; default os.Hostname().
	Hostname string
	// Dialer makes the connection; default a net.Dialer.
	Dialer Dialer
	// MaxRcpt is the most recipients per transaction; default 100.
	MaxRcpt int
	// Timeouts as in the smtp transport: connecting (default 1m), each
	// command reply (5m), each data write (5m), each reply after the
	// data (10m).
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	FinalTimeout   time.Duration
	// Logger receives session events; nil discards them.
	Logger *slog.Logger

	helo hostname.Lazy
}

// Error is a failed LMTP delivery for a recipient.
type Error struct {
	// Addr is the server's address (the socket path for unix sockets).
	Addr string
	// After names the step: "connect", "initial connection", "LHLO",
	// "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA", "end of data".
	After string
	// Err is an *exigo.SMTPError for a reply that decided the
	// recipient's outcome; otherwise a network or protocol error.
	Err error
}

func (e *Error) Error() string {
	s := "LMTP " + e.Addr + ": "
	if e.After != "" {
		s += "after " + e.After + ": "
	}
	return s + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// tempError hides a reply's code from transport.Permanent: failures of
// the session setup are temporary.
type tempError struct{ r *exigo.SMTPError }

func (e tempError) Error() string { return e.r.Error() }

var errBadAddress = fmt.Errorf("address not valid in an LMTP command: %w", transport.ErrPermanent)

// Deliver delivers d to the LMTP server and reports every recipient to
// st. It returns an error only when Address is not set.
func (t *Transport) Deliver(ctx context.Context, d *transport.Delivery, st transport.Status) error {
	if t.Address == "" {
		return errors.New("lmtp: Address not set")
	}
	if len(d.Recipients) == 0 {
		return nil
	}
	network := t.Network
	if network == "" {
		network = "tcp"
		if strings.Contains(t.Address, "/") {
			network = "unix"
		}
	}
	fail := func(after string, err error) error { return &Error{Addr: t.Address, After: after, Err: err} }
	setAll := func(rs []*exigo.Recipient, err error, att *transport.Attempt) {
		for _, r := range rs {
			st.Set(r, transport.Result{Err: err, Attempt: att})
		}
	}
	retPath, ok := smtpclient.FormatPath(d.ReturnPath)
	if !ok {
		setAll(d.Recipients, fail("MAIL FROM", errBadAddress), nil)
		return nil
	}
	var rcpts []*exigo.Recipient
	paths := make(map[*exigo.Recipient]string, len(d.Recipients))
	for _, r := range d.Recipients {
		p, ok := smtpclient.FormatPath(r.Address)
		if !ok || r.Address == "" {
			st.Set(r, transport.Result{Err: fail("RCPT TO", errBadAddress)})
			continue
		}
		paths[r] = p
		rcpts = append(rcpts, r)
	}
	if len(rcpts) == 0 {
		return nil
	}

	att := &transport.Attempt{Host: transport.Host{Name: t.Address, Pref: -1}}
	var dialer Dialer = t.Dialer
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	dctx, cancel := context.WithTimeout(ctx, cmp.Or(t.ConnectTimeout, time.Minute))
	nc, err := dialer.DialContext(dctx, network, t.Address)
	cancel()
	if err != nil {
		setAll(rcpts, fail("connect", err), att)
		return nil
	}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		att.Remote = ta.AddrPort()
		att.Remote = netip.AddrPortFrom(att.Remote.Addr().Unmap(), att.Remote.Port())
	}
	c := smtpclient.New(nc, smtpclient.Timeouts{
		Command: cmp.Or(t.CommandTimeout, 5*time.Minute),
		Data:    cmp.Or(t.DataTimeout, 5*time.Minute),
		Final:   cmp.Or(t.FinalTimeout, 10*time.Minute),
	})
	c.LMTP = true
	stop := c.Bind(ctx)
	defer func() {
		stop()
		c.Quit(5 * time.Second)
	}()
	setup := func(after string, r *smtpclient.Reply, err error) bool {
		if err == nil && r.Positive() {
			return true
		}
		if err == nil {
			att.LastReply = r.Err()
			err = tempError{r.Err()}
		}
		setAll(rcpts, fail(after, err), att)
		return false
	}
	g, err := c.Greeting()
	if err == nil {
		att.Greeting = g.Text()
	}
	if !setup("initial connection", g, err) {
		return nil
	}
	r, err := c.Hello(t.helo.Get(t.Hostname))
	if err == nil {
		att.EHLO = r.Text()
	}
	if !setup("LHLO", r, err) {
		return nil
	}

	m := d.Message
	utf8 := smtpclient.NeedsSMTPUTF8(m, d.ReturnPath, rcpts)
	if utf8 && !c.Has("SMTPUTF8") {
		setAll(rcpts, fail("LHLO", &exigo.SMTPError{Code: 553, Enhanced: exigo.EnhancedCode{5, 6, 7}, Message: "message needs SMTPUTF8, which the server does not support"}), att)
		return nil
	}
	size := smtpclient.MessageSize(m, nil)
	dsn := c.Has("DSN")
	maxRcpt := cmp.Or(t.MaxRcpt, 100)
	for len(rcpts) > 0 {
		batch := rcpts[:min(maxRcpt, len(rcpts))]
		rcpts = rcpts[len(batch):]
		body, err := openBody(m)
		if err != nil {
			setAll(batch, fmt.Errorf("lmtp: opening the message body: %w", err), att)
			continue
		}
		tx := &smtpclient.Tx{
			Mail:   smtpclient.MailCommand(retPath, m, c, size, utf8),
			Rcpts:  make([]string, len(batch)),
			Header: &m.Header,
			Body:   body,
		}
		for i, r := range batch {
			tx.Rcpts[i] = smtpclient.RcptCommand(paths[r], r, dsn, utf8)
		}
		res := c.Send(tx)
		body.Close()
		a := *att
		if c.LastError != nil {
			a.LastReply = c.LastError.Err()
		}
		t.results(&a, batch, paths, retPath, res, st, fail)
		if c.Broken() {
			setAll(rcpts, fail("", errors.New("connection lost")), &a)
			return nil
		}
	}
	return nil
}

// results maps a transaction's replies to its recipients.
func (t *Transport) results(att *transport.Attempt, batch []*exigo.Recipient, paths map[*exigo.Recipient]string, retPath string,
	res *smtpclient.TxResult, st transport.Status, fail func(string, error) error) {
	set := func(r *exigo.Recipient, err error) {
		st.Set(r, transport.Result{Err: err, Attempt: att})
	}
	if !res.Mail.Positive() {
		err := res.Err
		if res.Mail != nil {
			err = res.Mail.Err()
		}
		for _, r := range batch {
			set(r, fail("MAIL FROM:"+retPath, err))
		}
		return
	}
	final := res.Final
	for i, r := range batch {
		rr := res.Rcpt[i]
		switch {
		case rr == nil:
			set(r, fail("RCPT TO:"+paths[r], res.Err))
		case !rr.Positive():
			set(r, fail("RCPT TO:"+paths[r], rr.Err()))
		case res.Data != nil:
			set(r, fail("DATA", res.Data.Err()))
		case len(final) > 0:
			if final[0].Positive() {
				st.Set(r, transport.Result{Reply: final[0].String(), Attempt: att})
			} else {
				set(r, fail("end of data", final[0].Err()))
			}
			final = final[1:]
		default:
			err := res.Err
			if err == nil {
				err = errors.New("no reply")
			}
			after := "end of data"
			if !res.DataSent {
				after = "DATA"
			}
			set(r, fail(after, err))
		}
	}
}

// openBody opens the message body; a message without one has an empty
// body.
func openBody(m *exigo.Message) (io.ReadCloser, error) {
	if m.Body == nil {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return m.Body.Open()
}
