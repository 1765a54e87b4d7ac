package lmdb

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzTextReader checks that the mdb_load -T parser never panics, fails
// only with ErrSyntax, and that what it reads survives AppendText and a
// second parse unchanged.
func FuzzTextReader(f *testing.F) {
	for _, s := range []string{
		"", "a\nb\n", "a\nb", "a\n", "k\\\\\nv\\00\\FF\\0a\n", "\\zz\n\n", "\\5\n\n",
		"a\x00\nb\n", "k\r\nv\r\n\n\n", "x\\\n\\\\\\\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := NewTextReader(bytes.NewReader(data))
		tr.SetMaxLineLength(1 << 12)
		var text []byte
		var recs [][2]string
		for {
			k, v, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("error not ErrSyntax: %v", err)
				}
				return
			}
			recs = append(recs, [2]string{string(k), string(v)})
			text = AppendText(text, k)
			text = append(text, '\n')
			text = AppendText(text, v)
			text = append(text, '\n')
		}
		tr2 := NewTextReader(bytes.NewReader(text))
		for i, want := range recs {
			k, v, err := tr2.Next()
			if err != nil || string(k) != want[0] || string(v) != want[1] {
				t.Fatalf("record %d: %q %q %v, want %q", i, k, v, err, want)
			}
		}
		if _, _, err := tr2.Next(); err != io.EOF {
			t.Fatalf("extra after round trip: %v", err)
		}
	})
}
