package redirect

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func fmtItems(items []Item) string {
	var parts []string
	for _, it := range items {
		s := it.Kind.String()
		if it.Kind == KindAddress {
			s = ""
		}
		if it.NoRedirect {
			s += `\`
		}
		if it.Value != "" || it.Kind == KindFail || it.Kind == KindDefer {
			if s != "" && !it.NoRedirect {
				s += " "
			}
			s += "<" + it.Value + ">"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"a@example.com", "<a@example.com>"},
		{"  a@example.com ,b@example.org\nc@example.net  ", "<a@example.com> | <b@example.org> | <c@example.net>"},
		{"real", "<real>"},
		{`"real"`, "<real>"},
		{`" spaced"`, "<spaced>"},
		{`"a,b"@remote.example, real`, `<"a,b"@remote.example> | <real>`},
		{`"a\"b"@remote.example`, `<"a\"b"@remote.example>`},
		{`"a@b"@remote.example`, `<"a@b"@remote.example>`},
		{`"quoted local"@remote.example`, `<"quoted local"@remote.example>`},
		{`\real`, `\<real>`},
		{`\"quoted"`, `\<"quoted">`},
		{`\ real@example.com`, `\<real@example.com>`},
		{"real, # comment here\n  other@remote.example", "<real> | <other@remote.example>"},
		{"# only a comment\n#another", ""},
		{"real, # comment here other@remote.example", "<real>"},
		{"Real Person <real@example.com>", "<real@example.com>"},
		{`"Real, Person" <real@example.com>, x@y.example`, "<real@example.com> | <x@y.example>"},
		{"<real@example.com>", "<real@example.com>"},
		{"<@relay.example,@other.example:real@example.com>", "<real@example.com>"},
		{"real (the real one)", "<real>"},
		{"a(comment)@remote.example", "<a@remote.example>"},
		{"a (nested (comment), with comma) @ remote.example", "<a@remote.example>"},
		{"a . b @ c.example", "<a.b@c.example>"},
		{"a..b@remote.example", "<a..b@remote.example>"},
		{".a@remote.example", "<.a@remote.example>"},
		{"a@[192.0.2.1]", "<a@[192.0.2.1]>"},
		{"a@[IPv6:2001:db8::1]", "<a@[IPv6:2001:db8::1]>"},
		{"real@TEST.EXAMPLE", "<real@TEST.EXAMPLE>"},
		{"jöran@exämple.com", "<jöran@exämple.com>"},
		{":fail: Gone away, no forwarding address", ":fail: <Gone away, no forwarding address>"},
		{":FAIL:", ":fail: <>"},
		{"  :defer:   try again   \nreal", ":defer: <try again> | <real>"},
		{"real, :fail: mixed, failure", "<real> | :fail: <mixed, failure>"},
		{":blackhole:", ":blackhole:"},
		{":blackhole: junk", ":blackhole:"},
		{"real, :blackhole:", "<real> | :blackhole:"},
		{":unknown:", ":unknown:"},
		{":include:/etc/mail/list", ":include: </etc/mail/list>"},
		{"|/bin/cat", "pipe </bin/cat>"},
		{`"|/some/command ready,steady,go"`, "pipe </some/command ready,steady,go>"},
		{"|user@example.com", "<|user@example.com>"},
		{"/home/world/minbari", "file </home/world/minbari>"},
		{"/home/world/", "file </home/world/>"},
		{"/s=molari/o=babylon/@x400gate.way", "</s=molari/o=babylon/@x400gate.way>"},
		{",,, ,\n\n", ""},
		{"", ""},
	}
	for _, tt := range tests {
		items, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := fmtItems(items); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"a@b@c", `redirect: malformed address: @c may not follow a@b in "a@b@c"`},
		{"<>", `redirect: missing or malformed local part in "<>"`},
		{`"unterminated`, `redirect: unmatched double quote in "\"unterminated"`},
		{"ok@x.example, a@", `redirect: domain missing or malformed in "a@"`},
		{"@b.example", `redirect: no local part in "@b.example"`},
		{"a@b..c", `redirect: domain missing or malformed in "a@b..c"`},
		{"a@-b.example", `redirect: domain missing or malformed in "a@-b.example"`},
		{"a@b_c.example", `redirect: domain missing or malformed in "a@b_c.example"`},
		{"real   other@remote.example", `redirect: missing or malformed local part (expected word or "<") in "real   other@remote.example"`},
		{"<real@example.com> trailing", `redirect: malformed address: trailing may not follow <...> in "<real@example.com> trailing"`},
		{"Real Person <>", `redirect: missing or malformed local part in "Real Person <>"`},
		{"group: real@example.com;", `redirect: malformed address: :real@example.com; may not follow group in "group: real@example.com;"`},
		{"<real@example.com", `redirect: unmatched < in "<real@example.com"`},
		{"a(unclosed@example.com", `redirect: unmatched parenthesis in "a(unclosed@example.com"`},
		{"a@[1.2.3.4", `redirect: unmatched [ in "a@[1.2.3.4"`},
		{"a\\b@example.com", `redirect: invalid character '\\' in "a\\b@example.com"`},
		{"a\x00b@example.com", `redirect: invalid character '\x00' in "a\x00b@example.com"`},
		{":include:", `redirect: missing file name after :include: in ":include:"`},
		{"|", `redirect: empty pipe command in "|"`},
		{`""`, `redirect: empty item in "\"\""`},
		{"<@relay.example real@example.com>", `redirect: malformed source route in "<@relay.example real@example.com>"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): error %v, want a *SyntaxError", tt.in, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

// FuzzParseRedirect checks that Parse never panics, that it returns
// either items or a *SyntaxError, and that every address it returns is
// in canonical form: parsed again as an address, it gives itself.
func FuzzParseRedirect(f *testing.F) {
	for _, s := range []string{
		"a@example.com, b@example.org\nc",
		`"a,b"@x.example, \real, Real Person <r@x.example>`,
		":fail: 550 5.1.1 gone, really\nx@y.example",
		":defer:", ":blackhole:", ":unknown:", ":include:/etc/list",
		"|/bin/cmd arg", "/var/mail/file", "# comment\nreal (comment)",
		"<@a.example,@b.example:c@d.example>", "a@[192.0.2.1]", `"x\"y"@z.example`,
		"a(b(c)d)@e.example", "<>", `"`, "a@b@c", "(", "<", "[",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		items, err := Parse(data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %v is not a *SyntaxError", data, err)
			}
			return
		}
		for _, it := range items {
			if it.Kind < KindAddress || it.Kind > KindInclude {
				t.Fatalf("Parse(%q): bad kind %d", data, it.Kind)
			}
			if it.Kind != KindAddress {
				continue
			}
			again, err := parseAddress(it.Value)
			if err != nil {
				t.Fatalf("Parse(%q): address %q does not parse again: %v", data, it.Value, err)
			}
			if again != it.Value {
				t.Fatalf("Parse(%q): address %q parses again as %q", data, it.Value, again)
			}
		}
	})
}

func ExampleParse() {
	items, err := Parse("alice@example.com, \"Bob Smith\" <bob@example.org>, \\carol, :fail: 550 5.1.6 moved")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range items {
		fmt.Printf("%s %q %v\n", it.Kind, it.Value, it.NoRedirect)
	}
	// Output:
	// address "alice@example.com" false
	// address "bob@example.org" false
	// address "carol" true
	// :fail: "550 5.1.6 moved" false
}
