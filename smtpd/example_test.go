package smtpd_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/smtp"
	"os"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/smtpd"
	"github.com/exigo-mta/exigo/spool"
)

// A server that stores mail in an Exim-format spool and rejects one
// recipient with an ACL, driven by a client from the standard library.
func Example() {
	dir, err := os.MkdirTemp("", "exigo-spool")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sp, err := spool.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	unknown := acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
		return tx.Recipient.Address == "nobody@example.com", nil
	})
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Greeting: "ESMTP example",
		Store:    smtpd.SpoolStore(sp),
		ACL: smtpd.ACLs{
			Rcpt: acl.List{
				{Verb: acl.Deny, Message: "550 5.1.1 unknown user", Conditions: []acl.Condition{unknown}},
				{Verb: acl.Accept},
			},
		},
		OnReceived: func(ctx context.Context, m *exigo.Message) {
			fmt.Printf("stored: from <%s> to %d recipient(s), subject %q\n",
				m.Envelope.Sender, len(m.Envelope.Recipients), m.Header.Get("Subject"))
		},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	c, err := smtp.Dial(l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		log.Fatal(err)
	}
	if err := c.Mail("sender@example.org"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Rcpt("nobody@example.com"))
	fmt.Println(c.Rcpt("user@example.com"))
	w, err := c.Data()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprint(w, "Subject: hello\r\n\r\nHi there.\r\n")
	fmt.Println(w.Close())
	fmt.Println(c.Quit())
	// Output:
	// 550 "5.1.1 unknown user"
	// <nil>
	// stored: from <sender@example.org> to 1 recipient(s), subject "hello"
	// <nil>
	// <nil>
}
