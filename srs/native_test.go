package srs

import (
	"errors"
	"testing"
	"time"
)

// day20778 is 2026-11-21 00:00 UTC plus an hour: day stamp "jk".
var day20778 = time.Unix(20778*86400+3600, 0)

func TestNativeEncodeVectors(t *testing.T) {
	t.Parallel()
	// Produced by Exim 4.96: exim -be '${srs_encode {secret}{RP}{fwd.example.net}}'
	// on day 20778.
	n := Native{Secret: "secret"}
	for _, tc := range []struct{ rp, want string }{
		{"user@example.com", "SRS0=b3d4=jk=example.com=user@fwd.example.net"},
		{"User@Example.COM", "SRS0=b3d4=jk=Example.COM=User@fwd.example.net"},
		{"<user@example.com>", "SRS0=a2c7=jk=example.com=user@fwd.example.net"},
		{`"a b"@example.com`, `"SRS0=e74c=jk=example.com=a b"@fwd.example.net`},
		{`"a.b"@x.org`, `"SRS0=4f31=jk=x.org=a.b"@fwd.example.net`},
		{`"a\b"@x.org`, `"SRS0=f47b=jk=x.org=a\b"@fwd.example.net`},
		{`"a@b"@x.org`, `"SRS0=5603=jk=x.org=a@b"@fwd.example.net`},
		{" user@x.org ", "SRS0=ca66=jk=x.org=user@fwd.example.net"},
		{"Name <user@x.org>", "SRS0=577b=jk=x.org=user@fwd.example.net"},
		{"u@[1.2.3.4]", "SRS0=856f=jk=[1.2.3.4]=u@fwd.example.net"},
		{"(c)u@x.org", "SRS0=edeb=jk=x.org=u@fwd.example.net"},
		{"nodomain", "SRS0=a1a7=jk==nodomain@fwd.example.net"},
		{"SRS0=abcd=jk=x.com=u@fwd.example.net", "SRS0=fdf1=jk=fwd.example.net=SRS0=abcd=jk=x.com=u@fwd.example.net"},
		{"", ""},
	} {
		got, err := n.Encode(tc.rp, "fwd.example.net", day20778)
		if err != nil || got != tc.want {
			t.Errorf("Encode(%q) = %q, %v; want %q", tc.rp, got, err, tc.want)
		}
	}
	for _, rp := range []string{"a b@x.org", "u@x.org,v@y.org", "a@b@c", "@x.org", "u@", `"unterminated@x.org`} {
		if got, err := n.Encode(rp, "f", day20778); !errors.Is(err, ErrAddress) {
			t.Errorf("Encode(%q) = %q, %v; want a malformed address error", rp, got, err)
		}
	}
}

func TestNativeDayStamps(t *testing.T) {
	t.Parallel()
	// Exim 4.96 under libfaketime at day N (plus an hour).
	n := Native{Secret: "secret"}
	for d, want := range map[int64]string{0: "aa", 5: "af", 31: "a7", 32: "ba", 1023: "77", 1024: "aa", 300: "jm"} {
		got, _ := n.Encode("user@example.com", "fwd.example.net", time.Unix(d*86400+3600, 0))
		if w := "SRS0=b3d4=" + want + "=example.com=user@fwd.example.net"; got != w {
			t.Errorf("day %d: %q, want %q", d, got, w)
		}
	}
}

func TestNativeCheck(t *testing.T) {
	t.Parallel()
	n := Native{Secret: "secret"}
	// Exim 4.96 on day 20778: ${if inbound_srs {LP}{secret}{yes:$srs_recipient}{no:$srs_recipient}}
	for _, tc := range []struct {
		lp, rcpt string
		err      error
	}{
		{"SRS0=b3d4=jk=example.com=user", "user@example.com", nil},
		{"SRS0=b3d4=jk=Example.COM=User", "user@example.com", nil},
		{"srs0=b3d4=jk=example.com=user", "user@example.com", nil},
		{"SRS0=B3D4=jk=example.com=user", "user@example.com", ErrHash},
		{"SRS0=b3d4=jj=example.com=user", "user@example.com", nil},
		{"SRS0=b3d4=ja=example.com=user", "user@example.com", nil},          // 10 days
		{"SRS0=b3d4=i7=example.com=user", "user@example.com", ErrTimestamp}, // 11 days
		{"SRS0=b3d4=jl=example.com=user", "user@example.com", ErrTimestamp},
		{"SRS0=e74c=jk=Example.COM=a b", `"a b"@example.com`, nil},
		{`"SRS0=e74c=jk=Example.COM=a b"`, "", ErrNotSRS},
		{`SRS0=f47b=jk=x.org=a\b`, `"a\b"@x.org`, nil},
		{"SRS0=5603=jk=x.org=a@b", `"a@b"@x.org`, nil},
		{"SRS0=b3d=jk=example.com=user", "user@example.com", ErrHash},
		{"SRS0=b3d4x=jk=example.com=user", "user@example.com", ErrHash},
		{"SRS0=b3d4=j=example.com=user", "", ErrNotSRS},
		{"SRS0=a1a7=jk==nodomain", "nodomain@", ErrHash},
		{"SRS0", "", ErrNotSRS},
		{"", "", ErrNotSRS},
		// exigo decodes the timestamp caselessly (Exim rejects "JK").
		{"SRS0=b3d4=JK=example.com=user", "user@example.com", nil},
	} {
		rcpt, err := n.Check(tc.lp, day20778)
		if rcpt != tc.rcpt || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Check(%q) = %q, %v; want %q, %v", tc.lp, rcpt, err, tc.rcpt, tc.err)
		}
	}
	// An empty secret checks the syntax only, as Exim does.
	if rcpt, err := (Native{}).Check("SRS0=zzzz=aa=x.org=u", day20778); rcpt != "u@x.org" || err != nil {
		t.Errorf("empty secret: %q, %v", rcpt, err)
	}
}
