package srs

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"testing"
)

func BenchmarkNativeEncode(b *testing.B) {
	n := Native{Secret: "secret"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Encode("user@example.com", "fwd.example.net", day20778); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNativeCheck(b *testing.B) {
	n := Native{Secret: "secret"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Check("SRS0=b3d4=jk=example.com=user", day20778); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHMACMD5 is the cost of the HMAC alone with crypto/hmac, the
// baseline of the "no more than 2x the HMAC" goal.
func BenchmarkHMACMD5(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		h := hmac.New(md5.New, []byte("secret"))
		h.Write([]byte("user@example.com"))
		h.Sum(nil)
	}
}

func BenchmarkHMACSHA1(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		h := hmac.New(sha1.New, []byte("tops3cret"))
		h.Write([]byte("JKexample.comuser"))
		h.Sum(nil)
	}
}

func BenchmarkSRSForward(b *testing.B) {
	s := &SRS{Secrets: []string{"tops3cret"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Forward(ctx, "user@example.com", "fwd.example.net", day20778); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSRSReverse(b *testing.B) {
	s := &SRS{Secrets: []string{"tops3cret"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Reverse(ctx, "SRS0=BCgk=JK=example.com=user@fwd.example.net", day20778); err != nil {
			b.Fatal(err)
		}
	}
}
