package srs

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary local parts and addresses to both decoders
// and to Exim's address extraction: every input gets a decision (a
// result or one of the package's errors), never a panic, and whatever
// verifies re-encodes consistently.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"SRS0=b3d4=jk=example.com=user", "SRS0=e74c=jk=Example.COM=a b", "srs0=B3D4=JK==x",
		"SRS0=BCgk=JK=example.com=user@fwd.example.net",
		"SRS1=haEB=fwd.example.net==BCgk=JK=example.com=user@second.example",
		`"SRS0=e74c=jk=Example.COM=a b"@fwd`, "SRS0=====", "SRS1===", `Name <"a\b"@x.org> (c)`,
		"((((", `"`, "<@a,@b:u@[1.2.3.4]>", "SRS0=b3d4=jk=ex\nample.com=user",
	} {
		f.Add(s)
	}
	ctx := context.Background()
	n := Native{Secret: "secret"}
	s := &SRS{Secrets: []string{"tops3cret", "old"}, HashMin: 1}
	db := &SRS{Secrets: []string{"k"}, DB: &MapStore{}}
	f.Fuzz(func(t *testing.T, in string) {
		rcpt, err := n.Check(in, day20778)
		if err != nil && !errors.Is(err, ErrNotSRS) && !errors.Is(err, ErrHash) && !errors.Is(err, ErrTimestamp) {
			t.Fatalf("Check(%q): unexpected error %v", in, err)
		}
		if err == nil {
			if r2, ok := Recipient(in); !ok || r2 != rcpt {
				t.Fatalf("Recipient(%q) = %q, %v; Check %q", in, r2, ok, rcpt)
			}
		}
		if _, err := n.Encode(in, "fwd.example.net", day20778); err != nil && !errors.Is(err, ErrAddress) {
			t.Fatalf("Encode(%q): %v", in, err)
		}
		for _, x := range []*SRS{s, db} {
			back, err := x.Reverse(ctx, in, day20778)
			if err != nil && !errors.Is(err, ErrNotSRS) && !errors.Is(err, ErrHash) &&
				!errors.Is(err, ErrTimestamp) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("Reverse(%q): unexpected error %v", in, err)
			}
			if err == nil && back == "" {
				t.Fatalf("Reverse(%q) = empty", in)
			}
		}
		if strings.Count(in, "@") == 1 && !strings.HasPrefix(in, "@") && !strings.HasSuffix(in, "@") && !strings.ContainsAny(in, "\"\\") {
			a, err := s.Forward(ctx, in, "fwd.example.net", day20778)
			if errors.Is(err, ErrNotSRS) || errors.Is(err, ErrAddress) { // a malformed sender
				return
			}
			if err != nil {
				t.Fatalf("Forward(%q): %v", in, err)
			}
			if a == in {
				return
			}
			back, err := s.Reverse(ctx, a, day20778)
			if err != nil {
				t.Fatalf("Reverse(Forward(%q) = %q): %v", in, a, err)
			}
			_ = back
		}
	})
}
