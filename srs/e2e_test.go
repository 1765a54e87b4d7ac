package srs

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/smtp"
)

// TestEndToEndBounce: exigo (a mailtest server with a routing chain)
// forwards a message for alias@fwd.example.net to dest@remote.example
// through the smtp transport wrapped by ReturnPath; a real Exim daemon
// accepts it, fails the recipient and sends its bounce to the SRS
// return path, back to exigo; exigo's inbound SRS router redirects the
// bounce to the original sender, user@example.com, delivered to a
// recorder. (Built from the mailtest, router and transport packages,
// not examples/mta, which was being changed when this was written.)
func TestEndToEndBounce(t *testing.T) {
	t.Parallel()
	scheme := Native{Secret: "e2e-secret"}
	eximPort := freePort(t)
	local := &mailtest.Recorder{}
	chain, chainErr := router.NewChain([]router.Entry{
		{Name: "inbound_srs", Router: &Router{Scheme: scheme, Domains: ours}},
		{Name: "inbound_srs_failure", Router: &FailRouter{Domains: ours}},
		{Name: "alias", Router: router.RouterFunc(func(_ context.Context, a *router.Address) (router.Result, error) {
			if a.Domain == "fwd.example.net" && a.LocalPart == "alias" {
				return router.Redirected(a.Recipient.Child("dest@remote.example")), nil
			}
			return router.Declined(), nil
		})},
		{Name: "local", Router: router.RouterFunc(func(_ context.Context, a *router.Address) (router.Result, error) {
			if a.Domain == "example.com" {
				return router.Accepted("local"), nil
			}
			return router.Declined(), nil
		})},
		{Name: "remote", Router: router.RouterFunc(func(context.Context, *router.Address) (router.Result, error) {
			return router.Accepted("smtp", transport.Host{Name: "localhost", Addr: netip.MustParseAddr("127.0.0.1"), Port: eximPort, Pref: -1}), nil
		})},
	})
	if chainErr != nil {
		t.Fatal(chainErr)
	}
	out := ReturnPath(&smtp.Transport{Hostname: "fwd.example.net", ConnectTimeout: 5 * time.Second,
		CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second, FinalTimeout: 10 * time.Second, MaxMessagesPerConnection: -1}, scheme, nil)
	srv := mailtest.NewServer(t, mailtest.WithRouting(chain, map[string]transport.Transport{"local": local, "smtp": out}))
	exigoPort := srv.Addr()[strings.LastIndexByte(srv.Addr(), ':')+1:]

	ex := testpeer.NewExim(t, fmt.Sprintf(`daemon_smtp_ports = %d
local_interfaces = <; 127.0.0.1
acl_smtp_rcpt = accept
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
begin routers
nouser:
  driver = redirect
  domains = remote.example
  allow_fail
  data = :fail: no such user here
to_forwarder:
  driver = manualroute
  domains = fwd.example.net
  route_list = * 127.0.0.1
  self = send
  transport = to_exigo
begin transports
to_exigo:
  driver = smtp
  port = %s
  allow_localhost
  user = nobody
  hosts_try_chunking = :
`, eximPort, exigoPort))
	// Exim will not run a transport as root (fixed_never_users), so
	// to_exigo runs as nobody, which must reach the spool.
	for _, d := range []string{filepath.Dir(ex.Dir), ex.Dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(ex.Spool, 0o777); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(ex.Bin, "-C", ex.Conf, "-bdf")
	daemon.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC"}
	var derr bytes.Buffer
	daemon.Stderr = &derr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Kill(); _ = daemon.Wait() })
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", eximPort))

	c := srv.Dial(t)
	c.Ehlo("client.example")
	if _, err := c.Transaction("user@example.com", []string{"alias@fwd.example.net"},
		"From: user@example.com\r\nTo: alias@fwd.example.net\r\nSubject: forward me\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	for _, o := range srv.Outcomes() {
		if o.Err() != nil {
			t.Fatalf("forwarding: %s", o)
		}
	}

	ds, err := local.Wait(1, 20*time.Second)
	if err != nil {
		log, _ := os.ReadFile(ex.Spool + "/log/mainlog")
		t.Fatalf("no bounce delivered to the original sender: %v\nexim stderr: %s\nexim mainlog:\n%s\noutcomes: %v", err, derr.String(), log, srv.Outcomes())
	}
	d := ds[0]
	if d.ReturnPath != "" || strings.Join(d.Recipients, ",") != "user@example.com" {
		t.Errorf("bounce delivery: return path %q, recipients %q", d.ReturnPath, d.Recipients)
	}
	if !bytes.Contains(d.Data, []byte("no such user here")) || !bytes.Contains(d.Data, []byte("dest@remote.example")) {
		t.Errorf("bounce text:\n%s", d.Data)
	}
	// The bounce went to the SRS address Exim saw as the return path.
	rp, _ := scheme.Encode("user@example.com", "fwd.example.net", time.Now())
	var sawBounce bool
	for _, m := range srv.Messages() {
		if m.Message.Envelope.Sender == "" && strings.Join(m.Recipients(), ",") == rp {
			sawBounce = true
		}
	}
	if !sawBounce {
		t.Errorf("no bounce to %s among the received messages", rp)
	}
	log, _ := os.ReadFile(ex.Spool + "/log/mainlog")
	if !bytes.Contains(log, []byte("<= "+rp)) {
		t.Errorf("Exim's log does not show the SRS return path %s:\n%s", rp, log)
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 100 {
		c, err := netDial(addr)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
