package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
)

// HeaderSigner computes header fields that go on top of a message as a
// transport sends it: an ARC set (arc.Signer, Exim's arc_sign), later a
// DKIM-Signature. Signing happens once per delivery, before the first
// host is tried; the fields are then sent with the message to every host
// and in every transaction of that delivery.
type HeaderSigner interface {
	// SignHeader reads h and the body (in stored form: LF or CRLF line
	// ends) to its end, once, and returns the raw header fields to put
	// above h, top first, each ending in a line end. An error wrapping
	// [ErrPermanent] fails the delivery's recipients for good (a refusal
	// that no retry can change); any other error defers them.
	SignHeader(ctx context.Context, h *textproto.Header, body io.Reader) ([]byte, error)
}

// Sign runs signers in order over m, which is to be sent with the raw
// fields prepend on top of its header, and returns prepend with every
// signer's fields added on top (the last signer's first). Each signer
// sees the fields of the signers before it, so an ARC signer placed after
// a DKIM signer covers its DKIM-Signature. Each signer reads the body
// once, streamed from m.Body.
func Sign(ctx context.Context, m *exigo.Message, prepend []byte, signers ...HeaderSigner) ([]byte, error) {
	for _, s := range signers {
		h := m.Header.Copy()
		fields := splitFields(prepend)
		for i := len(fields) - 1; i >= 0; i-- {
			h.AddRaw(fields[i])
		}
		body, err := openBody(m)
		if err != nil {
			return nil, fmt.Errorf("opening the message body: %w", err)
		}
		out, err := s.SignHeader(ctx, &h, body)
		body.Close()
		if err != nil {
			return nil, err
		}
		prepend = append(toLF(out), prepend...)
	}
	return prepend, nil
}

func openBody(m *exigo.Message) (io.ReadCloser, error) {
	if m.Body == nil {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return m.Body.Open()
}

// splitFields splits raw header fields at lines that do not start with
// whitespace; each field keeps its line ends. Bytes before the first
// field name (a stray continuation line) are dropped.
func splitFields(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		end := 0
		for {
			nl := bytes.IndexByte(b[end:], '\n')
			if nl < 0 {
				end = len(b)
				break
			}
			end += nl + 1
			if end >= len(b) || (b[end] != ' ' && b[end] != '\t') {
				break
			}
		}
		if bytes.IndexByte(b[:end], ':') >= 0 {
			out = append(out, b[:end:end])
		}
		b = b[end:]
	}
	return out
}

// toLF turns CRLF line ends into LF, the stored form the transports
// count and convert.
func toLF(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}
