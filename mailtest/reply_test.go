package mailtest

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
)

func parse(s string) (Reply, error) {
	return readReply(bufio.NewReader(strings.NewReader(s)), nil)
}

func TestReadReply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		want   Reply
		str    string
		errStr string
	}{
		{in: "220 mx.example ESMTP\r\n", want: Reply{Code: 220, Lines: []string{"mx.example ESMTP"}}, str: "220 mx.example ESMTP"},
		{in: "250 2.1.0 OK\r\n", want: Reply{Code: 250, Enhanced: exigo.EnhancedCode{2, 1, 0}, Lines: []string{"OK"}}, str: "250 2.1.0 OK"},
		{in: "250 2.0.0\r\n", want: Reply{Code: 250, Enhanced: exigo.EnhancedCode{2, 0, 0}, Lines: []string{""}}, str: "250 2.0.0"},
		{in: "250\r\n", want: Reply{Code: 250, Lines: []string{""}}, str: "250 "},
		{in: "550-5.7.1 first\nsecond\r\n", errStr: `mailtest: malformed SMTP reply: "second"`},
		{in: "550-5.7.1 first\n550-second\r\n550 5.7.1 third\r\n", want: Reply{Code: 550, Enhanced: exigo.EnhancedCode{5, 7, 1}, Lines: []string{"first", "second", "third"}},
			str: "550-5.7.1 first\n550-5.7.1 second\n550 5.7.1 third"},
		// The class must match; subject and detail have up to 3 digits.
		{in: "550 4.7.1 wrong class\r\n", want: Reply{Code: 550, Lines: []string{"4.7.1 wrong class"}}, str: "550 4.7.1 wrong class"},
		{in: "451 4.123.456 big\r\n", want: Reply{Code: 451, Enhanced: exigo.EnhancedCode{4, 123, 456}, Lines: []string{"big"}}, str: "451 4.123.456 big"},
		{in: "451 4.1234.5 too big\r\n", want: Reply{Code: 451, Lines: []string{"4.1234.5 too big"}}, str: "451 4.1234.5 too big"},
		{in: "451 4.01.02 zeros\r\n", want: Reply{Code: 451, Enhanced: exigo.EnhancedCode{4, 1, 2}, Lines: []string{"zeros"}}, str: "451 4.1.2 zeros"},
		{in: "354 2.0.0 no enhanced codes on 3xx\r\n", want: Reply{Code: 354, Lines: []string{"2.0.0 no enhanced codes on 3xx"}}, str: "354 2.0.0 no enhanced codes on 3xx"},
		{in: "250 2.0.0x\r\n", want: Reply{Code: 250, Lines: []string{"2.0.0x"}}, str: "250 2.0.0x"},
		{in: "250 2.0.\r\n", want: Reply{Code: 250, Lines: []string{"2.0."}}, str: "250 2.0."},
		{in: "250 a\rb\r\r\n", want: Reply{Code: 250, Lines: []string{"a\rb\r"}}, str: "250 a\rb\r"},
		{in: "25\r\n", errStr: `mailtest: malformed SMTP reply: "25"`},
		{in: "650 x\r\n", errStr: `mailtest: malformed SMTP reply: "650 x"`},
		{in: "25a x\r\n", errStr: `mailtest: malformed SMTP reply: "25a x"`},
		{in: "250x\r\n", errStr: `mailtest: malformed SMTP reply: "250x"`},
		{in: "250-a\r\n", errStr: "mailtest: malformed SMTP reply: connection closed inside a multi-line reply"},
		{in: "", errStr: "connection closed by the server"},
		{in: "250 " + strings.Repeat("x", maxReplyLine) + "\r\n", errStr: "mailtest: malformed SMTP reply: line longer than 65536 octets"},
		{in: strings.Repeat("250-x\r\n", maxReplyLines) + "250 x\r\n", errStr: "mailtest: malformed SMTP reply: more than 1000 lines"},
	} {
		got, err := parse(tc.in)
		if tc.errStr != "" {
			if err == nil || err.Error() != tc.errStr {
				t.Errorf("%q: error %v, want %q", clip(tc.in), err, tc.errStr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %#v, %v; want %#v", tc.in, got, err, tc.want)
			continue
		}
		if s := got.String(); s != tc.str {
			t.Errorf("%q: String() = %q, want %q", tc.in, s, tc.str)
		}
	}
	if _, err := parse("x\r\n"); !errors.Is(err, ErrBadReply) {
		t.Errorf("error %v does not wrap ErrBadReply", err)
	}
}

func TestReplyErr(t *testing.T) {
	t.Parallel()
	r := Reply{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Lines: []string{"a", "b"}}
	want := &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: "a\nb"}
	if err := r.Err(); !reflect.DeepEqual(err, want) {
		t.Errorf("Err() = %#v", err)
	}
	for _, code := range []int{220, 250, 354} {
		if err := (Reply{Code: code}).Err(); err != nil {
			t.Errorf("%d: Err() = %v", code, err)
		}
	}
	if got := (Reply{}).String(); got != "0 " {
		t.Errorf("zero Reply: %q", got)
	}
}

func TestAppendCRLF(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":             "",
		"a":            "a\r\n",
		"a\n":          "a\r\n",
		"a\r\n":        "a\r\n",
		"a\r":          "a\r\n",
		"\r\r\n\n":     "\r\n\r\n\r\n",
		"a\n\rb\r\nc":  "a\r\n\r\nb\r\nc\r\n",
		"x\r\n\r\n.\n": "x\r\n\r\n.\r\n",
	} {
		if got := string(appendCRLF([]byte("p:"), []byte(in))); got != "p:"+want {
			t.Errorf("%q: got %q, want %q", in, got, "p:"+want)
		}
	}
}

// FuzzReadReply reads replies from arbitrary input: it must not panic or
// hang, and every reply read must survive a String round trip.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"220 mx.example ESMTP\r\n",
		"250-mx.example Hello\r\n250-SIZE 100\r\n250 HELP\r\n",
		"550-5.7.1 a\r\n550 5.7.1 b\r\n",
		"451 4.01.002 x\r\n250 2.0.0\r\n",
		"250 a\rb\r\r\n250\n",
		"250-x\r\n251 y\r\n",
		"354 go\r\n",
		"5",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReader(bytes.NewReader(in))
		for range 100 {
			r, err := readReply(br, nil)
			if err != nil {
				return
			}
			if r.Code < 100 || r.Code > 599 || len(r.Lines) == 0 {
				t.Fatalf("bad reply %#v", r)
			}
			wire := strings.ReplaceAll(r.String(), "\n", "\r\n") + "\r\n"
			again, err := parse(wire)
			if err != nil {
				for _, l := range r.Lines {
					if len(l) > maxReplyLine-20 {
						return // the enhanced code made a line too long
					}
				}
				t.Fatalf("%q from %#v: %v", wire, r, err)
			}
			if !reflect.DeepEqual(again, r) {
				t.Fatalf("round trip of %#v gave %#v", r, again)
			}
		}
	})
}

// FuzzAppendCRLF checks that the wire form has only CRLF line ends, one
// per line end of the input.
func FuzzAppendCRLF(f *testing.F) {
	for _, s := range []string{"", "a", "a\r\nb\nc\rd", "\r\r\n\n\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := appendCRLF(nil, in)
		if len(in) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("%q: %q lacks a final CRLF", in, out)
		}
		if bytes.Count(out, []byte("\r")) != bytes.Count(out, []byte("\r\n")) || bytes.Count(out, []byte("\n")) != bytes.Count(out, []byte("\r\n")) {
			t.Fatalf("%q: bare CR or LF in %q", in, out)
		}
		// Without the line ends, the text is unchanged.
		strip := func(b []byte) []byte {
			return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r"), nil), []byte("\n"), nil)
		}
		if !bytes.Equal(strip(in), strip(out)) {
			t.Fatalf("%q: text changed: %q", in, out)
		}
	})
}
