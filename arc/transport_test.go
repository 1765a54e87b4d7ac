package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/smtp"
)

var _ transport.HeaderSigner = (*Signer)(nil)

// storedMessage turns a CRLF message into an exigo.Message in stored form
// (LF line ends) whose Body counts its Opens.
func storedMessage(t testing.TB, raw []byte, opens *atomic.Int32) *exigo.Message {
	t.Helper()
	lf := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	br := bufio.NewReader(bytes.NewReader(lf))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(br)
	m := &exigo.Message{
		ID:     "1xUm1a-0000hS-2z",
		Header: h,
		Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
			opens.Add(1)
			return io.NopCloser(bytes.NewReader(body)), nil
		}),
	}
	m.Envelope.Sender = "alice@origin.example"
	m.Stats.Size = int64(len(lf))
	m.Stats.Lines = bytes.Count(body, []byte("\n"))
	return m
}

// countSigner counts SignHeader calls.
type countSigner struct {
	transport.HeaderSigner
	n atomic.Int32
}

func (c *countSigner) SignHeader(ctx context.Context, h *textproto.Header, body io.Reader) ([]byte, error) {
	c.n.Add(1)
	return c.HeaderSigner.SignHeader(ctx, h, body)
}

// wireDialer records what the client writes, to tell DATA from BDAT.
type wireDialer struct {
	mu  sync.Mutex
	out bytes.Buffer
}

func (d *wireDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: c, d: d}, nil
}

type recConn struct {
	net.Conn
	d *wireDialer
}

func (c *recConn) Write(p []byte) (int, error) {
	c.d.mu.Lock()
	c.d.out.Write(p)
	c.d.mu.Unlock()
	return c.Conn.Write(p)
}

func (d *wireDialer) commands() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var cmds []string
	for _, l := range strings.Split(d.out.String(), "\r\n") {
		if strings.HasPrefix(l, "DATA") || strings.HasPrefix(l, "BDAT ") {
			cmds = append(cmds, strings.Fields(l)[0])
		}
	}
	return strings.Join(cmds, ",")
}

// hop1Chain returns baseMessage sealed by hop1.example, with an
// Authentication-Results field of hop2.example on top.
func hop1Chain(t testing.TB, key string) []byte {
	t.Helper()
	k := keysOnce()
	s := &Signer{ADMD: "hop1.example", Selector: key, Key: k.rsa, Verifier: &Verifier{Resolver: k.records}}
	if key == "ed" {
		s.Key = k.ed
	}
	msg := withAR("hop1.example", "none", []byte(baseMessage))
	br := bufio.NewReader(bytes.NewReader(msg))
	h, err := ReadHeader(br, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Sign(context.Background(), h, br)
	if err != nil {
		t.Fatal(err)
	}
	return withAR("hop2.example", "pass", append(f.Bytes(), msg...))
}

// TestTransportSign relays a message through transport/smtp with an ARC
// signer to a loopback server, by DATA and by BDAT, with RSA and Ed25519
// keys: the message arrives with an i=2 set that exigo and dkimpy verify,
// signed once although it took two transactions after a dead host.
func TestTransportSign(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	dnsFile := writeDNSFile(t, k.records)
	for _, key := range []string{"rsa", "ed"} {
		for _, chunking := range []bool{false, true} {
			name := key + "/DATA"
			if chunking {
				name = key + "/BDAT"
			}
			t.Run(name, func(t *testing.T) {
				srv := mailtest.NewServer(t)
				port, _ := strconv.Atoi(srv.Addr()[strings.LastIndexByte(srv.Addr(), ':')+1:])
				signer := &Signer{ADMD: "hop2.example", Selector: key, Key: k.rsa, Timestamps: true,
					Expire: DefaultExpire, Verifier: &Verifier{Resolver: k.records}}
				if key == "ed" {
					signer.Key = k.ed
				}
				cs := &countSigner{HeaderSigner: signer}
				wd := &wireDialer{}
				tr := &smtp.Transport{Hostname: "hop2.example", TLSPolicy: func(transport.Host) smtp.TLSPolicy { return smtp.TLSDisabled },
					NoChunking: !chunking, MaxRcpt: 1, Dialer: wd, ConnectTimeout: 5 * time.Second,
					CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second, FinalTimeout: 10 * time.Second,
					Signers: []transport.HeaderSigner{cs}}
				defer tr.Close()
				var opens atomic.Int32
				m := storedMessage(t, hop1Chain(t, key), &opens)
				d := &transport.Delivery{Message: m, ReturnPath: m.Envelope.Sender, Hosts: []transport.Host{
					// Nothing listens on the first host's port (it is the server's port on another address).
					{Name: "dead.example", Addr: netip.MustParseAddr("127.0.0.254"), Port: port},
					{Name: "mx.example", Addr: netip.MustParseAddr("127.0.0.1"), Port: port},
				}}
				for _, a := range []string{"r1@hop3.example", "r2@hop3.example"} {
					d.Recipients = append(d.Recipients, m.Envelope.AddRecipient(a))
				}
				st := transport.StatusMap{}
				if err := tr.Deliver(context.Background(), d, st); err != nil {
					t.Fatal(err)
				}
				for _, r := range d.Recipients {
					if st[r].Err != nil {
						t.Fatalf("%s: %v", r.Address, st[r].Err)
					}
				}
				if n := cs.n.Load(); n != 1 {
					t.Errorf("signed %d times, want 1", n)
				}
				// One Open to sign, one per transaction (MaxRcpt 1: two).
				if n := opens.Load(); n != 3 {
					t.Errorf("body opened %d times, want 3", n)
				}
				want := "DATA,DATA"
				if chunking {
					want = "BDAT,BDAT"
				}
				if got := wd.commands(); got != want {
					t.Errorf("data commands %q, want %q", got, want)
				}
				msgs, err := srv.WaitMessages(2, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				for _, rm := range msgs {
					raw := append(append(append([]byte(nil), rm.Header...), '\n'), rm.Body...)
					raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
					res, err := (&Verifier{Resolver: k.records}).Verify(context.Background(), bytes.NewReader(raw))
					if err != nil {
						t.Fatal(err)
					}
					if res.State != Pass || res.Instances != 2 || res.OldestPass != 1 ||
						strings.Join(res.Domains, ",") != "hop1.example,hop2.example" {
						t.Errorf("exigo verify: %+v", res)
					}
					// dkimpy's ARC code knows rsa-sha256 only.
					if key == "rsa" {
						if got := dkimpy(t, raw, "verify", dnsFile); !strings.HasPrefix(got, "pass\n") {
							t.Errorf("dkimpy verify: %q", got)
						}
					}
					// The new set is on top, above the Received field the
					// server added and the original fields.
					hdr := string(rm.Header)
					if !strings.Contains(hdr, "ARC-Seal: a=") || !strings.Contains(hdr, "cv=pass; d=hop2.example; i=2;") {
						t.Errorf("no i=2 seal in\n%s", hdr)
					}
					ams := hdr[strings.Index(hdr, "ARC-Message-Signature: a="):]
					if !strings.Contains(ams[:strings.Index(ams, "ARC-Authentication-Results")], " x=") {
						t.Errorf("AMS without x=: %s", ams)
					}
					if !strings.Contains(hdr, "ARC-Authentication-Results: i=2; hop2.example;\n arc=pass\n") {
						t.Errorf("AAR of i=2 missing:\n%s", hdr)
					}
				}
			})
		}
	}
}

// TestTransportSignRefusals: each refusal fails the delivery permanently
// with the reason, before any connection; SendUnsigned sends the message
// as it is; a key that cannot sign defers.
func TestTransportSignRefusals(t *testing.T) {
	t.Parallel()
	k, dns := fixedKey()
	hop1 := sealed(t)
	broken := "Authentication-Results: hop1.example; arc=fail\r\n" + strings.Replace(hop1, "body\r\n", "b0dy\r\n", 1)
	var failed []byte
	{
		s := &Signer{ADMD: "hop1.example", Selector: "sel", Key: k, Verifier: &Verifier{Resolver: dns}}
		br := bufio.NewReader(strings.NewReader(broken))
		h, _ := ReadHeader(br, 0)
		f, err := s.Sign(context.Background(), h, br)
		if err != nil {
			t.Fatal(err)
		}
		failed = append(f.Bytes(), broken...)
	}
	var full strings.Builder
	for i := 50; i >= 1; i-- {
		fmt.Fprintf(&full, "ARC-Seal: i=%d; a=rsa-sha256; b=AA==; cv=none; d=x.example; s=s\r\n", i)
	}
	full.WriteString("Authentication-Results: hop1.example; arc=fail\r\nFrom: a@b\r\n\r\nx\r\n")

	const pre = "smtp: signing the message: "
	cases := []struct {
		name, msg string
		key       crypto.Signer
		unsigned  bool
		want      string
		permanent bool
	}{
		{"no A-R", "Authentication-Results: other.example; spf=pass\r\nFrom: a@b\r\n\r\nx\r\n", k, false,
			pre + "arc: no Authentication-Results header of our ADMD (hop1.example) (permanent failure)", true},
		{"cv=fail", string(failed), k, false,
			pre + "arc: the newest seal of the chain says cv=fail: not signing (i=2 cv=fail) (permanent failure)", true},
		{"50 sets", full.String(), k, false,
			pre + "arc: the chain already has 50 sets (permanent failure)", true},
		{"bad key", "Authentication-Results: hop1.example; spf=pass\r\nFrom: a@b\r\n\r\nx\r\n", badSigner{}, false,
			pre + "arc: unsupported key type arc.badSigner", false},
		{"unsigned", "Authentication-Results: other.example; spf=pass\r\nFrom: a@b\r\n\r\nx\r\n", k, true,
			"smtp.example [127.0.0.1]:1: after connect: dial tcp 127.0.0.1:1: connect: connection refused", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Signer{ADMD: "hop1.example", Selector: "sel", Key: c.key, Verifier: &Verifier{Resolver: dns}, SendUnsigned: c.unsigned}
			tr := &smtp.Transport{Hostname: "hop1.example", Signers: []transport.HeaderSigner{s}, ConnectTimeout: 5 * time.Second}
			var opens atomic.Int32
			m := storedMessage(t, []byte(c.msg), &opens)
			d := &transport.Delivery{Message: m, ReturnPath: m.Envelope.Sender,
				Hosts: []transport.Host{{Name: "smtp.example", Addr: netip.MustParseAddr("127.0.0.1"), Port: 1}}}
			r := m.Envelope.AddRecipient("r@hop3.example")
			d.Recipients = []*exigo.Recipient{r}
			st := transport.StatusMap{}
			if err := tr.Deliver(context.Background(), d, st); err != nil {
				t.Fatal(err)
			}
			err := st[r].Err
			if err == nil || err.Error() != c.want {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
			if transport.Permanent(err) != c.permanent {
				t.Errorf("Permanent = %v", !c.permanent)
			}
			if c.permanent && !Refused(err) {
				t.Errorf("Refused(%v) = false", err)
			}
			if n := opens.Load(); n != 1 {
				t.Errorf("body opened %d times, want 1", n)
			}
		})
	}
}

type badSigner struct{}

func (badSigner) Public() crypto.PublicKey { return nil }
func (badSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("no HSM today")
}

// TestSignChain: an ARC signer after another signer covers the fields
// that signer added (as it would a DKIM-Signature).
func TestSignChain(t *testing.T) {
	t.Parallel()
	k, dns := fixedKey()
	dkim := transportSignerFunc(func(_ context.Context, h *textproto.Header, body io.Reader) ([]byte, error) {
		io.Copy(io.Discard, body)
		return []byte("DKIM-Signature: v=1; d=hop1.example; b=fake\r\n"), nil
	})
	s := &Signer{ADMD: "hop1.example", Selector: "sel", Key: k, Verifier: &Verifier{Resolver: dns}}
	var opens atomic.Int32
	m := storedMessage(t, []byte("Authentication-Results: hop1.example; spf=pass\r\nFrom: a@b\r\n\r\nbody\r\n"), &opens)
	out, err := transport.Sign(context.Background(), m, []byte("X-Pre: 1\n"), dkim, s)
	if err != nil {
		t.Fatal(err)
	}
	fields := string(out)
	if !strings.HasPrefix(fields, "ARC-Seal: ") || !strings.HasSuffix(fields, "DKIM-Signature: v=1; d=hop1.example; b=fake\nX-Pre: 1\n") ||
		strings.Contains(fields, "\r") {
		t.Fatalf("fields:\n%s", fields)
	}
	if !strings.Contains(fields, "h=from:dkim-signature;") {
		t.Errorf("AMS does not cover the DKIM-Signature:\n%s", fields)
	}
	full := strings.ReplaceAll(fields, "\n", "\r\n") + "Authentication-Results: hop1.example; spf=pass\r\nFrom: a@b\r\n\r\nbody\r\n"
	res, err := (&Verifier{Resolver: dns}).Verify(context.Background(), strings.NewReader(full))
	if err != nil || res.State != Pass {
		t.Fatalf("%+v %v", res, err)
	}
	if n := opens.Load(); n != 2 {
		t.Errorf("body opened %d times, want 2 (one per signer)", n)
	}
}

type transportSignerFunc func(ctx context.Context, h *textproto.Header, body io.Reader) ([]byte, error)

func (f transportSignerFunc) SignHeader(ctx context.Context, h *textproto.Header, body io.Reader) ([]byte, error) {
	return f(ctx, h, body)
}
