package mailtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/smtpd"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

// Defaults of a [Server].
const (
	// DefaultHostname is the server's host name: greeting, EHLO reply
	// and Received: field.
	DefaultHostname = "mx.test.example"
	// DefaultGreeting follows the host name in the 220 greeting. It has
	// no date (smtpd's default has one), so greetings compare exactly.
	DefaultGreeting = "ESMTP exigo"
)

// Option configures a [Server].
type Option func(*config)

type config struct {
	acl          smtpd.ACLs
	tls          bool
	tlsConfig    *tls.Config
	auth         smtpd.Authenticator
	insecureAuth bool
	spool        bool
	spoolOpts    []spool.Option
	chain        *router.Chain
	transports   map[string]transport.Transport
	logger       *slog.Logger
	configs      []func(*smtpd.Server)
}

// WithACL sets the access control lists.
func WithACL(acls smtpd.ACLs) Option { return func(c *config) { c.acl = acls } }

// WithTLS enables STARTTLS with cfg. With a nil cfg the server uses a
// certificate made by [SelfSignedCert] for its host name, 127.0.0.1 and
// ::1; [Server.CertPool] returns the pool that trusts it.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tls, c.tlsConfig = true, cfg }
}

// WithAuth enables AUTH PLAIN and LOGIN with a. As in smtpd, AUTH is
// offered only after STARTTLS unless [WithInsecureAuth] is given too.
// [Users] is a simple Authenticator.
func WithAuth(a smtpd.Authenticator) Option { return func(c *config) { c.auth = a } }

// WithInsecureAuth offers AUTH without TLS.
func WithInsecureAuth() Option { return func(c *config) { c.insecureAuth = true } }

// WithSpool stores messages in a real Exim-format spool in a temporary
// directory (removed when the server closes) instead of in memory;
// [Server.Spool] returns it.
func WithSpool(opts ...spool.Option) Option {
	return func(c *config) { c.spool, c.spoolOpts = true, opts }
}

// WithRouting routes and delivers every message the server stores,
// before the client gets its 250: each envelope recipient is routed by
// chain ([router.Chain.Route]), and the addresses accepted are delivered
// through the transport the router named, looked up in transports
// (e.g. a [Recorder]). See [Server] for the details.
func WithRouting(chain *router.Chain, transports map[string]transport.Transport) Option {
	return func(c *config) { c.chain, c.transports = chain, transports }
}

// WithLogger sets the server's logger. By default a server made by
// [NewServer] logs to the test's log (t.Log, shown with -v or on
// failure) at Info level, and one made by [StartServer] discards logs.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithConfig calls f with the smtpd.Server before it starts, after every
// other option took effect, to set anything else (limits, timeouts,
// Hostname, Greeting, BareLineEndings, OnReceived, a Store of the
// test's own, ...).
func WithConfig(f func(*smtpd.Server)) Option {
	return func(c *config) { c.configs = append(c.configs, f) }
}

// Server is a real [smtpd.Server] serving on 127.0.0.1 for tests, in the
// manner of net/http/httptest's Server. It stores messages in memory
// (or in a spool, [WithSpool]) and records each as a [Received] once it
// is stored, before the client gets its 250, so a test can look at
// [Server.Messages] as soon as its client has the reply.
//
// # Routing and delivery
//
// With [WithRouting], the server also routes and delivers every message
// it stores, synchronously and before the 250, without a queue: each
// envelope recipient is routed with [router.Chain.Route] (on a copy of
// the message, so Received keeps the message as stored); the addresses
// accepted are grouped by transport name and host list, in order, and
// each group goes to its transport in one [transport.Delivery] with the
// message's sender as return path. What happened to each address is an
// [Outcome] ([Server.Outcomes]). There are no retries, no bounces, no
// duplicate removal across envelope recipients and no journal: it is
// for testing routers and transports together with the ACLs, not a
// delivery engine.
type Server struct {
	// Config is the running smtpd.Server. Read it; do not change it.
	Config *smtpd.Server

	addr       string
	pool       *x509.CertPool
	spool      *spool.Spool
	tempDir    string // removed at Close (servers without a test)
	chain      *router.Chain
	transports map[string]transport.Transport
	served     chan error
	closeOnce  sync.Once
	closeErr   error

	mu       sync.Mutex
	received []*Received
	outcomes []Outcome
	changed  chan struct{} // closed and replaced when a message is recorded
}

// Received is a message the server stored.
type Received struct {
	// Message is a copy of the message as stored: envelope, header
	// (with the Received: field the server added), session, variables.
	// Its Body opens Body.
	Message *exigo.Message
	// Header is the header as stored (what an Exim -H file holds): the
	// raw header fields in order, with LF line ends, without the blank
	// line after them.
	Header []byte
	// Body is the body as stored (what an Exim -D file holds after its
	// first line): everything after the blank line, LF line ends,
	// dot-stuffing removed.
	Body []byte
}

// Recipients returns the envelope recipients' addresses.
func (r *Received) Recipients() []string {
	out := make([]string, len(r.Message.Envelope.Recipients))
	for i, rc := range r.Message.Envelope.Recipients {
		out[i] = rc.Address
	}
	return out
}

// Outcome is what happened to one address of a received message when the
// server routes and delivers ([WithRouting]).
type Outcome struct {
	// MessageID is the message's ID.
	MessageID string
	// Recipient is the address routed: an envelope recipient, or an
	// address a redirection generated from one (Recipient.Root() is the
	// envelope recipient).
	Recipient *exigo.Recipient
	// Router is the router that decided; "" when none accepted the
	// address.
	Router string
	// Route is the routing result: Accept, Fail, Defer or Discard.
	Route router.Result
	// Delivery is the transport's result for an accepted address, nil
	// for the others.
	Delivery *transport.Result
}

// Err returns nil when the address was delivered or discarded, and the
// reason otherwise: the transport's error, or the router's reply (or
// error) for a failed or deferred address.
func (o Outcome) Err() error {
	switch o.Route.Outcome {
	case router.Accept:
		if o.Delivery == nil {
			return errors.New("mailtest: not delivered")
		}
		return o.Delivery.Err
	case router.Discard:
		return nil
	case router.Fail:
		if o.Route.Reply != nil {
			return o.Route.Reply
		}
		return &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: router.UnrouteableText}
	}
	if o.Route.Reply != nil {
		return o.Route.Reply
	}
	if o.Route.Err != nil {
		return o.Route.Err
	}
	return errors.New("deferred")
}

// String describes the outcome on one line, e.g. "user@example.com:
// accepted by router local for transport rec: 250 2.0.0 OK recorded",
// "x@example.com: failed: 550 5.1.1 Unrouteable address".
func (o Outcome) String() string {
	var b strings.Builder
	b.WriteString(o.Recipient.Address)
	b.WriteString(": ")
	switch o.Route.Outcome {
	case router.Accept:
		b.WriteString("accepted")
	case router.Fail:
		b.WriteString("failed")
	case router.Defer:
		b.WriteString("deferred")
	case router.Discard:
		b.WriteString("discarded")
	default:
		b.WriteString(o.Route.Outcome.String())
	}
	if o.Router != "" {
		b.WriteString(" by router ")
		b.WriteString(o.Router)
	}
	if o.Route.Outcome == router.Accept {
		b.WriteString(" for transport ")
		b.WriteString(o.Route.Transport)
		if o.Delivery != nil && o.Delivery.Err == nil {
			b.WriteString(": ")
			b.WriteString(o.Delivery.Reply)
			return b.String()
		}
	}
	if err := o.Err(); err != nil {
		b.WriteString(": ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// NewServer starts a server for test t with the given options; it is
// closed at the end of the test. A failure to start fails the test.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := start(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("mailtest: closing the server: %v", err)
		}
	})
	return s
}

// StartServer starts a server outside a test (in TestMain, a benchmark's
// setup or an example). Close it when done.
func StartServer(opts ...Option) (*Server, error) { return start(nil, opts) }

func start(t testing.TB, opts []Option) (*Server, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	logger := cfg.logger
	if logger == nil && t != nil {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
	}
	s := &Server{
		chain:      cfg.chain,
		transports: cfg.transports,
		served:     make(chan error, 1),
	}
	srv := &smtpd.Server{
		Hostname:          DefaultHostname,
		Greeting:          DefaultGreeting,
		ACL:               cfg.acl,
		Store:             &memStore{},
		TLSConfig:         cfg.tlsConfig,
		Auth:              cfg.auth,
		AllowInsecureAuth: cfg.insecureAuth,
		Logger:            logger,
	}
	if cfg.spool {
		var dir string
		if t != nil {
			dir = t.TempDir()
		} else {
			var err error
			if dir, err = os.MkdirTemp("", "mailtest-spool-"); err != nil {
				return nil, fmt.Errorf("mailtest: %w", err)
			}
			s.tempDir = dir
		}
		sp, err := spool.Open(dir, cfg.spoolOpts...)
		if err != nil {
			s.removeTemp()
			return nil, fmt.Errorf("mailtest: %w", err)
		}
		s.spool = sp
		srv.Store = smtpd.SpoolStore(sp)
	}
	for _, f := range cfg.configs {
		f(srv)
	}
	if cfg.tls && srv.TLSConfig == nil {
		cert, pool, err := SelfSignedCert(srv.Hostname, "127.0.0.1", "::1")
		if err != nil {
			s.removeTemp()
			return nil, err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.pool = pool
	}
	next := srv.OnReceived
	srv.OnReceived = func(ctx context.Context, m *exigo.Message) {
		s.record(ctx, m)
		if next != nil {
			next(ctx, m)
		}
	}
	s.Config = srv

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("mailtest: %w", err)
	}
	s.addr = l.Addr().String()
	go func() { s.served <- srv.Serve(l) }()
	return s, nil
}

// testWriter writes to a test's log, one call per write.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (s *Server) removeTemp() {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
}

// Addr returns the address the server listens on, "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// CertPool returns the pool that trusts the server's certificate when
// [WithTLS] made one, else nil.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Spool returns the spool with [WithSpool], else nil.
func (s *Server) Spool() *spool.Spool { return s.spool }

// Dial connects a client to the server (see [Dial]).
func (s *Server) Dial(t testing.TB) *Client {
	t.Helper()
	return Dial(t, s.addr)
}

// DialFrom connects a client from the source address local, e.g.
// "127.0.0.2" (see [DialFrom]).
func (s *Server) DialFrom(t testing.TB, local string) *Client {
	t.Helper()
	return DialFrom(t, s.addr, local)
}

// Close shuts the server down gracefully (see [smtpd.Server.Shutdown]),
// waiting up to 10 seconds for sessions to end, and removes the
// temporary spool of a server without a test. Later calls do nothing.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := s.Config.Shutdown(ctx)
		if serr := <-s.served; !errors.Is(serr, smtpd.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		s.removeTemp()
		s.closeErr = err
	})
	return s.closeErr
}

// Messages returns the messages stored so far, in order.
func (s *Server) Messages() []*Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// Outcomes returns what happened to the addresses of the messages stored
// so far, when the server routes ([WithRouting]): for each message in
// order, for each envelope recipient in order, the outcomes of the
// addresses routed from it.
func (s *Server) Outcomes() []Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.outcomes)
}

// WaitMessages waits until at least n messages are stored and returns
// them all, or returns an error once timeout has passed. It is for
// clients that run apart from the test (a program under test, swaks):
// a message sent by a [Client] is recorded before its 250 arrives.
func (s *Server) WaitMessages(n int, timeout time.Duration) ([]*Received, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if len(s.received) >= n {
			out := slices.Clone(s.received)
			s.mu.Unlock()
			return out, nil
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch, have := s.changed, len(s.received)
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return nil, fmt.Errorf("mailtest: %d messages stored after %v, want %d", have, timeout, n)
		}
	}
}

// record keeps a copy of a stored message and, with routing, routes and
// delivers it.
func (s *Server) record(ctx context.Context, m *exigo.Message) {
	rec := &Received{Message: cloneMessage(m)}
	for f := m.Header.Fields(); f.Next(); {
		raw, err := f.Raw()
		if err != nil {
			s.logger().Error("mailtest: reading a stored header field", "id", m.ID, "err", err)
			continue
		}
		rec.Header = append(rec.Header, raw...)
	}
	if m.Body != nil {
		body, err := readAll(m.Body)
		if err != nil {
			s.logger().Error("mailtest: reading a stored body", "id", m.ID, "err", err)
		}
		rec.Body = body
	}
	rec.Message.Body = bytesOpener(rec.Body)
	var outs []Outcome
	if s.chain != nil {
		outs = s.deliver(ctx, cloneMessage(rec.Message))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, rec)
	s.outcomes = append(s.outcomes, outs...)
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Config.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Config.Logger
}

func readAll(o exigo.Opener) ([]byte, error) {
	rc, err := o.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// batch is the addresses that go to one transport with one host list.
type batch struct {
	transport string
	hosts     []transport.Host
	rcpts     []*exigo.Recipient
	outcome   []int // indexes into the outcomes
}

// deliver routes every recipient of m and delivers the accepted
// addresses.
func (s *Server) deliver(ctx context.Context, m *exigo.Message) []Outcome {
	var outs []Outcome
	var batches []*batch
	for _, rcpt := range m.Envelope.Recipients {
		for _, r := range s.chain.Route(ctx, m, rcpt) {
			outs = append(outs, Outcome{MessageID: m.ID, Recipient: r.Recipient, Router: r.Router, Route: r.Result})
			if r.Outcome != router.Accept {
				continue
			}
			i := slices.IndexFunc(batches, func(b *batch) bool {
				return b.transport == r.Transport && slices.Equal(b.hosts, r.Hosts)
			})
			if i < 0 {
				i = len(batches)
				batches = append(batches, &batch{transport: r.Transport, hosts: r.Hosts})
			}
			b := batches[i]
			b.rcpts = append(b.rcpts, r.Recipient)
			b.outcome = append(b.outcome, len(outs)-1)
		}
	}
	for _, b := range batches {
		tr := s.transports[b.transport]
		if tr == nil {
			err := fmt.Errorf("mailtest: no transport named %q", b.transport)
			for _, i := range b.outcome {
				outs[i].Delivery = &transport.Result{Err: err}
			}
			continue
		}
		st := transport.StatusMap{}
		d := &transport.Delivery{Message: m, Recipients: b.rcpts, Hosts: b.hosts, ReturnPath: m.Envelope.Sender}
		err := tr.Deliver(ctx, d, st)
		for k, rc := range b.rcpts {
			res, ok := st[rc]
			if !ok {
				res = transport.Result{Err: err}
				if err == nil {
					res.Err = fmt.Errorf("mailtest: transport %q reported no result for %s", b.transport, rc.Address)
				}
			}
			outs[b.outcome[k]].Delivery = &res
		}
	}
	return outs
}

// Users is an [smtpd.Authenticator] over a map from user names to
// passwords. The authorization identity, when given, must be the user
// name.
type Users map[string]string

// Authenticate checks user and pass against the map.
func (u Users) Authenticate(_ context.Context, _ *exigo.Session, _, authzid, user, pass string) (string, error) {
	want, ok := u[user]
	if !ok || want != pass || authzid != "" && authzid != user {
		return "", smtpd.ErrAuthFailed
	}
	return user, nil
}
