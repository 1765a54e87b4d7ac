package arc

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultExpire is the lifetime x= gets with the "expire" option alone.
const DefaultExpire = 30 * 24 * time.Hour

// DefaultSignHeaders are the fields the AMS signs when Signer.Headers is
// nil (each one present in the message, once per occurrence).
var defaultSignHeaders = []string{
	"from", "reply-to", "subject", "date", "to", "cc", "message-id",
	"in-reply-to", "references", "mime-version", "content-type",
	"content-transfer-encoding", "content-id", "content-description",
	"resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc",
	"resent-message-id", "list-id", "list-help", "list-unsubscribe",
	"list-subscribe", "list-post", "list-owner", "list-archive",
	"dkim-signature",
}

// DefaultSignHeaders returns the default list of fields the AMS signs.
func DefaultSignHeaders() []string { return append([]string(nil), defaultSignHeaders...) }

// Errors returned by Signer.Sign when it refuses to add a set.
var (
	ErrNoAuthResults = errors.New("arc: no Authentication-Results header of our ADMD")
	ErrChainFailed   = errors.New("arc: the newest seal of the chain says cv=fail: not signing")
	ErrChainFull     = errors.New("arc: the chain already has 50 sets")
)

// Signer adds an ARC set (RFC 8617 section 5.1): ARC-Authentication-
// Results from the Authentication-Results fields of its ADMD, then
// ARC-Message-Signature and ARC-Seal. It is Exim's transport option
// arc_sign = admd : selector : key [: options].
type Signer struct {
	// ADMD is the authserv-id whose Authentication-Results fields go
	// into the AAR (all of them, in order).
	ADMD string
	// Domain is the signing domain d=; empty means ADMD.
	Domain string
	// Selector is s=.
	Selector string
	// Key is an *rsa.PrivateKey or ed25519.PrivateKey.
	Key crypto.Signer
	// Headers lists the fields the AMS signs (h=, exactly as given);
	// nil means the default list, restricted to fields present.
	Headers []string
	// Timestamps adds t= to the AMS and the seal.
	Timestamps bool
	// Expire, when positive, adds x= = now + Expire to the AMS.
	Expire time.Duration
	// ExpireAt, when not zero, adds x= with this time (wins over Expire).
	ExpireAt time.Time
	// Now returns the signing time; nil means time.Now.
	Now func() time.Time
	// Verifier checks the existing chain; nil means a zero Verifier.
	Verifier *Verifier
	// SendUnsigned makes SignHeader (the transport hook) return no
	// fields, instead of a permanent error, when the Signer refuses to
	// add a set; Logger (nil: none) gets the reason.
	SendUnsigned bool
	Logger       *slog.Logger
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Signer) algo() (string, error) {
	switch k := s.Key.(type) {
	case *rsa.PrivateKey:
		return "rsa-sha256", nil
	case ed25519.PrivateKey:
		return "ed25519-sha256", nil
	case nil:
		return "", errors.New("arc: signer has no key")
	default:
		return "", fmt.Errorf("arc: unsupported key type %T", k)
	}
}

func (s *Signer) sign(data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	switch k := s.Key.(type) {
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	case ed25519.PrivateKey:
		return ed25519.Sign(k, sum[:]), nil
	}
	return s.Key.Sign(rand.Reader, sum[:], crypto.SHA256)
}

// Sign computes a new ARC set for a message whose header section is h;
// body is read once, to its end (it is hashed for the new AMS and for the
// check of the existing chain in the same pass). It returns the three new
// fields, to be written in this order above the existing header:
// ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results.
func (s *Signer) Sign(ctx context.Context, h Header, body io.Reader) (Header, error) {
	algo, err := s.algo()
	if err != nil {
		return nil, err
	}
	if s.ADMD == "" || s.Selector == "" {
		return nil, errors.New("arc: signer needs an ADMD and a selector")
	}
	domain := s.Domain
	if domain == "" {
		domain = s.ADMD
	}
	results := collectAuthResults(h, s.ADMD)
	v := s.Verifier
	if v == nil {
		v = &Verifier{}
	}
	c := v.prepare(h, true) // sealing needs the chain's state, not oldest-pass
	own := bodyKey{Relaxed, -1}
	if c.bodies[own] == nil {
		c.bodies[own] = newBodyCanon(Relaxed, sha256.New(), -1)
	}
	if _, err := io.Copy(c.bodyWriter(), body); err != nil {
		return nil, fmt.Errorf("arc: reading body: %w", err)
	}
	bh := c.bodies[own].Sum()
	res, err := c.finish(ctx)
	if err != nil {
		return nil, err
	}
	last := maxInstance(h)
	switch {
	case c.endedFail:
		return nil, fmt.Errorf("%w (%s)", ErrChainFailed, res.Reason)
	case last >= MaxInstances:
		return nil, ErrChainFull
	case len(results) == 0:
		return nil, fmt.Errorf("%w (%s)", ErrNoAuthResults, s.ADMD)
	}
	inst := last + 1
	cv := "none"
	prev := c.sets
	switch {
	case res.State == Fail:
		// RFC 8617 section 5.1.1: seal with cv=fail; like dkimpy (and
		// the test suite) the seal then covers only the new set.
		cv, prev = "fail", nil
	case inst > 1:
		cv = "pass"
	}
	now := s.now()
	is := strconv.Itoa(inst)

	aar := Field("ARC-Authentication-Results: i=" + is + "; " + s.ADMD + ";\r\n " +
		strings.Join(results, ";\r\n ") + "\r\n")

	names := s.Headers
	if names == nil {
		for _, n := range defaultSignHeaders {
			for _, f := range h {
				if strings.EqualFold(f.Name(), n) {
					names = append(names, n)
				}
			}
		}
	}
	amsTags := []tag{
		{"a", algo}, {"b", ""},
		{"bh", base64.StdEncoding.EncodeToString(bh)},
		{"c", "relaxed/relaxed"}, {"d", domain},
		{"h", strings.ToLower(strings.Join(names, ":"))},
		{"i", is}, {"s", s.Selector},
	}
	if s.Timestamps {
		amsTags = append(amsTags, tag{"t", strconv.FormatInt(now.Unix(), 10)})
	}
	if !s.ExpireAt.IsZero() {
		amsTags = append(amsTags, tag{"x", strconv.FormatInt(s.ExpireAt.Unix(), 10)})
	} else if s.Expire > 0 {
		amsTags = append(amsTags, tag{"x", strconv.FormatInt(now.Add(s.Expire).Unix(), 10)})
	}
	hAMS := append(Header{aar}, h...)
	lower := make([]string, len(names))
	for i, n := range names {
		lower[i] = strings.ToLower(strings.TrimSpace(n))
	}
	amsData := amsSignedData(hAMS, lower, Relaxed, formatSig("ARC-Message-Signature", amsTags))
	sig, err := s.sign(amsData)
	if err != nil {
		return nil, fmt.Errorf("arc: signing AMS: %w", err)
	}
	amsTags[1].Value = base64.StdEncoding.EncodeToString(sig)
	amsField := formatSig("ARC-Message-Signature", amsTags)

	asTags := []tag{{"a", algo}, {"b", ""}, {"cv", cv}, {"d", domain}, {"i", is}, {"s", s.Selector}}
	if s.Timestamps {
		asTags = append(asTags, tag{"t", strconv.FormatInt(now.Unix(), 10)})
	}
	sets := append(append([]arcSet(nil), prev...), arcSet{aar: aar, ams: amsField})
	sig, err = s.sign(sealSignedData(sets, formatSig("ARC-Seal", asTags)))
	if err != nil {
		return nil, fmt.Errorf("arc: signing seal: %w", err)
	}
	asTags[1].Value = base64.StdEncoding.EncodeToString(sig)
	return Header{formatSig("ARC-Seal", asTags), amsField, aar}, nil
}

// formatSig writes a signature field: tags separated by "; ", folded
// before a tag when a line would pass 76 characters, never inside a value
// (the seal signs the AMS as written, and the ARC test suite's expected
// seals assume values without whitespace).
func formatSig(name string, tags []tag) Field {
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(":")
	col := len(name) + 1
	for i, t := range tags {
		item := t.Name + "=" + t.Value
		if i < len(tags)-1 {
			item += ";"
		}
		if col+1+len(item) > 76 {
			b.WriteString("\r\n ")
			col = 1
		} else {
			b.WriteString(" ")
			col++
		}
		b.WriteString(item)
		col += len(item)
	}
	b.WriteString("\r\n")
	return Field(b.String())
}

// ParseKey parses a PEM private key (PKCS #1 RSA, PKCS #8 RSA or
// Ed25519) or a base64 Ed25519 seed or private key.
func ParseKey(data []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(data)
	if blk == nil {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err == nil {
			switch len(raw) {
			case ed25519.SeedSize:
				return ed25519.NewKeyFromSeed(raw), nil
			case ed25519.PrivateKeySize:
				return ed25519.PrivateKey(raw), nil
			}
		}
		return nil, errors.New("arc: key is neither PEM nor a base64 Ed25519 key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("arc: parsing %s: %w", blk.Type, err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("arc: unsupported private key type %T", k)
}

// maxInstance returns the highest instance number any ARC field of h
// carries (0 when none is readable).
func maxInstance(h Header) int {
	n := 0
	for _, f := range h {
		var inst int
		switch strings.ToLower(f.Name()) {
		case hdrAAR:
			inst, _ = aarInstance(f.Value())
		case hdrAMS, hdrAS:
			if tl, err := parseTags(f.Value()); err == nil {
				iv, _ := tl.get("i")
				inst, _ = parseInstance(iv)
			}
		}
		n = max(n, inst)
	}
	return n
}

// ParseSignSpec parses Exim's transport option arc_sign = "admd :
// selector : key [: options]". key is a PEM (or base64 Ed25519) key
// itself or the name of a file holding it, read with readFile (nil:
// os.ReadFile). options is a comma-separated list of "timestamps" and
// "expire", "expire=N" (absolute Unix time) or "expire=+N" (seconds
// after signing; "expire" alone is DefaultExpire). The ADMD is also the
// signing domain, as in Exim.
func ParseSignSpec(spec string, readFile func(string) ([]byte, error)) (*Signer, error) {
	parts := strings.SplitN(spec, ":", 4)
	if len(parts) < 3 {
		return nil, fmt.Errorf("arc: arc_sign %q: want admd : selector : key [: options]", spec)
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	s := &Signer{ADMD: parts[0], Selector: parts[1]}
	if s.ADMD == "" || s.Selector == "" || parts[2] == "" {
		return nil, fmt.Errorf("arc: arc_sign %q: empty admd, selector or key", spec)
	}
	keyData := []byte(parts[2])
	if !strings.HasPrefix(parts[2], "-----BEGIN") {
		if readFile == nil {
			readFile = os.ReadFile
		}
		var err error
		if keyData, err = readFile(parts[2]); err != nil {
			return nil, fmt.Errorf("arc: arc_sign key: %w", err)
		}
	}
	key, err := ParseKey(keyData)
	if err != nil {
		return nil, err
	}
	s.Key = key
	if len(parts) == 4 {
		for _, o := range strings.Split(parts[3], ",") {
			o = strings.TrimSpace(o)
			name, val, hasVal := strings.Cut(o, "=")
			switch {
			case o == "":
			case o == "timestamps":
				s.Timestamps = true
			case name == "expire" && !hasVal:
				s.Expire = DefaultExpire
			case name == "expire" && strings.HasPrefix(val, "+"):
				n, err := strconv.ParseUint(val[1:], 10, 31)
				if err != nil || n == 0 {
					return nil, fmt.Errorf("arc: arc_sign: bad option %q", o)
				}
				s.Expire = time.Duration(n) * time.Second
			case name == "expire":
				n, err := strconv.ParseInt(val, 10, 64)
				if err != nil || n <= 0 {
					return nil, fmt.Errorf("arc: arc_sign: bad option %q", o)
				}
				s.ExpireAt = time.Unix(n, 0)
			default:
				return nil, fmt.Errorf("arc: arc_sign: unknown option %q", o)
			}
		}
	}
	return s, nil
}
