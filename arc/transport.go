package arc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo/transport"
)

// SignHeader makes a Signer a [transport.HeaderSigner], Exim's transport
// option arc_sign: set it in smtp.Transport.Signers. It reads the header
// and the body once and returns the new ARC set (ARC-Seal,
// ARC-Message-Signature, ARC-Authentication-Results, CRLF line ends).
//
// A refusal (ErrNoAuthResults, ErrChainFull, ErrChainFailed) is a
// property of the message that no retry changes: the error also wraps
// transport.ErrPermanent, so the delivery fails and the bounce says why.
// With SendUnsigned set, a refusal returns no fields instead (the message
// goes out without a new set, as Exim does when it finds no
// Authentication-Results field) and is logged to Logger. Every other
// error (a key that cannot sign, a temporary DNS failure while checking
// the existing chain, reading the body) is temporary: the delivery is
// deferred, as Exim defers when signing fails.
func (s *Signer) SignHeader(ctx context.Context, h *textproto.Header, body io.Reader) ([]byte, error) {
	fields, err := s.Sign(ctx, FromTextproto(h), body)
	if err != nil {
		if !Refused(err) {
			return nil, err
		}
		if s.SendUnsigned {
			if s.Logger != nil {
				s.Logger.WarnContext(ctx, "arc: sending without a new ARC set", "error", err)
			}
			return nil, nil
		}
		return nil, fmt.Errorf("%w (%w)", err, transport.ErrPermanent)
	}
	return fields.Bytes(), nil
}

// Refused reports whether err is one of the Signer's refusals to add a
// set: ErrNoAuthResults, ErrChainFull or ErrChainFailed.
func Refused(err error) bool {
	return errors.Is(err, ErrNoAuthResults) || errors.Is(err, ErrChainFull) || errors.Is(err, ErrChainFailed)
}

// FromTextproto returns the fields of h in order, top first, as raw
// bytes (fields without raw bytes are formatted by go-message).
func FromTextproto(h *textproto.Header) Header {
	out := make(Header, 0, h.Len())
	fs := h.Fields()
	for fs.Next() {
		raw, err := fs.Raw()
		if err != nil {
			continue
		}
		out = append(out, Field(raw))
	}
	return out
}
