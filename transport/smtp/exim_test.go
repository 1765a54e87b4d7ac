package smtp

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/testcert"
	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/transport"
)

// startExim runs an Exim daemon on a free loopback port that queues
// everything it accepts, offering DSN, CHUNKING, PIPELINING and STARTTLS
// with a test certificate.
func startExim(t *testing.T) (*testpeer.Exim, transport.Host) {
	t.Helper()
	dir := t.TempDir()
	cert, _ := testcert.Must(t, "exim.test", "127.0.0.1")
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := testpeer.NewExim(t, fmt.Sprintf(`local_interfaces = 127.0.0.1
daemon_smtp_ports = %d
queue_only = true
dsn_advertise_hosts = *
tls_advertise_hosts = *
tls_certificate = %s
tls_privatekey = %s
acl_smtp_rcpt = accept_all
begin acl
accept_all:
  accept
`, port, certFile, keyFile))
	cmd := exec.Command(e.Bin, "-C", e.Conf, "-bdf", "-oP", filepath.Join(dir, "exim.pid"))
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("exim daemon did not start: %v; stderr: %s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	return e, transport.Host{Name: "exim.test", Addr: ap.Addr(), Port: port}
}

// TestExim delivers to a real Exim 4.96 with DSN options, with BDAT and
// with DATA over STARTTLS, and checks what Exim queued: the -H file's DSN
// fields and recipients, and the -D file's body.
func TestExim(t *testing.T) {
	t.Parallel()
	e, host := startExim(t)
	body := "Hello Exim.\n.a dot line\n..two dots\nFrom here\n\nbye\n"
	for _, chunking := range []bool{true, false} {
		tr := newTransport(t, nil)
		tr.NoChunking = !chunking
		m := newMsg(t, testHeader, body)
		m.Envelope.EnvID = "abc123"
		m.Envelope.Ret = exigo.RetHdrs
		d, rs := newDelivery(m, []transport.Host{host}, "rcpt1@example.com", "rcpt2@example.com")
		rs[0].ORCPT = "rfc822;orig@example.com"
		rs[0].Notify = exigo.NotifySuccess | exigo.NotifyFailure
		st := transport.StatusMap{}
		if err := tr.Deliver(t.Context(), d, st); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		var id string
		for _, r := range rs {
			res := st[r]
			if res.Err != nil {
				t.Fatalf("chunking=%v: %s: %v", chunking, r.Address, res.Err)
			}
			// Exim answers "250 OK id=1xUm1a-0000hS-2z", after BDAT
			// "250- 113 byte chunk, total 113\r\n250 OK id=...".
			_, after, ok := strings.Cut(res.Reply, "OK id=")
			if !strings.HasPrefix(res.Reply, "250 ") || !ok {
				t.Fatalf("reply %q", res.Reply)
			}
			id = after
			a := res.Attempt
			if a.TLS == nil || a.TLS.Version != "TLS1.3" || !strings.HasPrefix(a.Greeting, "test.example ESMTP Exim 4.96") || a.EHLO != "test.example Hello client.test [127.0.0.1]" {
				t.Errorf("attempt %+v %+v", a, a.TLS)
			}
		}
		h, err := os.ReadFile(filepath.Join(e.Spool, "input", id+"-H"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"\n<sender@example.org>\n",
			"\n-dsn_envid abc123\n",
			"\n-dsn_ret 2\n",
			"\n-host_address [127.0.0.1]:",
			"\n-received_protocol esmtps\n",
			"\nrcpt1@example.com rfc822;orig@example.com 23,12  0,-1#3\n",
			"\nrcpt2@example.com\n",
		} {
			if !strings.Contains(string(h), want) {
				t.Errorf("chunking=%v: -H lacks %q:\n%s", chunking, want, h)
			}
		}
		dfile, err := os.ReadFile(filepath.Join(e.Spool, "input", id+"-D"))
		if err != nil {
			t.Fatal(err)
		}
		if want := id + "-D\n" + body; string(dfile) != want {
			t.Errorf("chunking=%v: -D %q, want %q", chunking, dfile, want)
		}
		out, err := e.Run("", "-bp")
		if err != nil || !strings.Contains(out, id+" <sender@example.org>") {
			t.Errorf("exim -bp: %v\n%s", err, out)
		}
	}
	logb, _ := os.ReadFile(filepath.Join(e.Spool, "log", "mainlog"))
	if n := strings.Count(string(logb), " <= sender@example.org H=(client.test) [127.0.0.1]"); n != 2 {
		t.Errorf("%d arrivals logged:\n%s", n, logb)
	}
}
