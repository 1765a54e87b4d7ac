package srs_test

import (
	"context"
	"fmt"
	"time"

	"github.com/exigo-mta/exigo/srs"
)

func Example() {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

	// Exim's native SRS.
	n := srs.Native{Secret: "secret"}
	addr, _ := n.Encode("user@example.com", "fwd.example.net", now)
	fmt.Println(addr)
	rcpt, err := n.Check("SRS0=b3d4=jk=example.com=user", now.Add(48*time.Hour))
	fmt.Println(rcpt, err)

	// Full SRS, as Mail::SRS and postsrsd write it.
	s := &srs.SRS{Secrets: []string{"tops3cret"}}
	ctx := context.Background()
	a0, _ := s.Forward(ctx, "user@example.com", "fwd.example.net", now)
	a1, _ := s.Forward(ctx, a0, "second.example", now)
	back, _ := s.Reverse(ctx, a1, now)
	fmt.Println(a0)
	fmt.Println(a1)
	fmt.Println(back)
	// Output:
	// SRS0=b3d4=jk=example.com=user@fwd.example.net
	// user@example.com <nil>
	// SRS0=BCgk=JK=example.com=user@fwd.example.net
	// SRS1=haEB=fwd.example.net==BCgk=JK=example.com=user@second.example
	// SRS0=BCgk=JK=example.com=user@fwd.example.net
}
