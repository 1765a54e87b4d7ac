package spool

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
)

// eximSample is a -H file written by Exim 4.96 (exim -bs -odq).
const eximSample = "1xUm1a-0000hS-2z-H\n" +
	"root 0 0\n" +
	"<sender@example.org>\n" +
	"1795271106 0\n" +
	"-received_time_usec .926302\n" +
	"-received_time_complete 1795271106.927159\n" +
	"--helo_name client.example\n" +
	"--host_address [192.0.2.1]:4567\n" +
	"--interface_address [127.0.0.1]:25\n" +
	"-ident root\n" +
	"-received_protocol esmtp\n" +
	"-aclc 0 5\n" +
	"conn0\n" +
	"-aclm _foo 11\n" +
	"hello world\n" +
	"-body_linecount 1\n" +
	"-max_received_linelength 11\n" +
	"-deliver_firsttime\n" +
	"-tls_resumption A\n" +
	"-dsn_envid abc123\n" +
	"-dsn_ret 2\n" +
	"XX\n" +
	"2\n" +
	"rcpt1@example.com rfc822;orig@example.com 23,12  0,-1#3\n" +
	"rcpt2@example.com\n" +
	"\n" +
	"193P Received: from [192.0.2.1] (helo=client.example ident=root)\n" +
	"\tby test.example with esmtp (Exim 4.96)\n" +
	"\t(envelope-from <sender@example.org>)\n" +
	"\tid 1xUm1a-0000hS-2z;\n" +
	"\tSat, 21 Nov 2026 14:25:06 +0000\n" +
	"010F From: a@b\n" +
	"008T To: c@d\n" +
	"019  Subject: hi\n" +
	" there\n"

func TestParseEximSample(t *testing.T) {
	h, err := ParseHeaderFile("input/1xUm1a-0000hS-2z-H", strings.NewReader(eximSample), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != "1xUm1a-0000hS-2z" || h.Login != "root" || h.UID != 0 || h.Sender != "sender@example.org" || h.Time != 1795271106 || h.Warnings != 0 {
		t.Fatalf("fixed lines: %+v", h)
	}
	if len(h.Vars) != 15 {
		t.Fatalf("got %d vars", len(h.Vars))
	}
	if v := h.Vars[2]; v != (Var{Name: "helo_name", Value: "client.example", Tainted: true}) {
		t.Errorf("helo var %+v", v)
	}
	if v := h.Vars[7]; v != (Var{Name: "aclc", Value: "0", Data: "conn0"}) {
		t.Errorf("aclc var %+v", v)
	}
	want := []RcptLine{
		{Address: "rcpt1@example.com", ORCPT: "rfc822;orig@example.com", DSNFlags: 12, PNo: -1},
		{Address: "rcpt2@example.com", PNo: -1},
	}
	if len(h.Recipients) != 2 || h.Recipients[0] != want[0] || h.Recipients[1] != want[1] {
		t.Errorf("recipients %+v", h.Recipients)
	}
	if len(h.Headers) != 4 || h.Headers[3] != (HeaderLine{Flag: ' ', Text: "Subject: hi\n there\n"}) || h.Headers[0].Flag != 'P' {
		t.Errorf("headers %+v", h.Headers)
	}
	if got := h.HeaderSize(); got != 193+10+8+19 {
		t.Errorf("header size %d", got)
	}
	var buf bytes.Buffer
	if _, err := h.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != eximSample {
		t.Errorf("round trip differs:\n%s", buf.String())
	}

	m, err := h.Message()
	if err != nil {
		t.Fatal(err)
	}
	s := m.Session
	if s == nil || s.HELO != "client.example" || s.RemoteAddr.String() != "192.0.2.1:4567" || s.LocalAddr.String() != "127.0.0.1:25" ||
		s.Ident != "root" || !s.ESMTP || s.TLS != nil || s.Vars["acl_c0"] != "conn0" {
		t.Errorf("session %+v", s)
	}
	if m.Vars["acl_m_foo"] != "hello world" || m.Envelope.EnvID != "abc123" || m.Envelope.Ret != exigo.RetHdrs {
		t.Errorf("message %+v", m)
	}
	if r := m.Envelope.Recipients[0]; r.ORCPT != "rfc822;orig@example.com" || r.Notify != exigo.NotifySuccess|exigo.NotifyFailure {
		t.Errorf("recipient %+v", r)
	}
	if m.Received.UnixMicro() != 1795271106927159 || m.Stats.Lines != 1 || m.Stats.MaxLineLength != 11 {
		t.Errorf("received %v stats %+v", m.Received, m.Stats)
	}
	if got := m.Header.Get("Subject"); got != "hi there" {
		t.Errorf("Subject %q", got)
	}
	var hb bytes.Buffer
	for f := m.Header.Fields(); f.Next(); {
		raw, _ := f.Raw()
		hb.Write(raw)
	}
	if !strings.HasPrefix(hb.String(), "Received: from [192.0.2.1]") || !strings.HasSuffix(hb.String(), "To: c@d\nSubject: hi\n there\n") {
		t.Errorf("header bytes %q", hb.String())
	}
}

func TestParseErrors(t *testing.T) {
	lines := strings.SplitAfter(eximSample, "\n")
	with := func(i int, repl string) string {
		l := append([]string(nil), lines...)
		l[i] = repl
		return strings.Join(l, "")
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "spool: input/1xUm1a-0000hS-2z-H line 1: unexpected end of file"},
		{"bad id", with(0, "xx-H\n"), "line 1: first line is not a message ID followed by -H"},
		{"other id", with(0, "1xUm1a-0000hS-2y-H\n"), "line 1: ID 1xUm1a-0000hS-2y does not match the file name"},
		{"originator", with(1, "root\n"), "line 2: bad originator line"},
		{"uid", with(1, "root x 0\n"), "line 2: bad originator uid or gid"},
		{"sender", with(2, "sender@example.org\n"), "line 3: bad sender line"},
		{"time", with(3, "now 0\n"), "line 4: bad time and warning count line"},
		{"acl length", with(11, "-aclc 0 x\n"), "line 12: bad length in -aclc line"},
		{"acl data", with(11, "-aclc 0 4\n"), "line 12: -aclc data not followed by a newline"},
		{"tree", with(21, "YY a@b\n"), "line 23: bad non-recipients tree line"},
		{"tree line", with(21, "Y a@b\n"), "line 22: bad non-recipients tree line"},
		{"count", with(22, "two\n"), "line 23: bad recipient count"},
		{"count short", with(22, "3\n"), "line 26: bad recipient line"},
		{"blank", with(25, "x\n"), "line 26: no blank line after the recipients"},
		{"hdr length", with(26, "19xP Received: x\n"), "line 27: bad header flag"},
		{"hdr flag", with(31, "010f From: a@b\n"), "line 32: bad header flag \"f \""},
		{"hdr short", with(33, "099  Subject: hi\n"), "line 34: unexpected end of file"},
		{"hdr long", with(33, "018  Subject: hi\n"), "line 34: header does not end with a newline (bad length 18?)"},
		{"hdr start", with(33, "Subject: hi\n"), "line 34: header line does not start with a length"},
		{"truncated", eximSample[:len(eximSample)-300], "line 24: unexpected end of file"},
		{"rcpt", with(23, "a@b x 99,0  0,-1#3\n"), "line 24: bad recipient line"},
		{"pno", with(24, "r@x  0,0  0,7#3\n"), "line 25: parent number 7 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHeaderFile("input/1xUm1a-0000hS-2z-H", strings.NewReader(tt.in), Limits{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	_, err := ParseHeaderFile("input/1xUm1a-0000hS-2z-H", strings.NewReader(eximSample), Limits{FileSize: 100})
	if err == nil || err.Error() != "spool: input/1xUm1a-0000hS-2z-H line 6: unexpected end of file" {
		t.Errorf("file size: %v", err)
	}
	_, err = ParseHeaderFile("input/1xUm1a-0000hS-2z-H", strings.NewReader(eximSample), Limits{Header: 100})
	if err == nil || err.Error() != "spool: input/1xUm1a-0000hS-2z-H line 27: header of 193 bytes above the limit 100" {
		t.Errorf("header: %v", err)
	}
	_, err = ParseHeaderFile("input/1xUm1a-0000hS-2z-H", strings.NewReader(eximSample), Limits{Recipients: 1})
	if err == nil || err.Error() != "spool: input/1xUm1a-0000hS-2z-H line 23: recipient count 2 above the limit 1" {
		t.Errorf("recipients: %v", err)
	}
}

func TestRecipientLines(t *testing.T) {
	tests := []struct {
		line string
		want RcptLine
	}{
		{"a@b", RcptLine{Address: "a@b", PNo: -1}},
		{"a@1.2.3.4", RcptLine{Address: "a@1.2.3.4", PNo: -1}},
		{"a@b 3", RcptLine{Address: "a@b", PNo: 3}},
		{"a@b 0,2,0", RcptLine{Address: "a@b", PNo: 2}},
		{"a@b e@f 3,1#1", RcptLine{Address: "a@b", ErrorsTo: "e@f", PNo: 1}},
		{"a b@c rfc822;x 8,4 e r@s 5,-1#3", RcptLine{Address: "a b@c", ORCPT: "rfc822;x", DSNFlags: 4, ErrorsTo: "e r@s", PNo: -1}},
		{"r2@example.com  0,2  0,-1#3", RcptLine{Address: "r2@example.com", DSNFlags: 2, PNo: -1}},
	}
	for _, tt := range tests {
		got, ok := parseRcpt(tt.line)
		if !ok || got != tt.want {
			t.Errorf("parseRcpt(%q) = %+v, %v", tt.line, got, ok)
		}
	}
	for _, bad := range []string{"", "a@b x 9,0#3", "a@b 1,2#3", "x#1"} {
		if got, ok := parseRcpt(bad); ok {
			t.Errorf("parseRcpt(%q) = %+v, want failure", bad, got)
		}
	}
}

func TestWriteRecipientsAndTree(t *testing.T) {
	h := &HeaderFile{ID: "1xUm1a-0000hS-2z", Login: "root", Sender: "", Time: 5,
		Recipients: []RcptLine{
			{Address: "a@b", PNo: -1},
			{Address: "x 12", PNo: -1},
			{Address: "c@d", ORCPT: "rfc822;c@d", PNo: -1},
			{Address: "e@f", ErrorsTo: "err@g", PNo: 0},
		},
		Headers: []HeaderLine{{Flag: '*', Text: "X-Old: 1\n"}, {Flag: ' ', Text: "X-New: 2\n"}},
	}
	for _, a := range []string{"e", "b", "d", "a", "c"} {
		h.AddNonRecipient(a + "@x")
	}
	var buf bytes.Buffer
	if _, err := h.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	want := "1xUm1a-0000hS-2z-H\nroot 0 0\n<>\n5 0\n" +
		"YY c@x\nYN b@x\nNN a@x\nYN e@x\nNN d@x\n" +
		"4\na@b\nx 12  0,0  0,-1#3\nc@d rfc822;c@d 10,0  0,-1#3\ne@f  0,0 err@g 5,0#3\n\n" +
		"009* X-Old: 1\n009  X-New: 2\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	back, err := ParseHeaderFile("x", &buf, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(back.NonRecipients, ",") != "a@x,b@x,c@x,d@x,e@x" || back.Recipients[1].Address != "x 12" || back.Recipients[3].PNo != 0 {
		t.Errorf("read back %+v", back)
	}
	if back.HeaderSize() != 9 {
		t.Errorf("header size %d", back.HeaderSize())
	}
	for _, bad := range []*HeaderFile{
		{ID: "bad"},
		{ID: h.ID, Sender: "a\nb"},
		{ID: h.ID, Vars: []Var{{Name: "x", Value: "1\n2"}}},
		{ID: h.ID, Recipients: []RcptLine{{Address: ""}}},
		{ID: h.ID, Headers: []HeaderLine{{Flag: ' ', Text: "X: no newline"}}},
	} {
		if _, err := bad.WriteTo(&buf); err == nil {
			t.Errorf("WriteTo(%+v) succeeded", bad)
		}
	}
}

func TestXtextAndPrinting(t *testing.T) {
	if got := orcptEncode("rfc822;a+b=c d@x"); got != "rfc822;a+2Bb+3Dc+20d@x" {
		t.Errorf("orcptEncode: %q", got)
	}
	if got := orcptDecode("rfc822;a+2Bb+3Dc+20d@x"); got != "rfc822;a+b=c d@x" {
		t.Errorf("orcptDecode: %q", got)
	}
	if got := xtextDecode("bad+2"); got != "bad+2" {
		t.Errorf("xtextDecode: %q", got)
	}
	in := "CN=a\\b\nc\x01"
	if got := printing(in); got != `CN=a\\b\nc\001` || unprinting(got) != in {
		t.Errorf("printing: %q", got)
	}
}
