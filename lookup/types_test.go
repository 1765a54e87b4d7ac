package lookup

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestNWildLSearch(t *testing.T) {
	t.Parallel()
	data := `plain: p
*.a.b: star
^\d+\.x$: re
^(?-i)CS$: cs
*@dom.example: atdom
"  spaced  ": sp
!neg: negated
`
	for _, l := range []*File{NWildLSearch(writeFile(t, data)), WildLSearch(writeFile(t, data))} {
		// The expectations are Exim 4.96's answers for the same file.
		check(t, l, map[string]result{
			"PLAIN":            found("p"),
			"foo.A.B":          found("star"),
			".a.b":             found("star"),
			"a.b":              found("negated"),
			"123.x":            found("re"),
			"123.X":            found("re"),
			"cs":               found("negated"),
			"CS":               found("cs"),
			"user@DOM.example": found("atdom"),
			"spaced":           found("sp"),
			"  spaced  ":       found("negated"),
			"neg":              missing,
			"NEG":              missing,
			"zzz":              found("negated"),
			"":                 missing,
		})
	}

	check(t, NWildLSearch(writeFile(t, "!^foo: nre\n")), map[string]result{"foobar": missing, "bar": found("nre")})
	check(t, NWildLSearch(writeFile(t, "\"! spaced\": nsp\n")), map[string]result{"spaced": missing, "other": found("nsp")})
	check(t, NWildLSearch(writeFile(t, "!!x: dn\n")), map[string]result{"x": found("dn"), "!x": missing, "y": found("dn")})
	check(t, NWildLSearch(writeFile(t, "+name: plus\n@: at\n*: all\n")), map[string]result{"+name": found("plus"), "@": found("at"), "q": found("all")})
	check(t, NWildLSearch(writeFile(t, "\"a:b\": colon\n\"\": empty\n\"  \": blank\n\"!\": bang\n")),
		map[string]result{"a:b": found("colon"), "x": found("bang"), "!": found("bang")})
	check(t, NWildLSearch(writeFile(t, `"^\\d$": quotedre`+"\n")), map[string]result{"5": found("quotedre"), "x": missing})
	check(t, NWildLSearch(writeFile(t, "*: star\n")), map[string]result{"a": found("star")})
	// Literal entries indexed in the map still lose to an earlier pattern,
	// and win over a later one.
	check(t, NWildLSearch(writeFile(t, "*.example: wild\nhost.example: lit\nother.example: lit2\n^other: re\n")),
		map[string]result{"host.example": found("wild"), "HOST.EXAMPLE": found("wild"), "nothing": missing})
	check(t, NWildLSearch(writeFile(t, "host.example: lit\n*.example: wild\nHOST.example: dup\n")),
		map[string]result{"host.Example": found("lit"), "x.example": found("wild")})
}

func TestNWildLSearchErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A bad regular expression fails the lookups that reach it, naming the
	// line; entries before it still work.
	p := writeFile(t, "ok: fine\n\n^(bad: badre\nlater: l\n")
	l := NWildLSearch(p)
	check(t, l, map[string]result{"ok": found("fine")})
	_, _, err := l.Lookup(ctx, "later")
	var fe *FileError
	if !errors.As(err, &fe) || fe.Line != 3 || !errors.Is(err, ErrBadPattern) {
		t.Fatalf("err = %v", err)
	}
	if want := "lookup: " + p + ":3: bad regular expression: \"^(bad\": error parsing regexp: missing closing ): `(?i)^(bad`"; err.Error() != want {
		t.Errorf("err = %q\nwant %q", err, want)
	}
	for _, key := range []string{"lsearch;/etc/passwd", "/etc/passwd", "!/etc/x", "a;b"} {
		p := writeFile(t, `"`+key+`": nested`+"\n")
		_, _, err := NWildLSearch(p).Lookup(ctx, "x")
		if !errors.As(err, &fe) || fe.Line != 1 || !errors.Is(err, ErrUnsupported) {
			t.Errorf("key %q: err = %v", key, err)
		}
	}
	// "*;" and "^a;b" are a suffix and a regexp, not nested lookups.
	check(t, NWildLSearch(writeFile(t, "\"*;x\": s\n\"^a;b\": r\n")), map[string]result{"y;x": found("s"), "a;b": found("r")})
}

func TestParseIPKey(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"1.2.3.4":              "1.2.3.4/32",
		"192.168.0.0/16":       "192.168.0.0/16",
		"10.1.2.3/8":           "10.0.0.0/8",
		"1.0.0.0/08":           "1.0.0.0/8",
		"7.0.0.0/0008":         "7.0.0.0/8",
		"0.0.0.0/0":            "0.0.0.0/0",
		"abcd::cdab":           "abcd::cdab/128",
		"ABCD:abcd::/32":       "abcd:abcd::/32",
		"fe80::1%eth0":         "fe80::1/128",
		"::1%":                 "::1/128",
		"::%x%y":               "::/128",
		"::ffff:1.2.3.4":       "::ffff:1.2.3.4/128",
		"::1.2.3.4":            "::102:304/128",
		"1:2:3:4:5:6:7::":      "1:2:3:4:5:6:7:0/128",
		"1:2:3:4:5:6:1.2.3.4":  "1:2:3:4:5:6:102:304/128",
		"2001:db8::/128":       "2001:db8::/128",
		"0001::1":              "1::1/128",
		"2001:db8::1/00000048": "2001:db8::/48",
	}
	for in, want := range good {
		p, err := ParseIPKey(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseIPKey(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	bad := []string{"", "*", "notip", "010.1.1.1", "1.2.3.04", "1.2.3", "1.2.3.4.5", "256.1.1.1",
		"1.2.3.4/33", "::1/129", "1.2.3.4/", "3.0.0.0/", "8.0.0.0/+8", "2.0.0.0/8x", "1.2.3.4/-1",
		"1.2.3.4%x", "fe80::1%eth0/64", ":::1", "1::2::3", "1:2:3:4:5:6:7:8:9", "00001::1", "g::1",
		"::ffff:01.2.3.4", " 1.2.3.4", "1.2.3.4 ", "[::1]", "1.2.3.4/99999999999999999999"}
	for _, in := range bad {
		if p, err := ParseIPKey(in); err == nil {
			t.Errorf("ParseIPKey(%q) = %v, want an error", in, p)
		}
	}
}

func TestIPLSearch(t *testing.T) {
	t.Parallel()
	// The expectations are Exim 4.96's answers, but for the keys that
	// Exim's parser accepts by accident (documented differences).
	data := `1.2.3.4: host
192.168.0.0/16: net16
"abcd::cdab": v6host
"abcd:abcd::/32" v6net
010.1.1.1: leadzero
10.0.0.0/33: badmask
notip: nip
*: default
"::ffff:5.6.7.8": mapped
10.1.2.3/8: hostbits
3.0.0.0/: emptymask
"fe80::1%eth0": scoped
1.2.3.4: duphost
0.0.0.0/0: all4
"fe80::/10": ll
`
	l := IPLSearch(writeFile(t, data))
	check(t, l, map[string]result{
		"1.2.3.4":        found("host"),
		"192.168.7.7":    found("net16"),
		"ABCD::CDAB":     found("v6host"),
		"abcd:abcd:1::1": found("v6net"),
		"10.1.1.1":       found("hostbits"),
		"*":              found("default"),
		"5.6.7.8":        found("all4"),
		"::ffff:5.6.7.8": found("all4"),
		"::ffff:1.2.3.4": found("host"),
		"11.1.1.1":       found("all4"),
		"::1":            missing,
		"fe80::1":        found("scoped"),
		"fe80::1%eth1":   found("scoped"),
		"fe80::2%eth1":   found("ll"),
		"":               missing,
	})
	for _, key := range []string{"010.1.1.1", "notip", "1.2.3.4/32", "[1.2.3.4]", "1.2.3.4 ", "**"} {
		_, _, err := l.Lookup(context.Background(), key)
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Lookup(%q): err = %v, want ErrInvalidKey", key, err)
		}
	}
	_, _, err := l.Lookup(context.Background(), "bad")
	if want := "lookup: " + l.Path() + ": invalid lookup key: \"bad\" is not an IP address"; err == nil || err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	// A host entry after a network that contains it loses; one before it
	// wins; no "*" entry means "*" is not found.
	l = IPLSearch(writeFile(t, "192.0.2.0/24: net\n192.0.2.1: h1\n198.51.100.7: h2\n198.51.100.0/24: net2\n"))
	check(t, l, map[string]result{
		"192.0.2.1": found("net"), "198.51.100.7": found("h2"), "198.51.100.8": found("net2"),
		"*": missing, "203.0.113.1": missing,
	})
}

func TestDSearch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("file", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	// Exim 4.96's answers for the same directory.
	type row struct {
		key                              string
		any, file, dirf, subdir, anyFull result
	}
	full := func(k string) result { return found(dir + "/" + k) }
	rows := []row{
		{"file", found("file"), found("file"), missing, missing, full("file")},
		{"sub", found("sub"), missing, found("sub"), found("sub"), full("sub")},
		{"link", found("link"), missing, missing, missing, full("link")},
		{"dangling", found("dangling"), missing, missing, missing, full("dangling")},
		{".", found("."), missing, found("."), missing, full(".")},
		{"..", found(".."), missing, found(".."), missing, full("..")},
		{"missing", missing, missing, missing, missing, missing},
		{"FILE", missing, missing, missing, missing, missing},
		{"", missing, missing, missing, missing, missing},
	}
	lookups := []*Dir{DSearch(dir), DSearch(dir, Filter(FileEntry)), DSearch(dir, Filter(DirEntry)), DSearch(dir, Filter(SubdirEntry)), DSearch(dir, ReturnFull())}
	for _, r := range rows {
		for i, w := range []result{r.any, r.file, r.dirf, r.subdir, r.anyFull} {
			check(t, lookups[i], map[string]result{r.key: w})
		}
	}
	if got, want := DSearch(dir, ReturnFull(), Filter(SubdirEntry)).String(), "dsearch,ret=full,filter=subdir;"+dir; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	ctx := context.Background()
	for _, key := range []string{"a/b", "/", "sub/", "x\x00"} {
		if _, _, err := DSearch(dir).Lookup(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("key %q: err = %v", key, err)
		}
	}
	_, _, err := DSearch(dir).Lookup(ctx, "a/b")
	if want := "lookup: " + dir + ": invalid lookup key: dsearch key \"a/b\" contains a slash or NUL"; err == nil || err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if _, _, err := DSearch(filepath.Join(dir, "nodir")).Lookup(ctx, "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: err = %v", err)
	}
	if _, _, err := DSearch(filepath.Join(dir, "file")).Lookup(ctx, "x"); err == nil {
		t.Error("dir is a file: no error")
	}
	// Trailing slash: Exim's ret=full doubles it.
	check(t, DSearch(dir+"/", ReturnFull()), map[string]result{"file": found(dir + "//file")})
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("k: v\n1.2.3.4: ip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "f")
	tests := []struct {
		kind, arg, key string
		want           result
	}{
		{"lsearch", f, "K", found("v")},
		{"lsearch,ret=key", f, "K", found("K")},
		{"lsearch,ret=key", f, "x", missing},
		{"lsearch, cache=no_rd", f, "k", found("v")},
		{"wildlsearch", f, "k", found("v")},
		{"nwildlsearch", f, "k", found("v")},
		{"iplsearch", f, "1.2.3.4", found("ip")},
		{"dsearch", dir, "f", found("f")},
		{"dsearch,ret=full", dir, "f", found(f)},
		{"dsearch,filter=dir", dir, "f", missing},
		{"dsearch,filter=file,ret=full", dir, "f", found(f)},
		{"dsearch,filter=subdir", dir, "..", missing},
	}
	for _, tt := range tests {
		l, err := Open(tt.kind, tt.arg)
		if err != nil {
			t.Errorf("Open(%q): %v", tt.kind, err)
			continue
		}
		check(t, l, map[string]result{tt.key: tt.want})
	}
	for kind, want := range map[string]string{
		"cdb":                    `lookup: not supported: lookup type "cdb"`,
		"lsearch,ret=full":       `lookup: lsearch: not supported: option "ret=full"`,
		"dsearch,filter=bogus":   `lookup: dsearch: bad option "filter=bogus"`,
		"lsearch,filter=file":    `lookup: lsearch: not supported: option "filter=file"`,
		"iplsearch,ret=bogus":    `lookup: iplsearch: not supported: option "ret=bogus"`,
		"partial-lsearch":        `lookup: not supported: lookup type "partial-lsearch"`,
		"dsearch,ret=full,bogus": `lookup: dsearch: not supported: option "bogus"`,
	} {
		if _, err := Open(kind, f); err == nil || err.Error() != want {
			t.Errorf("Open(%q): err = %v, want %q", kind, err, want)
		}
	}
	// Options reach the file lookups.
	l, err := Open("lsearch", f, MaxFileSize(5))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Lookup(context.Background(), "k"); !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("err = %v", err)
	}
}

// TestIPIndexNetworks checks the scan-with-host-map shortcut against a
// plain linear scan over many entries.
func TestIPIndexNetworks(t *testing.T) {
	t.Parallel()
	data := "10.0.0.5: h5\n10.0.0.0/30: n30\n10.0.0.4/30: n30b\n10.0.0.2: h2\n10.0.0.0/24: n24\n10.0.1.1: h11\n::/0: v6\n"
	x, err := buildIP("", data, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 260; i++ {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)})
		var want result
		_ = parseRecords(data, 0, func(r record) error {
			if want.found {
				return nil
			}
			if p, err := ParseIPKey(r.key); err == nil && p.Contains(a) {
				want = found(r.value)
			}
			return nil
		})
		v, ok, err := x.find(a.String())
		if err != nil || v != want.value || ok != want.found {
			t.Errorf("%s: %q %v %v, want %v", a, v, ok, err, want)
		}
	}
}
