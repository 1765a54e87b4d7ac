// Package msgio writes a stored message (header fields with raw bytes,
// body with LF line ends) in the forms the transports need: the SMTP wire
// form (CRLF line ends, optionally dot-stuffed, RFC 5321 section 4.5.2)
// and the local file form (LF line ends, optionally with mboxo ">From "
// quoting).
package msgio

import (
	"bytes"
	"fmt"
	"io"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
)

// Writer converts a message stream to a target line-end convention. Every
// line end of the input ("\r\n", "\n", or a lone "\r") becomes EOL, so no
// line end reaches the output that was not meant as one. Work is done on
// whole runs of bytes between line ends, never byte by byte.
//
// With Stuff set, a line that starts with "." gets a second one (SMTP
// transparency). With FromQuote set, a line that starts with "From " gets
// a ">" in front (mboxo); it can be switched on between writes, e.g. after
// the header.
type Writer struct {
	W         io.Writer
	EOL       []byte
	Stuff     bool
	FromQuote bool

	bol    bool // at the beginning of a line
	skipLF bool // the last byte was a CR: a following LF belongs to it
	pend   [5]byte
	npend  int   // a line start that may be "From ", waiting for more bytes
	n      int64 // bytes written to W
}

var (
	// CRLF is the SMTP line end.
	CRLF = []byte("\r\n")
	// LF is the local file line end.
	LF = []byte("\n")
)

// NewWriter returns a Writer to w with the line end eol, at the start of
// a line.
func NewWriter(w io.Writer, eol []byte, stuff bool) *Writer {
	return &Writer{W: w, EOL: eol, Stuff: stuff, bol: true}
}

// Reset makes the writer write to w from the start of a line, keeping its
// settings and buffers.
func (w *Writer) Reset(dst io.Writer) {
	w.W = dst
	w.bol, w.skipLF, w.n, w.npend = true, false, 0, 0
	w.FromQuote = false
}

// Written returns the number of bytes written to the destination.
func (w *Writer) Written() int64 { return w.n }

// AtLineStart reports whether the output ends with a complete line.
func (w *Writer) AtLineStart() bool { return w.bol && w.npend == 0 }

func (w *Writer) out(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	n, err := w.W.Write(p)
	w.n += int64(n)
	return err
}

var fromLine = []byte("From ")

// Write converts p and writes it.
func (w *Writer) Write(p []byte) (int, error) {
	n := len(p)
	for w.npend > 0 {
		take := min(len(fromLine)-w.npend, len(p))
		copy(w.pend[w.npend:], p[:take])
		w.npend += take
		p = p[take:]
		if w.npend < len(fromLine) && bytes.HasPrefix(fromLine, w.pend[:w.npend]) {
			return n, nil // p is used up and the line start still undecided
		}
		buf := w.pend
		k := w.npend
		w.npend = 0
		// This may keep a new undecided line start: the loop goes on
		// with the rest of p.
		if err := w.convert(buf[:k]); err != nil {
			return 0, err
		}
	}
	if err := w.convert(p); err != nil {
		return 0, err
	}
	return n, nil
}

func (w *Writer) convert(p []byte) error {
	hasCR := bytes.IndexByte(p, '\r') >= 0
	for len(p) > 0 {
		if w.skipLF {
			w.skipLF = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		if w.bol {
			switch {
			case w.Stuff && p[0] == '.':
				if err := w.out(dot); err != nil {
					return err
				}
			case w.FromQuote && p[0] == 'F':
				if len(p) < len(fromLine) && bytes.HasPrefix(fromLine, p) {
					// Too short to decide: keep it for the next write.
					w.npend = copy(w.pend[:], p)
					return nil
				}
				if bytes.HasPrefix(p, fromLine) {
					if err := w.out(gt); err != nil {
						return err
					}
				}
			}
			w.bol = false
		}
		i := bytes.IndexByte(p, '\n')
		if hasCR {
			seg := p
			if i >= 0 {
				seg = p[:i]
			}
			if j := bytes.IndexByte(seg, '\r'); j >= 0 {
				i = j
			}
		}
		if i < 0 {
			return w.out(p)
		}
		if err := w.out(p[:i]); err != nil {
			return err
		}
		if err := w.out(w.EOL); err != nil {
			return err
		}
		w.bol = true
		w.skipLF = p[i] == '\r'
		p = p[i+1:]
	}
	return nil
}

var (
	dot = []byte(".")
	gt  = []byte(">")
)

// Close ends the last line with EOL when it lacks a line end. It does not
// close the destination.
func (w *Writer) Close() error {
	if w.npend > 0 {
		// A prefix of "From " holds no line end: it is the last line.
		k := w.npend
		w.npend = 0
		if err := w.out(w.pend[:k]); err != nil {
			return err
		}
		w.bol = false
	}
	if !w.bol {
		w.bol = true
		return w.out(w.EOL)
	}
	return nil
}

// WriteHeader writes the header fields of h in order, raw bytes kept, to
// w (normally a [Writer], which fixes the line ends). A field whose raw
// form lacks a final line end gets "\n". The blank line that ends the
// header is not written.
func WriteHeader(w io.Writer, h *textproto.Header) error {
	fields := h.Fields()
	for fields.Next() {
		raw, err := fields.Raw()
		if err != nil {
			return err
		}
		if _, err := w.Write(raw); err != nil {
			return err
		}
		if len(raw) > 0 && raw[len(raw)-1] != '\n' && raw[len(raw)-1] != '\r' {
			if _, err := w.Write(LF); err != nil {
				return err
			}
		}
	}
	return nil
}

// HeaderSize returns the size of the header fields of h with the line
// ends given (the same bytes [WriteHeader] through a [Writer] produces,
// without dot-stuffing) and the number of lines.
func HeaderSize(h *textproto.Header, eol []byte) (size int64, lines int, err error) {
	c := &counter{}
	w := NewWriter(c, eol, false)
	if err := WriteHeader(w, h); err != nil {
		return 0, 0, err
	}
	if err := w.Close(); err != nil {
		return 0, 0, err
	}
	return c.n, c.lines, nil
}

type counter struct {
	n     int64
	lines int
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if len(p) > 0 && p[len(p)-1] == '\n' {
		c.lines++
	}
	return len(p), nil
}

// SafeInHeader reports whether s can go into a header field: no control
// characters (which could end the field and start another).
func SafeInHeader(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// WriteLocal writes m as a local delivery to rcpt stores it:
// "Return-Path: <returnPath>", "Delivered-To: rcpt", the header fields, a
// blank line and the body, with LF line ends. With fromQuote, body lines
// starting with "From " get a ">" (mboxo). The caller checks returnPath
// and rcpt with [SafeInHeader].
func WriteLocal(w io.Writer, m *exigo.Message, returnPath, rcpt string, fromQuote bool) error {
	mw := NewWriter(w, LF, false)
	if _, err := io.WriteString(mw, "Return-Path: <"+returnPath+">\nDelivered-To: "+rcpt+"\n"); err != nil {
		return err
	}
	if err := WriteHeader(mw, &m.Header); err != nil {
		return err
	}
	if !mw.AtLineStart() {
		if _, err := mw.Write(LF); err != nil {
			return err
		}
	}
	if _, err := mw.Write(LF); err != nil {
		return err
	}
	mw.FromQuote = fromQuote
	if m.Body != nil {
		body, err := m.Body.Open()
		if err != nil {
			return fmt.Errorf("opening the body: %w", err)
		}
		defer body.Close()
		if _, err := io.Copy(mw, body); err != nil {
			return err
		}
	}
	return mw.Close()
}
