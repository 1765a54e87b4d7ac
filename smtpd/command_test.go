package smtpd

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/smtpclient"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line      string
		verb, arg string
	}{
		{"MAIL FROM:<a@b>", "MAIL", "FROM:<a@b>"},
		{"mail from:<a@b> SIZE=1  ", "MAIL", "from:<a@b> SIZE=1"},
		{"QUIT", "QUIT", ""},
		{"quit \t", "QUIT", ""},
		{"EHLO\thost", "EHLO", "host"},
		{"starttls", "STARTTLS", ""},
		{"", "", ""},
		{"   ", "", ""},
		{"x\x00y z", "X\x00Y", "z"},
	} {
		got := parseCommand([]byte(tc.line))
		if got.verb != tc.verb || got.arg != tc.arg {
			t.Errorf("%q: %q %q, want %q %q", tc.line, got.verb, got.arg, tc.verb, tc.arg)
		}
	}
}

func TestParsePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg    string
		addr   string
		params []param
		err    error
	}{
		{"FROM:<a@b.example>", "a@b.example", nil, nil},
		{"from: <a@b.example>", "a@b.example", nil, nil},
		{"FROM:<>", "", nil, nil},
		{"FROM:a@b.example SIZE=10", "a@b.example", []param{{"SIZE", "10", true}}, nil},
		{"FROM:<@relay.example,@r2.example:a@b.example>", "a@b.example", nil, nil},
		{`FROM:<"a b>c"@b.example> body=8bitmime SMTPUTF8`, `"a b>c"@b.example`, []param{{"BODY", "8bitmime", true}, {"SMTPUTF8", "", false}}, nil},
		{`FROM:<"a\"b"@b.example>`, `"a\"b"@b.example`, nil, nil},
		{"FROM:<a@b.example>SIZE=1", "", nil, errPathSyntax},
		{"FROM:<a@b.example", "", nil, errPathSyntax},
		{"FROM:<a<b@c>", "", nil, errPathSyntax},
		{"FROM:<a b@c>", "", nil, errPathSyntax},
		{`FROM:<"ab@c>`, "", nil, errPathSyntax},
		{"FROM:", "", nil, errPathSyntax},
		{"TO:<a@b>", "", nil, errPathSyntax},
		{"FROM:<a\x7f@b>", "", nil, errAddrControl},
		{"FROM:<\xff@b>", "", nil, errAddrBadUTF8},
		{"FROM:<" + strings.Repeat("a", 255) + ">", "", nil, errAddrTooLong},
		{"FROM:<a@b> X=1 x=2", "", nil, errParamTwice},
		{"FROM:<a@b> -X=1", "", nil, errParamSyntax},
		{"FROM:<a@b> X=a=b", "", nil, errParamSyntax},
		{"FROM:<@bad route>", "", nil, errPathSyntax},
	} {
		got, err := parsePath(tc.arg, "FROM:")
		if !errors.Is(err, tc.err) {
			t.Errorf("%q: err %v, want %v", tc.arg, err, tc.err)
			continue
		}
		if err == nil && (got.addr != tc.addr || !reflect.DeepEqual(got.params, tc.params)) {
			t.Errorf("%q: %q %v, want %q %v", tc.arg, got.addr, got.params, tc.addr, tc.params)
		}
	}
}

func TestXtext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, out string }{
		{"abc", "abc"},
		{"a+2Bb", "a+b"},
		{"+3D+20", "= "},
		{"a+2b", ""},
		{"a+2", ""},
		{"a+", ""},
		{"a=b", ""},
		{"a\x7f", ""},
	} {
		got, err := decodeXtext(tc.in)
		if (err != nil) != (tc.out == "") || got != tc.out {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.out)
		}
	}
	if got := smtpclient.Xtext("a+b= c\xff"); got != "a+2Bb+3D+20c+FF" {
		t.Errorf("encode: %q", got)
	}
	for _, tc := range []struct{ in, out string }{
		{`rfc822;a+2Bb@example.com`, "rfc822;a+b@example.com"},
		{`RFC822;user@example.com`, "RFC822;user@example.com"},
		{`utf-8;\x{FC}ser@example.com`, "utf-8;üser@example.com"},
		{`utf-8;üser@example.com`, "utf-8;üser@example.com"},
		{`utf-8;\x{1F600}@example.com`, "utf-8;\U0001F600@example.com"},
		{`utf-8;a\x{2B}b@example.com`, "utf-8;a+b@example.com"},
		{`utf-8;a+b@example.com`, ""},
		{`utf-8;\x{D800}@example.com`, ""},
		{`utf-8;\x{0041}@example.com`, ""},
		{`utf-8;\x{110000}@example.com`, ""},
		{`utf-8;\x41@example.com`, ""},
		{`utf-8;\x{41@example.com`, ""},
		{`rfc822;`, ""},
		{`;a@b`, ""},
		{`rfc822`, ""},
		{`rfc822;a+00b`, ""},
	} {
		got, err := decodeORCPT(tc.in)
		if (err != nil) != (tc.out == "") || got != tc.out {
			t.Errorf("ORCPT %q: %q %v, want %q", tc.in, got, err, tc.out)
		}
	}
}

func TestParseNotifySizeBDAT(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		n  exigo.Notify
		ok bool
	}{
		{"NEVER", exigo.NotifyNever, true},
		{"never", exigo.NotifyNever, true},
		{"SUCCESS,FAILURE,DELAY", exigo.NotifySuccess | exigo.NotifyFailure | exigo.NotifyDelay, true},
		{"delay", exigo.NotifyDelay, true},
		{"SUCCESS,SUCCESS", 0, false},
		{"NEVER,DELAY", 0, false},
		{"", 0, false},
		{"SUCCESS,", 0, false},
	} {
		n, ok := parseNotify(tc.in)
		if n != tc.n || ok != tc.ok {
			t.Errorf("NOTIFY %q: %v %v", tc.in, n, ok)
		}
	}
	for _, tc := range []struct {
		in string
		n  int64
		ok bool
	}{{"0", 0, true}, {"123", 123, true}, {"", 0, false}, {"-1", 0, false}, {"1e3", 0, false}, {strings.Repeat("9", 19), 0, false}} {
		n, ok := parseSize(tc.in)
		if n != tc.n || ok != tc.ok {
			t.Errorf("SIZE %q: %d %v", tc.in, n, ok)
		}
	}
	for _, tc := range []struct {
		in       string
		n        int64
		last, ok bool
	}{{"10", 10, false, true}, {"10 LAST", 10, true, true}, {"0 last", 0, true, true}, {"10 FIRST", 0, false, false}, {"", 0, false, false}, {"1 2 3", 0, false, false}} {
		n, last, ok := parseBDAT(tc.in)
		if n != tc.n || last != tc.last || ok != tc.ok {
			t.Errorf("BDAT %q: %d %v %v", tc.in, n, last, ok)
		}
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{{"mail.example.com", true}, {"[192.0.2.1]", true}, {"[IPv6:2001:db8::1]", true}, {"host_name", true}, {"", false}, {"a b", false}, {"[x]", false}, {"a@b", false}, {strings.Repeat("a", 256), false}} {
		if got := validHelo(tc.in); got != tc.ok {
			t.Errorf("HELO %q: %v", tc.in, got)
		}
	}
}

// FuzzCommandLine throws random command lines at the command and
// parameter parsers: no panic, no control characters in an accepted
// address, decoders that only accept what they can return valid, and
// xtext that round-trips.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=abc+2B123",
		"RCPT TO:<r@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bx@example.com",
		`RCPT TO:<"q\"x"@example.com> ORCPT=utf-8;\x{FC}@example.com`,
		"MAIL FROM:<@a,@b:c@d> AUTH=<>",
		"BDAT 100 LAST",
		"EHLO [IPv6:::1]",
		"AUTH PLAIN AGEAYg==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd := parseCommand([]byte(line))
		if strings.ContainsAny(cmd.verb, "abcdefghijklmnopqrstuvwxyz \t") {
			t.Fatalf("verb %q not upper-cased", cmd.verb)
		}
		for _, prefix := range []string{"FROM:", "TO:"} {
			p, err := parsePath(cmd.arg, prefix)
			if err != nil {
				var se *exigo.SMTPError
				if !errors.As(err, &se) || se.Code/100 != 5 {
					t.Fatalf("error %v is not a 5xx reply", err)
				}
				continue
			}
			if strings.ContainsFunc(p.addr, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !utf8.ValidString(p.addr) {
				t.Fatalf("address %q accepted", p.addr)
			}
			seen := map[string]bool{}
			for _, pm := range p.params {
				if seen[pm.key] || !validKeyword(pm.key) || strings.ToUpper(pm.key) != pm.key {
					t.Fatalf("param %+v", pm)
				}
				seen[pm.key] = true
				if v, err := decodeXtext(pm.value); err == nil {
					if got, err := decodeXtext(smtpclient.Xtext(v)); err != nil || got != v {
						t.Fatalf("xtext %q -> %q -> %q", pm.value, v, got)
					}
				}
				if v, err := decodeORCPT(pm.value); err == nil {
					if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 }) {
						t.Fatalf("ORCPT %q -> %q", pm.value, v)
					}
				}
				if n, ok := parseNotify(pm.value); ok && (n == 0 || n&^exigo.NotifyMask != 0 || n&exigo.NotifyNever != 0 && n != exigo.NotifyNever) {
					t.Fatalf("NOTIFY %q -> %v", pm.value, n)
				}
				if n, ok := parseSize(pm.value); ok && n < 0 {
					t.Fatalf("SIZE %q -> %d", pm.value, n)
				}
			}
		}
		if n, _, ok := parseBDAT(cmd.arg); ok && n < 0 {
			t.Fatalf("BDAT %q -> %d", cmd.arg, n)
		}
		if validHelo(cmd.arg) && strings.ContainsAny(cmd.arg, " \t\r\n\x00") {
			t.Fatalf("HELO %q accepted", cmd.arg)
		}
		if b, ok := decodeSASL(cmd.arg); ok {
			if _, u, _, ok := parsePlain(b); ok && u == "" {
				t.Fatal("PLAIN with empty user accepted")
			}
		}
		if s, err := decodeXtext(line); err == nil {
			if got, err := decodeXtext(smtpclient.Xtext(s)); err != nil || got != s {
				t.Fatalf("round trip %q: %q %v", s, got, err)
			}
		}
	})
}
