package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/hints/hintstest"
	hintsredis "github.com/exigo-mta/exigo/hints/redis"
	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/internal/testredis"
)

var ctx = context.Background()

// server is the redis-server that TestMain starts for the whole package;
// each test uses its own prefix or database.
var server *testredis.Server

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if testpeer.Required() {
			fmt.Fprintln(os.Stderr, "peer missing: redis-server not installed (Debian package redis-server)")
			return 1
		}
		fmt.Println("skipping hints/redis tests: redis-server not installed (Debian package redis-server)")
		return 0
	}
	dir, err := os.MkdirTemp("", "hints-redis-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, stop, err := testredis.Launch(bin, dir, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	server = s
	return m.Run()
}

// client returns a go-redis client of database db, closed at the end of
// the test.
func client(t testing.TB, db int) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: server.Addr, DB: db})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	c := client(t, 0)
	// Each subtest has its own directory; it names the namespace, so that
	// reopening the same directory finds the same data.
	hintstest.Run(t, func(t testing.TB, dir string, now func() time.Time) hints.DB {
		return hintsredis.New(c, hintsredis.WithPrefix("conf:"+dir+":"), hintsredis.WithClock(now))
	}, true)
}

// TestConformanceOpen runs the suite on DBs that own their connections.
func TestConformanceOpen(t *testing.T) {
	t.Parallel()
	hintstest.Run(t, func(t testing.TB, dir string, now func() time.Time) hints.DB {
		db, err := hintsredis.Open(ctx, server.URL(1), hintsredis.WithPrefix("open:"+dir+":"), hintsredis.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}, true)
}

// TestLayout checks what is stored in Redis: the key with its prefix, the
// hints.EncodeRecord bytes and a TTL of the time left plus the grace.
func TestLayout(t *testing.T) {
	t.Parallel()
	c := client(t, 2)
	now := time.Date(2026, 11, 21, 14, 25, 6, 0, time.UTC)
	db := hintsredis.New(c, hintsredis.WithPrefix("lay:"), hintsredis.WithClock(func() time.Time { return now }),
		hintsredis.WithGrace(time.Minute))
	defer db.Close()
	if db.Prefix() != "lay:" {
		t.Errorf("Prefix() = %q", db.Prefix())
	}
	exp := now.Add(time.Hour)
	if err := db.Put(ctx, "retry:T:mx:192.0.2.1", []byte("rec"), exp); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, "forever", []byte("f"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	raw, err := c.Get(ctx, "lay:retry:T:mx:192.0.2.1").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := hints.EncodeRecord([]byte("rec"), exp)
	if string(raw) != string(want) {
		t.Errorf("stored %q, want %q", raw, want)
	}
	ttl, err := c.PTTL(ctx, "lay:retry:T:mx:192.0.2.1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl > 61*time.Minute || ttl < 60*time.Minute {
		t.Errorf("PTTL = %v, want 1h1m (an hour left plus a minute of grace), less the test's run time", ttl)
	}
	if ttl, err := c.PTTL(ctx, "lay:forever").Result(); err != nil || ttl != -1 {
		t.Errorf("PTTL of a record without expiry = %v, %v; want -1 (no TTL)", ttl, err)
	}
	// Rewriting a record without expiry removes the TTL.
	if err := db.Put(ctx, "retry:T:mx:192.0.2.1", []byte("rec"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.PTTL(ctx, "lay:retry:T:mx:192.0.2.1").Result(); err != nil || ttl != -1 {
		t.Errorf("PTTL after a Put without expiry = %v, %v; want -1", ttl, err)
	}
	// Another prefix in the same Redis database sees nothing of these.
	other := hintsredis.New(c, hintsredis.WithPrefix("lay2:"))
	if v, ok, err := other.Get(ctx, "forever"); err != nil || ok || v != nil {
		t.Errorf("other prefix Get = %q, %v, %v", v, ok, err)
	}
}

// TestGraceZero: without grace Redis drops the record at its expiry, and
// a Put of an already expired record removes the key.
func TestGraceZero(t *testing.T) {
	t.Parallel()
	c := client(t, 2)
	db := hintsredis.New(c, hintsredis.WithPrefix("g0:"), hintsredis.WithGrace(0))
	if err := db.Put(ctx, "k", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, "k", []byte("v"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, "g0:k").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS after putting an expired record = %d, %v; want 0", n, err)
	}
	if err := db.Put(ctx, "short", []byte("v"), time.Now().Add(150*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := db.Get(ctx, "short"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get = %q, %v, %v", v, ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := c.Exists(ctx, "g0:short").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis kept the record 5s after its expiry")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShared: two DBs (two nodes) with the same prefix on one server see
// each other's writes, deletions and purges at once.
func TestShared(t *testing.T) {
	t.Parallel()
	a, err := hintsredis.Open(ctx, server.URL(3), hintsredis.WithPrefix("node:"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := hintsredis.Open(ctx, server.URL(3), hintsredis.WithPrefix("node:"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := hints.Retry{FirstFailed: time.Unix(1795271106, 0), LastTry: time.Unix(1795271106, 0),
		NextTry: time.Unix(1795272006, 0), Text: "451 4.7.1 greylisted"}
	if err := hints.PutRetry(ctx, a, "T:mx.example:192.0.2.1", r, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, ok, err := hints.GetRetry(ctx, b, "T:mx.example:192.0.2.1")
	if err != nil || !ok {
		t.Fatalf("GetRetry on the other node = %v, %v", ok, err)
	}
	if !got.NextTry.Equal(r.NextTry) || got.Text != r.Text || !got.FirstFailed.Equal(r.FirstFailed) {
		t.Errorf("GetRetry = %+v, want %+v", got, r)
	}
	if err := b.Delete(ctx, hints.RetryPrefix+"T:mx.example:192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := hints.GetRetry(ctx, a, "T:mx.example:192.0.2.1"); err != nil || ok {
		t.Errorf("after the other node's Delete: found %v, %v", ok, err)
	}
	// A database on another Redis DB number shares nothing.
	c, err := hintsredis.Open(ctx, server.URL(4), hintsredis.WithPrefix("node:"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := a.Put(ctx, "k", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Get(ctx, "k"); err != nil || ok {
		t.Errorf("other Redis database: found %v, %v", ok, err)
	}
}

// TestGlobPrefix: prefixes holding glob characters match literally.
func TestGlobPrefix(t *testing.T) {
	t.Parallel()
	db := hintsredis.New(client(t, 5), hintsredis.WithPrefix("gl[o]b*:"))
	for _, k := range []string{"a*", "a*b", "ab", "a?", "a[x]", "a\\", "a\\b", "ax"} {
		if err := db.Put(ctx, k, []byte(k), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	for prefix, want := range map[string]string{
		"a*":  `["a*" "a*b"]`,
		"a?":  `["a?"]`,
		"a[":  `["a[x]"]`,
		"a\\": `["a\\" "a\\b"]`,
		"a":   `["a*" "a*b" "a?" "a[x]" "a\\" "a\\b" "ab" "ax"]`,
	} {
		var got []string
		if err := db.Range(ctx, prefix, func(k string, v []byte, _ time.Time) bool {
			if k != string(v) {
				t.Errorf("key %q has value %q", k, v)
			}
			got = append(got, k)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if s := fmt.Sprintf("%q", got); s != want {
			t.Errorf("Range(%q) = %s, want %s", prefix, s, want)
		}
	}
	// Another namespace that the unescaped pattern "gl[o]b*:" would
	// match is not seen.
	other := hintsredis.New(client(t, 5), hintsredis.WithPrefix("glob-other:"))
	if err := other.Put(ctx, "a1", nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n, err := db.Purge(ctx)
	if err != nil || n != 0 {
		t.Errorf("Purge = %d, %v", n, err)
	}
	if err := db.Range(ctx, "", func(k string, _ []byte, _ time.Time) bool {
		if k == "a1" {
			t.Errorf("Range saw the other namespace's key")
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
}

// TestPurgeRewritten: Purge removes the expired records; one that
// another node rewrites meanwhile is never lost (Purge deletes a record
// only if it still holds the bytes Purge read).
func TestPurgeRewritten(t *testing.T) {
	t.Parallel()
	c := client(t, 6)
	clock := hintstest.NewClock(time.Now())
	db := hintsredis.New(c, hintsredis.WithPrefix("pk:"), hintsredis.WithClock(clock.Now))
	put := func(v string) {
		for i := range 600 {
			if err := db.Put(ctx, fmt.Sprintf("k%03d", i), []byte(v), clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("old")
	clock.Advance(2 * time.Minute)
	if n, err := db.Purge(ctx); err != nil || n != 600 {
		t.Fatalf("Purge = %d, %v; want 600", n, err)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE after Purge = %d, %v", n, err)
	}
	put("old")
	clock.Advance(2 * time.Minute)
	// Another node rewrites every record while the purge runs.
	other := hintsredis.New(c, hintsredis.WithPrefix("pk:"))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 600 {
			if err := other.Put(ctx, fmt.Sprintf("k%03d", i), []byte("new"), time.Time{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	n, err := db.Purge(ctx)
	wg.Wait()
	if err != nil || n > 600 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	left := 0
	if err := db.Range(ctx, "k", func(_ string, v []byte, exp time.Time) bool {
		if string(v) != "new" || !exp.IsZero() {
			t.Errorf("record %q, expiry %v", v, exp)
		}
		left++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if left != 600 {
		t.Errorf("%d rewritten records left, want 600 (Purge removed %d)", left, n)
	}
}

func TestCorrupt(t *testing.T) {
	t.Parallel()
	c := client(t, 7)
	db := hintsredis.New(c, hintsredis.WithPrefix("bad:"))
	if err := c.Set(ctx, "bad:k", "\x02garbage-garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, _, err := db.Get(ctx, "k")
	if !errors.Is(err, hints.ErrCorrupt) || !strings.Contains(err.Error(), `"k"`) {
		t.Errorf("Get of a corrupt record: %v", err)
	}
	err = db.Range(ctx, "", func(string, []byte, time.Time) bool { return true })
	if !errors.Is(err, hints.ErrCorrupt) {
		t.Errorf("Range over a corrupt record: %v", err)
	}
	if n, err := db.Purge(ctx); err != nil || n != 0 {
		t.Errorf("Purge = %d, %v; want 0, nil (corrupt records are left alone)", n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	pw := testredis.Start(t, "s3cret")
	if _, err := hintsredis.Open(ctx, "http://example.org/"); err == nil || !strings.HasPrefix(err.Error(), "hints/redis: ") {
		t.Errorf("Open of a non-redis URL: %v", err)
	}
	_, err := hintsredis.Open(ctx, "redis://:wrong@"+pw.Addr+"/0")
	if err == nil || !strings.Contains(err.Error(), "redis://:xxxxx@"+pw.Addr+"/0") || strings.Contains(err.Error(), "wrong@") {
		t.Errorf("Open with a wrong password: %v", err)
	}
	db, err := hintsredis.Open(ctx, pw.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, "k", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := db.Get(ctx, "k"); err != nil || !ok || string(v) != "v" {
		t.Errorf("Get = %q, %v, %v", v, ok, err)
	}
	db.Close()
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := hintsredis.Open(cctx, fmt.Sprintf("redis://127.0.0.1:%d/0", closedPort(t))); err == nil {
		t.Error("Open of a closed port succeeded")
	}
}

// TestServerGone: an error from a stopped server is a wrapped error, not
// a panic or a hang.
func TestServerGone(t *testing.T) {
	t.Parallel()
	s := testredis.Start(t, "")
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	db := hintsredis.New(c)
	if err := db.Put(ctx, "k", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx).Err(); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("SHUTDOWN: %v", err)
	}
	_, _, err := db.Get(ctx, "k")
	if err == nil || !strings.HasPrefix(err.Error(), `hints/redis: get key "k": `) {
		t.Errorf("Get from a stopped server: %v", err)
	}
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
