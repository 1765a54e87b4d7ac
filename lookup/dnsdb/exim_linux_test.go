//go:build linux

package dnsdb_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/lookup/dnsdb"
	"github.com/exigo-mta/exigo/mailtest"
)

// eximQueries are run through both Exim's dnsdb and ours.
var eximQueries = []string{
	"a=a.test", ">: a=a.test", ">  a=a.test", "aaaa=a.test", "aaaa=v6only.test", "a+=a.test",
	">; a+=a.test:b.test", "a=<; a.test ; nx.test; b.test", "A=A.TEST.", "a= a.test : : b.test :",
	"a=<| a.test || b.test | b.test", "a=a.test::b.test",
	"mx=mx.test", ">|,: mx=mx.test", ">|; mx=mx.test", ">,,; mx=mx.test", ">;,, mx=mx.test", "mxh=mx.test",
	"mx=null.test", "mxh=null.test", "mx=esc.test",
	"txt.test", ">\n,: txt=txt.test", ">\n; txt=txt.test", ">|,  txt=txt.test", "txt=bin.test", ">\n,: txt=bin.test",
	"txt=empty.test", "spf=spf.test", "srv=_sip._tcp.test", ">:,/ srv=_sip._tcp.test",
	"tlsa=_25._tcp.mx1.mx.test", ">\n,: tlsa=_25._tcp.mx1.mx.test",
	"cname=cname.test", "a=cname.test", "cname=a.test", "ns=ns.test", "ns=a.test",
	"zns=deep.sub.zone.test", "zns=a.b.nx", "soa=x.zone.test", ">:,| soa=zone.test", "soa=a.b.nx",
	"ptr=192.0.2.1", "ptr=192.0.2.001", "ptr=2001:db8::1", "ptr=2001:db8:0:0:0:0:0:1", "ptr=<; 192.0.2.1 ; 2001:db8::1",
	"ptr=2001:db8::1 ",
	"a=nx.test", "mx=a.test", "a=",
	"a=servfail.test", "defer_never,a=servfail.test", "a=servfail.test:b.test", "defer_strict,a=b.test:servfail.test",
	"defer_never , dnssec_never , a=a.test", "a+=aaaafail.test", "defer_strict,a+=aaaafail.test",
	"dnssec_strict,txt=signed.test", "dnssec_strict,txt=unsigned.test", "dnssec_strict,defer_never,txt=unsigned.test",
	"dnssec_strict,txt=unsigned.test:signed.test", "dnssec_strict,a=nx.test", "dnssec_strict,mx=mx.test",
	"DNSSEC_STRICT,A+=A.TEST", "dnssec_never,txt=signed.test",
	"defer_lax dnssec_strict a=x", "retrans_5,a=a.test", "retrans_5s ,a=a.test", "retry_-1,a=a.test",
	"retry_0x3,a=a.test", "retry_3x,a=a.test", "retry_ ,a=a.test", "any=x", ">: ,; a=a.test",
}

// TestEximInterop compares our results with Exim's own dnsdb, both asking
// the fake DNS server. Exim uses the C library's resolver, which reads
// /etc/resolv.conf and port 53, so the comparison runs in a child process
// in private network and mount namespaces (unshare -mn, as root), where
// 127.0.0.1:53 and /etc/resolv.conf are its own.
func TestEximInterop(t *testing.T) {
	if os.Getenv("EXIGO_DNSDB_NETNS") == "1" {
		eximInteropChild(t)
		return
	}
	testpeer.Need(t, "exim", "exim4-daemon-heavy", "/usr/sbin")
	unshare := testpeer.Need(t, "unshare", "util-linux")
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "unshare -mn needs root")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-mn", "--propagation", "private",
		os.Args[0], "-test.run=^TestEximInterop$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "EXIGO_DNSDB_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") {
		testpeer.Missing(t, "cannot create namespaces: "+strings.TrimSpace(string(out)))
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEximInterop") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("child:\n%s", out)
	}
}

func eximInteropChild(t *testing.T) {
	// Bring up the loopback interface of the new network namespace.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	// Point the C resolver at 127.0.0.1; trust-ad makes glibc keep the
	// AD bit of answers.
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.1\noptions trust-ad timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(conf, "/etc/resolv.conf", "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}

	s, err := mailtest.NewDNSServer(testZone())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Relay port 53 to the fake server.
	relay := dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		c := &dns.Client{Net: w.RemoteAddr().Network(), Timeout: 2 * time.Second}
		if r, _, err := c.Exchange(m, s.Addr()); err == nil {
			_ = w.WriteMsg(r)
		}
	})
	started := make(chan struct{}, 2)
	for _, netw := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: "127.0.0.1:53", Net: netw, Handler: relay,
			NotifyStartedFunc: func() { started <- struct{}{} }}
		go func() {
			if err := srv.ListenAndServe(); err != nil {
				t.Error(err)
				started <- struct{}{}
			}
		}()
		defer func() { _ = srv.Shutdown() }()
	}
	<-started
	<-started

	exim := testpeer.NewExim(t, "")
	db, err := dnsdb.New(dnsdb.WithServers(s.Addr()), dnsdb.WithTimeout(time.Second), dnsdb.WithAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range eximQueries {
		v, found, err := db.Lookup(context.Background(), q)
		ours := fmt.Sprintf("%q", v)
		switch {
		case err != nil:
			ours = "DEFER"
		case !found:
			ours = "FAIL"
		}
		out, eerr := exim.Run("", "-be", "${lookup dnsdb{"+q+"}{<$value>}{FAIL}}")
		out = strings.TrimSuffix(out, "\n")
		var theirs string
		switch {
		case strings.Contains(out, "gave DEFER"), eerr != nil && strings.Contains(eerr.Error(), "gave DEFER"):
			theirs = "DEFER"
		case eerr != nil:
			t.Fatalf("exim: %v", eerr)
		case out == "FAIL":
			theirs = "FAIL"
		case strings.HasPrefix(out, "<") && strings.HasSuffix(out, ">"):
			theirs = fmt.Sprintf("%q", out[1:len(out)-1])
		default:
			t.Fatalf("exim -be %q: unexpected output %q", q, out)
		}
		if ours != theirs {
			t.Errorf("%q: exigo %s, exim %s", q, ours, theirs)
		}
	}
}
