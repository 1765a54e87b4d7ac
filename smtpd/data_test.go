package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

// recSink records the normalized text (LF line ends) and whether any line
// end was bare.
type recSink struct {
	out  []byte
	bare bool
}

func (r *recSink) content(b []byte) { r.out = append(r.out, b...) }
func (r *recSink) endLine(bare bool) {
	r.out = append(r.out, '\n')
	r.bare = r.bare || bare
}

// refData is an independent reference for DATA input: where the end of
// data is (the index after the first CRLF "." CRLF, the DATA command's
// CRLF counting), the text before it with every CRLF, CR or LF made an LF
// and a leading dot removed from every line, and whether a line end was
// bare. ok is false when there is no end of data.
func refData(in []byte) (end int, text []byte, bare bool, ok bool) {
	p := append([]byte("\r\n"), in...)
	i := bytes.Index(p, []byte("\r\n.\r\n"))
	if i < 0 {
		return 0, nil, false, false
	}
	content := in[:i] // includes the CRLF before the dot
	for _, line := range lineSplit.FindAllSubmatch(content, -1) {
		l := line[1]
		if len(l) > 0 && l[0] == '.' {
			l = l[1:]
		}
		text = append(text, l...)
		text = append(text, '\n')
		if string(line[2]) != "\r\n" {
			bare = true
		}
	}
	return i + 3, text, bare, true
}

var lineSplit = regexp.MustCompile(`(?s)([^\r\n]*)(\r\n|\r|\n)`)

// runData feeds in through readDATA with a bufio.Reader of the given size
// (16 forces partial slices) and returns the sink and the unread rest.
func runData(in []byte, size int, oneByte bool) (*recSink, []byte, error) {
	var r io.Reader = bytes.NewReader(in)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	br := bufio.NewReaderSize(r, size)
	sink := &recSink{}
	var d dataReader
	d.reset(sink, false)
	err := readDATA(br, &d)
	rest, _ := io.ReadAll(br)
	return sink, rest, err
}

// smuggling lists the end-of-data look-alikes of the 2023 SMTP smuggling
// research (SEC Consult) and their relatives.
var smuggling = []struct {
	name string
	seq  string
	bare bool
}{
	{"LF.LF", "\n.\n", true},
	{"LF.CRLF", "\n.\r\n", true},
	{"CR.CR", "\r.\r", true},
	{"CRLF.CR", "\r\n.\r", true},
	{"CRLF.LF", "\r\n.\n", true},
	{"CR.LF", "\r.\n", true},
	{"CR.CRLF", "\r.\r\n", true},
	{"LF.CR", "\n.\r", true},
	{"CRLF.CRCRLF", "\r\n.\r\r\n", true},
	{"CRLF.LFCRLF", "\r\n.\n\r\n", true},
	{"CRLFNUL.CRLF", "\r\n\x00.\r\n", false},
	{"CRLF.NULCRLF", "\r\n.\x00\r\n", false},
	{"CRLF SP.CRLF", "\r\n .\r\n", false},
}

// smuggled is what follows a smuggling sequence: a second transaction.
const smuggled = "MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n"

func TestDataReaderSmuggling(t *testing.T) {
	t.Parallel()
	for _, tc := range smuggling {
		in := []byte("Subject: s\r\n\r\nline1" + tc.seq + smuggled + ".\r\nQUIT\r\n")
		end, text, bare, ok := refData(in)
		if !ok || bare != tc.bare {
			t.Fatalf("%s: reference: ok %v bare %v", tc.name, ok, bare)
		}
		for _, size := range []int{16, 4096} {
			for _, one := range []bool{false, true} {
				sink, rest, err := runData(in, size, one)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if string(rest) != "QUIT\r\n" || len(in)-len(rest) != end {
					t.Errorf("%s/%d: rest %q", tc.name, size, rest)
				}
				if !bytes.Equal(sink.out, text) || sink.bare != tc.bare {
					t.Errorf("%s/%d: out %q bare %v\nwant %q bare %v", tc.name, size, sink.out, sink.bare, text, tc.bare)
				}
				if bytes.IndexByte(sink.out, '\r') >= 0 {
					t.Errorf("%s: CR in output", tc.name)
				}
			}
		}
	}
}

func TestDataReaderCases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, out, rest string
		bare          bool
	}{
		{".\r\n", "", "", false},
		{".\r\nNOOP\r\n", "", "NOOP\r\n", false},
		{"a\r\n.\r\n", "a\n", "", false},
		{"..\r\n.\r\n", ".\n", "", false},
		{"...x\r\n.\r\n", "..x\n", "", false},
		{".x\r\n.\r\n", "x\n", "", false},
		{"\r\n.\r\n", "\n", "", false},
		{"a\rb\r\n.\r\n", "a\nb\n", "", true},
		{"a\nb\r\n.\r\n", "a\nb\n", "", true},
		{"a\n.\nb\r\n.\r\n", "a\n\nb\n", "", true},
		{"a\r\n.\r\r\n.\r\n", "a\n\n\n", "", true},
		// CR CR LF "." CR LF holds a real CRLF "." CRLF: the data ends
		// there, for every RFC 5321 receiver alike.
		{"a\r\r\n.\r\nMAIL\r\n.\r\n", "a\n\n", "MAIL\r\n.\r\n", true},
		{"x\x00y\r\n.\r\n", "x\x00y\n", "", false},
		{strings.Repeat("z", 40) + "\r\n." + strings.Repeat("y", 40) + "\r\n.\r\n", strings.Repeat("z", 40) + "\n" + strings.Repeat("y", 40) + "\n", "", false},
	} {
		for _, size := range []int{16, 4096} {
			sink, rest, err := runData([]byte(tc.in), size, false)
			if err != nil {
				t.Fatalf("%q: %v", tc.in, err)
			}
			if string(sink.out) != tc.out || string(rest) != tc.rest || sink.bare != tc.bare {
				t.Errorf("%q/%d: out %q rest %q bare %v; want %q %q %v", tc.in, size, sink.out, rest, sink.bare, tc.out, tc.rest, tc.bare)
			}
		}
	}
	for _, in := range []string{"", "a\r\n", "a\r\n.", "a\r\n.\r", "a\n.\n"} {
		if _, _, err := runData([]byte(in), 16, false); !errors.Is(err, io.EOF) {
			t.Errorf("%q: err %v, want EOF", in, err)
		}
	}
}

func TestBDATChunks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		chunks []string
		out    string
		bare   bool
	}{
		{[]string{"a\r\nb\r\n"}, "a\nb\n", false},
		{[]string{"a\r", "\nb\r\n"}, "a\nb\n", false},
		{[]string{"a\r", "b\r\n"}, "a\nb\n", true},
		{[]string{"a\r\n.\r\n", ".b\r\n"}, "a\n.\n.b\n", false}, // no dot-stuffing in BDAT
		{[]string{"no newline"}, "no newline\n", false},
		{[]string{"cr at end\r"}, "cr at end\n", true},
		{[]string{"a\nb"}, "a\nb\n", true},
		{[]string{"", "x\r\n", ""}, "x\n", false},
	} {
		in := strings.Join(tc.chunks, "")
		br := bufio.NewReaderSize(strings.NewReader(in+"NEXT"), 16)
		sink := &recSink{}
		var d dataReader
		d.reset(sink, true)
		for _, ch := range tc.chunks {
			if err := readChunk(br, &d, int64(len(ch))); err != nil {
				t.Fatal(err)
			}
		}
		d.finishBDAT()
		rest, _ := io.ReadAll(br)
		if string(sink.out) != tc.out || sink.bare != tc.bare || string(rest) != "NEXT" {
			t.Errorf("%q: out %q bare %v rest %q", tc.chunks, sink.out, sink.bare, rest)
		}
	}
	br := bufio.NewReader(strings.NewReader("short"))
	var d dataReader
	d.reset(&recSink{}, true)
	if err := readChunk(br, &d, 10); err != io.ErrUnexpectedEOF {
		t.Errorf("short chunk: %v", err)
	}
}

// msgSinkRun runs in through a msgSink and returns its header, body and
// failure.
func msgSinkRun(in string, normalize bool, maxHeader, maxLine int, maxSize int64) (hdr, body string, s *msgSink, fail int) {
	var w bytes.Buffer
	s = &msgSink{}
	s.init(&w, normalize, maxSize, maxHeader, maxLine)
	var d dataReader
	d.reset(s, false)
	if err := readDATA(bufio.NewReader(strings.NewReader(in)), &d); err != nil {
		panic(err)
	}
	fail = s.finish()
	return rawHeader(s.header()), w.String(), s, fail
}

func TestMsgSink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, hdr, body string
	}{
		{"A: 1\r\nB: 2\r\n\r\nbody\r\n.\r\n", "A: 1\nB: 2\n", "body\n"},
		{"A: 1\r\n cont\r\n\tcont2\r\n\r\n\r\nbody\r\n.\r\n", "A: 1\n cont\n\tcont2\n", "\nbody\n"},
		{"A: 1\r\nnot a header\r\nB: 2\r\n.\r\n", "A: 1\n", "not a header\nB: 2\n"},
		{" leading space\r\nA: 1\r\n.\r\n", "", " leading space\nA: 1\n"},
		{"Name : spaced\r\n\r\nx\r\n.\r\n", "Name : spaced\n", "x\n"},
		{":no name\r\n.\r\n", "", ":no name\n"},
		{"A: only header\r\n.\r\n", "A: only header\n", ""},
		{".\r\n", "", ""},
		{"From here\r\n.\r\n", "", "From here\n"},
	} {
		hdr, body, _, fail := msgSinkRun(tc.in, false, 1<<20, 0, 0)
		if fail != failNone || hdr != tc.hdr || body != tc.body {
			t.Errorf("%q: hdr %q body %q fail %d; want %q %q", tc.in, hdr, body, fail, tc.hdr, tc.body)
		}
	}
	_, _, s, _ := msgSinkRun("A: 1\r\n\r\nx\x00y\x00\r\nlonger line\r\n\r\n.\r\n", false, 1<<20, 0, 0)
	if s.lines != 3 || s.zeroes != 2 || s.maxLen != 11 || s.size != 24 {
		t.Errorf("stats lines %d zeroes %d maxLen %d size %d", s.lines, s.zeroes, s.maxLen, s.size)
	}
	if _, _, _, fail := msgSinkRun("A: 1\r\n\r\nx\ny\r\n.\r\n", false, 1<<20, 0, 0); fail != failBare {
		t.Errorf("bare LF: fail %d", fail)
	}
	if _, body, _, fail := msgSinkRun("A: 1\r\n\r\nx\ny\r\n.\r\n", true, 1<<20, 0, 0); fail != failNone || body != "x\ny\n" {
		t.Errorf("bare LF normalized: fail %d body %q", fail, body)
	}
	if _, _, _, fail := msgSinkRun("A: "+strings.Repeat("x", 100)+"\r\n\r\n.\r\n", false, 50, 0, 0); fail != failHeaderTooBig {
		t.Errorf("header too big: fail %d", fail)
	}
	if _, _, _, fail := msgSinkRun("A: 1\r\n\r\n"+strings.Repeat("x", 20)+"\r\n.\r\n", false, 1<<20, 0, 20); fail != failTooBig {
		t.Errorf("too big: fail %d", fail)
	}
	if _, _, _, fail := msgSinkRun("A: 1\r\n\r\n"+strings.Repeat("x", 999)+"\r\n.\r\n", false, 1<<20, 998, 0); fail != failLineTooLong {
		t.Errorf("line too long: fail %d", fail)
	}
	// A body larger than the pooled buffer goes through in pieces.
	big := strings.Repeat(strings.Repeat("b", 999)+"\r\n", 200) + strings.Repeat("c", 100000) + "\r\n"
	_, body, _, fail := msgSinkRun("A: 1\r\n\r\n"+big+".\r\n", false, 1<<20, 0, 0)
	if fail != failNone || body != strings.ReplaceAll(big, "\r\n", "\n") {
		t.Errorf("big body: fail %d len %d", fail, len(body))
	}
}

// FuzzDataReader feeds random input to the DATA reader and checks it
// against the reference: the end of data is exactly the first CRLF "."
// CRLF, nothing after it is consumed, the text before it comes out with
// LF line ends and dot-stuffing removed, bare line ends are reported, and
// no CR ever reaches the output. The same input then goes through the
// message sink in both policies.
func FuzzDataReader(f *testing.F) {
	for _, tc := range smuggling {
		f.Add([]byte("Subject: s\r\n\r\nline1"+tc.seq+smuggled+".\r\nQUIT\r\n"), uint8(0))
	}
	f.Add([]byte(".\r\n"), uint8(1))
	f.Add([]byte("a\r\n..\r\n.\r\nRSET\r\n"), uint8(2))
	f.Add([]byte("H: v\r\n cont\r\nX\r\n\r\nbody\r\r\n.\n.\r\n"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		size := 16 + int(mode)%64
		sink, rest, err := runData(in, size, mode&0x80 != 0)
		end, text, bare, ok := refData(in)
		if !ok {
			if err == nil {
				t.Fatalf("end of data found in %q, reference found none", in)
			}
			return
		}
		if err != nil {
			t.Fatalf("error %v, reference found the end at %d", err, end)
		}
		if len(in)-len(rest) != end {
			t.Fatalf("consumed %d, want %d", len(in)-len(rest), end)
		}
		if !bytes.Equal(sink.out, text) {
			t.Fatalf("output %q, want %q", sink.out, text)
		}
		if sink.bare != bare {
			t.Fatalf("bare %v, want %v", sink.bare, bare)
		}
		if bytes.IndexByte(sink.out, '\r') >= 0 {
			t.Fatalf("CR in output %q", sink.out)
		}
		for _, normalize := range []bool{false, true} {
			var w bytes.Buffer
			ms := &msgSink{}
			ms.init(&w, normalize, 0, 1<<20, 0)
			var d dataReader
			d.reset(ms, false)
			if err := readDATA(bufio.NewReaderSize(bytes.NewReader(in), size), &d); err != nil {
				t.Fatal(err)
			}
			fail := ms.finish()
			if !normalize && bare != (fail == failBare) {
				t.Fatalf("reject mode: bare %v, fail %d", bare, fail)
			}
			if fail != failNone {
				continue
			}
			h := ms.header()
			hdr := rawHeader(h)
			stored := hdr + w.String()
			if strings.IndexByte(stored, '\r') >= 0 {
				t.Fatalf("CR in stored message %q", stored)
			}
			// Header and body together are the text, less the blank
			// line that ends the header.
			if len(stored) != len(text) && len(stored) != len(text)-1 {
				t.Fatalf("stored %d bytes %q, text %d %q", len(stored), stored, len(text), text)
			}
			for f := h.Fields(); f.Next(); {
				raw, _ := f.Raw()
				if !isFieldStart(raw) {
					t.Fatalf("header field %q", raw)
				}
			}
		}
	})
}

// TestSmugglingOverSMTP sends every smuggling variant through a real
// session in both policies: the smuggled transaction must never run.
func TestSmugglingOverSMTP(t *testing.T) {
	t.Parallel()
	for _, policy := range []BareLineEndings{RejectBare, NormalizeBare} {
		s, st := newServer(t)
		s.BareLineEndings = policy
		addr := start(t, s)
		c := hello(t, addr)
		stored := 0
		for _, tc := range smuggling {
			c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
			c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
			c.cmd("DATA", "354 Enter message, ending with \".\" on a line by itself\r\n")
			c.send("Subject: s\r\n\r\nline1" + tc.seq + smuggled + ".\r\nNOOP " + tc.name + "\r\n")
			if tc.bare && policy == RejectBare {
				c.expect("550 5.5.2 Message rejected: bare CR or LF line ending in message data (RFC 5321 section 2.3.8 requires CRLF)\r\n")
				c.expect("250 2.0.0 OK\r\n") // the NOOP: nothing smuggled ran
				continue
			}
			stored++
			c.expect("250 2.0.0 OK id=1xUm1a-" + sixDigits(stored+countRejected(policy, tc.name)) + "-2z\r\n")
			c.expect("250 2.0.0 OK\r\n")
			msgs := st.messages()
			_, text, _, _ := refData([]byte("Subject: s\r\n\r\nline1" + tc.seq + smuggled + ".\r\n"))
			want := strings.TrimPrefix(string(text), "Subject: s\n\n")
			if got := msgs[len(msgs)-1].Body; got != want {
				t.Errorf("%v %s: body %q, want %q", policy, tc.name, got, want)
			}
			if tc.bare && !strings.HasPrefix(want, "line1\n\n") || !strings.Contains(want, "\nMAIL FROM:<evil@example.org>\nRCPT TO:") {
				t.Errorf("%s: reference %q", tc.name, want)
			}
		}
		c.cmd("QUIT", "221 2.0.0 mx.test.example closing connection\r\n")
		if got := len(st.messages()); got != stored {
			t.Errorf("%v: %d stored, want %d", policy, got, stored)
		}
		for _, m := range st.messages() {
			if len(m.Msg.Envelope.Recipients) != 1 || m.Msg.Envelope.Recipients[0].Address != "r@example.com" {
				t.Errorf("smuggled envelope %+v", m.Msg.Envelope)
			}
		}
	}
}

// countRejected counts the drafts created before the named variant that
// were rejected (each took a message ID).
func countRejected(policy BareLineEndings, name string) int {
	if policy != RejectBare {
		return 0
	}
	n := 0
	for _, tc := range smuggling {
		if tc.name == name {
			break
		}
		if tc.bare {
			n++
		}
	}
	return n
}

func sixDigits(n int) string {
	s := strings.Repeat("0", 6) + itoa(n)
	return s[len(s)-6:]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestBDATOverSMTP(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	addr := start(t, s)
	c := hello(t, addr)
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	// The CRLF ending the header is split across the chunks.
	c.send("BDAT 13\r\nSubject: s\r\n\rBDAT 11 LAST\r\n\nbody\r\n.x\r\n")
	c.expect("250 2.0.0 13 octets received\r\n")
	c.expect("250 2.0.0 OK id=1xUm1a-000001-2z\r\n")
	m := st.messages()
	if len(m) != 1 || m[0].Body != "body\n.x\n" || !strings.HasSuffix(m[0].Header, "Subject: s\n") {
		t.Fatalf("stored %+v", m)
	}
	// Pipelined: MAIL, RCPT and BDAT chunks in one write.
	c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@example.com>\r\nBDAT 0 LAST\r\n")
	c.expect("250 2.1.0 OK\r\n")
	c.expect("250 2.1.5 Accepted\r\n")
	c.expect("250 2.0.0 OK id=1xUm1a-000002-2z\r\n")

	// Bare LF in a chunk: that chunk fails, the pipelined next one too.
	c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@example.com>\r\nBDAT 7\r\nA: 1\n\r\nBDAT 6 LAST\r\nx\r\n.\r\n")
	c.expect("250 2.1.0 OK\r\n")
	c.expect("250 2.1.5 Accepted\r\n")
	bare := "550 5.5.2 Message rejected: bare CR or LF line ending in message data (RFC 5321 section 2.3.8 requires CRLF)\r\n"
	c.expect(bare)
	c.expect(bare)
	c.send("BDAT 3 LAST\r\nabc")
	c.expect("503 5.5.1 BDAT requires a valid MAIL and RCPT\r\n")

	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<r@example.com>", "250 2.1.5 Accepted\r\n")
	c.send("BDAT 3\r\nA: ")
	c.expect("250 2.0.0 3 octets received\r\n")
	c.cmd("DATA", "503 5.5.1 DATA not allowed after BDAT\r\n")
	c.send("BDAT 3 LAST\r\n1\r\n")
	c.expect("250 2.0.0 OK id=1xUm1a-000004-2z\r\n")
	c.cmd("BDAT x", "501 5.5.4 Syntax: BDAT chunk-size [LAST] - closing connection\r\n")
	c.expectClosed()
	if got := len(st.messages()); got != 3 {
		t.Errorf("%d stored", got)
	}
}
