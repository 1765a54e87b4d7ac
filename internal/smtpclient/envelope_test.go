package smtpclient

import (
	"bufio"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
)

func TestFormatPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "<>", true},
		{"a@example.com", "<a@example.com>", true},
		{"a.b+c@example.com", "<a.b+c@example.com>", true},
		{"rené@exämple.com", "<rené@exämple.com>", true},
		{"a b@example.com", `<"a b"@example.com>`, true},
		{`a"b\c@example.com`, `<"a\"b\\c"@example.com>`, true},
		{".a@example.com", `<".a"@example.com>`, true},
		{`"a b"@example.com`, `<"a b"@example.com>`, true},
		{"postmaster", "<postmaster>", true},
		{"a@example.com\r\nRCPT TO:<b@example.com", "", false},
		{"a\x00@example.com", "", false},
		{"\xff@example.com", "", false},
	}
	for _, tc := range tests {
		got, ok := FormatPath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FormatPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestXtext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"abc123":      "abc123",
		"a+b=c":       "a+2Bb+3Dc",
		"sp ace\x01é": "sp+20ace+01+C3+A9",
	} {
		if got := Xtext(in); got != want {
			t.Errorf("Xtext(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		in   string
		utf8 bool
		want string
	}{
		{"rfc822;a+b@example.com", false, "rfc822;a+2Bb@example.com"},
		{"utf-8;rené+x=@example.com", true, `utf-8;rené\x{2B}x\x{3D}@example.com`},
		{"utf-8;rené@example.com", false, `utf-8;ren\x{E9}@example.com`},
		{"rfc822;用户@example.com", false, `utf-8;\x{7528}\x{6237}@example.com`},
		{"rfc822;a\\b@example.com", false, `rfc822;a\b@example.com`},
		{"nonsense", false, ""},
	} {
		if got := ORCPTParam(tc.in, tc.utf8); got != tc.want {
			t.Errorf("ORCPTParam(%q, %v) = %q, want %q", tc.in, tc.utf8, got, tc.want)
		}
	}
}

func TestMessageSize(t *testing.T) {
	t.Parallel()
	h, _ := textproto.ReadHeader(bufio.NewReader(strings.NewReader("Subject: a\n b\nTo: c\n\n")))
	body := "one\ntwo\n"
	m := &exigo.Message{Header: h}
	if got := MessageSize(m, nil); got != 0 {
		t.Errorf("unknown size: %d", got)
	}
	m.Stats.Size = int64(len("Subject: a\n b\nTo: c\n") + 1 + len(body))
	m.Stats.Lines = 2
	wire := "X-P: 1\r\nSubject: a\r\n b\r\nTo: c\r\n\r\none\r\ntwo\r\n"
	if got := MessageSize(m, []byte("X-P: 1\n")); got != int64(len(wire)) {
		t.Errorf("size %d, want %d", got, len(wire))
	}
}
