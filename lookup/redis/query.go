package redis

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// isSpace reports whether c is white space as C's isspace sees it in the
// C locale, which is what separates query arguments in Exim.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// SplitQuery splits a query into a command and its arguments: white space
// (space, tab, newline, vertical tab, form feed, carriage return)
// separates them, and a backslash makes the next character, white space
// or backslash included, part of the argument. A backslash at the very
// end is dropped. No argument is empty, so a query of only white space
// gives none.
func SplitQuery(q string) []string {
	var args []string
	var b strings.Builder
	in := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\\':
			in = true
			if i+1 < len(q) {
				i++
				b.WriteByte(q[i])
			}
		case isSpace(c):
			if in {
				args = append(args, b.String())
				b.Reset()
				in = false
			}
		default:
			in = true
			b.WriteByte(c)
		}
	}
	if in && b.Len() > 0 {
		args = append(args, b.String())
	}
	return args
}

// Quote escapes s for use as one argument of a query, as Exim's
// ${quote_redis:...} does: a backslash goes before every white-space
// character and every backslash. An empty string cannot be an argument;
// Quote returns it unchanged.
func Quote(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) || s[i] == '\\' {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+n)
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// DefaultPort is the port of a server item that names none.
const DefaultPort = 6379

// Server is one item of a server list.
type Server struct {
	Host     string // host name or IP address; with Socket, only a label
	Port     int    // TCP port (DefaultPort when the item has none)
	Socket   string // Unix socket path, from "host(/path)"; "" for TCP
	DB       int    // database number (SELECT), 0 by default
	Password string // AUTH password; "" for none
}

// ErrBadServer is wrapped by the errors of ParseServer.
var ErrBadServer = errors.New("lookup/redis: bad server item")

// ParseServer parses a server item in the form of Exim's redis_servers:
// "host:port/database/password", "host(/socket/path)/database/password",
// and the shorter "host", "host:port", "host/database". An IPv6 address
// with a port is written in brackets, "[::1]:6379".
func ParseServer(s string) (Server, error) {
	bad := func(format string, a ...any) (Server, error) {
		return Server{}, fmt.Errorf("%w %q: %s", ErrBadServer, redact(s), fmt.Sprintf(format, a...))
	}
	var srv Server
	hostPart, rest := s, ""
	open := strings.IndexByte(s, '(')
	slash := strings.IndexByte(s, '/')
	if open >= 0 && (slash < 0 || open < slash) {
		end := strings.IndexByte(s[open:], ')')
		if end < 0 {
			return bad("unterminated socket path")
		}
		hostPart, srv.Socket, rest = s[:open], s[open+1:open+end], s[open+end+1:]
		if srv.Socket == "" {
			return bad("empty socket path")
		}
		if rest != "" && rest[0] != '/' {
			return bad("text after the socket path")
		}
	} else if slash >= 0 {
		hostPart, rest = s[:slash], s[slash:]
	}
	if rest != "" {
		db, pw, _ := strings.Cut(rest[1:], "/")
		if db != "" {
			n, err := strconv.Atoi(db)
			if err != nil || n < 0 {
				return bad("database %q is not a number", db)
			}
			srv.DB = n
		}
		srv.Password = pw
	}
	srv.Host, srv.Port = hostPart, DefaultPort
	switch {
	case srv.Socket != "":
	case strings.HasPrefix(hostPart, "["):
		h, p, err := net.SplitHostPort(hostPart)
		if err != nil {
			if !strings.HasSuffix(hostPart, "]") {
				return bad("bad address %q", hostPart)
			}
			h, p = hostPart[1:len(hostPart)-1], ""
		}
		srv.Host = h
		if p != "" {
			if srv.Port, err = parsePort(p); err != nil {
				return bad("%v", err)
			}
		}
	case strings.Count(hostPart, ":") == 1:
		h, p, _ := strings.Cut(hostPart, ":")
		var err error
		srv.Host = h
		if srv.Port, err = parsePort(p); err != nil {
			return bad("%v", err)
		}
	}
	if srv.Host == "" && srv.Socket == "" {
		return bad("no host")
	}
	if strings.ContainsAny(srv.Host, " \t\r\n()[]") {
		return bad("bad host %q", srv.Host)
	}
	return srv, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", p)
	}
	return n, nil
}

// redact hides the password of a server item: what follows the second
// slash after the host (and socket path).
func redact(s string) string {
	start := 0
	if open := strings.IndexByte(s, '('); open >= 0 {
		if slash := strings.IndexByte(s, '/'); slash < 0 || open < slash {
			if end := strings.IndexByte(s[open:], ')'); end >= 0 {
				start = open + end
			}
		}
	}
	i := strings.IndexByte(s[start:], '/')
	if i < 0 {
		return s
	}
	i += start + 1
	j := strings.IndexByte(s[i:], '/')
	if j < 0 || i+j+1 == len(s) {
		return s
	}
	return s[:i+j+1] + "xxxxx"
}

// String returns the item without its password: "host:port/db" or
// "host(/socket)/db".
func (s Server) String() string {
	if s.Socket != "" {
		return fmt.Sprintf("%s(%s)/%d", s.Host, s.Socket, s.DB)
	}
	return fmt.Sprintf("%s/%d", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), s.DB)
}
