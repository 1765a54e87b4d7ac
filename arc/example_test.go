package arc_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/arc"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/smtp"
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

// A Signer in an SMTP transport is Exim's arc_sign: every message the
// transport sends gets a new ARC set on top, signed once per delivery.
// transport.Sign is what the transport runs; a message without an
// Authentication-Results field of the ADMD fails permanently.
func ExampleSigner_SignHeader() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	readKey := func(string) ([]byte, error) { return []byte(base64.StdEncoding.EncodeToString(key.Seed())), nil }
	s, err := arc.ParseSignSpec("lists.example : sel : /etc/exigo/arc.key : timestamps,expire", readKey)
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Verifier = &arc.Verifier{Resolver: arc.MapResolver{}} // no chain yet: no lookups
	tr := &smtp.Transport{Signers: []transport.HeaderSigner{s}}
	defer tr.Close()

	for _, hdr := range []string{
		"Authentication-Results: lists.example; spf=pass smtp.mailfrom=origin.example\nFrom: a@origin.example\n\n",
		"Authentication-Results: elsewhere.example; spf=pass\nFrom: a@origin.example\n\n",
	} {
		h, _ := textproto.ReadHeader(bufio.NewReader(strings.NewReader(hdr)))
		m := &exigo.Message{Header: h, Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("Hello.\n")), nil
		})}
		fields, err := transport.Sign(context.Background(), m, nil, tr.Signers...)
		if err != nil {
			fmt.Println(err, transport.Permanent(err))
			continue
		}
		for _, line := range strings.Split(string(fields), "\n") {
			if name, _, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
				fmt.Println(name)
			}
		}
	}
	// Output:
	// ARC-Seal
	// ARC-Message-Signature
	// ARC-Authentication-Results
	// arc: no Authentication-Results header of our ADMD (lists.example) (permanent failure) true
}
