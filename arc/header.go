package arc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Field is one raw header field: name, colon, value and line ends (CRLF
// or LF) exactly as read, continuation lines included.
type Field []byte

// Name returns the field name without surrounding whitespace.
func (f Field) Name() string {
	i := bytes.IndexByte(f, ':')
	if i < 0 {
		return ""
	}
	return strings.TrimRight(string(f[:i]), " \t")
}

// Value returns the raw value after the colon, line ends included.
func (f Field) Value() string {
	i := bytes.IndexByte(f, ':')
	if i < 0 {
		return ""
	}
	return string(f[i+1:])
}

// Header is a message header section in order, top first.
type Header []Field

// DefaultMaxHeaderBytes bounds the header section ReadHeader accepts when
// its limit is zero.
const DefaultMaxHeaderBytes = 1 << 20

// ErrHeaderTooLarge is returned by ReadHeader when the header section
// exceeds its limit.
var ErrHeaderTooLarge = errors.New("arc: header section too large")

// ReadHeader reads the header section of a message from br, up to and
// including the empty line that ends it (or EOF), and leaves br at the
// start of the body. Lines may end in CRLF or LF. max bounds the section
// (0: DefaultMaxHeaderBytes).
func ReadHeader(br *bufio.Reader, max int) (Header, error) {
	if max <= 0 {
		max = DefaultMaxHeaderBytes
	}
	var h Header
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// a very long line: gather it
			buf := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull && total+len(buf) <= max {
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		total += len(line)
		if total > max {
			return nil, fmt.Errorf("%w (more than %d bytes)", ErrHeaderTooLarge, max)
		}
		if err != nil && err != io.EOF {
			if err == bufio.ErrBufferFull {
				return nil, fmt.Errorf("%w (more than %d bytes)", ErrHeaderTooLarge, max)
			}
			return nil, fmt.Errorf("arc: reading header: %w", err)
		}
		if len(line) == 0 || line[0] == '\n' || (line[0] == '\r' && len(line) > 1 && line[1] == '\n') {
			return h, nil
		}
		if (line[0] == ' ' || line[0] == '\t') && len(h) > 0 {
			h[len(h)-1] = append(h[len(h)-1], line...)
		} else {
			h = append(h, Field(append([]byte(nil), line...)))
		}
		if err == io.EOF {
			return h, nil
		}
	}
}

// Bytes returns the header section as written, fields in order, each
// line ending in CRLF, without the separating empty line.
func (h Header) Bytes() []byte {
	var b []byte
	for _, f := range h {
		b = appendCRLF(b, f)
		if len(f) > 0 && f[len(f)-1] != '\n' {
			b = append(b, '\r', '\n')
		}
	}
	return b
}
