package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/exigo-mta/exigo/internal/testredis"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/lookup/redis"
)

var ctx = context.Background()

// seed fills database db of s with the test data, through go-redis.
func seed(t *testing.T, s *testredis.Server, db int) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr, Password: s.Password, DB: db})
	defer c.Close()
	for _, cmd := range [][]any{
		{"SET", "plain", "value"},
		{"SET", "empty", ""},
		{"SET", "my key", "spaced value"},
		{"SET", `back\slash`, "bs"},
		{"SET", "bin", "a\x00b\r\nc"},
		{"SET", "which", fmt.Sprintf("db%d", db)},
		{"HSET", "example.com", "domain", "example.com", "relay", "yes"},
		{"SADD", "relay_from_ips", "192.168.0.0/24", "10.0.0.0/8"},
		{"SADD", "single", "172.16.0.0/12"},
		{"RPUSH", "list", "one", "two", "", "four"},
		{"SET", "counter", "41"},
	} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
}

func newLookup(t *testing.T, servers []string, opts ...redis.Option) *redis.Lookup {
	t.Helper()
	l, err := redis.New(servers, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

type result struct {
	value string
	found bool
	err   string // "" for none, else a substring of the error
}

func check(t *testing.T, l lookup.Lookup, query string, want result) {
	t.Helper()
	v, ok, err := l.Lookup(ctx, query)
	switch {
	case want.err == "" && err != nil:
		t.Errorf("Lookup(%q): error %v, want %q, %v", query, err, want.value, want.found)
	case want.err != "" && (err == nil || !strings.Contains(err.Error(), want.err)):
		t.Errorf("Lookup(%q) = %q, %v, %v; want an error containing %q", query, v, ok, err, want.err)
	case v != want.value || ok != want.found:
		t.Errorf("Lookup(%q) = %q, %v; want %q, %v", query, v, ok, want.value, want.found)
	}
}

// TestResults runs the command forms of the seed and more against a real
// redis-server, with database and password from the server item.
func TestResults(t *testing.T) {
	t.Parallel()
	s := testredis.Start(t, "pa55")
	seed(t, s, 3)
	l := newLookup(t, []string{s.Addr + "/3/pa55"})
	for _, tt := range []struct {
		query string
		want  result
	}{
		{"GET plain", result{"value", true, ""}},
		{"  GET \t plain  ", result{"value", true, ""}},
		{"get plain", result{"value", true, ""}},
		{"GET empty", result{"", true, ""}},
		{"GET missing", result{"", false, ""}},
		{`GET my\ key`, result{"spaced value", true, ""}},
		{`GET back\\slash`, result{"bs", true, ""}},
		{"GET bin", result{"a\x00b\r\nc", true, ""}},
		{"GET which", result{"db3", true, ""}},
		{"HGET example.com domain", result{"example.com", true, ""}},
		{"HGET example.com nofield", result{"", false, ""}},
		{"HMGET example.com domain nofield relay", result{"example.com\n\nyes", true, ""}},
		{"SMEMBERS single", result{"172.16.0.0/12", true, ""}},
		{"SORT relay_from_ips ALPHA", result{"10.0.0.0/8\n192.168.0.0/24", true, ""}},
		{"SMEMBERS noset", result{"", false, ""}},
		{"SISMEMBER relay_from_ips 10.0.0.0/8", result{"1", true, ""}},
		{"SISMEMBER relay_from_ips 10.0.0.0/9", result{"0", true, ""}},
		{"SCARD relay_from_ips", result{"2", true, ""}},
		{"LRANGE list 0 -1", result{"one\ntwo\n\nfour", true, ""}},
		{"EXISTS plain missing empty", result{"2", true, ""}},
		{"INCR counter", result{"42", true, ""}},
		{"TTL plain", result{"-1", true, ""}},
		{"SET newkey newvalue", result{"OK", true, ""}},
		{"GET newkey", result{"newvalue", true, ""}},
		{"PING", result{"PONG", true, ""}},
		// EVAL returns nested arrays with integers: flattened.
		{`EVAL return\ {1,{'a',2},'b'} 0`, result{"1\na\n2\nb", true, ""}},
		{`EVAL return\ {} 0`, result{"", false, ""}},
		// Error replies are errors (defer), naming the server (without
		// the password) and the command.
		{"NOSUCHCOMMAND x", result{"", false, s.Addr + "/3: NOSUCHCOMMAND: ERR unknown command 'NOSUCHCOMMAND'"}},
		{"HGET plain x", result{"", false, "WRONGTYPE Operation against a key holding the wrong kind of value"}},
		{"GET", result{"", false, "ERR wrong number of arguments for 'get' command"}},
	} {
		check(t, l, tt.query, tt.want)
	}
	// A set's order is Redis's: compare the sorted lines.
	v, ok, err := l.Lookup(ctx, "SMEMBERS relay_from_ips")
	lines := strings.Split(v, "\n")
	slices.Sort(lines)
	if err != nil || !ok || strings.Join(lines, "\n") != "10.0.0.0/8\n192.168.0.0/24" {
		t.Errorf("SMEMBERS relay_from_ips = %q, %v, %v", v, ok, err)
	}
	if _, _, err := l.Lookup(ctx, " \t "); !errors.Is(err, redis.ErrEmptyQuery) {
		t.Errorf("empty query: %v", err)
	}
	_, _, err = l.Lookup(ctx, "HGET plain x")
	var re goredis.Error
	if !errors.As(err, &re) || !strings.HasPrefix(re.Error(), "WRONGTYPE ") || strings.Contains(err.Error(), "pa55") {
		t.Errorf("error reply: %v (as redis.Error: %v)", err, re)
	}
	// Do takes the arguments split.
	if v, ok, err := l.Do(ctx, "GET", "my key"); err != nil || !ok || v != "spaced value" {
		t.Errorf("Do(GET, my key) = %q, %v, %v", v, ok, err)
	}
	if _, _, err := l.Do(ctx); !errors.Is(err, redis.ErrEmptyQuery) {
		t.Errorf("Do(): %v", err)
	}
}

// TestEximCompat: Exim's answers to nil and integer replies.
func TestEximCompat(t *testing.T) {
	t.Parallel()
	s := testredis.Start(t, "")
	seed(t, s, 0)
	l := newLookup(t, []string{s.Addr + "//"}, redis.EximCompat())
	check(t, l, "GET missing", result{"", true, ""})
	check(t, l, "SISMEMBER relay_from_ips 10.0.0.0/8", result{"true", true, ""})
	check(t, l, "SISMEMBER relay_from_ips 10.0.0.0/9", result{"false", true, ""})
	check(t, l, "SMEMBERS noset", result{"", false, ""})
	check(t, l, "LRANGE list 0 1", result{"one\ntwo", true, ""})
	check(t, l, "SCARD relay_from_ips", result{"true", true, ""})
}

// TestQuotedKeys: any key, quoted with Quote, reaches Redis as one
// argument.
func TestQuotedKeys(t *testing.T) {
	t.Parallel()
	s := testredis.Start(t, "")
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr})
	defer c.Close()
	l := newLookup(t, []string{s.Addr})
	for i, key := range []string{"a b", "tab\there", "nl\nx", `\`, `\\ \`, " lead", "trail ", "x\r\v\fy", "ünï cödé", "*?[]"} {
		val := fmt.Sprintf("v%d %s", i, key)
		if err := c.Set(ctx, key, val, 0).Err(); err != nil {
			t.Fatal(err)
		}
		check(t, l, "GET "+redis.Quote(key), result{val, true, ""})
		check(t, l, "EXISTS "+redis.Quote(key)+" "+redis.Quote(key+"x"), result{"1", true, ""})
		// Setting through the lookup, with a quoted value, stores
		// exactly that value.
		check(t, l, "SET "+redis.Quote(key+"2")+" "+redis.Quote(val), result{"OK", true, ""})
		if got, err := c.Get(ctx, key+"2").Result(); err != nil || got != val {
			t.Errorf("SET through the lookup stored %q, %v; want %q", got, err, val)
		}
	}
}

// TestFailover: a server that cannot be reached is skipped; one that
// answers ends the lookup, found or not.
func TestFailover(t *testing.T) {
	t.Parallel()
	s := testredis.Start(t, "")
	seed(t, s, 1)
	seed(t, s, 2)
	closed := closedPort(t)

	l := newLookup(t, []string{closed + "/1/", s.Addr + "/2/", s.Addr + "/1/"}, redis.WithTimeout(2*time.Second))
	check(t, l, "GET which", result{"db2", true, ""})
	// Not found on the second server: the third is not asked.
	check(t, l, "GET missing", result{"", false, ""})
	// Nor after an error reply.
	check(t, l, "HGET plain x", result{"", false, s.Addr + "/2: HGET: WRONGTYPE"})

	// A wrong password goes on to the next server.
	pw := testredis.Start(t, "right")
	seed(t, pw, 0)
	l2 := newLookup(t, []string{pw.Addr + "/0/wrong", pw.Addr + "/0/right"})
	check(t, l2, "GET which", result{"db0", true, ""})
	l3 := newLookup(t, []string{pw.Addr + "//"})
	check(t, l3, "GET which", result{"", false, "NOAUTH"})

	// All servers down: the errors of each.
	l4 := newLookup(t, []string{closed, closed + "/1/"}, redis.WithTimeout(time.Second))
	_, _, err := l4.Lookup(ctx, "GET which")
	if err == nil || !strings.HasPrefix(err.Error(), "lookup/redis: no server answered: lookup/redis: "+closed+"/0: GET: ") ||
		!strings.Contains(err.Error(), "\nlookup/redis: "+closed+"/1: GET: ") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("all servers down: %v", err)
	}

	// A server that accepts and never answers: the timeout, then the
	// next server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	l5 := newLookup(t, []string{ln.Addr().String(), s.Addr + "/1/"}, redis.WithTimeout(300*time.Millisecond))
	start := time.Now()
	check(t, l5, "GET which", result{"db1", true, ""})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failover after a silent server took %v", d)
	}

	// A cancelled context stops the lookup.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.Lookup(cctx, "GET which"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestUnixSocket: the "host(/socket)" form.
func TestUnixSocket(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "redis.sock")
	s := testredis.Start(t, "", "--unixsocket", sock)
	seed(t, s, 5)
	l := newLookup(t, []string{"localhost(" + sock + ")/5/"})
	check(t, l, "GET which", result{"db5", true, ""})
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	if _, err := redis.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	_, err := redis.New([]string{"127.0.0.1/0/", "host:99999/0/secret"})
	if !errors.Is(err, redis.ErrBadServer) || err.Error() != `lookup/redis: bad server item "host:99999/0/xxxxx": bad port "99999"` {
		t.Errorf("New with a bad item: %v", err)
	}
}

// TestConcurrent: one Lookup used by many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := testredis.Start(t, "")
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr})
	defer c.Close()
	for i := range 50 {
		if err := c.Set(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	l := newLookup(t, []string{s.Addr}, redis.WithPoolSize(4))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := (i + g) % 50
				v, ok, err := l.Lookup(ctx, fmt.Sprintf("GET k%d", k))
				if err != nil || !ok || v != fmt.Sprintf("v%d", k) {
					t.Errorf("GET k%d = %q, %v, %v", k, v, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
