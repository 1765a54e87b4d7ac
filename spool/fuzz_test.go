package spool

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParseHeaderFile(f *testing.F) {
	f.Add([]byte(eximSample))
	f.Add([]byte("1xUm1a-0000hS-2z-H\nroot 0 0\n<>\n1 0\nYN b@x\nNN a@x\n1\na@x e@f 3,0#1\n\n005* X:1\n"))
	f.Add([]byte("1xUm1a-0000000000A-0000-H\nu 1 2\n<s>\n5 0\n--(pg)aclm _x 3\na\nb\n-acl 12 1\nz\nXX\n0\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{FileSize: 1 << 20, LineLength: 4096, Recipients: 1000, Data: 1 << 16, Header: 1 << 16}
		h, err := ParseHeaderFile("input/x-H", bytes.NewReader(data), lim)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "spool: input/x-H") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		// Whatever parses converts without panicking and writes back to
		// something that parses to the same content.
		_, _ = h.Message()
		var buf bytes.Buffer
		if _, err := h.WriteTo(&buf); err != nil {
			return
		}
		h2, err := ParseHeaderFile("input/x-H", bytes.NewReader(buf.Bytes()), lim)
		if err != nil {
			t.Fatalf("written file does not parse: %v\n%q", err, buf.Bytes())
		}
		var buf2 bytes.Buffer
		if _, err := h2.WriteTo(&buf2); err != nil || !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
			t.Fatalf("second write differs: %v\n%q\n%q", err, buf.Bytes(), buf2.Bytes())
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1xUm1a-0000hS-2z", "1xUm1a-0000000Hb83-3syM", "zzzzzz-zzzzzzzzzzz-zzzz", "000000-000000-00", "1xUm1a-0000hS-2", "-------------------"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		info, err := ParseID(s)
		if err != nil {
			return
		}
		if len(s) != info.Format.Len() {
			t.Fatalf("%q parsed as %v", s, info.Format)
		}
		// Formatting the parsed parts gives the ID back when the
		// fraction is a valid one.
		if info.Time.Nanosecond() != 0 || info.Frac == 0 {
			if got := FormatID(info.Format, info.Time, info.PID); got != s && info.PID < pidMax(info.Format) {
				t.Fatalf("FormatID(ParseID(%q)) = %q", s, got)
			}
		}
	})
}

func pidMax(f IDFormat) uint64 {
	n := uint64(1)
	for range f.pidLen() {
		n *= 62
	}
	return n
}
