package arc

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseTags(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // name=value|... or error substring prefixed with "!"
	}{
		{"a=1; b=2", "a=1|b=2"},
		{" a = 1 ;\r\n\tb=x y;", "a=1|b=x y"},
		{"a=", "a="},
		{"a=1;;b=2", "!empty tag-spec"},
		{";", "!empty tag-spec"},
		{"a=1; a=2", "!duplicate tag"},
		{"1a=1", "!bad tag name"},
		{"a", "!has no '='"},
		{"a=\x01", "!bad value"},
	} {
		tl, err := parseTags(tc.in)
		var got string
		if err != nil {
			got = "!" + err.Error()
		} else {
			var parts []string
			for _, tg := range tl {
				parts = append(parts, tg.Name+"="+tg.Value)
			}
			got = strings.Join(parts, "|")
		}
		if tc.want[0] == '!' {
			if !strings.Contains(got, tc.want[1:]) || !errors.Is(err, errTagSyntax) {
				t.Errorf("parseTags(%q) = %q, want error %q", tc.in, got, tc.want[1:])
			}
		} else if got != tc.want {
			t.Errorf("parseTags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCanonHeader(t *testing.T) {
	raw := Field("SubJect \t:  Hello \t  World\r\n \tagain  \r\n")
	if got := string(canonHeader(nil, Relaxed, raw)); got != "subject:Hello World again\r\n" {
		t.Errorf("relaxed: %q", got)
	}
	if got := string(canonHeader(nil, Simple, Field("A: b\nc\n"))); got != "A: b\r\nc\r\n" {
		t.Errorf("simple: %q", got)
	}
}

func bodyHash(c Canonicalization, body string, chunks int) string {
	b := newBodyCanon(c, sha256.New(), -1)
	// feed in pieces to exercise line joining
	step := max(1, len(body)/max(1, chunks))
	for i := 0; i < len(body); i += step {
		b.Write([]byte(body[i:min(len(body), i+step)]))
	}
	return hex.EncodeToString(b.Sum())
}

func TestBodyCanon(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	for _, tc := range []struct {
		c          Canonicalization
		body, want string
	}{
		{Simple, "", "\r\n"},
		{Relaxed, "", ""},
		{Simple, "a \r\n\r\n\r\n", "a \r\n"},
		{Relaxed, "a  \t b \r\n \r\n\r\n", "a b\r\n"},
		{Relaxed, "x\n\ny", "x\r\n\r\ny\r\n"},
		{Simple, "x\r\n\r\ny", "x\r\n\r\ny\r\n"},
	} {
		for _, chunks := range []int{1, 3, 100} {
			if got := bodyHash(tc.c, tc.body, chunks); got != sum(tc.want) {
				t.Errorf("%s %q (%d chunks): hash of wrong canonical form, want %q", tc.c, tc.body, chunks, tc.want)
			}
		}
	}
}

func TestStripB(t *testing.T) {
	for in, want := range map[string]string{
		"X: a=1; b=abc\r\n def; c=2\r\n": "X: a=1; b=; c=2\r\n",
		"X: a=1; b=abc\r\n":              "X: a=1; b=\r\n",
		"X: bh=1; b = q":                 "X: bh=1; b =",
	} {
		if got := string(stripB(Field(in))); got != want {
			t.Errorf("stripB(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSignRefusals(t *testing.T) {
	k, dns := fixedKey()
	s := &Signer{ADMD: "hop1.example", Selector: "sel", Key: k, Verifier: &Verifier{Resolver: dns}}
	sign := func(msg string) error {
		br := bufio.NewReader(strings.NewReader(msg))
		h, _ := ReadHeader(br, 0)
		_, err := s.Sign(context.Background(), h, br)
		return err
	}
	if err := sign("Authentication-Results: other.example; spf=pass\r\nFrom: a@b\r\n\r\nx\r\n"); !errors.Is(err, ErrNoAuthResults) {
		t.Errorf("no A-R of ours: %v", err)
	}
	// a chain whose newest seal says cv=fail
	msg := sealed(t)
	hop2 := "Authentication-Results: hop1.example; arc=fail\r\n" + strings.Replace(msg, "body\r\n", "b0dy\r\n", 1)
	br := bufio.NewReader(strings.NewReader(hop2))
	h, _ := ReadHeader(br, 0)
	f, err := s.Sign(context.Background(), h, br)
	if err != nil {
		t.Fatalf("signing over a broken chain: %v", err)
	}
	if !strings.Contains(string(f[0]), "cv=fail") || !strings.Contains(string(f[0]), "i=2") {
		t.Fatalf("want an i=2 cv=fail seal: %s", f[0])
	}
	if err := sign(string(f.Bytes()) + hop2); !errors.Is(err, ErrChainFailed) {
		t.Errorf("after cv=fail: %v", err)
	}
	// 50 sets already
	var b strings.Builder
	for i := 50; i >= 1; i-- {
		fmt.Fprintf(&b, "ARC-Seal: i=%d; a=rsa-sha256; b=AA==; cv=none; d=x.example; s=s\r\n", i)
	}
	if err := sign(b.String() + "Authentication-Results: hop1.example; arc=fail\r\nFrom: a@b\r\n\r\nx\r\n"); !errors.Is(err, ErrChainFull) {
		t.Errorf("51st set: %v", err)
	}
}

func TestVerifyHostile(t *testing.T) {
	v := &Verifier{Resolver: MapResolver{}, MaxHeaderBytes: 1000}
	res, err := v.Verify(context.Background(), strings.NewReader("X: "+strings.Repeat("a", 2000)+"\r\n\r\n"))
	if err != nil || res.State != Fail || !strings.Contains(res.Reason, "header section too large") {
		t.Errorf("big header: %+v %v", res, err)
	}
	res, _ = v.Verify(context.Background(), strings.NewReader("ARC-Seal: i=51; a=rsa-sha256\r\n\r\n"))
	if res.State != Fail || res.Reason != "ARC-Seal with invalid instance i=51" {
		t.Errorf("i=51: %+v", res)
	}
	tf := &Verifier{Resolver: TXTResolverFunc(func(context.Context, string) ([]string, error) {
		return nil, errors.New("SERVFAIL")
	})}
	_, err = tf.Verify(context.Background(), strings.NewReader(sealed(t)))
	if !errors.Is(err, ErrTempFail) {
		t.Errorf("DNS failure: %v, want ErrTempFail", err)
	}
}

func TestParseSignSpec(t *testing.T) {
	k, _ := fixedKey()
	pemKey := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n"
	read := func(name string) ([]byte, error) {
		if name == "/k.pem" {
			return []byte(pemKey), nil
		}
		return nil, errors.New("no such file")
	}
	s, err := ParseSignSpec("lists.example : sel : /k.pem : timestamps, expire=+3600", read)
	if err != nil {
		t.Fatal(err)
	}
	if s.ADMD != "lists.example" || s.Selector != "sel" || !s.Timestamps || s.Expire != time.Hour || !k.Equal(s.Key) {
		t.Errorf("parsed %+v", s)
	}
	if s, err := ParseSignSpec("a : s : /k.pem : expire", read); err != nil || s.Expire != DefaultExpire {
		t.Errorf("expire alone: %+v %v", s, err)
	}
	if s, err := ParseSignSpec("a : s : /k.pem : expire=1800000000", read); err != nil || s.ExpireAt.Unix() != 1800000000 {
		t.Errorf("expire=N: %+v %v", s, err)
	}
	for _, bad := range []string{"a : s", "a : s : /nope", "a : s : /k.pem : frob", "a : s : /k.pem : expire=+x"} {
		if _, err := ParseSignSpec(bad, read); err == nil {
			t.Errorf("ParseSignSpec(%q) accepted", bad)
		}
	}
	if st, err := ParseStates("none : PASS"); err != nil || len(st) != 2 || st[1] != Pass {
		t.Errorf("ParseStates: %v %v", st, err)
	}
	if _, err := ParseStates("pass:maybe"); err == nil {
		t.Error("ParseStates accepted maybe")
	}
}

// TestKeyCache: a record is parsed once per minimum size, errors are not
// kept, and the cache stays within keyCacheSize.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	var kc keyCache
	rec := keysOnce().records["rsa._domainkey.hop1.example"]
	k1, err := kc.parse(rec, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := kc.parse(rec, 1024); k2 != k1 {
		t.Error("record parsed twice")
	}
	if _, err := kc.parse(rec, 4096); err == nil || err.Error() != "RSA key of 2048 bits, below the minimum of 4096" {
		t.Errorf("min 4096: %v", err)
	}
	for i := range 2 * keyCacheSize {
		k, err := kc.parse(rec+strings.Repeat(" ", i+1), 1024)
		if err != nil || k.bits != 2048 {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if n := len(kc.m); n != keyCacheSize {
		t.Errorf("%d cached records, want %d", n, keyCacheSize)
	}
}
