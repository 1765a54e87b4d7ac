package srs

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

// perlSRS runs Mail::SRS (its default Guarded scheme) over commands
// "F sender alias" and "R address", one per line, and returns one result
// per command ("ERR ..." for an error).
func perlSRS(t *testing.T, secrets []string, cmds []string) []string {
	t.Helper()
	perl := testpeer.Need(t, "perl", "perl")
	if err := exec.Command(perl, "-MMail::SRS", "-e", "1").Run(); err != nil {
		testpeer.Missing(t, "Mail::SRS missing (apt-get install libmail-srs-perl)")
	}
	const script = `
use strict; use Mail::SRS;
my $srs = Mail::SRS->new(Secret => [@ARGV], MaxAge => 21, HashLength => 4);
$| = 1;
while (my $l = <STDIN>) {
	chomp $l;
	my ($op, @a) = split / /, $l;
	my $r = eval { $op eq 'F' ? $srs->forward(@a) : $srs->reverse(@a) };
	if ($@) { my $e = $@; $e =~ s/\n.*//s; print "ERR $e\n" } else { print "$r\n" }
}`
	cmd := exec.Command(perl, append([]string{"-e", script}, secrets...)...)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("perl: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(cmds) {
		t.Fatalf("perl gave %d lines for %d commands: %q", len(lines), len(cmds), out)
	}
	return lines
}

// postsrsd is a running postsrsd 1.x on loopback ports.
type postsrsd struct {
	forward, reverse string // host:port
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startPostsrsd(t *testing.T, domain string, secrets []string) *postsrsd {
	t.Helper()
	bin := testpeer.Need(t, "postsrsd", "postsrsd", "/usr/sbin")
	dir := t.TempDir()
	sf := filepath.Join(dir, "secret")
	if err := os.WriteFile(sf, []byte(strings.Join(secrets, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fp, rp := freePort(t), freePort(t)
	cmd := exec.Command(bin, "-s"+sf, "-d"+domain, "-l127.0.0.1", "-4",
		fmt.Sprintf("-f%d", fp), fmt.Sprintf("-r%d", rp), "-t5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &postsrsd{forward: fmt.Sprintf("127.0.0.1:%d", fp), reverse: fmt.Sprintf("127.0.0.1:%d", rp)}
	for range 100 { // wait up to 5 s for the listeners
		c, err := net.DialTimeout("tcp", p.reverse, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("postsrsd did not start listening")
	return nil
}

// get runs one Postfix tcp_table query; it returns the value of a 200
// reply, or the whole reply line as an error.
func (p *postsrsd) get(t *testing.T, addr, key string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "get %s\n", url.PathEscape(key))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("postsrsd: %v", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if v, ok := strings.CutPrefix(line, "200 "); ok {
		v, err := url.PathUnescape(v)
		if err != nil {
			t.Fatalf("postsrsd reply %q: %v", line, err)
		}
		return v, nil
	}
	return "", fmt.Errorf("postsrsd: %s", line)
}

var interopSenders = []string{"user@example.com", "First.Last@Example.ORG", "a+tag@sub.example.net",
	"x_y-z@xn--bcher-kva.example", "UPPER@EXAMPLE.COM", "o'brien@example.com", "eq=sign@example.com"}

func TestInteropMailSRSAndPostsrsd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secrets := []string{"tops3cret"}
	const fwd = "fwd.example.net"
	s := &SRS{Secrets: secrets}
	p := startPostsrsd(t, fwd, secrets)
	now := time.Now()

	// SRS0: all three write the same bytes for the same secret and day.
	var cmds []string
	for _, a := range interopSenders {
		cmds = append(cmds, "F "+a+" "+fwd)
	}
	perl := perlSRS(t, secrets, cmds)
	var mine []string
	for i, a := range interopSenders {
		m, err := s.Forward(ctx, a, fwd, now)
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, m)
		ps, err := p.get(t, p.forward, a)
		if err != nil {
			t.Fatal(err)
		}
		if m != perl[i] || m != ps {
			t.Errorf("forward %q: exigo %q, Mail::SRS %q, postsrsd %q", a, m, perl[i], ps)
		}
	}
	// Each reverses the others' addresses (they are equal, so reversing
	// exigo's is reversing theirs), plus SRS1 made by each.
	cmds = cmds[:0]
	for _, m := range mine {
		cmds = append(cmds, "R "+m, "F "+m+" second.example")
	}
	perl = perlSRS(t, secrets, cmds)
	p2 := startPostsrsd(t, "second.example", secrets)
	for i, m := range mine {
		orig := interopSenders[i]
		if perl[2*i] != orig {
			t.Errorf("Mail::SRS reverse %q = %q, want %q", m, perl[2*i], orig)
		}
		if got, err := p.get(t, p.reverse, m); got != orig {
			t.Errorf("postsrsd reverse %q = %q, %v; want %q", m, got, err, orig)
		}
		if got, err := s.Reverse(ctx, m, now); got != orig || err != nil {
			t.Errorf("exigo reverse %q = %q, %v", m, got, err)
		}
		// SRS1 by each for a second forwarder, reversed by the others.
		srs1, err := s.Forward(ctx, m, "second.example", now)
		if err != nil {
			t.Fatal(err)
		}
		// postsrsd 1.10 does not re-forward: it answers "500 Already
		// rewritten" for SRS addresses, so its SRS1 side is reverse only.
		if ps1, err := p2.get(t, p2.forward, m); err == nil || err.Error() != "postsrsd: 500 Already rewritten" {
			t.Errorf("postsrsd forward %q = %q, %v", m, ps1, err)
		}
		if srs1 != perl[2*i+1] || !strings.HasPrefix(srs1, "SRS1=") {
			t.Errorf("SRS1 of %q: exigo %q, Mail::SRS %q", m, srs1, perl[2*i+1])
		}
		if got, err := s.Reverse(ctx, perl[2*i+1], now); got != m || err != nil {
			t.Errorf("exigo reverse of Mail::SRS %q = %q, %v; want %q", perl[2*i+1], got, err, m)
		}
		if got, err := p2.get(t, p2.reverse, srs1); got != m {
			t.Errorf("postsrsd reverse of exigo %q = %q, %v; want %q", srs1, got, err, m)
		}
		// SRS1 re-forwarded again (third hop) stays SRS1 to the first hop.
		srs1b, err := s.Forward(ctx, srs1, "third.example", now)
		if err != nil || !strings.HasSuffix(srs1b, "@third.example") {
			t.Fatalf("SRS1 re-forward: %q, %v", srs1b, err)
		}
		if got, err := s.Reverse(ctx, srs1b, now); got != m || err != nil {
			t.Errorf("exigo reverse %q = %q, %v; want %q", srs1b, got, err, m)
		}
	}
	cmds = cmds[:0]
	for _, m := range mine {
		srs1, _ := s.Forward(ctx, m, "second.example", now)
		cmds = append(cmds, "R "+srs1)
	}
	perl = perlSRS(t, secrets, cmds)
	for i, m := range mine {
		if perl[i] != m {
			t.Errorf("Mail::SRS reverse of exigo SRS1 = %q, want %q", perl[i], m)
		}
	}
}

// TestInteropSecretRotation: addresses signed by the peers with an old
// secret are accepted by exigo when that secret follows the new one.
func TestInteropSecretRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := startPostsrsd(t, "fwd.example.net", []string{"old-secret"})
	now := time.Now()
	perl := perlSRS(t, []string{"older-secret"}, []string{"F user@example.com fwd.example.net"})
	ps, err := p.get(t, p.forward, "user@example.com")
	if err != nil {
		t.Fatal(err)
	}
	s := &SRS{Secrets: []string{"new-secret", "old-secret", "older-secret"}}
	for _, a := range []string{ps, perl[0]} {
		if got, err := s.Reverse(ctx, a, now); got != "user@example.com" || err != nil {
			t.Errorf("Reverse(%q) = %q, %v", a, got, err)
		}
		if got, err := (&SRS{Secrets: []string{"new-secret"}}).Reverse(ctx, a, now); got != "" || !strErrIs(err, ErrHash) {
			t.Errorf("Reverse(%q) without the old secret = %q, %v", a, got, err)
		}
	}
	// postsrsd with the new secret first verifies exigo's old-secret address.
	p2 := startPostsrsd(t, "fwd.example.net", []string{"new-secret", "old-secret"})
	old, _ := (&SRS{Secrets: []string{"old-secret"}}).Forward(ctx, "user@example.com", "fwd.example.net", now)
	if got, err := p2.get(t, p2.reverse, old); got != "user@example.com" {
		t.Errorf("postsrsd reverse %q = %q, %v", old, got, err)
	}
}
