package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"math/bits"
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

// BenchmarkVerify3 verifies a three-instance chain: with oldest-pass (6
// signature checks, what dkimpy's arc_verify does), without (4), and in
// parallel goroutines (wall time; the CPU time is not lower).
func BenchmarkVerify3(b *testing.B) {
	type variant struct {
		name           string
		skip, parallel bool
	}
	for _, key := range []string{"rsa", "ed"} {
		for _, vr := range []variant{{"", false, false}, {"/no-oldest-pass", true, false}, {"/parallel", false, true}} {
			name := map[string]string{"rsa": "rsa2048", "ed": "ed25519"}[key] + vr.name
			b.Run(name, func(b *testing.B) {
				msg := chain3(b, key)
				v := &Verifier{Resolver: keysOnce().records, SkipOldestPass: vr.skip, Parallel: vr.parallel}
				want := 1
				if vr.skip {
					want = 0
				}
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					res, err := v.Verify(context.Background(), bytes.NewReader(msg))
					if err != nil || res.State != Pass || res.OldestPass != want {
						b.Fatalf("%+v %v", res, err)
					}
				}
			})
		}
	}
}

// BenchmarkRSAFloor is the crypto floor of BenchmarkVerify3/rsa2048: the
// RSA-2048 verifications it performs with nothing else: 6 with
// oldest-pass (AMS 3, seals 3-1, AMS 2 and 1), 4 without.
func BenchmarkRSAFloor(b *testing.B) {
	k := keysOnce().rsa
	sum := sha256.Sum256([]byte("x"))
	sig, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	for _, n := range []int{6, 4} {
		b.Run(map[int]string{6: "6-verifications", 4: "4-verifications"}[n], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for range n {
					if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRSAPublic compares one RSA-2048 public-key operation (s^e mod
// n, e = 65537) by crypto/rsa (constant-time bigmod, which also rebuilds
// its Montgomery modulus every call) with two math/big alternatives:
// Exp, and a Montgomery ladder with the per-key constants cached. Both
// were slower here, so the verifier keeps crypto/rsa.
func BenchmarkRSAPublic(b *testing.B) {
	k := keysOnce().rsa
	sum := sha256.Sum256([]byte("x"))
	sig, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	want := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(k.E)), k.N)
	b.Run("crypto-rsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("math-big-exp", func(b *testing.B) {
		e := big.NewInt(int64(k.E))
		b.ReportAllocs()
		for b.Loop() {
			if new(big.Int).Exp(new(big.Int).SetBytes(sig), e, k.N).Cmp(want) != 0 {
				b.Fatal("mismatch")
			}
		}
	})
	b.Run("math-big-montgomery", func(b *testing.B) {
		m := newBenchMont(k.N)
		b.ReportAllocs()
		for b.Loop() {
			if m.exp65537(new(big.Int).SetBytes(sig)).Cmp(want) != 0 {
				b.Fatal("mismatch")
			}
		}
	})
}

// benchMont is Montgomery arithmetic over math/big with the constants of
// one modulus computed once (R = 2^k, k a multiple of the word size).
type benchMont struct {
	n, nprime, r2, mask *big.Int
	k                   uint
	t, u                big.Int
}

func newBenchMont(n *big.Int) *benchMont {
	k := uint(len(n.Bits()) * bits.UintSize)
	r := new(big.Int).Lsh(big.NewInt(1), k)
	m := &benchMont{n: n, k: k}
	m.nprime = new(big.Int).Sub(r, new(big.Int).ModInverse(n, r))
	m.r2 = new(big.Int).Mod(new(big.Int).Lsh(big.NewInt(1), 2*k), n)
	m.mask = new(big.Int).Sub(r, big.NewInt(1))
	return m
}

// redc sets z = t * R^-1 mod n.
func (m *benchMont) redc(z, t *big.Int) {
	m.u.And(t, m.mask)
	m.u.Mul(&m.u, m.nprime)
	m.u.And(&m.u, m.mask)
	m.u.Mul(&m.u, m.n)
	m.u.Add(&m.u, t)
	z.Rsh(&m.u, m.k)
	if z.Cmp(m.n) >= 0 {
		z.Sub(z, m.n)
	}
}

// exp65537 returns s^65537 mod n.
func (m *benchMont) exp65537(s *big.Int) *big.Int {
	xm := new(big.Int)
	m.redc(xm, m.t.Mul(s, m.r2))
	acc := new(big.Int).Set(xm)
	for range 16 {
		m.redc(acc, m.t.Mul(acc, acc))
	}
	m.redc(acc, m.t.Mul(acc, xm))
	m.redc(acc, acc)
	return acc
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
