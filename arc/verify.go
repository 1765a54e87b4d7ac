package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// State is the validation state of an ARC chain ($arc_state).
type State string

// The chain states of RFC 8617 section 4.4.
const (
	None State = "none"
	Pass State = "pass"
	Fail State = "fail"
)

// MaxInstances is the largest ARC instance number RFC 8617 allows.
const MaxInstances = 50

// DefaultMinRSABits is the smallest RSA key accepted when
// Verifier.MinRSABits is zero.
const DefaultMinRSABits = 1024

// Result is the outcome of verifying a message's ARC chain.
type Result struct {
	State State
	// Reason says why the chain failed ($arc_state_reason); empty unless
	// State is Fail.
	Reason string
	// Domains has one element per instance, i=1 first: the sealing
	// domain (AS d=), or "" for an instance that is missing or failed
	// ($arc_domains).
	Domains []string
	// Instances is the chain length: the highest instance number seen.
	Instances int
	// OldestPass is the lowest instance whose AMS and every newer AMS
	// still verify ($arc_oldest_pass); 0 when the chain does not pass.
	OldestPass int
}

// Verifier checks ARC chains (RFC 8617 section 5.2). The zero value is
// ready to use: it looks keys up with net.DefaultResolver and accepts
// RSA keys of at least 1024 bits.
type Verifier struct {
	// Resolver looks up key records; nil means net.DefaultResolver.
	Resolver TXTResolver
	// MinRSABits is the smallest RSA key accepted (0: 1024).
	MinRSABits int
	// MaxHeaderBytes bounds the header section (0: DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// Now returns the current time for x= checks; nil means time.Now.
	Now func() time.Time
	// SkipOldestPass leaves Result.OldestPass at 0 and saves the
	// verification of the older AMSs (two RSA operations fewer for a
	// three-instance chain). RFC 8617 needs only the newest AMS and the
	// seals; $arc_oldest_pass and header.oldest-pass need the rest.
	SkipOldestPass bool
	// Parallel checks the signatures of a message (and looks their keys
	// up) in concurrent goroutines: lower latency on several cores, the
	// same CPU time or a little more (no early exit on a failure).
	Parallel bool

	keys keyCache // parsed key records
}

// Verify reads a message (header and body, CRLF or LF line ends) and
// verifies its ARC chain. The error is non-nil only for I/O errors, a
// cancelled context and temporary DNS failures (wrapping ErrTempFail);
// a broken or hostile chain is a Fail result, not an error.
func (v *Verifier) Verify(ctx context.Context, r io.Reader) (*Result, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	h, err := ReadHeader(br, v.MaxHeaderBytes)
	if errors.Is(err, ErrHeaderTooLarge) {
		return &Result{State: Fail, Reason: err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	return v.VerifyHeader(ctx, h, br)
}

// VerifyHeader verifies the chain of a message whose header section has
// been read already; body is read to its end once.
func (v *Verifier) VerifyHeader(ctx context.Context, h Header, body io.Reader) (*Result, error) {
	c := v.prepare(h, v.SkipOldestPass)
	bw := c.bodyWriter()
	if bw != nil {
		if _, err := io.Copy(bw, body); err != nil {
			return nil, fmt.Errorf("arc: reading body: %w", err)
		}
	} else if _, err := io.Copy(io.Discard, body); err != nil {
		return nil, fmt.Errorf("arc: reading body: %w", err)
	}
	return c.finish(ctx)
}

// arcSet is one instance's three header fields.
type arcSet struct {
	aar, ams, as    Field
	amsTags, asTags tagList
	// parsed is the AMS parsed once (nil with amsErr when it does not
	// parse); relaxed is the set's three fields in relaxed form and
	// sealTail the same with the seal's b= emptied and no final CRLF,
	// each computed once for all the seals that cover the set.
	parsed            *ams
	amsErr            error
	relaxed, sealTail []byte
}

// chain is a verification in progress.
type chain struct {
	v    *Verifier
	h    Header
	sets []arcSet // index i-1
	n    int
	fail string // structural failure found while preparing
	// endedFail: the newest seal says cv=fail (nobody may add a set)
	endedFail bool
	none      bool
	bodies    map[bodyKey]*bodyCanon
	amsBody   map[int]bodyKey // instance -> its body hash
	mu        sync.Mutex      // guards keys
	keys      map[string]*keyResult
	names     []string // lowercased field names of h
	skipOld   bool     // no oldest-pass: only the newest AMS is checked
}

type bodyKey struct {
	c     Canonicalization
	limit int64
}

// keyResult is one key lookup of a message, done once even when
// signatures are checked in parallel.
type keyResult struct {
	once sync.Once
	k    *pubKey
	err  error
}

func (v *Verifier) minBits() int {
	if v.MinRSABits > 0 {
		return v.MinRSABits
	}
	return DefaultMinRSABits
}

// aarInstance parses the leading "i=N;" of an ARC-Authentication-Results
// value.
func aarInstance(val string) (int, bool) {
	s := trimFWS(val)
	if !strings.HasPrefix(s, "i") {
		return 0, false
	}
	s = strings.TrimLeft(s[1:], " \t\r\n")
	if !strings.HasPrefix(s, "=") {
		return 0, false
	}
	s = strings.TrimLeft(s[1:], " \t\r\n")
	num, _, ok := strings.Cut(s, ";")
	if !ok {
		return 0, false
	}
	return parseInstance(trimFWS(num))
}

func parseInstance(s string) (int, bool) {
	n, ok := parseUint(s)
	if !ok || n < 1 || n > MaxInstances {
		return 0, false
	}
	return int(n), true
}

const (
	hdrAAR = "arc-authentication-results"
	hdrAMS = "arc-message-signature"
	hdrAS  = "arc-seal"
)

// prepare checks the chain structure and sets up body hashing.
func (v *Verifier) prepare(h Header, skipOld bool) *chain {
	c := &chain{v: v, h: h, bodies: map[bodyKey]*bodyCanon{}, amsBody: map[int]bodyKey{}, keys: map[string]*keyResult{},
		names: make([]string, len(h)), skipOld: skipOld}
	var sets []arcSet
	count := 0
	for i, f := range h {
		name := lowerName(f)
		c.names[i] = name
		if name != hdrAAR && name != hdrAMS && name != hdrAS {
			continue
		}
		count++
		var inst int
		var ok bool
		var tl tagList
		if name == hdrAAR {
			inst, ok = aarInstance(f.Value())
			if !ok {
				c.fail = "ARC-Authentication-Results without a valid i= tag"
				return c
			}
		} else {
			var err error
			tl, err = parseTags(f.Value())
			if err != nil {
				c.fail = fmt.Sprintf("%s: %v", f.Name(), err)
				return c
			}
			iv, has := tl.get("i")
			if !has {
				c.fail = f.Name() + " without i= tag"
				return c
			}
			inst, ok = parseInstance(iv)
			if !ok {
				c.fail = fmt.Sprintf("%s with invalid instance i=%s", f.Name(), iv)
				return c
			}
		}
		if inst > len(sets) {
			sets = append(sets, make([]arcSet, inst-len(sets))...)
		}
		s := &sets[inst-1]
		var slot *Field
		switch name {
		case hdrAAR:
			slot = &s.aar
		case hdrAMS:
			slot = &s.ams
			s.amsTags = tl
		case hdrAS:
			slot = &s.as
			s.asTags = tl
		}
		if *slot != nil {
			c.fail = fmt.Sprintf("i=%d has more than one %s", inst, f.Name())
			return c
		}
		*slot = f
		c.n = max(c.n, inst)
	}
	if count == 0 {
		c.none = true
		return c
	}
	c.sets = sets
	for i := range c.sets {
		s := &c.sets[i]
		switch {
		case s.aar == nil:
			c.fail = fmt.Sprintf("i=%d ARC-Authentication-Results missing", i+1)
		case s.ams == nil:
			c.fail = fmt.Sprintf("i=%d ARC-Message-Signature missing", i+1)
		case s.as == nil:
			c.fail = fmt.Sprintf("i=%d ARC-Seal missing", i+1)
		}
		if c.fail != "" {
			return c
		}
	}
	// RFC 8617 5.2 step 2: the newest seal says the chain failed already.
	if cv, _ := c.sets[c.n-1].asTags.get("cv"); cv == "fail" {
		c.fail = fmt.Sprintf("i=%d cv=fail", c.n)
		c.endedFail = true
		return c
	}
	// Step 3: seal tags and cv= of every instance.
	for i := range c.sets {
		if err := checkASTags(c.sets[i].asTags, i+1); err != nil {
			c.fail = fmt.Sprintf("i=%d ARC-Seal: %v", i+1, err)
			return c
		}
	}
	// Body hashes for every AMS whose tags allow it (oldest-pass needs
	// them all; the newest one is required).
	for i := range c.sets {
		a, err := parseAMS(c.sets[i].amsTags)
		c.sets[i].parsed, c.sets[i].amsErr = a, err
		if err != nil || c.skipOld && i < c.n-1 {
			continue
		}
		k := bodyKey{a.bodyCanon, a.limit}
		if c.bodies[k] == nil {
			c.bodies[k] = newBodyCanon(a.bodyCanon, sha256.New(), a.limit)
		}
		c.amsBody[i+1] = k
	}
	return c
}

func checkASTags(tl tagList, inst int) error {
	for _, n := range []string{"a", "b", "cv", "d", "s"} {
		if _, ok := tl.get(n); !ok {
			return fmt.Errorf("no %s= tag", n)
		}
	}
	if _, ok := tl.get("h"); ok {
		return errors.New("h= tag not allowed in a seal")
	}
	cv, _ := tl.get("cv")
	switch {
	case cv != "none" && cv != "pass" && cv != "fail":
		return fmt.Errorf("invalid cv=%s", cv)
	case inst == 1 && cv != "none":
		return fmt.Errorf("cv=%s, want none", cv)
	case inst > 1 && cv != "pass":
		return fmt.Errorf("cv=%s, want pass", cv)
	}
	if a, _ := tl.get("a"); a != "rsa-sha256" && a != "ed25519-sha256" {
		return fmt.Errorf("unsupported algorithm a=%s", a)
	}
	if d, _ := tl.get("d"); !validDomain(d) {
		return fmt.Errorf("invalid domain d=%s", d)
	}
	if s, _ := tl.get("s"); !validSelector(s) {
		return fmt.Errorf("invalid selector s=%s", s)
	}
	if t, ok := tl.get("t"); ok {
		if _, ok := parseUint(t); !ok {
			return fmt.Errorf("invalid t=%s", t)
		}
	}
	b, _ := tl.get("b")
	if _, err := decodeB64(b); err != nil {
		return fmt.Errorf("b= %w", err)
	}
	return nil
}

// ams is the parsed content of an ARC-Message-Signature.
type ams struct {
	algo                string
	b, bh               []byte
	hdrCanon, bodyCanon Canonicalization
	domain, selector    string
	headers             []string
	limit               int64
	expire              uint64
	hasExpire           bool
}

func parseAMS(tl tagList) (*ams, error) {
	for _, n := range []string{"a", "b", "bh", "d", "h", "s"} {
		if _, ok := tl.get(n); !ok {
			return nil, fmt.Errorf("no %s= tag", n)
		}
	}
	// Without c=, DKIM would mean simple/simple; the ARC test suite and
	// dkimpy read relaxed/relaxed, which is what ARC signers use.
	a := &ams{limit: -1, hdrCanon: Relaxed, bodyCanon: Relaxed}
	a.algo, _ = tl.get("a")
	if a.algo != "rsa-sha256" && a.algo != "ed25519-sha256" {
		return nil, fmt.Errorf("unsupported algorithm a=%s", a.algo)
	}
	var err error
	b, _ := tl.get("b")
	if a.b, err = decodeB64(b); err != nil {
		return nil, fmt.Errorf("b= %w", err)
	}
	bh, _ := tl.get("bh")
	if a.bh, err = decodeB64(bh); err != nil {
		return nil, fmt.Errorf("bh= %w", err)
	}
	if cv, ok := tl.get("c"); ok {
		var ok bool
		if a.hdrCanon, a.bodyCanon, ok = parseCanon(cv); !ok {
			return nil, fmt.Errorf("invalid canonicalization c=%s", cv)
		}
	}
	a.domain, _ = tl.get("d")
	if !validDomain(a.domain) {
		return nil, fmt.Errorf("invalid domain d=%s", a.domain)
	}
	a.selector, _ = tl.get("s")
	if !validSelector(a.selector) {
		return nil, fmt.Errorf("invalid selector s=%s", a.selector)
	}
	hv, _ := tl.get("h")
	for _, n := range strings.Split(hv, ":") {
		n = strings.ToLower(trimFWS(n))
		if n == "" {
			continue
		}
		if n == hdrAS {
			return nil, errors.New("h= includes ARC-Seal")
		}
		a.headers = append(a.headers, n)
	}
	if t, ok := tl.get("t"); ok {
		if _, ok := parseUint(t); !ok {
			return nil, fmt.Errorf("invalid t=%s", t)
		}
	}
	if x, ok := tl.get("x"); ok {
		if a.expire, ok = parseUint(x); !ok {
			return nil, fmt.Errorf("invalid x=%s", x)
		}
		a.hasExpire = true
	}
	if l, ok := tl.get("l"); ok {
		n, ok := parseUint(l)
		if !ok || n > 1<<62 {
			return nil, fmt.Errorf("invalid l=%s", l)
		}
		a.limit = int64(n)
	}
	return a, nil
}

func decodeB64(s string) ([]byte, error) {
	s = stripFWS(s)
	if s == "" {
		return nil, errors.New("empty")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return b2, nil
		}
		return nil, errors.New("not base64")
	}
	return b, nil
}

// bodyWriter returns the writer the body must go through, or nil when no
// body hash is needed.
func (c *chain) bodyWriter() io.Writer {
	if len(c.bodies) == 0 {
		return nil
	}
	ws := make([]io.Writer, 0, len(c.bodies))
	for _, b := range c.bodies {
		ws = append(ws, b)
	}
	if len(ws) == 1 {
		return ws[0]
	}
	return io.MultiWriter(ws...)
}

func (c *chain) key(ctx context.Context, sel, dom string) (*pubKey, error) {
	id := strings.ToLower(sel + "._domainkey." + dom)
	c.mu.Lock()
	e := c.keys[id]
	if e == nil {
		e = &keyResult{}
		c.keys[id] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		r := c.v.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		e.k, e.err = lookupKey(ctx, r, sel, dom, c.v.minBits(), &c.v.keys)
	})
	return e.k, e.err
}

// finish does the cryptographic checks once the body has been hashed.
func (c *chain) finish(ctx context.Context) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.none {
		return &Result{State: None}, nil
	}
	res := &Result{Instances: c.n}
	if c.fail != "" {
		res.State, res.Reason = Fail, c.fail
		res.Domains = make([]string, c.n)
		return res, nil
	}
	bodySums := map[bodyKey][]byte{}
	for k, b := range c.bodies {
		bodySums[k] = b.Sum()
	}
	res.Domains = make([]string, c.n)
	amsCheck := func(i int) error { return c.verifyAMS(ctx, i, bodySums) }
	asCheck := func(i int) error { return c.verifyAS(ctx, i) }
	if c.v.Parallel {
		amsCheck, asCheck = c.parallelChecks(ctx, bodySums)
	}
	// Step 4: the newest AMS.
	if err := amsCheck(c.n); err != nil {
		if errors.Is(err, ErrTempFail) || ctx.Err() != nil {
			return nil, err
		}
		res.State, res.Reason = Fail, fmt.Sprintf("i=%d ARC-Message-Signature: %v", c.n, err)
		return res, nil
	}
	// Step 6: every seal, newest first.
	for i := c.n; i >= 1; i-- {
		if err := asCheck(i); err != nil {
			if errors.Is(err, ErrTempFail) || ctx.Err() != nil {
				return nil, err
			}
			res.State, res.Reason = Fail, fmt.Sprintf("i=%d ARC-Seal: %v", i, err)
			for j := range res.Domains {
				res.Domains[j] = ""
			}
			for j := i + 1; j <= c.n; j++ {
				res.Domains[j-1], _ = c.sets[j-1].asTags.get("d")
			}
			return res, nil
		}
	}
	for i := range c.sets {
		res.Domains[i], _ = c.sets[i].asTags.get("d")
	}
	res.State = Pass
	if c.skipOld {
		return res, nil
	}
	// Step 5: oldest-pass.
	res.OldestPass = c.n
	for i := c.n - 1; i >= 1; i-- {
		if err := amsCheck(i); err != nil {
			if errors.Is(err, ErrTempFail) || ctx.Err() != nil {
				return nil, err
			}
			break
		}
		res.OldestPass = i
	}
	return res, nil
}

// parallelChecks verifies every signature finish may ask about, each in
// its own goroutine (key lookups included), and returns the outcomes in
// the shape of verifyAMS and verifyAS. It costs the checks a sequential
// run would have skipped after a failure.
func (c *chain) parallelChecks(ctx context.Context, sums map[bodyKey][]byte) (amsCheck, asCheck func(int) error) {
	amsErr := make([]error, c.n)
	asErr := make([]error, c.n)
	// The relaxed forms the seals share, built before the goroutines
	// read them.
	for i := range c.sets {
		c.sets[i].relax()
	}
	var wg sync.WaitGroup
	for i := 1; i <= c.n; i++ {
		if i == c.n || !c.skipOld {
			wg.Go(func() { amsErr[i-1] = c.verifyAMS(ctx, i, sums) })
		}
		wg.Go(func() { asErr[i-1] = c.verifyAS(ctx, i) })
	}
	wg.Wait()
	return func(i int) error { return amsErr[i-1] }, func(i int) error { return asErr[i-1] }
}

func (c *chain) verifyAMS(ctx context.Context, inst int, sums map[bodyKey][]byte) error {
	s := &c.sets[inst-1]
	a, err := s.parsed, s.amsErr
	if err != nil {
		return err
	}
	if a.hasExpire {
		now := time.Now
		if c.v.Now != nil {
			now = c.v.Now
		}
		if uint64(now().Unix()) > a.expire {
			return errors.New("signature expired (x=)")
		}
	}
	if !bytes.Equal(sums[c.amsBody[inst]], a.bh) {
		return errors.New("body hash mismatch")
	}
	k, err := c.key(ctx, a.selector, a.domain)
	if err != nil {
		return err
	}
	data := amsSignedDataNames(c.h, c.names, a.headers, a.hdrCanon, s.ams)
	return k.verify(a.algo, data, a.b)
}

// amsSignedData is the canonical input of an AMS (or DKIM) signature:
// the fields named in h=, each chosen bottom-up, then the signature field
// itself with b= emptied and no final CRLF.
func amsSignedData(h Header, names []string, canon Canonicalization, sig Field) []byte {
	return amsSignedDataNames(h, nil, names, canon, sig)
}

// amsSignedDataNames is amsSignedData with the lowercased names of h's
// fields given (nil: computed here).
func amsSignedDataNames(h Header, hnames, names []string, canon Canonicalization, sig Field) []byte {
	data := make([]byte, 0, 1024+len(sig))
	// Index the fields by name, bottom first, so that a hostile h= list
	// costs linear time.
	byName := make(map[string][]int, len(names))
	for _, n := range names {
		byName[n] = nil
	}
	for i := len(h) - 1; i >= 0; i-- {
		var n string
		if hnames != nil {
			n = hnames[i]
		} else {
			n = lowerName(h[i])
		}
		if list, ok := byName[n]; ok {
			byName[n] = append(list, i)
		}
	}
	for _, n := range names {
		if list := byName[n]; len(list) > 0 {
			data = canonHeader(data, canon, h[list[0]])
			byName[n] = list[1:]
		}
	}
	data = canonHeader(data, canon, stripB(sig))
	return bytes.TrimSuffix(data, []byte("\r\n"))
}

func (c *chain) verifyAS(ctx context.Context, inst int) error {
	s := &c.sets[inst-1]
	a, _ := s.asTags.get("a")
	d, _ := s.asTags.get("d")
	sel, _ := s.asTags.get("s")
	bv, _ := s.asTags.get("b")
	sig, err := decodeB64(bv)
	if err != nil {
		return fmt.Errorf("b= %w", err)
	}
	k, err := c.key(ctx, sel, d)
	if err != nil {
		return err
	}
	return k.verify(a, c.sealData(inst), sig)
}

// sealData is sealSignedData(c.sets[:inst], nil), from the relaxed forms
// of the sets, each computed once per message.
func (c *chain) sealData(inst int) []byte {
	size := 0
	for i := range inst {
		s := &c.sets[i]
		s.relax()
		if i < inst-1 {
			size += len(s.relaxed)
		} else {
			size += len(s.sealTail)
		}
	}
	data := make([]byte, 0, size)
	for i := range inst - 1 {
		data = append(data, c.sets[i].relaxed...)
	}
	return append(data, c.sets[inst-1].sealTail...)
}

// relax computes the set's relaxed forms, once.
func (s *arcSet) relax() {
	if s.relaxed != nil {
		return
	}
	r := make([]byte, 0, len(s.aar)+len(s.ams)+len(s.as)+6)
	r = canonHeader(r, Relaxed, s.aar)
	r = canonHeader(r, Relaxed, s.ams)
	n := len(r)
	r = canonHeader(r, Relaxed, s.as)
	t := canonHeader(append(make([]byte, 0, cap(r)), r[:n]...), Relaxed, stripB(s.as))
	s.relaxed, s.sealTail = r, bytes.TrimSuffix(t, []byte("\r\n"))
}

// lowerName returns the field's name in lower case, without allocating
// when it is lower case already.
func lowerName(f Field) string {
	n := f.Name()
	for i := 0; i < len(n); i++ {
		if c := n[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(n)
		}
	}
	return n
}

// sealSignedData is the canonical input of the seal of the last set:
// every set's AAR, AMS and AS in instance order (relaxed), the last seal
// with b= emptied and no final CRLF. lastAS, when not nil, stands for the
// last set's seal (signing).
func sealSignedData(sets []arcSet, lastAS Field) []byte {
	size := len(lastAS)
	for i := range sets {
		size += len(sets[i].aar) + len(sets[i].ams) + len(sets[i].as)
	}
	data := make([]byte, 0, size+8)
	for i := range sets {
		s := &sets[i]
		data = canonHeader(data, Relaxed, s.aar)
		data = canonHeader(data, Relaxed, s.ams)
		as := s.as
		if i == len(sets)-1 {
			if lastAS != nil {
				as = lastAS
			}
			data = canonHeader(data, Relaxed, stripB(as))
			return bytes.TrimSuffix(data, []byte("\r\n"))
		}
		data = canonHeader(data, Relaxed, as)
	}
	return data
}

// stripB returns the field with the value of its b= tag removed.
func stripB(f Field) Field {
	colon := bytes.IndexByte(f, ':')
	if colon < 0 {
		return f
	}
	pos := colon + 1
	for pos <= len(f) {
		end := bytes.IndexByte(f[pos:], ';')
		if end < 0 {
			end = len(f)
		} else {
			end += pos
		}
		seg := f[pos:end]
		if eq := bytes.IndexByte(seg, '='); eq >= 0 && string(bytes.Trim(seg[:eq], " \t\r\n")) == "b" {
			out := make(Field, 0, len(f))
			out = append(out, f[:pos+eq+1]...)
			// keep the line end of a field that ends here
			rest := f[end:]
			if end == len(f) {
				tail := seg[eq+1:]
				t := len(tail)
				for t > 0 && (tail[t-1] == '\n' || tail[t-1] == '\r') {
					t--
				}
				rest = tail[t:]
			}
			return append(out, rest...)
		}
		pos = end + 1
	}
	return f
}
