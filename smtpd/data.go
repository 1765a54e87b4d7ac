package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/emersion/go-message/textproto"
)

// BareLineEndings says what the server does with a bare LF or a bare CR
// (one not part of a CRLF pair) in message data.
type BareLineEndings int

const (
	// RejectBare reads the message to its real end (CRLF "." CRLF) and
	// rejects it with 550 5.5.2. Nothing is stored. This is the default:
	// it closes every SMTP smuggling variant, and RFC 5321 section 2.3.8
	// forbids bare CR and LF in SMTP.
	RejectBare BareLineEndings = iota
	// NormalizeBare accepts the message and treats a bare LF or bare CR as
	// a line end of the stored body (where dot-stuffing is removed too, as
	// at any line start). The end of data is still only CRLF "." CRLF, so
	// a smuggled "\n.\n" is stored as an empty line and never ends the
	// message.
	NormalizeBare
)

// String returns "reject" or "normalize".
func (b BareLineEndings) String() string {
	if b == NormalizeBare {
		return "normalize"
	}
	return "reject"
}

// lineSink receives the message text as lines: content pieces, then the
// end of the line. bare reports whether the line end was a bare CR or LF.
type lineSink interface {
	content(b []byte)
	endLine(bare bool)
}

// dataReader turns the SMTP DATA (or BDAT) byte stream into lines. It
// finds the end of data, removes dot-stuffing and classifies every line
// end. It never buffers more than a line piece: input slices are passed
// to the sink as they are.
//
// End of data is exactly the sequence CRLF "." CRLF, where the first CRLF
// may be the one that ended the DATA command. Every other line end (a bare
// LF or a bare CR) is reported to the sink as bare. A line that starts
// with "." loses that dot (RFC 5321 section 4.5.2) — after a bare line end
// too, since that is where a receiver that treats bare LF as a line end
// would see a line start.
type dataReader struct {
	sink lineSink
	bdat bool // BDAT chunks: no dot-stuffing and no end marker

	bol    bool // at the start of a line
	crlf   bool // the previous line ended with CRLF (or data just began)
	pendCR bool // the last slice ended with a CR whose successor is unknown
}

func (d *dataReader) reset(sink lineSink, bdat bool) {
	*d = dataReader{sink: sink, bdat: bdat, bol: true, crlf: true}
}

// feed processes the next slice of input. It reports whether the end of
// data was found and returns the input after it (nil when s was consumed).
func (d *dataReader) feed(s []byte) (rest []byte, end bool) {
	for len(s) > 0 {
		if d.pendCR {
			d.pendCR = false
			if s[0] == '\n' {
				d.eol(false)
				s = s[1:]
			} else {
				d.eol(true)
			}
			continue
		}
		if d.bol {
			d.bol = false
			if s[0] == '.' && !d.bdat {
				if d.crlf && len(s) >= 3 && s[1] == '\r' && s[2] == '\n' {
					d.bol = true
					return s[3:], true
				}
				s = s[1:]
				continue
			}
		}
		// Find the first CR or LF. Lines end with LF, so look for that
		// first and for a CR only before it.
		lf := bytes.IndexByte(s, '\n')
		seg := s
		if lf >= 0 {
			seg = s[:lf]
		}
		cr := bytes.IndexByte(seg, '\r')
		switch {
		case cr >= 0:
			d.sink.content(s[:cr])
			switch {
			case cr+1 == len(s):
				d.pendCR = true
				return nil, false
			case s[cr+1] == '\n':
				d.eol(false)
				s = s[cr+2:]
			default:
				d.eol(true)
				s = s[cr+1:]
			}
		case lf >= 0:
			d.sink.content(s[:lf])
			d.eol(true)
			s = s[lf+1:]
		default:
			d.sink.content(s)
			return nil, false
		}
	}
	return nil, false
}

func (d *dataReader) eol(bare bool) {
	d.bol = true
	d.crlf = !bare
	d.sink.endLine(bare)
}

// finishBDAT ends the message after the last BDAT chunk: a trailing CR is
// a bare CR, and a last line without a line end gets one (its end is not
// bare: the chunk boundary ended it).
func (d *dataReader) finishBDAT() {
	if d.pendCR {
		d.pendCR = false
		d.eol(true)
	}
	if !d.bol {
		d.eol(false)
	}
}

// errDataOverrun reports an internal inconsistency of the DATA reader.
var errDataOverrun = errors.New("smtpd: input after the end-of-data marker in one read")

// readDATA reads DATA input from r up to and including the end marker.
// Any error from r (timeout, EOF) is returned as is.
func readDATA(r *bufio.Reader, d *dataReader) error {
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			if rest, end := d.feed(line); end {
				if len(rest) != 0 {
					// Cannot happen: ReadSlice stops at the first LF,
					// which the end marker ends with.
					return errDataOverrun
				}
				return nil
			}
		}
		if err == nil || err == bufio.ErrBufferFull {
			continue
		}
		return err
	}
}

// readChunk feeds exactly n bytes of BDAT input from r to d.
func readChunk(r *bufio.Reader, d *dataReader, n int64) error {
	for n > 0 {
		if r.Buffered() == 0 {
			if _, err := r.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := r.Buffered()
		if int64(k) > n {
			k = int(n)
		}
		b, _ := r.Peek(k)
		d.feed(b)
		r.Discard(k)
		n -= int64(k)
	}
	return nil
}

// bufPool holds the 64 KiB buffers that collect body bytes before they go
// to the store.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// failure reasons of a message, checked in this order after the end of
// data.
const (
	failNone = iota
	failBare
	failLineTooLong
	failHeaderTooBig
	failTooBig
	failWrite
)

// msgSink splits the received lines into header and body, keeps the
// header (bounded by maxHeader), writes the body to w through a pooled
// buffer (kept by the session from its first message to its end) and
// gathers Exim's statistics. Once the message is bound to fail, it only
// counts.
type msgSink struct {
	w         io.Writer
	normalize bool
	maxSize   int64 // 0: none
	maxHeader int
	maxLine   int // content octets; 0: none

	buf *[]byte

	inHeader  bool
	hdr       []byte
	lineStart int   // start of the current line in hdr
	fields    []int // start offsets of the header fields in hdr

	size     int64
	lines    int
	zeroes   int
	maxLen   int
	curLen   int
	bareSeen bool

	fail int
	werr error
}

// init prepares the sink for a new message. The buffers of the previous
// message on the same connection are reused.
func (m *msgSink) init(w io.Writer, normalize bool, maxSize int64, maxHeader, maxLine int) {
	hdr := m.hdr[:0]
	fields := m.fields[:0]
	buf := m.buf
	*m = msgSink{w: w, normalize: normalize, maxSize: maxSize, maxHeader: maxHeader, maxLine: maxLine,
		inHeader: true, hdr: hdr, fields: fields, buf: buf}
	if m.buf == nil {
		m.buf = bufPool.Get().(*[]byte)
	}
	*m.buf = (*m.buf)[:0]
	if cap(m.hdr) > 64<<10 {
		m.hdr = nil // do not keep a huge header buffer for the session
	}
}

// release returns the pooled buffer (when the session ends).
func (m *msgSink) release() {
	if m.buf != nil {
		bufPool.Put(m.buf)
		m.buf = nil
	}
}

func (m *msgSink) setFail(f int) {
	if m.fail == failNone {
		m.fail = f
	}
}

func (m *msgSink) content(b []byte) {
	m.curLen += len(b)
	m.size += int64(len(b))
	if m.fail != failNone || len(b) == 0 {
		return
	}
	if m.maxSize > 0 && m.size > m.maxSize {
		m.setFail(failTooBig)
		return
	}
	if m.inHeader {
		m.hdr = append(m.hdr, b...)
		if len(m.hdr) <= m.maxHeader {
			return
		}
		// Over the limit (by at most one input slice). A header field
		// this large fails the message; a long first line that is not a
		// header field is the start of the body.
		line := m.hdr[m.lineStart:]
		if (line[0] == ' ' || line[0] == '\t') && len(m.fields) > 0 || isFieldStart(line) {
			m.setFail(failHeaderTooBig)
			return
		}
		m.inHeader = false
		m.zeroes += bytes.Count(line, []byte{0})
		m.write(line)
		m.hdr = m.hdr[:m.lineStart]
		return
	}
	m.zeroes += bytes.Count(b, []byte{0})
	m.write(b)
}

func (m *msgSink) endLine(bare bool) {
	if m.curLen > m.maxLen {
		m.maxLen = m.curLen
	}
	long := m.maxLine > 0 && m.curLen > m.maxLine
	m.curLen = 0
	m.size++
	if bare {
		m.bareSeen = true
	}
	if m.fail != failNone {
		return
	}
	switch {
	case bare && !m.normalize:
		m.setFail(failBare)
		return
	case long:
		m.setFail(failLineTooLong)
		return
	case m.maxSize > 0 && m.size > m.maxSize:
		m.setFail(failTooBig)
		return
	}
	if !m.inHeader {
		m.lines++
		m.writeByte('\n')
		return
	}
	line := m.hdr[m.lineStart:]
	switch {
	case len(line) == 0:
		// The blank line ends the header; it is not stored.
		m.inHeader = false
	case (line[0] == ' ' || line[0] == '\t') && len(m.fields) > 0:
		m.hdr = append(m.hdr, '\n')
		m.lineStart = len(m.hdr)
	case isFieldStart(line):
		m.fields = append(m.fields, m.lineStart)
		m.hdr = append(m.hdr, '\n')
		m.lineStart = len(m.hdr)
	default:
		// Not a header line: the body starts here (Exim's rule), with no
		// blank line in between.
		m.inHeader = false
		m.zeroes += bytes.Count(line, []byte{0})
		m.write(line)
		m.hdr = m.hdr[:m.lineStart]
		m.lines++
		m.writeByte('\n')
	}
}

// isFieldStart reports whether line starts a header field: a name of
// printable characters other than ':', optional blanks, then ':'.
func isFieldStart(line []byte) bool {
	i := 0
	for i < len(line) && line[i] > ' ' && line[i] < 0x7f && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

func (m *msgSink) write(b []byte) {
	buf := *m.buf
	if len(buf)+len(b) > cap(buf) {
		m.flushBuf()
		buf = *m.buf
		if len(b) >= cap(buf) {
			m.writeThrough(b)
			return
		}
	}
	*m.buf = append(buf, b...)
}

func (m *msgSink) writeByte(c byte) {
	buf := *m.buf
	if len(buf) == cap(buf) {
		m.flushBuf()
		buf = *m.buf
	}
	*m.buf = append(buf, c)
}

func (m *msgSink) flushBuf() {
	if len(*m.buf) == 0 {
		return
	}
	m.writeThrough(*m.buf)
	*m.buf = (*m.buf)[:0]
}

func (m *msgSink) writeThrough(b []byte) {
	if _, err := m.w.Write(b); err != nil {
		m.werr = err
		m.setFail(failWrite)
	}
}

// finish flushes the body. It returns the failure reason, if any.
func (m *msgSink) finish() int {
	if m.fail == failNone {
		m.flushBuf()
	}
	return m.fail
}

// header builds the parsed header from the collected fields. The raw bytes
// of each field (LF line ends) are kept in one fresh allocation.
func (m *msgSink) header() textproto.Header {
	raw := make([]byte, m.lineStart)
	copy(raw, m.hdr[:m.lineStart])
	var h textproto.Header
	// AddRaw inserts at the top, so add the fields last to first.
	for i := len(m.fields) - 1; i >= 0; i-- {
		end := len(raw)
		if i+1 < len(m.fields) {
			end = m.fields[i+1]
		}
		h.AddRaw(raw[m.fields[i]:end:end])
	}
	return h
}
