package srs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints"
)

func TestSRSOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := day20778
	base := SRS{Secrets: []string{"tops3cret"}}
	// Vectors from Mail::SRS 0.31 (Guarded) and postsrsd 1.10 on day 20778.
	got, err := base.Forward(ctx, "user@example.com", "fwd.example.net", now)
	if want := "SRS0=BCgk=JK=example.com=user@fwd.example.net"; got != want || err != nil {
		t.Fatalf("Forward = %q, %v; want %q", got, err, want)
	}
	got, err = base.Forward(ctx, got, "second.example", now)
	if want := "SRS1=haEB=fwd.example.net==BCgk=JK=example.com=user@second.example"; got != want || err != nil {
		t.Fatalf("Forward SRS0 = %q, %v; want %q", got, err, want)
	}
	for _, tc := range []struct {
		name string
		s    SRS
		in   string
		fwd  string
		rev  string
		err  error
		at   time.Time
	}{
		{"separator", SRS{Secrets: base.Secrets, Separator: '+'}, "user@example.com", "SRS0+BCgk=JK=example.com=user@fwd.example.net", "user@example.com", nil, now},
		{"hashlength", SRS{Secrets: base.Secrets, HashLength: 8}, "user@example.com", "", "user@example.com", nil, now},
		{"maxage ok", SRS{Secrets: base.Secrets, MaxAge: 3}, "user@example.com", "", "user@example.com", nil, now.Add(3 * 24 * time.Hour)},
		{"maxage expired", SRS{Secrets: base.Secrets, MaxAge: 3}, "user@example.com", "", "", ErrTimestamp, now.Add(4 * 24 * time.Hour)},
		{"default maxage expired", base, "user@example.com", "", "", ErrTimestamp, now.Add(22 * 24 * time.Hour)},
		{"future", base, "user@example.com", "", "", ErrTimestamp, now.Add(-24 * time.Hour)},
		{"nohash", SRS{NoHash: true}, "user@example.com", "SRS0==JK=example.com=user@fwd.example.net", "user@example.com", nil, now},
		{"notimestamp", SRS{Secrets: base.Secrets, NoTimestamp: true}, "user@example.com", "", "user@example.com", nil, now.Add(5000 * 24 * time.Hour)},
		{"same domain", base, "user@fwd.example.net", "user@fwd.example.net", "", ErrNotSRS, now},
		{"always rewrite", SRS{Secrets: base.Secrets, AlwaysRewrite: true}, "user@fwd.example.net", "", "user@fwd.example.net", nil, now},
		{"quoted", base, `"a b"@example.com`, "", `"a b"@example.com`, nil, now},
	} {
		fwd, err := tc.s.Forward(ctx, tc.in, "fwd.example.net", now)
		if err != nil || (tc.fwd != "" && fwd != tc.fwd) {
			t.Errorf("%s: Forward = %q, %v; want %q", tc.name, fwd, err, tc.fwd)
			continue
		}
		rev, err := tc.s.Reverse(ctx, fwd, tc.at)
		if rev != tc.rev || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("%s: Reverse(%q) = %q, %v; want %q, %v", tc.name, fwd, rev, err, tc.rev, tc.err)
		}
	}
}

func TestSRSReverseBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &SRS{Secrets: []string{"tops3cret"}, HashMin: 3}
	good := "SRS0=BCgk=JK=example.com=user@fwd.example.net"
	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{good, "user@example.com", nil},
		{"srs0=BCgk=jk=example.com=user@fwd.example.net", "user@example.com", nil},
		{"SRS0=bcgk=JK=example.com=user@fwd.example.net", "user@example.com", nil}, // case smashed
		{"SRS0=BCg=JK=example.com=user@x", "user@example.com", nil},                // HashMin 3
		{"SRS0=BC=JK=example.com=user@x", "", ErrHash},
		{"SRS0=XXXX=JK=example.com=user@x", "", ErrHash},
		{"SRS0=BCgk=JK=example.com=User@x", "User@example.com", nil},
		{"SRS0=BCgk=JK=example.org=user@x", "", ErrHash},
		{"SRS0=BCgk=J1=example.com=user@x", "", ErrHash},
		{"SRS0=BCgk=JK=example.com@x", "", ErrNotSRS},
		{"SRS0=BCgk=JK@x", "", ErrNotSRS},
		{"SRS0@x", "", ErrNotSRS},
		{"SRS1=haEB=fwd.example.net@x", "", ErrNotSRS},
		{"SRS1=haEB=fwd.example.net==BCgk=JK=example.com=user@x", "SRS0=BCgk=JK=example.com=user@fwd.example.net", nil},
		{"SRS1=haEC=fwd.example.net==BCgk=JK=example.com=user@x", "", ErrHash},
		{"user@example.com", "", ErrNotSRS},
		{"", "", ErrNotSRS},
		{"SRS0=" + strings.Repeat("A", 1<<16) + "=JK=a=b@x", "", ErrHash},
		{"SRS0=BCgk=JK=example.com=" + strings.Repeat("u", 1<<16) + "@x", "", ErrHash},
	} {
		got, err := s.Reverse(ctx, tc.in, day20778)
		if got != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("Reverse(%.80q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if _, err := (&SRS{}).Reverse(ctx, good, day20778); !errors.Is(err, ErrNoSecret) {
		t.Errorf("no secret: %v", err)
	}
	if _, err := (&SRS{}).Forward(ctx, "u@x", "y", day20778); !errors.Is(err, ErrNoSecret) {
		t.Errorf("no secret: %v", err)
	}
	for _, in := range []string{"nodomain", "@x.org", "u@"} {
		if got, err := s.Forward(ctx, in, "fwd.example.net", day20778); err == nil {
			t.Errorf("Forward(%q) = %q, want an error", in, got)
		}
	}
}

func TestSRSDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := &MapStore{}
	s := &SRS{Secrets: []string{"k"}, DB: db}
	a, err := s.Forward(ctx, "Long.User+tag@example.com", "fwd.example.net", day20778)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "SRS0=") || strings.Contains(a, "example.com") || strings.Count(a, "=") != 3 {
		t.Fatalf("database-mode address %q", a)
	}
	if got, err := s.Reverse(ctx, a, day20778); got != "Long.User+tag@example.com" || err != nil {
		t.Errorf("Reverse = %q, %v", got, err)
	}
	if _, err := (&SRS{Secrets: []string{"k"}, DB: &MapStore{}}).Reverse(ctx, a, day20778); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty store: %v", err)
	}
	if _, err := (&SRS{Secrets: []string{"other"}, DB: db}).Reverse(ctx, a, day20778); !errors.Is(err, ErrHash) {
		t.Errorf("wrong secret: %v", err)
	}
}

// TestSRSDatabaseHints: database mode on a hints database; the record
// expires after the TTL.
func TestSRSDatabaseHints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := day20778
	db := hints.NewMemory(hints.WithClock(func() time.Time { return now }))
	store := &HintsStore{DB: db, TTL: 48 * time.Hour, Now: func() time.Time { return now }}
	s := &SRS{Secrets: []string{"k"}, DB: store}
	a, err := s.Forward(ctx, "user@example.com", "fwd.example.net", day20778)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.SplitN(strings.TrimPrefix(a, "SRS0="), "@", 2)[0]
	key = key[strings.LastIndexByte(key, '=')+1:]
	if v, found, err := db.Get(ctx, "srs:"+key); err != nil || !found || string(v) != "user@example.com" {
		t.Fatalf("hints record srs:%s = %q %v %v", key, v, found, err)
	}
	if got, err := s.Reverse(ctx, a, day20778); got != "user@example.com" || err != nil {
		t.Errorf("Reverse = %q, %v", got, err)
	}
	now = now.Add(49 * time.Hour)
	if _, err := s.Reverse(ctx, a, day20778); !errors.Is(err, ErrNotFound) {
		t.Errorf("after the TTL: %v, want ErrNotFound", err)
	}
}
