package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/exigo-mta/exigo/lookup"
)

// DefaultTimeout bounds connecting to a server and each read and write.
const DefaultTimeout = 5 * time.Second

// ErrEmptyQuery is returned for a query with no command in it.
var ErrEmptyQuery = errors.New("lookup/redis: empty query")

// Option configures New.
type Option func(*config)

type config struct {
	timeout time.Duration
	exim    bool
	tls     *tls.Config
	pool    int
}

// WithTimeout sets the dial, read and write timeout (default
// DefaultTimeout). The context of a lookup can shorten it.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// EximCompat makes results what Exim 4.96 gives: a nil reply is found
// with an empty value, and an integer reply is "true" when it is not zero
// and "false" when it is.
func EximCompat() Option { return func(c *config) { c.exim = true } }

// WithTLS connects to the TCP servers with TLS, configured by cfg.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithPoolSize sets the most connections kept to each server (default
// go-redis's, ten per CPU).
func WithPoolSize(n int) Option { return func(c *config) { c.pool = n } }

// Lookup is a redis lookup over a list of servers. It is safe for
// concurrent use; Close releases its connections.
type Lookup struct {
	servers []server
	exim    bool
}

type server struct {
	srv    Server
	client *goredis.Client
}

var _ lookup.Lookup = (*Lookup)(nil)

// New returns a lookup over servers, items in the form ParseServer reads,
// tried in order. It does not connect: the first lookup does.
func New(servers []string, opts ...Option) (*Lookup, error) {
	c := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&c)
	}
	if len(servers) == 0 {
		return nil, errors.New("lookup/redis: no servers")
	}
	l := &Lookup{exim: c.exim}
	for _, item := range servers {
		srv, err := ParseServer(item)
		if err != nil {
			_ = l.Close()
			return nil, err
		}
		o := &goredis.Options{
			Network:         "tcp",
			Addr:            net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)),
			Password:        srv.Password,
			DB:              srv.DB,
			Protocol:        2, // RESP2, as Exim's hiredis: replies keep their shape
			DialTimeout:     c.timeout,
			ReadTimeout:     c.timeout,
			WriteTimeout:    c.timeout,
			MaxRetries:      -1, // a command may be a write: never run it twice
			DialerRetries:   1,  // an unreachable server: go on to the next at once
			PoolSize:        c.pool,
			DisableIdentity: true,
			TLSConfig:       c.tls,
		}
		if srv.Socket != "" {
			o.Network, o.Addr, o.TLSConfig = "unix", srv.Socket, nil
		}
		l.servers = append(l.servers, server{srv: srv, client: goredis.NewClient(o)})
	}
	return l, nil
}

// Close closes the connections to every server.
func (l *Lookup) Close() error {
	var errs []error
	for _, s := range l.servers {
		if err := s.client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.srv, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lookup/redis: close: %w", err)
	}
	return nil
}

// Servers returns the parsed server list.
func (l *Lookup) Servers() []Server {
	out := make([]Server, len(l.servers))
	for i, s := range l.servers {
		out[i] = s.srv
	}
	return out
}

// Quote implements lookup.Quoter with the package's [Quote], so that
// lists putting a subject into a query (package acl) keep it one
// argument.
func (l *Lookup) Quote(s string) string { return Quote(s) }

// Lookup runs the query, a Redis command whose arguments are separated by
// white space (see SplitQuery), and returns its result as the package
// documentation describes.
func (l *Lookup) Lookup(ctx context.Context, query string) (string, bool, error) {
	return l.Do(ctx, SplitQuery(query)...)
}

// Do runs the command args (the command name first) and returns its
// result like Lookup.
func (l *Lookup) Do(ctx context.Context, args ...string) (string, bool, error) {
	if len(args) == 0 {
		return "", false, ErrEmptyQuery
	}
	cmd := make([]any, len(args))
	for i, a := range args {
		cmd[i] = a
	}
	var errs []error
	for _, s := range l.servers {
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
		v, err := s.client.Do(ctx, cmd...).Result()
		if err == nil || errors.Is(err, goredis.Nil) {
			return l.result(v, err, s.srv, args[0])
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", false, fmt.Errorf("lookup/redis: %s: %s: %w", s.srv, args[0], ctxErr)
		}
		err = fmt.Errorf("lookup/redis: %s: %s: %w", s.srv, args[0], err)
		if !failover(err) {
			return "", false, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return "", false, errs[0]
	}
	return "", false, fmt.Errorf("lookup/redis: no server answered: %w", errors.Join(errs...))
}

// failover reports whether err means that the next server should be
// tried: the server could not be reached or is not the one to answer.
func failover(err error) bool {
	var re goredis.Error
	if !errors.As(err, &re) {
		return true // network, timeout, protocol: not a reply
	}
	msg := re.Error()
	for _, p := range []string{"MOVED ", "ASK ", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "NOAUTH", "WRONGPASS"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// result turns a reply into a lookup result.
func (l *Lookup) result(v any, err error, srv Server, name string) (string, bool, error) {
	if err != nil { // goredis.Nil
		if l.exim {
			return "", true, nil
		}
		return "", false, nil
	}
	switch v := v.(type) {
	case string:
		return v, true, nil
	case int64:
		if l.exim {
			return strconv.FormatBool(v != 0), true, nil
		}
		return strconv.FormatInt(v, 10), true, nil
	case []any:
		if len(v) == 0 {
			return "", false, nil
		}
		var b strings.Builder
		first := true
		if err := flatten(&b, v, &first); err != nil {
			return "", false, fmt.Errorf("lookup/redis: %s: %s: %w", srv, name, err)
		}
		return b.String(), true, nil
	default:
		return "", false, fmt.Errorf("lookup/redis: %s: %s: reply of unexpected type %T", srv, name, v)
	}
}

// flatten writes the elements of an array reply, one per line.
func flatten(b *strings.Builder, v []any, first *bool) error {
	for _, e := range v {
		if a, ok := e.([]any); ok {
			if err := flatten(b, a, first); err != nil {
				return err
			}
			continue
		}
		if !*first {
			b.WriteByte('\n')
		}
		*first = false
		switch e := e.(type) {
		case nil:
		case string:
			b.WriteString(e)
		case int64:
			b.WriteString(strconv.FormatInt(e, 10))
		case error:
			return fmt.Errorf("error in array reply: %w", e)
		default:
			return fmt.Errorf("array element of unexpected type %T", e)
		}
	}
	return nil
}
