package smtpclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
)

// Reply is one SMTP reply (RFC 5321 section 4.2), possibly multi-line.
type Reply struct {
	// Code is the three-digit reply code, 200 to 599.
	Code int
	// Enhanced is the RFC 3463 enhanced status code of the first line,
	// zero when it has none.
	Enhanced exigo.EnhancedCode
	// Lines are the texts of the reply lines without the code, the
	// separator and any leading enhanced status code; at least one.
	// Control characters are replaced by '?'.
	Lines []string
}

// Positive reports whether the reply is a 2xx one.
func (r *Reply) Positive() bool { return r != nil && r.Code/100 == 2 }

// Intermediate reports whether the reply is a 3xx one.
func (r *Reply) Intermediate() bool { return r != nil && r.Code/100 == 3 }

// Text returns the text of the reply's first line.
func (r *Reply) Text() string {
	if r == nil || len(r.Lines) == 0 {
		return ""
	}
	return r.Lines[0]
}

// Err returns the reply as an *exigo.SMTPError, the lines joined by "\n".
// It returns nil for a nil reply.
func (r *Reply) Err() *exigo.SMTPError {
	if r == nil {
		return nil
	}
	return &exigo.SMTPError{Code: r.Code, Enhanced: r.Enhanced, Message: strings.Join(r.Lines, "\n")}
}

// String formats the reply on one line, as for a log: "250 2.0.0 OK id=x".
func (r *Reply) String() string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != (exigo.EnhancedCode{}) {
		b.WriteByte(' ')
		b.WriteString(r.Enhanced.String())
	}
	for i, l := range r.Lines {
		if i == 0 && l == "" {
			continue
		}
		b.WriteByte(' ')
		b.WriteString(l)
	}
	return b.String()
}

// Format returns the reply in wire form, with the enhanced code (if any)
// on every line.
func (r *Reply) Format() string {
	var b strings.Builder
	for i, l := range r.Lines {
		b.WriteString(strconv.Itoa(r.Code))
		if i == len(r.Lines)-1 {
			b.WriteByte(' ')
		} else {
			b.WriteByte('-')
		}
		if r.Enhanced != (exigo.EnhancedCode{}) {
			b.WriteString(r.Enhanced.String())
			b.WriteByte(' ')
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.String()
}

// MaxReplyLines bounds the number of lines of one reply.
const MaxReplyLines = 200

// ErrMalformed is wrapped by the errors for replies that break RFC 5321's
// syntax; after one the connection is not usable any more.
var ErrMalformed = errors.New("malformed SMTP reply")

// ReadReply reads one reply from r. A line may be as long as r's buffer
// (longer ones are an error, RFC 5321 allows 512 bytes); a reply may have
// up to [MaxReplyLines] lines. Lines end with CRLF; a bare LF is
// accepted. Every line of a multi-line reply must carry the same code.
func ReadReply(r *bufio.Reader) (*Reply, error) {
	var rep *Reply
	for n := 0; ; n++ {
		if n == MaxReplyLines {
			return nil, fmt.Errorf("%w: more than %d lines", ErrMalformed, MaxReplyLines)
		}
		line, err := r.ReadSlice('\n')
		if err != nil {
			switch {
			case errors.Is(err, bufio.ErrBufferFull):
				return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, r.Size())
			case err == io.EOF && (len(line) > 0 || n > 0):
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		line = line[:len(line)-1]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		code, last, text, ok := parseLine(line)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrMalformed, sanitize(line))
		}
		if rep == nil {
			rep = &Reply{Code: code}
		} else if code != rep.Code {
			return nil, fmt.Errorf("%w: code %d in a %d reply", ErrMalformed, code, rep.Code)
		}
		enh, rest := splitEnhanced(code, text)
		if n == 0 {
			rep.Enhanced = enh
		}
		rep.Lines = append(rep.Lines, sanitize(rest))
		if last {
			return rep, nil
		}
	}
}

// parseLine splits one reply line into code, whether it is the last line,
// and the text.
func parseLine(l []byte) (code int, last bool, text []byte, ok bool) {
	if len(l) < 3 {
		return 0, false, nil, false
	}
	for _, c := range l[:3] {
		if c < '0' || c > '9' {
			return 0, false, nil, false
		}
	}
	if l[0] < '2' || l[0] > '5' {
		return 0, false, nil, false
	}
	code = int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0')
	if len(l) == 3 {
		return code, true, nil, true
	}
	switch l[3] {
	case ' ':
		return code, true, l[4:], true
	case '-':
		return code, false, l[4:], true
	}
	return 0, false, nil, false
}

// splitEnhanced removes a leading RFC 3463 enhanced status code
// ("class.subject.detail" followed by a space or the end) whose class
// matches the reply code's first digit.
func splitEnhanced(code int, text []byte) (exigo.EnhancedCode, []byte) {
	if len(text) < 5 || int(text[0]-'0') != code/100 || text[1] != '.' {
		return exigo.EnhancedCode{}, text
	}
	var ec exigo.EnhancedCode
	ec[0] = code / 100
	i := 2
	for part := 1; part <= 2; part++ {
		start := i
		v := 0
		for i < len(text) && i-start < 3 && text[i] >= '0' && text[i] <= '9' {
			v = v*10 + int(text[i]-'0')
			i++
		}
		if i == start {
			return exigo.EnhancedCode{}, text
		}
		ec[part] = v
		if part == 1 {
			if i >= len(text) || text[i] != '.' {
				return exigo.EnhancedCode{}, text
			}
			i++
		}
	}
	switch {
	case i == len(text):
		return ec, nil
	case text[i] == ' ':
		return ec, text[i+1:]
	}
	return exigo.EnhancedCode{}, text
}

// sanitize returns b as a string with ASCII control characters other than
// tab replaced by '?', so reply text is safe in logs and DSNs.
func sanitize(b []byte) string {
	clean := true
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return string(b)
	}
	out := []byte(string(b))
	for i, c := range out {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			out[i] = '?'
		}
	}
	return string(out)
}
