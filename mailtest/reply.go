package mailtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/smtpclient"
)

// Reply is one SMTP reply (RFC 5321 section 4.2), possibly of several
// lines, as a value.
type Reply struct {
	// Code is the three-digit reply code.
	Code int
	// Enhanced is the RFC 3463 enhanced status code that starts the text
	// of the first line, if any (its class must match the code's).
	Enhanced exigo.EnhancedCode
	// Lines are the text of each line, without the code, the separator
	// and the enhanced code.
	Lines []string
}

// String formats the reply as exigo's server writes it, with the lines
// separated by "\n" and no final line end: "550 5.1.1 unknown user", or
// "250-first\n250 last". The enhanced code is repeated on every line.
func (r Reply) String() string {
	var b strings.Builder
	code := strconv.Itoa(r.Code)
	lines := r.Lines
	if len(lines) == 0 {
		lines = []string{""}
	}
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(code)
		if i < len(lines)-1 {
			b.WriteByte('-')
		} else {
			b.WriteByte(' ')
		}
		if r.Enhanced != (exigo.EnhancedCode{}) {
			b.WriteString(r.Enhanced.String())
			if l != "" {
				b.WriteByte(' ')
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// Text returns the lines of text joined by "\n", as [exigo.SMTPError]
// keeps a multi-line message.
func (r Reply) Text() string { return strings.Join(r.Lines, "\n") }

// Err returns the reply as an *[exigo.SMTPError] (code, enhanced code
// and the lines of text joined by "\n") when it is a 4xx or 5xx one, and
// nil otherwise, so it can be compared with the SMTPError an ACL rule or
// a router was expected to produce.
func (r Reply) Err() error {
	if r.Code < 400 {
		return nil
	}
	return &exigo.SMTPError{Code: r.Code, Enhanced: r.Enhanced, Message: r.Text()}
}

// failure returns r as an error: r.Err(), or for a reply of another
// class than expected, an error quoting it.
func failure(r Reply) error {
	if err := r.Err(); err != nil {
		return err
	}
	return fmt.Errorf("unexpected reply %q", r.String())
}

// Limits on replies read, so a broken server cannot make a test use
// unbounded memory.
const (
	maxReplyLine  = 64 << 10
	maxReplyLines = 1000
)

// ErrBadReply is wrapped by the errors for malformed replies.
var ErrBadReply = errors.New("mailtest: malformed SMTP reply")

// readReply reads one reply. Lines may end with CRLF or a bare LF. Each
// line read is passed to onLine, if not nil, without its line end. The
// lines are parsed by the transports' parser, keeping control characters.
func readReply(r *bufio.Reader, onLine func(string)) (Reply, error) {
	p := smtpclient.ReplyParser{MaxLines: maxReplyLines, Raw: true}
	for n := 0; ; n++ {
		line, err := readLine(r)
		if err != nil {
			if n > 0 && errors.Is(err, errEOF) {
				err = fmt.Errorf("%w: connection closed inside a multi-line reply", ErrBadReply)
			}
			return Reply{}, err
		}
		if onLine != nil {
			onLine(string(line))
		}
		rep, err := p.Line(line)
		if err != nil {
			// Reworded as mailtest's, dropping the parser's sentinel.
			msg, _ := strings.CutPrefix(err.Error(), smtpclient.ErrMalformed.Error()+": ")
			return Reply{}, fmt.Errorf("%w: %s", ErrBadReply, msg)
		}
		if rep != nil {
			return Reply{Code: rep.Code, Enhanced: rep.Enhanced, Lines: rep.Lines}, nil
		}
	}
}

// errEOF marks a connection closed by the server.
var errEOF = errors.New("connection closed by the server")

// readLine reads a line without its line end, bounded by maxReplyLine.
func readLine(r *bufio.Reader) ([]byte, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(b)+len(chunk) > maxReplyLine+2 {
			return nil, fmt.Errorf("%w: line longer than %d octets", ErrBadReply, maxReplyLine)
		}
		b = append(b, chunk...)
		switch {
		case err == nil:
			b = b[:len(b)-1]
			if n := len(b); n > 0 && b[n-1] == '\r' {
				b = b[:n-1]
			}
			return b, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(b) > 0 {
				return nil, fmt.Errorf("%w: connection closed in the middle of a line %q", ErrBadReply, clip(string(b)))
			}
			return nil, errEOF
		default:
			return nil, err
		}
	}
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
