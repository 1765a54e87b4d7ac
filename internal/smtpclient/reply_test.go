package smtpclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
)

func TestReadReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want *Reply
		err  string
	}{
		{"250 ok\r\n", &Reply{Code: 250, Lines: []string{"ok"}}, ""},
		{"250\r\n", &Reply{Code: 250, Lines: []string{""}}, ""},
		{"250 \n", &Reply{Code: 250, Lines: []string{""}}, ""},
		{"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n", &Reply{Code: 250, Lines: []string{"mx.example", "PIPELINING", "SIZE 100"}}, ""},
		{"550 5.1.1 unknown user\r\n", &Reply{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Lines: []string{"unknown user"}}, ""},
		{"550-5.1.1 one\r\n550 5.1.1 two\r\n", &Reply{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Lines: []string{"one", "two"}}, ""},
		{"452 4.5.3\r\n", &Reply{Code: 452, Enhanced: exigo.EnhancedCode{4, 5, 3}, Lines: []string{""}}, ""},
		{"550 4.1.1 class mismatch\r\n", &Reply{Code: 550, Lines: []string{"4.1.1 class mismatch"}}, ""},
		{"250 2.0.0x no\r\n", &Reply{Code: 250, Lines: []string{"2.0.0x no"}}, ""},
		{"250 2.1234.5 no\r\n", &Reply{Code: 250, Lines: []string{"2.1234.5 no"}}, ""},
		{"250 2.123.456 yes\r\n", &Reply{Code: 250, Enhanced: exigo.EnhancedCode{2, 123, 456}, Lines: []string{"yes"}}, ""},
		// Later lines lose the first line's enhanced code as written, and
		// only that; 3xx replies have none (RFC 3463 classes 2, 4, 5).
		{"451-4.01.02 a\r\n451-4.01.02\r\n451-4.1.2 b\r\n451 4.01.02x c\r\n", &Reply{Code: 451, Enhanced: exigo.EnhancedCode{4, 1, 2}, Lines: []string{"a", "", "4.1.2 b", "4.01.02x c"}}, ""},
		{"250-a\r\n250 2.0.0 b\r\n", &Reply{Code: 250, Lines: []string{"a", "2.0.0 b"}}, ""},
		{"354 3.0.0 go\r\n", &Reply{Code: 354, Lines: []string{"3.0.0 go"}}, ""},
		{"220 a\x00b\x1bc\td\r\n", &Reply{Code: 220, Lines: []string{"a?b?c\td"}}, ""},
		{"250 a\rb\r\n", &Reply{Code: 250, Lines: []string{"a?b"}}, ""},
		{"", nil, "EOF"},
		{"250 ok", nil, "unexpected EOF"},
		{"250-more\r\n", nil, "unexpected EOF"},
		{"25\r\n", nil, `malformed SMTP reply: "25"`},
		{"2x0 ok\r\n", nil, `malformed SMTP reply: "2x0 ok"`},
		{"150 ok\r\n", nil, `malformed SMTP reply: "150 ok"`},
		{"650 ok\r\n", nil, `malformed SMTP reply: "650 ok"`},
		{"250_ok\r\n", nil, `malformed SMTP reply: "250_ok"`},
		{"250-a\r\n251 b\r\n", nil, "malformed SMTP reply: code 251 on a continuation of 250"},
		{"250 " + strings.Repeat("x", 5000) + "\r\n", nil, "malformed SMTP reply: line longer than 4096 bytes"},
		{strings.Repeat("250-x\r\n", MaxReplyLines) + "250 x\r\n", nil, "malformed SMTP reply: more than 200 lines"},
	}
	for _, tc := range tests {
		got, err := ReadReply(bufio.NewReaderSize(strings.NewReader(tc.in), readerSize))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%.40q: err %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%.40q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestReplyParser(t *testing.T) {
	t.Parallel()
	p := ReplyParser{MaxLines: 3, Raw: true}
	step := func(line string, want *Reply, wantErr string) {
		t.Helper()
		got, err := p.Line([]byte(line))
		if fmt.Sprint(err) != wantErr || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v, %v; want %+v, %s", line, got, err, want, wantErr)
		}
	}
	step("250-a\x00b\r", nil, "<nil>")
	step("250 2.0.0 c", &Reply{Code: 250, Lines: []string{"a\x00b\r", "2.0.0 c"}}, "<nil>")
	// After a reply, a new one starts.
	step("550-5.1.1 x", nil, "<nil>")
	step("550-5.1.1 y", nil, "<nil>")
	step("550-5.1.1 z", nil, "malformed SMTP reply: more than 3 lines")
	// After an error too.
	step("220 \x7f", &Reply{Code: 220, Lines: []string{"\x7f"}}, "<nil>")
	step("2\x00", nil, `malformed SMTP reply: "2\x00"`)
	p.Raw = false
	step("2\x00", nil, `malformed SMTP reply: "2?"`)
	step("250 \x7f", &Reply{Code: 250, Lines: []string{"?"}}, "<nil>")
}

func TestReplyFormat(t *testing.T) {
	t.Parallel()
	r := &Reply{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Lines: []string{"one", "two"}}
	if got := r.Format(); got != "550-5.1.1 one\r\n550 5.1.1 two\r\n" {
		t.Errorf("Format %q", got)
	}
	if got := r.String(); got != "550 5.1.1 one two" {
		t.Errorf("String %q", got)
	}
	if e := r.Err(); *e != (exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: "one\ntwo"}) {
		t.Errorf("Err %+v", e)
	}
	var nilr *Reply
	if nilr.Err() != nil || nilr.Positive() || nilr.String() != "" || nilr.Text() != "" {
		t.Error("nil reply")
	}
}

// FuzzParseReply checks that ReadReply never panics, keeps its bounds,
// and reads back what Format writes of a reply it parsed.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"250 ok\r\n",
		"250-mx.example Hello\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n",
		"550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please try again.\r\n",
		"421 4.3.2 Service shutting down\r\n",
		"250\r\n",
		"354 Enter message, ending with \".\" on a line by itself\r\n",
		"250- 113 byte chunk, total 113\r\n250 OK id=1xUmmU-0004lF-00\r\n",
		"220 a\x00\r\n",
		"250-a\r\n251 b\r\n",
		"25",
		"452 4.5.3\n",
		// mailtest's seeds, from when it had a parser of its own.
		"550-5.7.1 a\r\n550 5.7.1 b\r\n",
		"451 4.01.002 x\r\n250 2.0.0\r\n",
		"250 a\rb\r\r\n250\n",
		"5",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(strings.NewReader(string(data)), 64)
		r, err := ReadReply(br)
		if err != nil {
			if r != nil {
				t.Fatal("reply and error")
			}
			if !errors.Is(err, ErrMalformed) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if r.Code < 200 || r.Code > 599 || len(r.Lines) == 0 || len(r.Lines) > MaxReplyLines {
			t.Fatalf("bad reply %+v", r)
		}
		// A Raw parser fed the same lines gives the same reply with the
		// control characters kept.
		raw := ReplyParser{Raw: true}
		var rr *Reply
		for l := range strings.Lines(string(data)) {
			l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
			if rr, err = raw.Line([]byte(l)); rr != nil || err != nil {
				break
			}
		}
		if err != nil || rr == nil || rr.Code != r.Code || rr.Enhanced != r.Enhanced || len(rr.Lines) != len(r.Lines) {
			t.Fatalf("raw parse: %+v, %v; want %+v", rr, err, r)
		}
		for i, l := range rr.Lines {
			if sanitize([]byte(l)) != r.Lines[i] {
				t.Fatalf("raw line %q, sanitized %q", l, r.Lines[i])
			}
		}
		if ec := r.Enhanced; ec != (exigo.EnhancedCode{}) && (ec[0] != r.Code/100 || ec[1] > 999 || ec[2] > 999) {
			t.Fatalf("bad enhanced code %v", ec)
		}
		for _, l := range r.Lines {
			if len(l) > 64 || strings.ContainsFunc(l, func(c rune) bool { return c < 0x20 && c != '\t' || c == 0x7f }) {
				t.Fatalf("bad line %q", l)
			}
		}
		again, err := ReadReply(bufio.NewReaderSize(strings.NewReader(r.Format()), 4096))
		if err != nil {
			t.Fatalf("re-reading %q: %v", r.Format(), err)
		}
		if again.Code != r.Code || again.Enhanced != r.Enhanced || len(again.Lines) != len(r.Lines) {
			t.Fatalf("round trip %+v -> %q -> %+v", r, r.Format(), again)
		}
		if r.Enhanced != (exigo.EnhancedCode{}) && !reflect.DeepEqual(again.Lines, r.Lines) {
			t.Fatalf("round trip lines %q -> %q", r.Lines, again.Lines)
		}
	})
}
