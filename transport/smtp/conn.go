package smtp

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/exigo-mta/exigo/internal/smtpclient"
	"github.com/exigo-mta/exigo/transport"
)

// pconn is a connection that finished EHLO (and STARTTLS and AUTH), with
// what the attempts over it record.
type pconn struct {
	c     *smtpclient.Client
	key   string
	base  transport.Attempt
	timer *time.Timer
}

// quitTimeout bounds the wait for the reply to QUIT.
const quitTimeout = 5 * time.Second

// tryClear asks to connect again without STARTTLS.
type tryClear struct{ err error }

func (e *tryClear) Error() string { return e.err.Error() }
func (e *tryClear) Unwrap() error { return e.err }

// get returns a connection to ap: an idle one, or a new one. fresh is
// true for a new connection. att records a failed attempt.
func (t *Transport) get(ctx context.Context, h transport.Host, ap netip.AddrPort) (pc *pconn, fresh bool, att *transport.Attempt, err error) {
	key := h.Name + "|" + ap.String()
	if pc := t.takeIdle(key); pc != nil {
		return pc, false, nil, nil
	}
	policy := TLSOpportunistic
	if t.TLSPolicy != nil {
		policy = t.TLSPolicy(h)
	}
	pc, att, err = t.open(ctx, h, ap, policy, false)
	var tc *tryClear
	if errors.As(err, &tc) {
		t.log().Warn("smtp: TLS failed, trying again in clear", "host", h.Name, "addr", ap, "error", tc.err)
		pc, att, err = t.open(ctx, h, ap, policy, true)
	}
	if pc != nil {
		pc.key = key
	}
	return pc, true, att, err
}

// open connects and runs the greeting, EHLO, STARTTLS and AUTH.
func (t *Transport) open(ctx context.Context, h transport.Host, ap netip.AddrPort, policy TLSPolicy, clear bool) (*pconn, *transport.Attempt, error) {
	att := &transport.Attempt{Host: h, Remote: ap}
	fail := func(after string, err error) error {
		return &Error{Host: h, Remote: ap, After: after, Err: err}
	}
	var d Dialer = t.Dialer
	if d == nil {
		nd := &net.Dialer{}
		if t.LocalAddr.IsValid() {
			nd.LocalAddr = &net.TCPAddr{IP: t.LocalAddr.AsSlice(), Zone: t.LocalAddr.Zone()}
		}
		d = nd
	}
	dctx, cancel := context.WithTimeout(ctx, cmp.Or(t.ConnectTimeout, 5*time.Minute))
	nc, err := d.DialContext(dctx, "tcp", ap.String())
	cancel()
	if err != nil {
		return nil, att, fail("connect", err)
	}
	c := smtpclient.New(nc, t.timeouts())
	stop := c.Bind(ctx)
	defer stop()
	quit := func(after string, err error) (*pconn, *transport.Attempt, error) {
		if c.LastError != nil {
			att.LastReply = c.LastError.Err()
		}
		c.Quit(quitTimeout)
		return nil, att, fail(after, err)
	}
	g, err := c.Greeting()
	if err != nil {
		return quit("initial connection", err)
	}
	att.Greeting = g.Text()
	if !g.Positive() {
		return quit("initial connection", g.Err())
	}
	name := t.helo.Get(t.Hostname)
	hello := func() error {
		r, err := c.Hello(name)
		if err != nil {
			return err
		}
		att.EHLO = r.Text()
		if !r.Positive() {
			return r.Err()
		}
		return nil
	}
	if err := hello(); err != nil {
		return quit("EHLO", err)
	}
	if policy != TLSDisabled && !clear {
		if !c.Has("STARTTLS") {
			if policy == TLSRequired {
				return quit("EHLO", fmt.Errorf("%w: STARTTLS not offered", ErrTLSRequired))
			}
		} else {
			cfg := t.tlsConfig(h, ap.Addr(), policy)
			r, err := c.StartTLS(cfg)
			var te *smtpclient.TLSError
			switch {
			case errors.As(err, &te):
				err = fail("STARTTLS", err)
				c.Close()
				if policy == TLSRequired {
					return nil, att, err
				}
				return nil, att, &tryClear{err: err}
			case err != nil:
				return quit("STARTTLS", err)
			case !r.Positive():
				if policy == TLSRequired || c.Broken() {
					return quit("STARTTLS", fmt.Errorf("%w: STARTTLS refused: %s", ErrTLSRequired, r))
				}
				// Opportunistic: go on in clear, as Exim does.
			default:
				att.TLS = smtpclient.TLSInfo(c.TLS, policy == TLSRequired && !cfg.InsecureSkipVerify || verifyOpportunistic(cfg, c.TLS))
				if err := hello(); err != nil {
					return quit("EHLO", err)
				}
			}
		}
	}
	if t.Auth != nil {
		if c.TLS == nil && !t.AllowInsecureAuth {
			return quit("AUTH", ErrAuthInsecure)
		}
		mech, r, err := c.Auth(t.Auth.Username, t.Auth.Password)
		if err != nil {
			return quit("AUTH", err)
		}
		if r.Code != 235 {
			return quit("AUTH", &AuthError{Mechanism: mech, Reply: r.Err()})
		}
	}
	return &pconn{c: c, base: *att}, att, nil
}

// tlsConfig returns the configuration for STARTTLS to a host.
func (t *Transport) tlsConfig(h transport.Host, addr netip.Addr, policy TLSPolicy) *tls.Config {
	var cfg *tls.Config
	if t.TLSConfig != nil {
		cfg = t.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = h.Name
		if cfg.ServerName == "" {
			cfg.ServerName = addr.String()
		}
	}
	if policy == TLSOpportunistic {
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

// verifyOpportunistic checks, for the record only, whether the server's
// certificate would have verified.
func verifyOpportunistic(cfg *tls.Config, st *tls.ConnectionState) bool {
	if st == nil || len(st.PeerCertificates) == 0 {
		return false
	}
	opts := x509.VerifyOptions{DNSName: cfg.ServerName, Roots: cfg.RootCAs, Intermediates: x509.NewCertPool()}
	for _, ic := range st.PeerCertificates[1:] {
		opts.Intermediates.AddCert(ic)
	}
	_, err := st.PeerCertificates[0].Verify(opts)
	return err == nil
}

// takeIdle returns the most recently used idle connection for key.
func (t *Transport) takeIdle(key string) *pconn {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[key]
	if len(list) == 0 {
		return nil
	}
	pc := list[len(list)-1]
	list[len(list)-1] = nil
	t.idle[key] = list[:len(list)-1]
	pc.timer.Stop()
	return pc
}

// dropIdle ends the idle connections for key: after one turned out dead,
// the others likely are too.
func (t *Transport) dropIdle(key string) {
	t.mu.Lock()
	list := t.idle[key]
	delete(t.idle, key)
	t.mu.Unlock()
	for _, pc := range list {
		pc.timer.Stop()
		pc.c.Close()
	}
}

// put returns a connection after use: to the idle pool, or closed.
func (t *Transport) put(pc *pconn) {
	c := pc.c
	if c.Broken() {
		c.Close()
		return
	}
	maxMsgs := cmp.Or(t.MaxMessagesPerConnection, 500)
	if maxMsgs < 0 || c.Transactions >= maxMsgs {
		c.Quit(quitTimeout)
		return
	}
	idle := cmp.Or(t.IdleTimeout, 10*time.Second)
	t.mu.Lock()
	if t.closed || len(t.idle[pc.key]) >= cmp.Or(t.MaxIdlePerHost, 8) {
		t.mu.Unlock()
		c.Quit(quitTimeout)
		return
	}
	if t.idle == nil {
		t.idle = make(map[string][]*pconn)
	}
	t.idle[pc.key] = append(t.idle[pc.key], pc)
	if pc.timer == nil {
		pc.timer = time.AfterFunc(idle, func() { t.expire(pc) })
	} else {
		pc.timer.Reset(idle)
	}
	t.mu.Unlock()
}

// expire ends a connection that stayed idle too long.
func (t *Transport) expire(pc *pconn) {
	t.mu.Lock()
	list := t.idle[pc.key]
	found := false
	for i, p := range list {
		if p == pc {
			t.idle[pc.key] = append(list[:i], list[i+1:]...)
			found = true
			break
		}
	}
	t.mu.Unlock()
	if found {
		pc.c.Quit(quitTimeout)
	}
}

// Close ends the idle connections (with QUIT) and stops keeping new ones.
// Deliveries still work afterwards, without reuse across calls.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	all := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range all {
		for _, pc := range list {
			pc.timer.Stop()
			pc.c.Quit(quitTimeout)
		}
	}
	return nil
}
