package msgio

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

func convert(in string, eol []byte, stuff, from bool, splits ...int) string {
	var out bytes.Buffer
	w := NewWriter(&out, eol, stuff)
	w.FromQuote = from
	rest := in
	for _, n := range splits {
		n = min(n, len(rest))
		w.Write([]byte(rest[:n]))
		rest = rest[n:]
	}
	w.Write([]byte(rest))
	w.Close()
	return out.String()
}

func TestWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		eol         string
		stuff, from bool
		want        string
	}{
		{"LF to CRLF", "a\nb\n", "\r\n", false, false, "a\r\nb\r\n"},
		{"CRLF kept", "a\r\nb\r\n", "\r\n", false, false, "a\r\nb\r\n"},
		{"bare CR is a line end", "a\rb\r\r\nc", "\r\n", false, false, "a\r\nb\r\n\r\nc\r\n"},
		{"last line ended", "no newline", "\r\n", false, false, "no newline\r\n"},
		{"empty", "", "\r\n", true, false, ""},
		{"dot-stuffing", ".\n..\n.a\nb.\n\n.", "\r\n", true, false, "..\r\n...\r\n..a\r\nb.\r\n\r\n..\r\n"},
		{"no stuffing for BDAT", ".\n", "\r\n", false, false, ".\r\n"},
		{"CRLF to LF", "a\r\nb\rc\n", "\n", false, false, "a\nb\nc\n"},
		{"From quoting", "From a\nFrom\nFrom:x\n>From b\nxFrom c\nFrom ", "\n", false, true, ">From a\nFrom\nFrom:x\n>From b\nxFrom c\n>From \n"},
		{"From prefix at end", "Fro", "\n", false, true, "Fro\n"},
	}
	for _, tc := range tests {
		for split := 0; split <= len(tc.in); split++ {
			// Every way of cutting the input in two, and byte by byte.
			got := convert(tc.in, []byte(tc.eol), tc.stuff, tc.from, split)
			if got != tc.want {
				t.Errorf("%s, split at %d: got %q, want %q", tc.name, split, got, tc.want)
			}
		}
		ones := make([]int, len(tc.in))
		for i := range ones {
			ones[i] = 1
		}
		if got := convert(tc.in, []byte(tc.eol), tc.stuff, tc.from, ones...); got != tc.want {
			t.Errorf("%s, byte by byte: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestWriteHeader(t *testing.T) {
	t.Parallel()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader("Subject: a\n folded\nX-A: b\n\n")))
	if err != nil {
		t.Fatal(err)
	}
	h.Add("Added", "c") // formatted by go-message with CRLF
	h.AddRaw([]byte("X-Raw: no line end"))
	var out bytes.Buffer
	w := NewWriter(&out, CRLF, true)
	if err := WriteHeader(w, &h); err != nil {
		t.Fatal(err)
	}
	w.Close()
	want := "X-Raw: no line end\r\nAdded: c\r\nSubject: a\r\n folded\r\nX-A: b\r\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	size, lines, err := HeaderSize(&h, CRLF)
	if err != nil || size != int64(len(want)) || lines != 5 {
		t.Errorf("HeaderSize %d %d %v", size, lines, err)
	}
}

// FuzzWriter checks that the conversion does not depend on how the input
// is cut, leaves no bare CR or LF, and that undoing dot-stuffing gives
// back the input's lines.
func FuzzWriter(f *testing.F) {
	f.Add([]byte("a\nb\r\n.c\r.d\n"), uint8(3), true)
	f.Add([]byte("From x\nFro\nFrom"), uint8(2), false)
	f.Fuzz(func(t *testing.T, in []byte, cut uint8, stuff bool) {
		whole := convert(string(in), CRLF, stuff, !stuff)
		parts := convert(string(in), CRLF, stuff, !stuff, int(cut), int(cut)/2+1, 1)
		if whole != parts {
			t.Fatalf("cut changes output: %q vs %q", whole, parts)
		}
		if whole != "" && !strings.HasSuffix(whole, "\r\n") {
			t.Fatalf("unterminated %q", whole)
		}
		lines := strings.Split(strings.TrimSuffix(whole, "\r\n"), "\r\n")
		var rebuilt []string
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\n") {
				t.Fatalf("bare line end in %q", whole)
			}
			if stuff {
				if strings.HasPrefix(l, ".") && !strings.HasPrefix(l, "..") {
					t.Fatalf("unstuffed dot line in %q", whole)
				}
				l = strings.TrimPrefix(l, ".")
			} else if strings.HasPrefix(l, "From ") {
				t.Fatalf("unquoted From in %q", whole)
			} else if strings.HasPrefix(l, ">From ") {
				l = l[1:]
			}
			rebuilt = append(rebuilt, l)
		}
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(in))
		norm = strings.TrimSuffix(norm, "\n")
		if whole == "" {
			if len(in) != 0 {
				t.Fatalf("no output for %q", in)
			}
			return
		}
		if !stuff {
			// ">From " in the input is ambiguous after quoting; skip.
			if strings.Contains("\n"+norm, "\n>From ") {
				return
			}
		}
		if got := strings.Join(rebuilt, "\n"); got != norm {
			t.Fatalf("lines %q, want %q", got, norm)
		}
	})
}
