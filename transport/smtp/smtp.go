package smtp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/hostname"
	"github.com/exigo-mta/exigo/internal/smtpclient"
	"github.com/exigo-mta/exigo/transport"
)

// TLSPolicy is what a host requires of TLS.
type TLSPolicy int

const (
	// TLSOpportunistic uses STARTTLS when offered, without verifying the
	// certificate, and falls back to clear text when TLS fails (Exim's
	// default, tls_tempfail_tryclear).
	TLSOpportunistic TLSPolicy = iota
	// TLSRequired insists on STARTTLS and verifies the certificate as
	// the Transport's TLSConfig says (Exim's hosts_require_tls, plus
	// tls_verify_hosts unless TLSConfig.InsecureSkipVerify).
	TLSRequired
	// TLSDisabled never uses STARTTLS.
	TLSDisabled
)

// RequireTLSFor returns a TLS policy function that requires TLS for the
// hosts named (host names, case-insensitive, or IP addresses) and is
// opportunistic for the others.
func RequireTLSFor(hosts ...string) func(transport.Host) TLSPolicy {
	set := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		set[lower(h)] = true
	}
	return func(h transport.Host) TLSPolicy {
		if (h.Name != "" && set[lower(h.Name)]) || (h.Addr.IsValid() && set[h.Addr.String()]) {
			return TLSRequired
		}
		return TLSOpportunistic
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Credentials are the user name and password for AUTH PLAIN or LOGIN
// (RFC 4954), normally to a smarthost.
type Credentials struct {
	Username string
	Password string
}

// Dialer makes connections; *net.Dialer and proxy dialers satisfy it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver finds the addresses of a host given by name only;
// *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Transport delivers messages by SMTP to the hosts of a
// [transport.Delivery], in order. The zero value works: port 25,
// opportunistic TLS, the system's host name in EHLO. A Transport keeps
// idle connections for reuse; it is safe for concurrent use. Call Close to
// end the idle connections.
type Transport struct {
	// Hostname is the EHLO argument; default os.Hostname().
	Hostname string
	// Port is the port for hosts without one; default 25.
	Port int
	// TLSConfig is the base TLS configuration (roots, client
	// certificate, session cache); ServerName is set per host.
	TLSConfig *tls.Config
	// TLSPolicy decides per host; nil means TLSOpportunistic for all.
	TLSPolicy func(transport.Host) TLSPolicy
	// Auth, when set, is sent with AUTH PLAIN or LOGIN; a host that does
	// not accept it is a temporary failure.
	Auth *Credentials
	// AllowInsecureAuth allows AUTH without TLS.
	AllowInsecureAuth bool

	// MaxRcpt is the most recipients per transaction; default 100 (Exim's
	// max_rcpt). More recipients make more transactions.
	MaxRcpt int
	// MaxMessagesPerConnection bounds the transactions on one
	// connection; default 500 (Exim's connection_max_messages). Negative
	// disables reuse.
	MaxMessagesPerConnection int
	// MaxIdlePerHost bounds the idle connections kept per host; default 8.
	MaxIdlePerHost int
	// IdleTimeout is how long an idle connection is kept; default 10s.
	IdleTimeout time.Duration

	// ConnectTimeout bounds the TCP connection; default 5m (Exim's
	// connect_timeout). CommandTimeout bounds each command's reply,
	// including the greeting; default 5m. DataTimeout bounds each write
	// of data; default 5m. FinalTimeout bounds the wait for the reply to
	// the end of data; default 10m (Exim's final_timeout).
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	FinalTimeout   time.Duration

	// Dialer makes the connections; default a net.Dialer bound to
	// LocalAddr when that is valid.
	Dialer    Dialer
	LocalAddr netip.Addr
	// Resolver looks up hosts without an address; default
	// net.DefaultResolver.
	Resolver Resolver

	// NoChunking disables BDAT even when the server offers CHUNKING.
	NoChunking bool
	// ChunkSize is the largest BDAT chunk; default 128 KiB.
	ChunkSize int

	// Prepend, when set, returns header fields (raw bytes, each ending in
	// a line end) to put in front of the message, e.g. ARC or DKIM
	// signatures. It runs once per Deliver.
	Prepend func(ctx context.Context, d *transport.Delivery) ([]byte, error)
	// Signers sign each message once per Deliver, after Prepend and
	// before the first host is tried, in order (see [transport.Sign]):
	// e.g. an *arc.Signer, Exim's arc_sign. Their fields go on top of
	// the message in every transaction of the delivery (DATA or BDAT).
	// A signer's error is every recipient's outcome: permanent when it
	// wraps [transport.ErrPermanent] (arc's refusals), else temporary.
	Signers []transport.HeaderSigner

	// Logger receives connection events; nil discards them.
	Logger *slog.Logger

	mu     sync.Mutex
	idle   map[string][]*pconn
	closed bool
	helo   hostname.Lazy
}

func (t *Transport) log() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (t *Transport) timeouts() smtpclient.Timeouts {
	return smtpclient.Timeouts{
		Command: cmp.Or(t.CommandTimeout, 5*time.Minute),
		Data:    cmp.Or(t.DataTimeout, 5*time.Minute),
		Final:   cmp.Or(t.FinalTimeout, 10*time.Minute),
	}
}

// delivery is the state of one Deliver call.
type delivery struct {
	t       *Transport
	ctx     context.Context
	d       *transport.Delivery
	st      transport.Status
	prepend []byte
	size    int64
	utf8    bool
	retPath string
	paths   map[*exigo.Recipient]string
	lastErr error
	lastAtt *transport.Attempt
	failed  []transport.Host // hosts reported to a transport.HostReporter
}

// Deliver delivers d to its hosts in order and reports every recipient to
// st. See the package documentation for what each failure means. It
// returns an error only when it could not start (no hosts).
func (t *Transport) Deliver(ctx context.Context, d *transport.Delivery, st transport.Status) error {
	if len(d.Recipients) == 0 {
		return nil
	}
	if len(d.Hosts) == 0 {
		return ErrNoHosts
	}
	dv := &delivery{t: t, ctx: ctx, d: d, st: st}
	left := make([]*exigo.Recipient, 0, len(d.Recipients))
	rp, ok := smtpclient.FormatPath(d.ReturnPath)
	if !ok {
		dv.failAll(d.Recipients, &Error{After: "MAIL FROM", Err: ErrBadAddress})
		return nil
	}
	dv.retPath = rp
	dv.paths = make(map[*exigo.Recipient]string, len(d.Recipients))
	for _, r := range d.Recipients {
		p, ok := smtpclient.FormatPath(r.Address)
		if !ok || r.Address == "" {
			st.Set(r, transport.Result{Err: &Error{After: "RCPT TO", Err: ErrBadAddress}})
			continue
		}
		dv.paths[r] = p
		left = append(left, r)
	}
	if t.Prepend != nil {
		p, err := t.Prepend(ctx, d)
		if err != nil {
			dv.failAll(left, fmt.Errorf("smtp: preparing the header: %w", err))
			return nil
		}
		dv.prepend = p
	}
	if len(t.Signers) > 0 {
		p, err := transport.Sign(ctx, d.Message, dv.prepend, t.Signers...)
		if err != nil {
			dv.failAll(left, fmt.Errorf("smtp: signing the message: %w", err))
			return nil
		}
		dv.prepend = p
	}
	dv.size = smtpclient.MessageSize(d.Message, dv.prepend)
	dv.utf8 = smtpclient.NeedsSMTPUTF8(d.Message, d.ReturnPath, left)

	for _, h := range d.Hosts {
		if len(left) == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			dv.lastErr = err
			break
		}
		addrs := []netip.Addr{h.Addr}
		if !h.Addr.IsValid() {
			var err error
			addrs, err = t.resolve(ctx, h.Name)
			if err != nil {
				dv.hostFailure(h, &Error{Host: h, After: "lookup", Err: err}, nil)
				continue
			}
		}
		for _, a := range addrs {
			if len(left) == 0 || ctx.Err() != nil {
				break
			}
			left = dv.tryHost(h, a.Unmap(), left)
		}
	}
	if len(left) > 0 {
		err := dv.lastErr
		if err == nil {
			err = ctx.Err()
		}
		for _, r := range left {
			st.Set(r, transport.Result{Err: err, Attempt: dv.lastAtt})
		}
	}
	return nil
}

func (dv *delivery) failAll(rs []*exigo.Recipient, err error) {
	for _, r := range rs {
		dv.st.Set(r, transport.Result{Err: err})
	}
}

func (t *Transport) resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	if name == "" {
		return nil, errors.New("host has neither name nor address")
	}
	var r Resolver = net.DefaultResolver
	if t.Resolver != nil {
		r = t.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", name)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("no addresses for %s", name)
	}
	return addrs, err
}

// hostFailure records err as the reason the recipients still left failed
// at host h, and tells a [transport.HostReporter] Status about it (once
// per host and delivery).
func (dv *delivery) hostFailure(h transport.Host, err error, att *transport.Attempt) {
	dv.lastErr, dv.lastAtt = err, att
	dv.t.log().Debug("smtp host failed", "host", h.Name, "error", err)
	if rep, ok := dv.st.(transport.HostReporter); ok && !slices.Contains(dv.failed, h) {
		dv.failed = append(dv.failed, h)
		rep.HostFailed(h, err)
	}
}

// tryHost delivers as many of left as it can over one connection to
// addr and returns the recipients still to try at the next host.
func (dv *delivery) tryHost(h transport.Host, addr netip.Addr, left []*exigo.Recipient) []*exigo.Recipient {
	t := dv.t
	port := h.Port
	if port == 0 {
		port = cmp.Or(t.Port, 25)
	}
	ap := netip.AddrPortFrom(addr, uint16(port))
	pc, fresh, att, err := t.get(dv.ctx, h, ap)
	if err != nil {
		dv.hostFailure(h, err, att)
		return left
	}
	stop := pc.c.Bind(dv.ctx)
	defer func() {
		if !stop() {
			// The context's cancellation hook ran (or is running) and may
			// yet set a past deadline: the connection is not reusable.
			pc.c.Close()
		}
		t.put(pc)
	}()
	maxRcpt := cmp.Or(t.MaxRcpt, 100)
	for len(left) > 0 {
		batch := left[:min(maxRcpt, len(left))]
		res, att, retry, herr := dv.transaction(pc, batch)
		if res != nil && res.Stale && !fresh {
			// The server dropped an idle connection: the others kept for
			// it are likely dead too. Open a new one.
			stop()
			pc.c.Close()
			t.dropIdle(pc.key)
			npc, nfresh, att, err := t.get(dv.ctx, h, ap)
			if err != nil {
				stop = func() bool { return false }
				dv.hostFailure(h, err, att)
				return left
			}
			pc, fresh = npc, nfresh
			stop = pc.c.Bind(dv.ctx)
			continue
		}
		fresh = false
		if herr != nil {
			dv.hostFailure(h, herr, att)
			return append(retry, left[len(batch):]...)
		}
		left = left[len(batch):]
		if pc.c.Broken() {
			if len(left) > 0 {
				dv.hostFailure(h, &Error{Host: h, Remote: ap, Err: errors.New("connection lost")}, att)
			}
			return left
		}
	}
	return left
}

// transaction sends the message to batch over pc. It sets the outcome of
// every recipient it decides and returns a non-nil herr when the whole
// batch is to be tried at the next host instead.
//
// retry holds the recipients of batch to try at the next host.
func (dv *delivery) transaction(pc *pconn, batch []*exigo.Recipient) (res *smtpclient.TxResult, att *transport.Attempt, retry []*exigo.Recipient, herr error) {
	c := pc.c
	m := dv.d.Message
	a := pc.base
	att = &a
	c.LastError = nil
	fail := func(after string, err error) error {
		return &Error{Host: att.Host, Remote: att.Remote, After: after, Err: err}
	}
	switch {
	case dv.utf8 && !c.Has("SMTPUTF8"):
		return nil, att, batch, fail("EHLO", ErrSMTPUTF8)
	case m.Envelope.RequireTLS && (c.TLS == nil || !c.Has("REQUIRETLS")):
		return nil, att, batch, fail("EHLO", ErrREQUIRETLS)
	case dv.size > 0 && c.MaxSize() > 0 && dv.size > c.MaxSize():
		return nil, att, batch, fail("EHLO", ErrTooBig)
	}
	body, err := openBody(m)
	if err != nil {
		// A local problem: no other host would do better.
		dv.failAll(batch, fmt.Errorf("smtp: opening the message body: %w", err))
		return nil, att, nil, nil
	}
	defer body.Close()
	dsn := c.Has("DSN")
	tx := &smtpclient.Tx{
		Mail:      smtpclient.MailCommand(dv.retPath, m, c, dv.size, dv.utf8),
		Rcpts:     make([]string, len(batch)),
		Prepend:   dv.prepend,
		Header:    &m.Header,
		Body:      body,
		Chunking:  c.Has("CHUNKING") && !dv.t.NoChunking,
		ChunkSize: dv.t.ChunkSize,
	}
	for i, r := range batch {
		tx.Rcpts[i] = smtpclient.RcptCommand(dv.paths[r], r, dsn, dv.utf8)
	}
	res = c.Send(tx)
	if res.Stale {
		return res, att, nil, nil
	}
	if c.LastError != nil {
		att.LastReply = c.LastError.Err()
	}
	mailAfter := "MAIL FROM:" + dv.retPath
	switch {
	case res.Mail == nil:
		return res, att, batch, fail(mailAfter, res.Err)
	case res.Mail.Code/100 == 4:
		return res, att, batch, fail(mailAfter, res.Mail.Err())
	case !res.Mail.Positive():
		dv.failAll(batch, fail(mailAfter, res.Mail.Err()))
		return res, att, nil, nil
	}
	// Recipients refused at RCPT, and those whose reply never came.
	accepted := make([]*exigo.Recipient, 0, len(batch))
	var unread []*exigo.Recipient
	for i, r := range batch {
		rr := res.Rcpt[i]
		switch {
		case rr == nil:
			unread = append(unread, r)
		case !rr.Positive():
			dv.setErr(r, fail("RCPT TO:"+dv.paths[r], rr.Err()), att)
		default:
			accepted = append(accepted, r)
		}
	}
	if res.Err != nil && !res.DataSent && res.Data == nil {
		// Connection lost or timed out before the end of data: nothing
		// was delivered; the next host may take the rest.
		after := "DATA"
		if len(unread) > 0 {
			after = "RCPT TO:" + dv.paths[unread[0]]
		}
		var be *smtpclient.BodyError
		if errors.As(res.Err, &be) {
			err := fmt.Errorf("smtp: %w", res.Err)
			for _, r := range append(accepted, unread...) {
				dv.setErr(r, err, att)
			}
			return res, att, nil, nil
		}
		return res, att, append(accepted, unread...), fail(after, res.Err)
	}
	if len(accepted) == 0 {
		return res, att, nil, nil
	}
	switch {
	case res.Data != nil:
		after := "DATA"
		if tx.Chunking {
			after = "BDAT"
		}
		for _, r := range accepted {
			dv.setErr(r, fail(after, res.Data.Err()), att)
		}
	case res.Err != nil || len(res.Final) == 0:
		// The end of data was sent and its reply lost: the message may
		// have been delivered, so no other host gets it now.
		err := res.Err
		if err == nil {
			err = errors.New("no reply to the end of data")
		}
		for _, r := range accepted {
			dv.setErr(r, fail("end of data", err), att)
		}
	case res.Final[0].Positive():
		reply := res.Final[0].String()
		for _, r := range accepted {
			dv.st.Set(r, transport.Result{Reply: reply, Attempt: att})
		}
	default:
		for _, r := range accepted {
			dv.setErr(r, fail("end of data", res.Final[0].Err()), att)
		}
	}
	for _, r := range unread {
		dv.setErr(r, fail("end of data", res.Err), att)
	}
	return res, att, nil, nil
}

func (dv *delivery) setErr(r *exigo.Recipient, err error, att *transport.Attempt) {
	var e *Error
	if errors.As(err, &e) {
		if rep := e.Reply(); rep != nil && att != nil && rep.Code >= 400 && !isLocal(rep) {
			a := *att
			a.LastReply = rep
			att = &a
		}
	}
	dv.st.Set(r, transport.Result{Err: err, Attempt: att})
}

func isLocal(r *exigo.SMTPError) bool {
	return r == ErrSMTPUTF8 || r == ErrREQUIRETLS || r == ErrTooBig
}

// openBody opens the message body; a message without one has an empty
// body.
func openBody(m *exigo.Message) (io.ReadCloser, error) {
	if m.Body == nil {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return m.Body.Open()
}
