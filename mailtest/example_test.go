package mailtest_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/smtpd"
)

// A user's own recipient policy, tested end to end: only the users of a
// lookup get mail. In a test, mailtest.NewServer(t, ...) and srv.Dial(t)
// do the same with less error handling.
func Example() {
	users := mailtest.NewLookup(map[string]string{"alice@example.com": "Alice"})
	known := acl.Must(acl.NewAddressList(nil, acl.Item{Lookup: users}))
	policy := acl.List{
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Recipients(known)}},
		{Verb: acl.Deny, Message: "550 5.1.1 $local_part: no such user"},
	}

	srv, err := mailtest.StartServer(mailtest.WithACL(smtpd.ACLs{Rcpt: policy}))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := new(mailtest.Dialer).DialContext(context.Background(), srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	replies, err := c.Transaction("bob@example.org",
		[]string{"alice@example.com", "mallory@example.com"}, "Subject: hi\n\nHello.\n")
	for _, r := range replies[:4] {
		fmt.Println(r)
	}
	final := replies[4]
	fmt.Println(final.Code, final.Enhanced, err)
	m := srv.Messages()[0]
	fmt.Println(strings.HasSuffix(final.Text(), "id="+m.Message.ID), m.Recipients(), users.Queries())
	fmt.Printf("%q\n", m.Body)
	// Output:
	// 250 2.1.0 OK
	// 250 2.1.5 Accepted
	// 550 5.1.1 mallory: no such user
	// 354 Enter message, ending with "." on a line by itself
	// 250 2.0.0 <nil>
	// true [alice@example.com] [alice@example.com mallory@example.com]
	// "Hello.\n"
}
