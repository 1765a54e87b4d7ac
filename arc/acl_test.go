package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
)

// fixedKey is a deterministic Ed25519 key and its record at
// sel._domainkey.hop1.example.
func fixedKey() (ed25519.PrivateKey, MapResolver) {
	k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	return k, MapResolver{"sel._domainkey.hop1.example": "v=DKIM1; k=ed25519; p=" +
		base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))}
}

// sealed returns a message sealed once by hop1.example.
func sealed(t testing.TB) string {
	t.Helper()
	k, dns := fixedKey()
	msg := "Authentication-Results: hop1.example; spf=pass smtp.mailfrom=a@origin.example\r\n" +
		"From: a@origin.example\r\nTo: b@hop1.example\r\nSubject: acl\r\n\r\nbody\r\n"
	s := &Signer{ADMD: "hop1.example", Selector: "sel", Key: k, Verifier: &Verifier{Resolver: dns}}
	br := bufio.NewReader(strings.NewReader(msg))
	h, err := ReadHeader(br, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Sign(context.Background(), h, br)
	if err != nil {
		t.Fatal(err)
	}
	return string(f.Bytes()) + msg
}

func toMessage(t testing.TB, raw string) *exigo.Message {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(br)
	return &exigo.Message{
		Header:  h,
		Body:    exigo.OpenerFunc(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }),
		Session: &exigo.Session{RemoteAddr: netip.MustParseAddrPort("192.0.2.1:4567")},
	}
}

func TestCondition(t *testing.T) {
	_, dns := fixedKey()
	good := sealed(t)
	bad := strings.Replace(good, "body\r\n", "b0dy\r\n", 1)
	for _, tc := range []struct {
		name, msg string
		states    []State
		want      bool
		vars      map[string]string
		ar        string
	}{
		{"pass", good, []State{Pass}, true,
			map[string]string{"arc_state": "pass", "arc_state_reason": "", "arc_domains": "hop1.example", "arc_oldest_pass": "1"},
			"Authentication-Results: mx.example;\r\n\tspf=pass smtp.mailfrom=a@origin.example;\r\n\tarc=pass header.oldest-pass=1 smtp.remote-ip=192.0.2.1\r\n"},
		{"fail", bad, []State{None, Pass}, false,
			map[string]string{"arc_state": "fail", "arc_state_reason": "i=1 ARC-Message-Signature: body hash mismatch", "arc_domains": "", "arc_oldest_pass": "0"},
			"Authentication-Results: mx.example;\r\n\tspf=pass smtp.mailfrom=a@origin.example;\r\n\tarc=fail (i=1 ARC-Message-Signature: body hash mismatch) smtp.remote-ip=192.0.2.1\r\n"},
		{"none", "From: a@b\r\n\r\nx\r\n", nil, true,
			map[string]string{"arc_state": "none", "arc_domains": "", "arc_oldest_pass": "0"},
			"Authentication-Results: mx.example;\r\n\tspf=pass smtp.mailfrom=a@origin.example;\r\n\tarc=none smtp.remote-ip=192.0.2.1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := toMessage(t, tc.msg)
			tx := &acl.Tx{Stage: acl.StageData, Message: m}
			c := &Condition{States: tc.states, Verifier: &Verifier{Resolver: dns}}
			got, err := c.Eval(context.Background(), tx)
			if err != nil || got != tc.want {
				t.Fatalf("Eval = %v, %v; want %v", got, err, tc.want)
			}
			for n, v := range tc.vars {
				if got, _ := tx.Var(n); tx.Expand("$"+n) != v {
					t.Errorf("$%s = %q (%q), want %q", n, tx.Expand("$"+n), got, v)
				}
			}
			res, ok := exigo.Get(&m.Attrs, ResultKey)
			if !ok || string(res.State) != tc.vars["arc_state"] {
				t.Errorf("stored result %+v", res)
			}
			spf := AuthResult{Method: "spf", Result: "pass", Props: [][2]string{{"smtp.mailfrom", "a@origin.example"}}}
			if got := AuthResultsHeader("mx.example", m, spf); got != tc.ar {
				t.Errorf("A-R:\n%q\nwant\n%q", got, tc.ar)
			}
		})
	}
	if _, err := Verify(Pass).Eval(context.Background(), &acl.Tx{Stage: acl.StageRcpt}); err != ErrNoMessage {
		t.Errorf("Eval without message: %v, want ErrNoMessage", err)
	}
	if got := AuthResultsHeader("mx.example", nil); got != "Authentication-Results: mx.example; none\r\n" {
		t.Errorf("empty A-R: %q", got)
	}
}
