package main

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints"
	hintsredis "github.com/exigo-mta/exigo/hints/redis"
	"github.com/exigo-mta/exigo/internal/testredis"
)

// sendOne sends one message from sender@example.com to
// someone@remote.example through the mta d and returns its ID.
func sendOne(t *testing.T, d *daemon, subject string) string {
	t.Helper()
	c := dial(t, "127.0.0.1", d.addr)
	c.ehlo("client.example")
	c.must("MAIL FROM:<sender@example.com>", "250")
	c.must("RCPT TO:<someone@remote.example>", "250")
	id := idRE.FindStringSubmatch(c.data("Subject: " + subject + "\n\nhello\n"))[1]
	c.must("QUIT", "221")
	return id
}

// runQueueOnce runs `mta -run-queue -debug` on the data directory of d
// (which must be stopped) with args, and returns its stdout and stderr.
func runQueueOnce(t *testing.T, d *daemon, args ...string) (stdout, stderr string) {
	t.Helper()
	bin, _ := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append([]string{"-run-queue", "-debug", "-data", d.data, "-hostname", e2eHostname}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("mta %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(all, " "), err, o.String(), e.String())
	}
	if strings.Contains(e.String(), "WARNING: DATA RACE") {
		t.Errorf("the queue run reported a data race:\n%s", e.String())
	}
	return o.String(), e.String()
}

// TestE2EHintsRedisShared: two mta processes with their own data
// directories share one redis-server through -hints-redis. A's delivery
// meets a 451 to RCPT and A records the retry data; B, holding a message
// for the same address, does not try it in its queue run: the
// greylisting server sees no new connection, and B logs the skip. The
// same queue run of B with another Redis database (no shared hints)
// connects and meets the 451 itself.
func TestE2EHintsRedisShared(t *testing.T) {
	t.Parallel()
	rs := testredis.Start(t, "")
	grey := newFakeSMTP(t, "451 4.7.1 greylisted, try later")
	shared := rs.URL(0)

	// A delivers at once and is deferred.
	a := startMTA(t, "", "-smarthost", grey.addr(), "-hints-redis", shared)
	a.waitLog(regexp.MustCompile(`msg="hints in redis" url=redis://127\.0\.0\.1:\d+/0 prefix=exigo:hints:$`))
	idA := sendOne(t, a, "first")
	a.waitLog(regexp.MustCompile(`msg="==" id=` + regexp.QuoteMeta(idA) +
		` rcpt=someone@remote.example router=smarthost transport=remote_smtp .*err=".*451 4\.7\.1 greylisted, try later"`))
	if c, r := grey.conns.Load(), grey.rcptCount(); c != 1 || r != 1 {
		t.Fatalf("after A's attempt the server saw %d connections and %d RCPTs, want 1 and 1", c, r)
	}

	// The retry record A wrote is in Redis.
	db, err := hintsredis.Open(context.Background(), shared)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const key = "R:someone@remote.example:<sender@example.com>"
	rec, ok, err := hints.GetRetry(context.Background(), db, key)
	if err != nil || !ok {
		t.Fatalf("retry record %q in Redis: found %v, err %v", key, ok, err)
	}
	if !strings.Contains(rec.Text, "451 4.7.1 greylisted, try later") || rec.NextTry.Sub(rec.FirstFailed) != 15*time.Minute {
		t.Errorf("retry record %+v: want the 451 text and the first 15m interval", rec)
	}

	// B, on its own data directory, takes a message for the same
	// address and only spools it.
	b := startMTA(t, "", "-smarthost", grey.addr(), "-hints-redis", shared, "-queue-only", "-queue-interval", "0")
	idB := sendOne(t, b, "second")
	b.stop()
	if idB == idA {
		t.Fatalf("both messages have the ID %s", idB)
	}

	// B's queue run skips the address: A's retry time has not come.
	out, log := runQueueOnce(t, b, "-smarthost", grey.addr(), "-hints-redis", shared)
	if !regexp.MustCompile(`^queue run: messages=1 completed=0 delivered=0 failed=0 deferred=1 skipped=0 errors=0 seconds=[0-9.]+\n$`).MatchString(out) {
		t.Errorf("B's queue run printed %q", out)
	}
	skipRE := regexp.MustCompile(`level=DEBUG msg="==" id=` + regexp.QuoteMeta(idB) +
		` rcpt=someone@remote.example router=smarthost transport=remote_smtp err="retry time not reached" retry=(\S+)`)
	m := skipRE.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("B's queue run did not log the skip (%s):\n%s", skipRE, log)
	}
	// The log shows times to the millisecond.
	if retry, err := time.Parse(time.RFC3339Nano, m[1]); err != nil || !retry.Equal(rec.NextTry.Truncate(time.Millisecond)) {
		t.Errorf("B logged retry=%s (%v), want A's next try %s", m[1], err, rec.NextTry.Format(time.RFC3339Nano))
	}
	if c, r := grey.conns.Load(), grey.rcptCount(); c != 1 || r != 1 {
		t.Errorf("B's queue run reached the server: %d connections and %d RCPTs in all, want still 1 and 1", c, r)
	}

	// The same queue run with a Redis database A did not write to: B
	// tries, and meets the 451.
	out, log = runQueueOnce(t, b, "-smarthost", grey.addr(), "-hints-redis", rs.URL(1))
	if !regexp.MustCompile(`^queue run: messages=1 completed=0 delivered=0 failed=0 deferred=1 skipped=0 errors=0 seconds=[0-9.]+\n$`).MatchString(out) {
		t.Errorf("B's second queue run printed %q", out)
	}
	tryRE := regexp.MustCompile(`level=INFO msg="==" id=` + regexp.QuoteMeta(idB) +
		` rcpt=someone@remote.example router=smarthost transport=remote_smtp .*err=".*451 4\.7\.1 greylisted, try later"`)
	if !tryRE.MatchString(log) {
		t.Errorf("B's queue run on Redis database 1 did not log the 451 (%s):\n%s", tryRE, log)
	}
	if c, r := grey.conns.Load(), grey.rcptCount(); c != 2 || r != 2 {
		t.Errorf("after B's attempt the server saw %d connections and %d RCPTs, want 2 and 2", c, r)
	}
}

// TestHintsRedisBadURL: a -hints-redis that cannot be used stops the
// startup with a clear error.
func TestHintsRedisBadURL(t *testing.T) {
	t.Parallel()
	bin, _ := binaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for url, want := range map[string]string{
		"http://example.org/":              `msg="startup failed" err="hints-redis: hints/redis: redis: invalid URL scheme: http"`,
		"redis://:secret@" + closed + "/0": `msg="startup failed" err="hints-redis: hints/redis: redis://:xxxxx@` + closed + `/0: dial tcp ` + closed + `: connect: connection refused"`,
	} {
		cmd := exec.Command(bin, "-run-queue", "-data", t.TempDir(), "-hints-redis", url)
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(string(out), want) || strings.Contains(string(out), "secret") {
			t.Errorf("-hints-redis %s: exit %d, output:\n%s\nwant it to contain %s", url, code, out, want)
		}
	}
}
