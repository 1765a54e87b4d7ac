package arc

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const baseMessage = "From: Alice <alice@origin.example>\r\n" +
	"To: list@hop1.example\r\n" +
	"Subject: interop test\r\n" +
	"Date: Sat, 21 Nov 2026 12:00:00 +0000\r\n" +
	"Message-ID: <interop@origin.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"Hello  there,\r\n" +
	"this body travels through three hops.   \r\n" +
	"\r\n" +
	"\r\n"

// signer is one implementation adding an ARC set as admd (domain and
// ADMD are the same), with key "rsa" or "ed".
type signer func(t *testing.T, msg []byte, admd, key string) []byte

// verifier returns the chain state one implementation sees.
type verifier func(t *testing.T, msg []byte) string

func exigoVerify(t *testing.T, msg []byte) string {
	t.Helper()
	v := &Verifier{Resolver: keysOnce().records}
	res, err := v.Verify(context.Background(), bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("exigo verify: %v", err)
	}
	return string(res.State)
}

func withAR(admd, state string, msg []byte) []byte {
	return append([]byte("Authentication-Results: "+admd+"; arc="+state+"\r\n"), msg...)
}

func exigoSign(t *testing.T, msg []byte, admd, key string) []byte {
	t.Helper()
	k := keysOnce()
	s := &Signer{ADMD: admd, Selector: key, Key: k.rsa, Timestamps: true,
		Verifier: &Verifier{Resolver: k.records}}
	if key == "ed" {
		s.Key = k.ed
	}
	msg = withAR(admd, exigoVerify(t, msg), msg)
	br := bufio.NewReader(bytes.NewReader(msg))
	h, err := ReadHeader(br, 0)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := s.Sign(context.Background(), h, br)
	if err != nil {
		t.Fatalf("exigo sign: %v", err)
	}
	return append(fields.Bytes(), msg...)
}

func dkimpyVerify(t *testing.T, msg []byte) string {
	t.Helper()
	out := dkimpy(t, msg, "verify", writeDNSFile(t, keysOnce().records))
	cv, comment, _ := strings.Cut(out, "\n")
	t.Logf("dkimpy: %s %s", cv, strings.TrimSpace(comment))
	return cv
}

func dkimpySign(t *testing.T, msg []byte, admd, key string) []byte {
	t.Helper()
	k := keysOnce()
	dir := t.TempDir()
	kf := filepath.Join(dir, "key")
	data, algo := k.rsaPEM, "rsa-sha256"
	if key == "ed" {
		data, algo = []byte(k.edSeed), "ed25519-sha256"
	}
	if err := os.WriteFile(kf, data, 0o600); err != nil {
		t.Fatal(err)
	}
	msg = withAR(admd, dkimpyVerify(t, msg), msg)
	return []byte(dkimpy(t, msg, "sign", writeDNSFile(t, k.records), kf, key, admd, admd, algo))
}

func checkAll(t *testing.T, msg []byte, want string, vs map[string]verifier) {
	t.Helper()
	for name, v := range vs {
		if got := v(t, msg); got != want {
			t.Errorf("%s sees arc=%s, want %s\n%s", name, got, want, msg)
		}
	}
}

// tamper changes the body and, separately, the Subject.
func tamper(msg []byte) (body, header []byte) {
	body = append(bytes.Clone(msg), "tampered\r\n"...)
	header = bytes.Replace(bytes.Clone(msg), []byte("Subject: interop test"), []byte("Subject: interop tost"), 1)
	return body, header
}

// TestInteropDkimpy chains sets made by exigo and dkimpy (rsa-sha256:
// dkimpy 1.1.4 supports no other algorithm for ARC) and checks that both
// see pass, and fail after a body or header change.
func TestInteropDkimpy(t *testing.T) {
	vs := map[string]verifier{"exigo": exigoVerify, "dkimpy": dkimpyVerify}
	signers := map[string]signer{"exigo": exigoSign, "dkimpy": dkimpySign}
	for _, order := range [][]string{
		{"exigo"}, {"dkimpy"},
		{"dkimpy", "dkimpy"}, {"exigo", "exigo"},
		{"exigo", "dkimpy", "exigo"}, {"dkimpy", "exigo", "dkimpy"},
	} {
		t.Run(strings.Join(order, "-"), func(t *testing.T) {
			t.Parallel()
			runChain(t, order, "rsa", signers, vs)
		})
	}
}

// TestEd25519Chain: three ed25519 hops by exigo (no peer here signs or
// verifies ARC with ed25519-sha256).
func TestEd25519Chain(t *testing.T) {
	t.Parallel()
	runChain(t, []string{"exigo", "exigo", "exigo"}, "ed",
		map[string]signer{"exigo": exigoSign}, map[string]verifier{"exigo": exigoVerify})
}

func runChain(t *testing.T, order []string, key string, signers map[string]signer, vs map[string]verifier) {
	t.Helper()
	msg := []byte(baseMessage)
	for i, who := range order {
		msg = signers[who](t, msg, "hop"+string(rune('1'+i))+".example", key)
	}
	checkAll(t, msg, "pass", vs)
	body, hdr := tamper(msg)
	checkAll(t, body, "fail", vs)
	checkAll(t, hdr, "fail", vs)
}
