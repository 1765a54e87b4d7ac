package arc_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/exigo-mta/exigo/arc"
)

func Example() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	dns := arc.MapResolver{"sel._domainkey.lists.example": "v=DKIM1; k=ed25519; p=" +
		base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
	msg := "Authentication-Results: lists.example; dkim=pass header.d=origin.example\r\n" +
		"From: alice@origin.example\r\nTo: list@lists.example\r\nSubject: hi\r\n\r\nHello.\r\n"

	// A mailing list seals the message it forwards.
	s := &arc.Signer{ADMD: "lists.example", Selector: "sel", Key: key,
		Headers: []string{"from", "to", "subject"}, Timestamps: true,
		Now:      func() time.Time { return time.Unix(1795276800, 0) },
		Verifier: &arc.Verifier{Resolver: dns}}
	br := bufio.NewReader(strings.NewReader(msg))
	h, _ := arc.ReadHeader(br, 0)
	set, err := s.Sign(context.Background(), h, br)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(string(set[2]), "\r\n", "\n")) // the AAR

	// The next hop verifies the chain.
	v := &arc.Verifier{Resolver: dns}
	res, _ := v.Verify(context.Background(), strings.NewReader(string(set.Bytes())+msg))
	fmt.Println(res.State, res.Domains, res.OldestPass)
	// Output:
	// ARC-Authentication-Results: i=1; lists.example;
	//  dkim=pass header.d=origin.example
	// pass [lists.example] 1
}
