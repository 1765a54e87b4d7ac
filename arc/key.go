package arc

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// TXTResolver looks up the TXT records of a name. *net.Resolver satisfies
// it. An error wrapping a *net.DNSError with IsNotFound set, or
// ErrNoRecord, means the name has no key; any other error is temporary.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// TXTResolverFunc adapts a function to TXTResolver.
type TXTResolverFunc func(ctx context.Context, name string) ([]string, error)

// LookupTXT calls f.
func (f TXTResolverFunc) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return f(ctx, name)
}

// MapResolver is a TXTResolver over a fixed map from name to TXT value
// (offline use and tests). Names are matched without a trailing dot and
// case-insensitively.
type MapResolver map[string]string

// LookupTXT returns the record for name or ErrNoRecord.
func (m MapResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := m[name]; ok {
		return []string{v}, nil
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for k, v := range m {
		if strings.ToLower(strings.TrimSuffix(k, ".")) == name {
			return []string{v}, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", name, ErrNoRecord)
}

// ErrNoRecord reports that a key record does not exist.
var ErrNoRecord = errors.New("no such TXT record")

// ErrTempFail reports a temporary failure (DNS) during verification or
// signing: try again later.
var ErrTempFail = errors.New("arc: temporary failure")

// maxRSABits bounds the cost of one verification on hostile keys.
const maxRSABits = 8192

// pubKey is a parsed DKIM key record.
type pubKey struct {
	rsa  *rsa.PublicKey
	ed   ed25519.PublicKey
	bits int
}

// keyError is a permanent key problem (missing, revoked, malformed, weak).
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

// keyCacheSize bounds the parsed key records a Verifier keeps.
const keyCacheSize = 256

// keyCache keeps parsed key records by their text, so that a key seen
// again is not decoded and parsed again. DNS is still asked every time:
// the cache changes no result, only the cost of parsing.
type keyCache struct {
	mu sync.Mutex
	m  map[string]*pubKey // minimum bits, space, record
}

func (kc *keyCache) parse(txt string, minBits int) (*pubKey, error) {
	id := strconv.Itoa(minBits) + " " + txt
	kc.mu.Lock()
	k := kc.m[id]
	kc.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := parseKey(txt, minBits)
	if err != nil {
		return nil, err
	}
	kc.mu.Lock()
	if kc.m == nil {
		kc.m = make(map[string]*pubKey)
	}
	if len(kc.m) >= keyCacheSize {
		for old := range kc.m { // evict one, arbitrarily
			delete(kc.m, old)
			break
		}
	}
	kc.m[id] = k
	kc.mu.Unlock()
	return k, nil
}

func lookupKey(ctx context.Context, r TXTResolver, selector, domain string, minBits int, kc *keyCache) (*pubKey, error) {
	name := selector + "._domainkey." + domain
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.Is(err, ErrNoRecord) || errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, &keyError{"no key record at " + name}
		}
		return nil, fmt.Errorf("%w: key lookup %s: %w", ErrTempFail, name, err)
	}
	var lastErr error = &keyError{"no key record at " + name}
	for _, txt := range txts {
		k, err := kc.parse(txt, minBits)
		if err == nil {
			return k, nil
		}
		lastErr = &keyError{fmt.Sprintf("key %s: %v", name, err)}
	}
	return nil, lastErr
}

// parseKey parses a DKIM key record (RFC 6376 section 3.6.1).
func parseKey(txt string, minBits int) (*pubKey, error) {
	tags := map[string]string{}
	for i, spec := range strings.Split(txt, ";") {
		if isFWS(spec) {
			continue
		}
		n, v, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("bad tag %q", trimFWS(spec))
		}
		n, v = trimFWS(n), trimFWS(v)
		if n == "v" && (i != 0 || v != "DKIM1") {
			return nil, errors.New("bad v= tag")
		}
		tags[n] = v
	}
	if h, ok := tags["h"]; ok && !listHas(h, "sha256") {
		return nil, errors.New("h= excludes sha256")
	}
	if s, ok := tags["s"]; ok && !listHas(s, "*") && !listHas(s, "email") {
		return nil, errors.New("s= excludes email")
	}
	p, ok := tags["p"]
	if !ok {
		return nil, errors.New("no p= tag")
	}
	p = stripFWS(p)
	if p == "" {
		return nil, errors.New("key revoked (empty p=)")
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("p= not base64: %w", err)
	}
	k := tags["k"]
	switch k {
	case "", "rsa":
		var pub *rsa.PublicKey
		if pk, err := x509.ParsePKIXPublicKey(der); err == nil {
			rp, ok := pk.(*rsa.PublicKey)
			if !ok {
				return nil, errors.New("p= is not an RSA key")
			}
			pub = rp
		} else if rp, err2 := x509.ParsePKCS1PublicKey(der); err2 == nil {
			pub = rp
		} else {
			return nil, fmt.Errorf("bad RSA key: %w", err)
		}
		bits := pub.N.BitLen()
		if bits > maxRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, above the maximum of %d", bits, maxRSABits)
		}
		if bits < minBits {
			return nil, fmt.Errorf("RSA key of %d bits, below the minimum of %d", bits, minBits)
		}
		return &pubKey{rsa: pub, bits: bits}, nil
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, errors.New("bad ed25519 key size")
		}
		return &pubKey{ed: ed25519.PublicKey(der), bits: 256}, nil
	}
	return nil, fmt.Errorf("unknown key type k=%s", k)
}

func listHas(list, item string) bool {
	for _, e := range strings.Split(list, ":") {
		if trimFWS(e) == item {
			return true
		}
	}
	return false
}

// verifySig checks sig over data (already canonical) with algorithm a.
func (k *pubKey) verify(a string, data, sig []byte) error {
	sum := sha256Sum(data)
	switch a {
	case "rsa-sha256":
		if k.rsa == nil {
			return errors.New("a=rsa-sha256 with a non-RSA key")
		}
		if err := rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, sum[:], sig); err != nil {
			return errors.New("signature did not verify")
		}
		return nil
	case "ed25519-sha256":
		if k.ed == nil {
			return errors.New("a=ed25519-sha256 with a non-ed25519 key")
		}
		if !ed25519.Verify(k.ed, sum[:], sig) {
			return errors.New("signature did not verify")
		}
		return nil
	}
	return fmt.Errorf("unsupported algorithm %q", a)
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
