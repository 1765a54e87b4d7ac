package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
)

// ACLs are the access control lists run at each stage of an SMTP session
// (Exim's acl_smtp_connect, acl_smtp_helo, ...). A nil list accepts.
type ACLs struct {
	Connect acl.List // after the connection is accepted, before the greeting
	Helo    acl.List // at every HELO and EHLO
	Mail    acl.List // at MAIL FROM
	Rcpt    acl.List // at each RCPT TO
	Predata acl.List // at DATA (and the first BDAT), before 354
	Data    acl.List // after the end of data, with the header and body
	NotQuit acl.List // when the session ends without QUIT (for logging)
}

// Server is an SMTP server. Set the fields before calling Serve; they must
// not change afterwards. The zero value with a Store is a working server
// with Exim's default limits.
type Server struct {
	// Hostname is used in the greeting, the EHLO reply and the Received:
	// field. Default: os.Hostname().
	Hostname string
	// Greeting is the text after "220 <Hostname> ". Default: "ESMTP
	// exigo" and the date, like Exim's smtp_banner.
	Greeting string

	// ACL holds the access control lists.
	ACL ACLs
	// Store receives accepted messages. Required.
	Store Store
	// TLSConfig enables STARTTLS; nil disables it. A connection that is a
	// *tls.Conn already (implicit TLS, port 465) is handshaken first.
	TLSConfig *tls.Config
	// Auth enables AUTH PLAIN and LOGIN; nil disables it.
	Auth Authenticator
	// AllowInsecureAuth advertises AUTH without TLS.
	AllowInsecureAuth bool
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger

	// MaxMessageSize is the largest message accepted in octets (Exim's
	// message_size_limit; 552). 0 means 50 MiB; negative means no limit.
	MaxMessageSize int64
	// MaxRecipients is the number of recipients per message (Exim's
	// recipients_max; 452 4.5.3). 0 means 50000; negative means no limit.
	MaxRecipients int
	// MaxLineLength limits command lines and message lines, in octets
	// without the line end. Values below 998 are raised to 998 (RFC 5321
	// section 4.5.3.1.6). 0 means: message lines unlimited (as in Exim),
	// command lines 12288 octets (enough for RFC 4954 AUTH lines).
	MaxLineLength int
	// MaxCommandsBeforeMail is Exim's smtp_accept_max_nonmail: the number
	// of non-mail commands (NOOP, VRFY, HELP, repeated HELO/EHLO, RSET and
	// STARTTLS, ...) allowed before a MAIL; then 421 and the connection is
	// closed. One each of HELO/EHLO, RSET and STARTTLS per message is free.
	// 0 means 10; negative means no limit.
	MaxCommandsBeforeMail int
	// MaxErrors is Exim's smtp_max_synprot_errors: once a session has more
	// syntax or protocol errors than this, it gets 421 and is closed. 0
	// means 3; negative means no limit.
	MaxErrors int
	// MaxConnections limits concurrent sessions (Exim's smtp_accept_max);
	// MaxConnectionsPerIP limits them per client address
	// (smtp_accept_max_per_host). Over the limit a client gets 421 and is
	// disconnected. 0 means no limit.
	MaxConnections      int
	MaxConnectionsPerIP int
	// ReadTimeout bounds the wait for each command line (Exim's
	// smtp_receive_timeout). 0 means 5 minutes.
	ReadTimeout time.Duration
	// DataTimeout bounds each read during DATA and BDAT; it is renewed
	// for every read, so a slow but steady client is not cut off. 0 means
	// 5 minutes.
	DataTimeout time.Duration
	// MaxHeaderSize bounds the message header (Exim's header_maxsize;
	// 552). 0 means 1 MiB.
	MaxHeaderSize int
	// BareLineEndings says what to do with bare CR and LF in message data.
	// The default rejects them.
	BareLineEndings BareLineEndings

	// OnReceived is called after a message has been committed to the
	// Store and before the client gets 250, e.g. to log it or to start a
	// queue runner. It must not keep m beyond the call unless it copies it.
	OnReceived func(ctx context.Context, m *exigo.Message)

	now func() time.Time // for tests; nil means time.Now

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perIP     map[netip.Addr]int
	active    int
	closing   atomic.Bool
	wg        sync.WaitGroup
	seq       atomic.Uint64
	host      string // hostname(), computed once
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("smtpd: server closed")

// Defaults (Exim's where Exim has one).
const (
	DefaultMaxMessageSize        = 50 << 20
	DefaultMaxRecipients         = 50000
	DefaultMaxCommandsBeforeMail = 10
	DefaultMaxErrors             = 3
	DefaultTimeout               = 5 * time.Minute
	DefaultMaxHeaderSize         = 1 << 20
	defaultCommandLineLimit      = 12288
	minLineLength                = 998
	readBufferSize               = 32 << 10
)

func (s *Server) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *Server) maxMessageSize() int64 {
	switch {
	case s.MaxMessageSize == 0:
		return DefaultMaxMessageSize
	case s.MaxMessageSize < 0:
		return 0
	}
	return s.MaxMessageSize
}

func (s *Server) maxRecipients() int {
	switch {
	case s.MaxRecipients == 0:
		return DefaultMaxRecipients
	case s.MaxRecipients < 0:
		return 0
	}
	return s.MaxRecipients
}

func (s *Server) maxNonmail() int {
	switch {
	case s.MaxCommandsBeforeMail == 0:
		return DefaultMaxCommandsBeforeMail
	case s.MaxCommandsBeforeMail < 0:
		return 0
	}
	return s.MaxCommandsBeforeMail
}

func (s *Server) maxErrors() int {
	switch {
	case s.MaxErrors == 0:
		return DefaultMaxErrors
	case s.MaxErrors < 0:
		return 0
	}
	return s.MaxErrors
}

// dataLineLimit is the longest message line in octets, 0 for none.
func (s *Server) dataLineLimit() int {
	if s.MaxLineLength <= 0 {
		return 0
	}
	return max(s.MaxLineLength, minLineLength)
}

// commandLineLimit is the longest command line in octets.
func (s *Server) commandLineLimit() int {
	if s.MaxLineLength <= 0 {
		return defaultCommandLineLimit
	}
	return max(s.MaxLineLength, minLineLength)
}

func (s *Server) readTimeout() time.Duration {
	if s.ReadTimeout <= 0 {
		return DefaultTimeout
	}
	return s.ReadTimeout
}

func (s *Server) dataTimeout() time.Duration {
	if s.DataTimeout <= 0 {
		return DefaultTimeout
	}
	return s.DataTimeout
}

func (s *Server) maxHeaderSize() int {
	if s.MaxHeaderSize <= 0 {
		return DefaultMaxHeaderSize
	}
	return s.MaxHeaderSize
}

func (s *Server) init() {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
		s.perIP = make(map[netip.Addr]int)
		s.listeners = make(map[net.Listener]struct{})
		s.host = s.hostname()
	}
	s.mu.Unlock()
}

// ListenAndServe listens on the TCP address addr and serves it.
func (s *Server) ListenAndServe(addr string) error {
	if s.closing.Load() {
		return ErrServerClosed
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves each in its own goroutine. It
// returns ErrServerClosed after Shutdown, or the listener's error.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("smtpd: accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.track() {
			nc.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.wg.Done()
			s.serve(context.Background(), nc)
		}()
	}
}

// track counts a new session for Shutdown to wait for. It reports false
// once Shutdown has begun.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

// ServeConn serves one connection and returns when the session ends. The
// connection is closed on return. Limits on connections apply to it too.
// Cancelling ctx ends the session at once.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	s.init()
	if !s.track() {
		// Shut down: the session is refused with 421.
		s.serve(ctx, nc)
		return
	}
	defer s.wg.Done()
	s.serve(ctx, nc)
}

// Shutdown stops the server gracefully: the listeners are closed, sessions
// waiting for a command get "421 ... Service shutting down" and are closed,
// and sessions in the middle of DATA or BDAT finish that message first.
// Shutdown waits for all sessions to end or for ctx to be done, in which
// case it closes the remaining connections and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.interrupt()
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-finished
		return ctx.Err()
	}
}

var (
	replyTooManyConns  = &exigo.SMTPError{Code: 421, Enhanced: exigo.EnhancedCode{4, 7, 0}, Message: "Too many concurrent SMTP connections; please try again later"}
	replyTooManyFromIP = &exigo.SMTPError{Code: 421, Enhanced: exigo.EnhancedCode{4, 7, 0}, Message: "Too many concurrent SMTP connections from this IP address; please try again later"}
)

// admit registers c, or returns the reply for a connection over a limit.
func (s *Server) admit(c *conn) *exigo.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return replyShutdown
	}
	ip := c.sess.RemoteAddr.Addr().Unmap()
	if s.MaxConnections > 0 && s.active >= s.MaxConnections {
		return replyTooManyConns
	}
	if s.MaxConnectionsPerIP > 0 && c.sess.RemoteAddr.IsValid() && s.perIP[ip] >= s.MaxConnectionsPerIP {
		return replyTooManyFromIP
	}
	s.active++
	if c.sess.RemoteAddr.IsValid() {
		s.perIP[ip]++
	}
	s.conns[c] = struct{}{}
	return nil
}

func (s *Server) release(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	s.active--
	if c.sess.RemoteAddr.IsValid() {
		ip := c.sess.RemoteAddr.Addr().Unmap()
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
	}
}

// addrPort converts a net.Addr to a netip.AddrPort (invalid when it is not
// an IP address, e.g. for net.Pipe). IPv4-mapped IPv6 addresses become
// IPv4 addresses.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	case nil:
		return netip.AddrPort{}
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return netip.AddrPort{}
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
