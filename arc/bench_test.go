package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// chain3 seals baseMessage three times (hop1..hop3) with the named key.
func chain3(tb testing.TB, key string) []byte {
	tb.Helper()
	k := keysOnce()
	msg := []byte(baseMessage)
	for i := 1; i <= 3; i++ {
		admd := "hop" + string(rune('0'+i)) + ".example"
		s := &Signer{ADMD: admd, Selector: key, Key: k.rsa, Timestamps: true,
			Verifier: &Verifier{Resolver: k.records}}
		if key == "ed" {
			s.Key = k.ed
		}
		msg = withAR(admd, "pass", msg)
		br := bufio.NewReader(bytes.NewReader(msg))
		h, err := ReadHeader(br, 0)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := s.Sign(context.Background(), h, br)
		if err != nil {
			tb.Fatal(err)
		}
		msg = append(f.Bytes(), msg...)
	}
	return msg
}

func BenchmarkVerify3(b *testing.B) {
	for _, key := range []string{"rsa", "ed"} {
		b.Run(map[string]string{"rsa": "rsa2048", "ed": "ed25519"}[key], func(b *testing.B) {
			msg := chain3(b, key)
			v := &Verifier{Resolver: keysOnce().records}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := v.Verify(context.Background(), bytes.NewReader(msg))
				if err != nil || res.State != Pass || res.OldestPass != 1 {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
	}
}

// BenchmarkRSAFloor is the crypto floor of BenchmarkVerify3/rsa2048: the
// six RSA-2048 verifications it performs (AMS 3, seals 3-1, AMS 2 and 1
// for oldest-pass), with nothing else.
func BenchmarkRSAFloor(b *testing.B) {
	k := keysOnce().rsa
	sum := sha256.Sum256([]byte("x"))
	sig, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	b.ReportAllocs()
	for b.Loop() {
		for range 6 {
			if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSign(b *testing.B) {
	for _, key := range []string{"rsa", "ed"} {
		b.Run(map[string]string{"rsa": "rsa2048", "ed": "ed25519"}[key], func(b *testing.B) {
			k := keysOnce()
			s := &Signer{ADMD: "hop1.example", Selector: key, Key: k.rsa, Timestamps: true,
				Verifier: &Verifier{Resolver: k.records}}
			if key == "ed" {
				s.Key = k.ed
			}
			msg := withAR("hop1.example", "none", []byte(baseMessage))
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				br := bufio.NewReader(bytes.NewReader(msg))
				h, _ := ReadHeader(br, 0)
				if _, err := s.Sign(context.Background(), h, br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
