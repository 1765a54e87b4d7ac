package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"strings"
	"testing"
)

func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"a=1; b=2", " a = 1 ;\r\n\tb=x y;", "a=1;;b=2", "v=DKIM1; k=rsa; p=", "i=1; a=rsa-sha256; cv=none; b=AA=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tl, err := parseTags(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tg := range tl {
			if !validTagName(tg.Name) || seen[tg.Name] {
				t.Fatalf("parseTags(%q) gave bad or duplicate name %q", s, tg.Name)
			}
			seen[tg.Name] = true
			if strings.Contains(tg.Value, ";") || tg.Value != trimFWS(tg.Value) {
				t.Fatalf("parseTags(%q) gave value %q", s, tg.Value)
			}
		}
		parseKey(s, 1024) // must not panic
	})
}

func FuzzCanonHeader(f *testing.F) {
	f.Add([]byte("SubJect \t:  Hello \t  World\r\n \tagain  \r\n"), []byte("a  b \r\n\r\n"))
	f.Add([]byte("X:\n"), []byte("x\ny"))
	f.Add([]byte("no colon"), []byte(""))
	f.Fuzz(func(t *testing.T, hdr, body []byte) {
		r := canonHeader(nil, Relaxed, Field(hdr))
		if !bytes.HasSuffix(r, []byte("\r\n")) || bytes.Count(r, []byte("\n")) != 1 {
			t.Fatalf("relaxed %q = %q: not one line", hdr, r)
		}
		if again := canonHeader(nil, Relaxed, Field(r)); !bytes.Equal(again, r) && bytes.IndexByte(hdr, ':') >= 0 {
			t.Fatalf("relaxed not idempotent: %q -> %q -> %q", hdr, r, again)
		}
		canonHeader(nil, Simple, Field(hdr))
		stripB(Field(hdr))
		// Relaxed body hashing must not depend on how the body is split.
		one := newBodyCanon(Relaxed, sha256.New(), -1)
		one.Write(body)
		split := newBodyCanon(Relaxed, sha256.New(), -1)
		for _, c := range body {
			split.Write([]byte{c})
		}
		if !bytes.Equal(one.Sum(), split.Sum()) {
			t.Fatalf("body hash depends on write boundaries: %q", body)
		}
	})
}

func FuzzVerify(f *testing.F) {
	msg := sealed(f)
	f.Add(msg)
	f.Add(strings.Replace(msg, "i=1", "i=2", 1))
	f.Add("ARC-Seal: i=1; a=rsa-sha256; b=AA==; cv=none; d=x; s=s\r\n\r\n")
	f.Add("From: a@b\n\nbody")
	_, dns := fixedKey()
	v := &Verifier{Resolver: dns, MaxHeaderBytes: 64 * 1024}
	f.Fuzz(func(t *testing.T, m string) {
		res, err := v.Verify(context.Background(), strings.NewReader(m))
		if err != nil {
			t.Fatalf("Verify error on in-memory input: %v", err)
		}
		switch res.State {
		case None, Pass:
			if res.Reason != "" {
				t.Fatalf("%s with a reason %q", res.State, res.Reason)
			}
		case Fail:
			if res.Reason == "" {
				t.Fatal("fail without reason")
			}
		default:
			t.Fatalf("state %q", res.State)
		}
		if res.Instances > MaxInstances || len(res.Domains) != res.Instances && res.State != None {
			t.Fatalf("instances %d domains %d", res.Instances, len(res.Domains))
		}
		// Signing over whatever came in must not panic either.
		k, _ := fixedKey()
		s := &Signer{ADMD: "hop1.example", Selector: "sel", Key: k, Verifier: v}
		br := bufio.NewReader(strings.NewReader(m))
		if h, err := ReadHeader(br, 64*1024); err == nil {
			s.Sign(context.Background(), h, br)
		}
	})
}
