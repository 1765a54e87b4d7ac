package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSrsCommand(t *testing.T) {
	t.Parallel()
	const at = "1795226400" // day 20778: stamps jk / JK
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"srs", "encode", "--secret", "secret", "--return-path", "user@example.com", "--domain", "fwd.example.net", "--time", at},
			0, "SRS0=b3d4=jk=example.com=user@fwd.example.net\n", ""},
		{[]string{"srs", "encode", "--secret", "secret", "--return-path", "a b@x", "--domain", "fwd.example.net", "--time", at},
			1, "", "exigo srs encode: malformed address: \"b@x\" may not follow the address\n"},
		{[]string{"srs", "decode", "--secret", "secret", "--time", at, "SRS0=b3d4=jk=example.com=user@fwd.example.net"},
			0, "user@example.com\n", ""},
		{[]string{"srs", "decode", "--secret", "secret", "--time", at, `"SRS0=e74c=jk=Example.COM=a b"@fwd.example.net`},
			0, "\"a b\"@example.com\n", ""},
		{[]string{"srs", "decode", "--secret", "secret", "--time", at, "SRS0=b3d5=jk=example.com=user"},
			1, "", "exigo srs decode: SRS hash invalid: hash \"b3d5\" does not match\n"},
		{[]string{"srs", "decode", "--secret", "secret", "--time", "1796227200", "SRS0=b3d4=jk=example.com=user"},
			1, "", "exigo srs decode: SRS timestamp expired or invalid: timestamp jk is 11 days old (maximum 10)\n"},
		{[]string{"srs", "decode", "--secret", "secret", "user@example.com"},
			1, "", "exigo srs decode: not an SRS address: \"user\" does not match SRS0=hash=tt=domain=local\n"},
		{[]string{"srs", "forward", "--secret", "tops3cret", "--time", at, "user@example.com", "fwd.example.net"},
			0, "SRS0=BCgk=JK=example.com=user@fwd.example.net\n", ""},
		{[]string{"srs", "forward", "--secret", "tops3cret", "--separator", "+", "--time", at, "SRS0=BCgk=JK=example.com=user@fwd.example.net", "second.example"},
			0, "SRS1+haEB=fwd.example.net==BCgk=JK=example.com=user@second.example\n", ""},
		{[]string{"srs", "reverse", "--secret", "new", "--secret", "tops3cret", "--time", at, "SRS1=haEB=fwd.example.net==BCgk=JK=example.com=user@second.example"},
			0, "SRS0=BCgk=JK=example.com=user@fwd.example.net\n", ""},
		{[]string{"srs", "reverse", "--secret", "tops3cret", "--max-age", "1", "--time", "1795485600", "SRS0=BCgk=JK=example.com=user@fwd.example.net"},
			1, "", "exigo srs reverse: SRS timestamp expired or invalid: timestamp JK is 3 days old (maximum 1)\n"},
		{[]string{"srs", "reverse", "SRS0=BCgk=JK=example.com=user@fwd.example.net"},
			1, "", "exigo srs reverse: no SRS secret\n"},
		{[]string{"srs", "frobnicate"}, 2, "", "exigo srs: unknown subcommand \"frobnicate\"\n" + srsUsage},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		if code != tc.code || out.String() != tc.stdout || errb.String() != tc.stderr {
			t.Errorf("exigo %s: code %d, stdout %q, stderr %q; want %d, %q, %q",
				strings.Join(tc.args, " "), code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
