package lookup

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// linearLSearch is a reference implementation of one lsearch lookup as
// Exim does it: a scan of the whole file, line by line, for the first
// entry with the key, then the gathering of its continuation lines. It
// shares only splitKeyLine with the indexed implementation.
func linearLSearch(data, key string, match func(lineKey string) bool) (string, bool) {
	lines := strings.Split(data, "\n")
	for i := 0; i < len(lines); i++ {
		line := trimSpaceRight(lines[i])
		if line == "" || line[0] == '#' || isSpace(line[0]) {
			continue
		}
		k, v, _ := splitKeyLine(line)
		if !match(k) {
			continue
		}
		for j := i + 1; j < len(lines); j++ {
			c := trimSpaceRight(lines[j])
			if c == "" || c[0] == '#' || !isSpace(c[0]) {
				break
			}
			v += " " + trimSpaceLeft(c)
		}
		return v, true
	}
	return "", false
}

func FuzzLSearchParse(f *testing.F) {
	f.Add([]byte(lsearchData), "key1")
	f.Add([]byte("a\r\nb: v1\r\n  c2\r\ndup: first\ndup: second\n"), "DUP")
	f.Add([]byte(`"\101\x41\q\\\"\n\t" e`+"\n"+`"trail\`), "AAq")
	f.Add([]byte("k\n  cont\n# c\n  gone\n\n"), "k")
	f.Add([]byte("\"unterminated: x\n\"q\"rest: y\n: empty\n"), "q")
	f.Add([]byte("*.a.b: star\n^\\d+$: re\n!neg: n\n\"  sp  \": s\n"), "1.a.b")
	f.Add([]byte("1.2.3.4: h\n192.168.0.0/16: n\n\"abcd::/16\": v6\n*: d\n"), "192.168.1.1")
	f.Add([]byte("\x00\xff:\x00\n\t\x00\n"), "\x00\xff")
	f.Fuzz(func(t *testing.T, data []byte, probe string) {
		s := string(data)
		var recs []record
		err := parseRecords(s, 0, func(r record) error { recs = append(recs, r); return nil })
		if err != nil {
			t.Fatalf("parseRecords with no line limit: %v", err)
		}
		lastLine := 0
		for _, r := range recs {
			if r.line <= lastLine {
				t.Fatalf("records out of order: line %d after %d", r.line, lastLine)
			}
			lastLine = r.line
			if strings.ContainsRune(r.value, '\n') {
				t.Fatalf("value with a newline: %q", r.value)
			}
			if r.value != trimSpaceRight(r.value) {
				t.Fatalf("value with trailing white space: %q", r.value)
			}
			if !r.quoted && strings.ContainsAny(r.key, ": \t\v\f\r") {
				t.Fatalf("unquoted key %q with a terminator", r.key)
			}
		}

		// The line limit: parsing fails exactly when some line is longer.
		longest := 0
		for _, l := range strings.Split(s, "\n") {
			longest = max(longest, len(l))
		}
		if longest > 0 {
			err := parseRecords(s, longest, func(record) error { return nil })
			if err != nil {
				t.Fatalf("limit %d = longest line: %v", longest, err)
			}
			err = parseRecords(s, longest-1, func(record) error { return nil })
			if longest > 1 && !errors.Is(err, ErrLineTooLong) {
				t.Fatalf("limit %d < longest line: err = %v", longest-1, err)
			}
		}

		// The indexes agree with linear scans for the probe and every key.
		ls, err := buildLSearch(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		wild, err := buildWild("fuzz", s, 0)
		if err != nil {
			t.Fatal(err)
		}
		ips, err := buildIP("fuzz", s, 0)
		if err != nil {
			t.Fatal(err)
		}
		keys := []string{probe, strings.ToUpper(probe)}
		for _, r := range recs {
			keys = append(keys, r.key, strings.ToUpper(r.key), trimSpace(r.key))
		}
		for _, key := range keys {
			if key == "" {
				continue
			}
			lk := asciiLower(key)
			wv, wok := linearLSearch(s, key, func(k string) bool { return asciiLower(k) == lk })
			gv, gok, _ := ls.find(key)
			if gv != wv || gok != wok {
				t.Fatalf("lsearch %q: index %q,%v; linear %q,%v", key, gv, gok, wv, wok)
			}

			var werr error
			wv, wok = linearLSearch(s, key, func(k string) bool {
				if werr != nil {
					return false
				}
				e := parsePattern(k)
				if e.kind == patBroken {
					werr = e.err
					return false
				}
				return e.match(key, lk)
			})
			gv, gok, gerr := wild.find(key)
			if (gerr != nil) != (werr != nil) || gerr == nil && (gv != wv || gok != wok) {
				t.Fatalf("nwildlsearch %q: index %q,%v,%v; linear %q,%v,%v", key, gv, gok, gerr, wv, wok, werr)
			}

			a, aerr := parseIPLookupKey(key)
			if aerr != nil && key != "*" {
				continue
			}
			wv, wok = linearLSearch(s, key, func(k string) bool {
				if key == "*" {
					return k == "*"
				}
				p, err := ParseIPKey(k)
				return err == nil && p.Contains(a)
			})
			gv, gok, gerr = ips.find(key)
			if gerr != nil || gv != wv || gok != wok {
				t.Fatalf("iplsearch %q: index %q,%v,%v; linear %q,%v", key, gv, gok, gerr, wv, wok)
			}
		}
	})
}

func FuzzParseIPKey(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "192.168.0.0/16", "10.1.2.3/8", "1.0.0.0/08", "abcd::cdab",
		"abcd:abcd::/32", "fe80::1%eth0", "::1%", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4",
		"010.1.1.1", "1.2.3.4/", "1.2.3.4/33", "::/0", "0.0.0.0/0", "*", "", "1.2.3.4%x", "fe80::1%eth0/64",
		"2001:db8::1/00000048"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIPKey(s)
		if err != nil {
			if p.IsValid() {
				t.Fatalf("%q: error %v with a valid prefix %v", s, err, p)
			}
			// Whatever netip accepts as an address without zone or mask
			// is a key (it rejects leading zeros, as Exim does).
			if a, err2 := netip.ParseAddr(s); err2 == nil && a.Zone() == "" {
				t.Fatalf("%q: netip accepts it, ParseIPKey says %v", s, err)
			}
			if q, err2 := netip.ParsePrefix(s); err2 == nil {
				t.Fatalf("%q: netip accepts it as %v, ParseIPKey says %v", s, q, err)
			}
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" {
			t.Fatalf("%q: bad prefix %v", s, p)
		}
		q, err := ParseIPKey(p.String())
		if err != nil || q != p {
			t.Fatalf("%q: %v does not round-trip: %v, %v", s, p, q, err)
		}
		if r, err := netip.ParsePrefix(s); err == nil && r.Masked() != p {
			t.Fatalf("%q: netip says %v, ParseIPKey %v", s, r.Masked(), p)
		}
		if !strings.Contains(s, "/") && !p.IsSingleIP() {
			t.Fatalf("%q: a key without a mask gave network %v", s, p)
		}
		// A host key contains its own address and the lookup key parser
		// accepts it (unmapping IPv4-mapped addresses).
		if p.IsSingleIP() {
			a, err := parseIPLookupKey(strings.SplitN(s, "/", 2)[0])
			if err != nil {
				t.Fatalf("%q: lookup key parser: %v", s, err)
			}
			if a != p.Addr().Unmap() {
				t.Fatalf("%q: lookup key %v, file key %v", s, a, p)
			}
		}
	})
}
