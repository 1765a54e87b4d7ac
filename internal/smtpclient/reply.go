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
	// Control characters are replaced by '?' (unless a Raw
	// [ReplyParser] read the reply).
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
// accepted. The lines are checked as [ReplyParser.Line] does.
func ReadReply(r *bufio.Reader) (*Reply, error) {
	var p ReplyParser
	for n := 0; ; n++ {
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
		rep, err := p.Line(line)
		if rep != nil || err != nil {
			return rep, err
		}
	}
}

// ReplyParser builds replies from their lines, for a reader that gets the
// lines itself (as [ReadReply] does). The zero value is ready to use; after
// a reply or an error it starts on a new reply.
type ReplyParser struct {
	// MaxLines bounds the number of lines of a reply; 0 means
	// [MaxReplyLines].
	MaxLines int
	// Raw keeps control characters in [Reply.Lines] (and in the errors)
	// instead of replacing them with '?', for a test client that must
	// see what the server sent.
	Raw bool

	rep   *Reply
	token string // the enhanced code as the first line wrote it
}

// Line parses one line of a reply, without its line end: "250-text",
// "250 text" or a bare "250", with a code from 200 to 599 that every line
// of the reply repeats. It returns the reply after its last line, nil
// while more lines are due, or an error wrapping [ErrMalformed].
//
// An RFC 3463 enhanced status code ("class.subject.detail", the class 2,
// 4 or 5 and that of the reply code, followed by a space or the end of
// the text) at the start of the first line goes into [Reply.Enhanced]; it
// is removed from the text of every line that starts with it as written.
func (p *ReplyParser) Line(line []byte) (*Reply, error) {
	code, last, text, ok := parseLine(line)
	if !ok {
		q := string(line)
		if !p.Raw {
			q = sanitize(line)
		}
		return p.fail(fmt.Errorf("%w: %q", ErrMalformed, q))
	}
	if p.rep == nil {
		p.rep = &Reply{Code: code}
		p.rep.Enhanced, p.token = splitEnhanced(code, text)
	} else if code != p.rep.Code {
		return p.fail(fmt.Errorf("%w: code %d on a continuation of %d", ErrMalformed, code, p.rep.Code))
	}
	text = stripEnhanced(p.token, text)
	if p.Raw {
		p.rep.Lines = append(p.rep.Lines, string(text))
	} else {
		p.rep.Lines = append(p.rep.Lines, sanitize(text))
	}
	if last {
		rep := p.rep
		p.rep, p.token = nil, ""
		return rep, nil
	}
	limit := p.MaxLines
	if limit <= 0 {
		limit = MaxReplyLines
	}
	if len(p.rep.Lines) >= limit {
		return p.fail(fmt.Errorf("%w: more than %d lines", ErrMalformed, limit))
	}
	return nil, nil
}

// fail resets p for a new reply and returns err.
func (p *ReplyParser) fail(err error) (*Reply, error) {
	p.rep, p.token = nil, ""
	return nil, err
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

// splitEnhanced recognises an RFC 3463 enhanced status code at the start
// of text: "class.subject.detail" with the class (2, 4 or 5) of the reply
// code, 1 to 3 digits of subject and of detail, followed by a space or
// the end. It returns the code and the text it was written as ("" when
// there is none).
func splitEnhanced(code int, text []byte) (exigo.EnhancedCode, string) {
	class := code / 100
	if class != 2 && class != 4 && class != 5 || len(text) < 5 || int(text[0]) != '0'+class || text[1] != '.' {
		return exigo.EnhancedCode{}, ""
	}
	ec := exigo.EnhancedCode{class}
	i := 2
	for part := 1; part <= 2; part++ {
		start := i
		v := 0
		for i < len(text) && i-start < 3 && text[i] >= '0' && text[i] <= '9' {
			v = v*10 + int(text[i]-'0')
			i++
		}
		if i == start {
			return exigo.EnhancedCode{}, ""
		}
		ec[part] = v
		if part == 1 {
			if i >= len(text) || text[i] != '.' {
				return exigo.EnhancedCode{}, ""
			}
			i++
		}
	}
	if i < len(text) && text[i] != ' ' {
		return exigo.EnhancedCode{}, ""
	}
	return ec, string(text[:i])
}

// stripEnhanced removes token (an enhanced code as written) and the space
// after it from the start of text when text starts with it.
func stripEnhanced(token string, text []byte) []byte {
	n := len(token)
	if n == 0 || len(text) < n || string(text[:n]) != token {
		return text
	}
	if len(text) == n {
		return text[n:]
	}
	if text[n] == ' ' {
		return text[n+1:]
	}
	return text
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
