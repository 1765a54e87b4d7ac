// Package smtpclient is the SMTP and LMTP client engine shared by the smtp
// and lmtp transports: bounded reply parsing (RFC 5321 section 4.2, with
// RFC 3463 enhanced status codes; mailtest's test client parses its
// replies with it too), EHLO/LHLO, STARTTLS, AUTH PLAIN/LOGIN, and mail
// transactions with PIPELINING (RFC 2920), DATA with dot-stuffing over
// whole buffers, and BDAT (RFC 3030). Policy — which host, which TLS
// requirements, what a failure means for a recipient — belongs to the
// callers.
package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/msgio"
)

// Timeouts bound each step of a session. Zero means no limit.
type Timeouts struct {
	// Command bounds sending a command and reading its reply (also the
	// greeting and the replies of a pipelined group).
	Command time.Duration
	// Data bounds each write of message data and the reply to a
	// non-final BDAT.
	Data time.Duration
	// Final bounds waiting for the reply to the end of data.
	Final time.Duration
}

// Client is one SMTP or LMTP connection. It is not safe for concurrent
// use.
type Client struct {
	nc  net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	ctx context.Context

	// T holds the timeouts; it may be changed between calls.
	T Timeouts
	// LMTP selects LHLO and a reply per recipient after the data.
	LMTP bool

	// Ext holds the extensions of the last EHLO/LHLO reply, keywords in
	// upper case mapped to their parameters. Nil after HELO.
	Ext map[string]string
	// TLS is the TLS state once STARTTLS succeeded.
	TLS *tls.ConnectionState
	// Transactions counts the mail transactions started.
	Transactions int
	// LastError is the last 4xx or 5xx reply the server sent.
	LastError *Reply

	broken bool
	rbuf   []byte
	chunk  []byte
	mw     msgio.Writer
}

// readerSize is the reply reader's buffer: the longest reply line.
const readerSize = 4096

// New returns a client over nc, bound to the background context.
func New(nc net.Conn, t Timeouts) *Client {
	return &Client{
		nc:  nc,
		br:  bufio.NewReaderSize(nc, readerSize),
		bw:  bufio.NewWriterSize(nc, 32<<10),
		ctx: context.Background(),
		T:   t,
	}
}

// Conn returns the underlying connection (the TLS one after STARTTLS).
func (c *Client) Conn() net.Conn { return c.nc }

// Broken reports whether the connection is no longer usable: an I/O or
// protocol error happened, a transaction was left in an unknown state,
// or the server said 421.
func (c *Client) Broken() bool { return c.broken }

// Bind makes ctx interrupt the client's I/O until stop is called.
func (c *Client) Bind(ctx context.Context) (stop func() bool) {
	c.ctx = ctx
	return context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
}

var aLongTimeAgo = time.Unix(1, 0)

func (c *Client) deadline(d time.Duration) {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	c.nc.SetDeadline(t)
	if c.ctx.Err() != nil {
		c.nc.SetDeadline(aLongTimeAgo)
	}
}

// ioErr marks the connection broken and puts the context's error in
// front of a deadline error it caused.
func (c *Client) ioErr(err error) error {
	c.broken = true
	if cerr := c.ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w: %w", cerr, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, ErrTimeout) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// ErrTimeout is wrapped by errors of I/O that took longer than its
// timeout.
var ErrTimeout = errors.New("timeout")

// Close closes the connection without QUIT.
func (c *Client) Close() error {
	c.broken = true
	return c.nc.Close()
}

// Quit sends QUIT, waits at most timeout for the reply and closes.
func (c *Client) Quit(timeout time.Duration) error {
	if !c.broken {
		c.nc.SetDeadline(time.Now().Add(timeout))
		c.bw.WriteString("QUIT\r\n")
		if c.bw.Flush() == nil {
			ReadReply(c.br)
		}
	}
	return c.Close()
}

// ReadReply reads a reply with the Command timeout.
func (c *Client) ReadReply() (*Reply, error) { return c.readReply(c.T.Command) }

func (c *Client) readReply(d time.Duration) (*Reply, error) {
	c.deadline(d)
	r, err := ReadReply(c.br)
	if err != nil {
		return nil, c.ioErr(err)
	}
	if r.Code/100 >= 4 {
		c.LastError = r
		if r.Code == 421 {
			c.broken = true
		}
	}
	return r, nil
}

// Cmd sends one command line (without CRLF) and reads its reply.
func (c *Client) Cmd(line string) (*Reply, error) {
	c.deadline(c.T.Command)
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
	if err := c.bw.Flush(); err != nil {
		return nil, c.ioErr(err)
	}
	return c.readReply(c.T.Command)
}

// Greeting reads the server's greeting.
func (c *Client) Greeting() (*Reply, error) { return c.ReadReply() }

// Hello sends EHLO (LHLO for LMTP) and records the extensions. When the
// server rejects EHLO with a 5xx reply it falls back to HELO (not for
// LMTP). The returned reply is the one that decided.
func (c *Client) Hello(name string) (*Reply, error) {
	verb := "EHLO "
	if c.LMTP {
		verb = "LHLO "
	}
	c.Ext = nil
	r, err := c.Cmd(verb + name)
	if err != nil {
		return nil, err
	}
	if r.Code/100 == 5 && !c.LMTP {
		return c.Cmd("HELO " + name)
	}
	if r.Positive() {
		c.Ext = parseExtensions(r.Lines[1:])
	}
	return r, nil
}

func parseExtensions(lines []string) map[string]string {
	ext := make(map[string]string, len(lines))
	for _, l := range lines {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		k = strings.ToUpper(k)
		if a, ok := strings.CutPrefix(k, "AUTH="); ok {
			// The pre-RFC form some servers still send.
			if _, dup := ext["AUTH"]; !dup {
				ext["AUTH"] = strings.TrimSpace(a + " " + v)
			}
			continue
		}
		if k != "" {
			ext[k] = strings.TrimSpace(v)
		}
	}
	return ext
}

// Has reports whether the server offered the extension (upper case).
func (c *Client) Has(ext string) bool {
	_, ok := c.Ext[ext]
	return ok
}

// MaxSize returns the SIZE the server announced, 0 when none.
func (c *Client) MaxSize() int64 {
	n, _ := strconv.ParseInt(c.Ext["SIZE"], 10, 64)
	return n
}

// TLSError is a failed TLS handshake after STARTTLS was accepted.
type TLSError struct{ Err error }

func (e *TLSError) Error() string { return "TLS negotiation failed: " + e.Err.Error() }
func (e *TLSError) Unwrap() error { return e.Err }

// StartTLS sends STARTTLS. A reply other than 2xx is returned with a nil
// error and the session goes on in clear. After a 2xx reply the handshake
// runs under the Command timeout; its failure is a *TLSError and leaves
// the connection broken. On success the extensions are forgotten: the
// caller must say EHLO again.
func (c *Client) StartTLS(cfg *tls.Config) (*Reply, error) {
	r, err := c.Cmd("STARTTLS")
	if err != nil || !r.Positive() {
		return r, err
	}
	if c.br.Buffered() > 0 {
		// Bytes after the 220 were sent in clear and would be read as
		// if protected (the STARTTLS injection attack).
		c.broken = true
		return r, &TLSError{Err: errors.New("server sent data after its STARTTLS reply")}
	}
	tc := tls.Client(c.nc, cfg)
	c.deadline(c.T.Command)
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.broken = true
		return r, &TLSError{Err: c.ioErr(err)}
	}
	st := tc.ConnectionState()
	c.TLS = &st
	c.nc = tc
	c.br.Reset(tc)
	c.bw.Reset(tc)
	c.Ext = nil
	return r, nil
}

// ErrAuthNoMechanism is returned by Auth when the server offers neither
// PLAIN nor LOGIN.
var ErrAuthNoMechanism = errors.New("server offers no supported AUTH mechanism (PLAIN, LOGIN)")

// Auth authenticates with PLAIN (preferred) or LOGIN, whichever the
// server offers. It returns the final reply; a reply other than 235 is
// returned with a nil error.
func (c *Client) Auth(user, pass string) (mech string, r *Reply, err error) {
	offered := strings.Fields(strings.ToUpper(c.Ext["AUTH"]))
	has := func(m string) bool {
		for _, o := range offered {
			if o == m {
				return true
			}
		}
		return false
	}
	enc := base64.StdEncoding.EncodeToString
	switch {
	case has("PLAIN"):
		resp := enc([]byte("\x00" + user + "\x00" + pass))
		r, err = c.Cmd("AUTH PLAIN " + resp)
		if err == nil && r.Code == 334 {
			// A server that wants the response on its own line.
			r, err = c.Cmd(resp)
		}
		return "PLAIN", r, err
	case has("LOGIN"):
		r, err = c.Cmd("AUTH LOGIN")
		for _, s := range []string{user, pass} {
			if err != nil || r.Code != 334 {
				return "LOGIN", r, err
			}
			r, err = c.Cmd(enc([]byte(s)))
		}
		if err == nil && r.Code == 334 {
			// Still asking: give up the exchange.
			r, err = c.Cmd("*")
		}
		return "LOGIN", r, err
	}
	return "", nil, ErrAuthNoMechanism
}

// TLSInfo describes the TLS state the way Exim records it ($tls_out_ver
// "TLS1.3", $tls_out_cipher "TLS1.3:TLS_AES_256_GCM_SHA384:256"); nil
// without TLS. verified says whether the server's certificate chain was
// verified.
func TLSInfo(st *tls.ConnectionState, verified bool) *exigo.TLSInfo {
	if st == nil {
		return nil
	}
	ver := "TLS(0x" + strconv.FormatUint(uint64(st.Version), 16) + ")"
	switch st.Version {
	case tls.VersionTLS13:
		ver = "TLS1.3"
	case tls.VersionTLS12:
		ver = "TLS1.2"
	case tls.VersionTLS11:
		ver = "TLS1.1"
	case tls.VersionTLS10:
		ver = "TLS1.0"
	}
	suite := tls.CipherSuiteName(st.CipherSuite)
	bits := 0
	switch {
	case strings.Contains(suite, "AES_128"):
		bits = 128
	case strings.Contains(suite, "AES_256"), strings.Contains(suite, "CHACHA20"):
		bits = 256
	case strings.Contains(suite, "3DES"):
		bits = 168
	}
	info := &exigo.TLSInfo{
		Version:  ver,
		Cipher:   ver + ":" + suite + ":" + strconv.Itoa(bits),
		SNI:      st.ServerName,
		Resumed:  st.DidResume,
		Verified: verified || len(st.VerifiedChains) > 0,
	}
	if len(st.PeerCertificates) > 0 {
		info.PeerDN = st.PeerCertificates[0].Subject.String()
	}
	return info
}
