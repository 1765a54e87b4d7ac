package mailtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
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
// line read is passed to onLine, if not nil, without its line end.
func readReply(r *bufio.Reader, onLine func(string)) (Reply, error) {
	var rep Reply
	var token string // the enhanced code as the first line wrote it
	for n := 0; ; n++ {
		line, err := readLine(r)
		if err != nil {
			if n > 0 && errors.Is(err, errEOF) {
				err = fmt.Errorf("%w: connection closed inside a multi-line reply", ErrBadReply)
			}
			return Reply{}, err
		}
		if onLine != nil {
			onLine(line)
		}
		if n >= maxReplyLines {
			return Reply{}, fmt.Errorf("%w: more than %d lines", ErrBadReply, maxReplyLines)
		}
		code, last, text, ok := splitReplyLine(line)
		if !ok {
			return Reply{}, fmt.Errorf("%w: %q", ErrBadReply, clip(line))
		}
		if n == 0 {
			rep.Code = code
			rep.Enhanced, token = splitEnhanced(code, text)
		} else if code != rep.Code {
			return Reply{}, fmt.Errorf("%w: code %d on a continuation of %d", ErrBadReply, code, rep.Code)
		}
		rep.Lines = append(rep.Lines, stripEnhanced(token, text))
		if last {
			return rep, nil
		}
	}
}

// errEOF marks a connection closed by the server.
var errEOF = errors.New("connection closed by the server")

// readLine reads a line without its line end, bounded by maxReplyLine.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(b)+len(chunk) > maxReplyLine+2 {
			return "", fmt.Errorf("%w: line longer than %d octets", ErrBadReply, maxReplyLine)
		}
		b = append(b, chunk...)
		switch {
		case err == nil:
			b = b[:len(b)-1]
			if n := len(b); n > 0 && b[n-1] == '\r' {
				b = b[:n-1]
			}
			return string(b), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(b) > 0 {
				return "", fmt.Errorf("%w: connection closed in the middle of a line %q", ErrBadReply, clip(string(b)))
			}
			return "", errEOF
		default:
			return "", err
		}
	}
}

// splitReplyLine splits "250-text" or "250 text" (or a bare "250").
func splitReplyLine(l string) (code int, last bool, text string, ok bool) {
	if len(l) < 3 {
		return 0, false, "", false
	}
	for i := range 3 {
		if l[i] < '0' || l[i] > '9' {
			return 0, false, "", false
		}
	}
	if l[0] < '1' || l[0] > '5' {
		return 0, false, "", false
	}
	code = int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0')
	switch {
	case len(l) == 3:
		return code, true, "", true
	case l[3] == ' ':
		return code, true, l[4:], true
	case l[3] == '-':
		return code, false, l[4:], true
	}
	return 0, false, "", false
}

// splitEnhanced recognises an enhanced status code at the start of text:
// "class.subject.detail" with the class of code, followed by a space or
// the end of the text. It returns the code and the text it was written
// as ("" when there is none).
func splitEnhanced(code int, text string) (exigo.EnhancedCode, string) {
	class := code / 100
	if class != 2 && class != 4 && class != 5 {
		return exigo.EnhancedCode{}, ""
	}
	end := strings.IndexByte(text, ' ')
	if end < 0 {
		end = len(text)
	}
	parts := strings.Split(text[:end], ".")
	if len(parts) != 3 {
		return exigo.EnhancedCode{}, ""
	}
	var ec exigo.EnhancedCode
	for i, p := range parts {
		// RFC 3463: class is one digit, subject and detail 1 to 3 digits.
		if p == "" || len(p) > 3 || i == 0 && len(p) != 1 {
			return exigo.EnhancedCode{}, ""
		}
		for j := 0; j < len(p); j++ {
			if p[j] < '0' || p[j] > '9' {
				return exigo.EnhancedCode{}, ""
			}
		}
		ec[i], _ = strconv.Atoi(p)
	}
	if ec[0] != class {
		return exigo.EnhancedCode{}, ""
	}
	return ec, text[:end]
}

// stripEnhanced removes token (an enhanced code as written) and the space
// after it from the start of text when it is there.
func stripEnhanced(token, text string) string {
	if token == "" {
		return text
	}
	if text == token {
		return ""
	}
	if rest, ok := strings.CutPrefix(text, token+" "); ok {
		return rest
	}
	return text
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
