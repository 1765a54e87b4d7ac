package arc

import (
	"bytes"
	"hash"
	"strings"
)

// Canonicalization is a DKIM canonicalization algorithm (RFC 6376
// section 3.4).
type Canonicalization string

// The two canonicalization algorithms.
const (
	Simple  Canonicalization = "simple"
	Relaxed Canonicalization = "relaxed"
)

// parseCanon parses a c= value: "hdr[/body]", body defaulting to simple.
func parseCanon(v string) (hdr, body Canonicalization, ok bool) {
	h, b, slash := strings.Cut(v, "/")
	if !slash {
		b = "simple"
	}
	hc, ok1 := canonOf(h)
	bc, ok2 := canonOf(b)
	return hc, bc, ok1 && ok2
}

func canonOf(s string) (Canonicalization, bool) {
	switch s {
	case "simple":
		return Simple, true
	case "relaxed":
		return Relaxed, true
	}
	return "", false
}

// canonHeader appends the canonical form of one raw header field (name,
// colon, value, with its line ends; CRLF or LF) to dst, ending in CRLF.
func canonHeader(dst []byte, c Canonicalization, raw []byte) []byte {
	if c == Simple {
		return appendCRLF(dst, raw)
	}
	colon := bytes.IndexByte(raw, ':')
	if colon < 0 {
		colon = len(raw)
	}
	// A well-formed name has no whitespace; a broken one (no colon,
	// continuation lines) is unfolded like a value so the result stays
	// one line.
	start := len(dst)
	dst = relaxValue(dst, raw[:colon])
	for i := start; i < len(dst); i++ {
		if c := dst[i]; c >= 'A' && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	dst = append(dst, ':')
	if colon < len(raw) {
		dst = relaxValue(dst, raw[colon+1:])
	}
	return append(dst, '\r', '\n')
}

// relaxValue appends v unfolded, with whitespace runs reduced to one space
// and leading and trailing whitespace removed.
func relaxValue(dst, v []byte) []byte {
	space := false
	start := true
	for _, ch := range v {
		switch ch {
		case '\r', '\n':
			continue
		case ' ', '\t':
			space = true
			continue
		}
		if space && !start {
			dst = append(dst, ' ')
		}
		space, start = false, false
		dst = append(dst, ch)
	}
	return dst
}

// appendCRLF appends raw with every line end written as CRLF.
func appendCRLF(dst, raw []byte) []byte {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return append(dst, raw...)
		}
		line := raw[:i]
		line = bytes.TrimSuffix(line, []byte{'\r'})
		dst = append(dst, line...)
		dst = append(dst, '\r', '\n')
		raw = raw[i+1:]
	}
	return dst
}

// bodyCanon is a streaming body canonicalizer feeding a hash. It accepts
// CRLF or bare LF line ends, holds back trailing empty lines until more
// content arrives, and honours an optional length limit (l=).
type bodyCanon struct {
	c       Canonicalization
	h       hash.Hash
	limit   int64 // -1: none
	written int64
	line    []byte // partial line
	empties int    // held-back empty lines
	any     bool   // some line was emitted
	out     []byte
	sum     []byte
}

func newBodyCanon(c Canonicalization, h hash.Hash, limit int64) *bodyCanon {
	return &bodyCanon{c: c, h: h, limit: limit}
}

func (b *bodyCanon) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.line = append(b.line, p...)
			break
		}
		if len(b.line) > 0 {
			b.line = append(b.line, p[:i]...)
			b.endLine(b.line)
			b.line = b.line[:0]
		} else {
			b.endLine(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

func (b *bodyCanon) endLine(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	out := b.out[:0]
	if b.c == Relaxed {
		space := false
		for _, ch := range line {
			if ch == ' ' || ch == '\t' {
				space = true
				continue
			}
			if space {
				out = append(out, ' ')
				space = false
			}
			out = append(out, ch)
		}
	} else {
		out = append(out, line...)
	}
	b.out = out
	if len(out) == 0 {
		b.empties++
		return
	}
	for ; b.empties > 0; b.empties-- {
		b.emit([]byte{'\r', '\n'})
	}
	b.emit(out)
	b.emit([]byte{'\r', '\n'})
	b.any = true
}

func (b *bodyCanon) emit(p []byte) {
	if b.limit >= 0 {
		left := b.limit - b.written
		if left <= 0 {
			return
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	b.written += int64(len(p))
	b.h.Write(p)
}

// Sum finishes the body (a last line without line end counts as a line)
// and returns the hash.
func (b *bodyCanon) Sum() []byte {
	if b.sum != nil {
		return b.sum
	}
	if len(b.line) > 0 {
		b.endLine(b.line)
		b.line = nil
	}
	if !b.any && b.c == Simple {
		b.emit([]byte{'\r', '\n'})
	}
	b.sum = b.h.Sum(nil)
	return b.sum
}
