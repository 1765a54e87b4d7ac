package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/msgio"
	"github.com/exigo-mta/exigo/transport"
)

// recordSigner returns a fixed field and records the header it saw (as
// written) and the body it read.
type recordSigner struct {
	field  string
	err    error
	header []string
	body   []string
}

func (s *recordSigner) SignHeader(_ context.Context, h *textproto.Header, body io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := msgio.WriteHeader(&b, h); err != nil {
		return nil, err
	}
	s.header = append(s.header, b.String())
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	s.body = append(s.body, string(data))
	return []byte(s.field), s.err
}

func message(t testing.TB, header, body string, opens *int) *exigo.Message {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(header + "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return &exigo.Message{Header: h, Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
		*opens++
		return io.NopCloser(strings.NewReader(body)), nil
	})}
}

// TestSign runs two signers: the second sees the first one's field and
// the fields prepended before, on top; every field comes back with LF
// line ends, the last signer's on top; the body is opened once per
// signer.
func TestSign(t *testing.T) {
	opens := 0
	m := message(t, "From: a@b\nSubject: x\n", "body\n", &opens)
	dkim := &recordSigner{field: "DKIM-Signature: v=1;\r\n b=abc\r\n"}
	arc := &recordSigner{field: "ARC-Seal: i=1\r\n"}
	out, err := transport.Sign(context.Background(), m, []byte("X-Pre: 1\n\tcontinued\nX-Pre2: 2\n"), dkim, arc)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ARC-Seal: i=1\nDKIM-Signature: v=1;\n b=abc\nX-Pre: 1\n\tcontinued\nX-Pre2: 2\n"; string(out) != want {
		t.Errorf("fields\n%q\nwant\n%q", out, want)
	}
	if want := "X-Pre: 1\n\tcontinued\nX-Pre2: 2\nFrom: a@b\r\nSubject: x\r\n"; len(dkim.header) != 1 || dkim.header[0] != want {
		t.Errorf("first signer saw %q, want %q", dkim.header, want)
	}
	if want := "DKIM-Signature: v=1;\n b=abc\nX-Pre: 1\n\tcontinued\nX-Pre2: 2\nFrom: a@b\r\nSubject: x\r\n"; len(arc.header) != 1 || arc.header[0] != want {
		t.Errorf("second signer saw %q, want %q", arc.header, want)
	}
	if opens != 2 || dkim.body[0] != "body\n" || arc.body[0] != "body\n" {
		t.Errorf("opens %d, bodies %q %q", opens, dkim.body, arc.body)
	}
	// The message's own header is unchanged (go-message stores CRLF).
	var b bytes.Buffer
	msgio.WriteHeader(&b, &m.Header)
	if b.String() != "From: a@b\r\nSubject: x\r\n" {
		t.Errorf("message header changed: %q", b.String())
	}
}

// TestSignError: a signer's error is returned as it is, and no later
// signer runs.
func TestSignError(t *testing.T) {
	opens := 0
	m := message(t, "From: a@b\n", "", &opens)
	boom := errors.New("boom")
	first := &recordSigner{err: boom}
	second := &recordSigner{}
	if _, err := transport.Sign(context.Background(), m, nil, first, second); err != boom {
		t.Errorf("err %v", err)
	}
	if len(second.header) != 0 || opens != 1 {
		t.Errorf("second signer ran (%d), opens %d", len(second.header), opens)
	}
	m.Body = exigo.OpenerFunc(func() (io.ReadCloser, error) { return nil, boom })
	if _, err := transport.Sign(context.Background(), m, nil, second); err == nil || err.Error() != "opening the message body: boom" {
		t.Errorf("open error: %v", err)
	}
}

// FuzzSign feeds arbitrary prepended fields through Sign: no panic, and
// the signer sees every field that has a colon, in order.
func FuzzSign(f *testing.F) {
	f.Add([]byte("X-Pre: 1\n\tcontinued\nX-Pre2: 2\n"))
	f.Add([]byte(" stray\nA: b\r\n"))
	f.Add([]byte("no colon\nA:\n"))
	f.Add([]byte(""))
	f.Add([]byte("A: b"))
	f.Fuzz(func(t *testing.T, pre []byte) {
		opens := 0
		m := message(t, "From: a@b\n", "body\n", &opens)
		s := &recordSigner{field: "S: 1\n"}
		out, err := transport.Sign(context.Background(), m, pre, s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(out, []byte("S: 1\n")) || !bytes.HasSuffix(out, pre) {
			t.Fatalf("out %q", out)
		}
		if !strings.HasSuffix(s.header[0], "From: a@b\r\n") {
			t.Fatalf("signer saw %q", s.header[0])
		}
	})
}
