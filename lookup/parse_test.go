package lookup

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func records(t *testing.T, data string) []record {
	t.Helper()
	var rs []record
	if err := parseRecords(data, 0, func(r record) error { rs = append(rs, r); return nil }); err != nil {
		t.Fatalf("parseRecords: %v", err)
	}
	return rs
}

func TestParseRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want []record
	}{
		{"empty", "", nil},
		{"simple", "foo: bar\n", []record{{1, "foo", false, "bar"}}},
		{"no colon", "foo bar baz\n", []record{{1, "foo", false, "bar baz"}}},
		{"space before colon", "foo   :   bar  \n", []record{{1, "foo", false, "bar"}}},
		{"tab", "foo\tbar\n", []record{{1, "foo", false, "bar"}}},
		{"value starting with colon", "baduser:  :fail:\n", []record{{1, "baduser", false, ":fail:"}}},
		{"only key", "nodata\n", []record{{1, "nodata", false, ""}}},
		{"key colon nothing", "k:\n", []record{{1, "k", false, ""}}},
		{"empty key", ": v\n", []record{{1, "", false, "v"}}},
		{"hash in key", "a#b: c\n", []record{{1, "a#b", false, "c"}}},
		{"comment and blank", "# c\n\n   \n\t\nk: v\n", []record{{5, "k", false, "v"}}},
		{"continuation", "k: one  \n  two\n\t\tthree \nx: y\n",
			[]record{{1, "k", false, "one two three"}, {4, "x", false, "y"}}},
		{"continuation of empty data", "k\n  cont\n", []record{{1, "k", false, " cont"}}},
		{"continuation of colon", "k:\n  cont\n", []record{{1, "k", false, " cont"}}},
		{"comment ends data", "k: a\n  b\n# c\n  d\n\n  e\nx: y\n",
			[]record{{1, "k", false, "a b"}, {7, "x", false, "y"}}},
		{"blank ends data", "k: a\n\n  d\n", []record{{1, "k", false, "a"}}},
		{"orphan continuation", "  cont\nk: v\n", []record{{2, "k", false, "v"}}},
		{"crlf", "a\r\nb: v1\r\n  c2\r\n", []record{{1, "a", false, ""}, {2, "b", false, "v1 c2"}}},
		{"no final newline", "k: v   ", []record{{1, "k", false, "v"}}},
		{"indented hash continues", "k: a\n  # not a comment\n", []record{{1, "k", false, "a # not a comment"}}},
		{"duplicate keys kept", "k: 1\nK: 2\n", []record{{1, "k", false, "1"}, {2, "K", false, "2"}}},
		{"quoted", `"quoted key": qv` + "\n", []record{{1, "quoted key", true, "qv"}}},
		{"quoted no colon", `"a b" c d` + "\n", []record{{1, "a b", true, "c d"}}},
		{"quoted rest", `"q"rest: y` + "\n", []record{{1, "q", true, "rest: y"}}},
		{"quoted unterminated", `"unterminated: x` + "\n", []record{{1, "unterminated: x", true, ""}}},
		{"quoted empty", `"": e` + "\n", []record{{1, "", true, "e"}}},
		{"quoted spaces kept", `"  sp  ": v` + "\n", []record{{1, "  sp  ", true, "v"}}},
		{"escapes", `"\101\x41\q\\\"\n\t\r\b\f\v" e` + "\n", []record{{1, "AAq\\\"\n\t\r\b\f\v", true, "e"}}},
		{"octal", `"\1234\777\0" e` + "\n", []record{{1, "S4\xff\x00", true, "e"}}},
		{"hex", `"\x4g\xz\xAbc\x" e` + "\n", []record{{1, "\x04g\x00z\xabc\x00", true, "e"}}},
		{"digit 8", `"b\8" e` + "\n", []record{{1, "b8", true, "e"}}},
		{"backslash at end", `"trail\` + "\n", []record{{1, `trail\`, true, ""}}},
		{"IPv6", `"abcd:abcd::/32" v6net` + "\n", []record{{1, "abcd:abcd::/32", true, "v6net"}}},
		{"NUL is ordinary", "a\x00b: c\x00d\n", []record{{1, "a\x00b", false, "c\x00d"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := records(t, tt.data)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseRecords(%q)\n got %#v\nwant %#v", tt.data, got, tt.want)
			}
		})
	}
}

func TestParseRecordsLineTooLong(t *testing.T) {
	t.Parallel()
	data := "a: b\nc: " + strings.Repeat("x", 20) + "\n"
	err := parseRecords(data, 22, func(record) error { return nil })
	var le *lineError
	if !errors.As(err, &le) || le.line != 2 || !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v, want line 2 ErrLineTooLong", err)
	}
	if got, want := err.Error(), "line 2: line too long (23 bytes, limit 22)"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
	// 22 bytes exactly is fine; the LF does not count.
	if err := parseRecords(data, 23, func(record) error { return nil }); err != nil {
		t.Errorf("limit 23: %v", err)
	}
}

func TestASCIILower(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", "abc": "abc", "AbC": "abc", "ÄÖ": "ÄÖ", "X\xc4Y": "x\xc4y"} {
		if got := asciiLower(in); got != want {
			t.Errorf("asciiLower(%q) = %q, want %q", in, got, want)
		}
	}
}
