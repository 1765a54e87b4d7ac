package acl_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
)

// A relay-control RCPT ACL in the style of Exim's default configuration:
// local hosts and authenticated clients may relay, everybody else may only
// send to verified local recipients.
func Example() {
	cfg := &acl.ListConfig{PrimaryHostname: "mx.example.com"}
	localDomains := acl.Must(acl.ParseDomainList("@ : example.com", cfg))
	// The first matching item decides, so the exception comes first.
	relayFromHosts := acl.Must(acl.ParseHostList("!192.168.99.0/24 : 127.0.0.1 : ::::1 : 192.168.0.0/16", cfg))
	badLocalParts := acl.Must(acl.ParseLocalPartList(`^[.] : ^.*[@%!/|]`, cfg))

	users := map[string]bool{"alice": true, "postmaster": true}
	verify := acl.RecipientVerifierFunc(func(_ context.Context, _ *acl.Tx, r *exigo.Recipient) error {
		local, _ := exigo.SplitAddress(r.Address)
		if users[strings.ToLower(local)] {
			return nil
		}
		return &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 1, 1}, Message: "Unrouteable address"}
	})

	rcptACL := acl.List{
		{Verb: acl.Deny, Message: "Restricted characters in address",
			Conditions: []acl.Condition{acl.Domains(localDomains), acl.LocalParts(badLocalParts)}},
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Hosts(relayFromHosts)}},
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Authenticated("*")}},
		{Verb: acl.Require, Message: "550 5.7.1 relay not permitted",
			Conditions: []acl.Condition{acl.Domains(localDomains)}},
		{Verb: acl.Require, Conditions: []acl.Condition{acl.VerifyRecipient(verify)}},
		{Verb: acl.Accept, Conditions: []acl.Condition{
			acl.Must(acl.AddHeader("X-Verified: $local_part@$domain", acl.AtEnd)),
		}},
	}

	check := func(client, auth, rcpt string) {
		s := &exigo.Session{RemoteAddr: netip.MustParseAddrPort(client), AuthMech: auth}
		tx := &acl.Tx{
			Stage:     acl.StageRcpt,
			Session:   s,
			Message:   &exigo.Message{Session: s},
			Recipient: &exigo.Recipient{Address: rcpt},
		}
		res := rcptACL.Run(context.Background(), tx)
		fmt.Printf("%-19s %-24s %s", client, rcpt, res.Verdict)
		if res.Reply != nil {
			fmt.Printf(": %s", res.Reply.Error())
		}
		if tx.Edits != nil {
			fmt.Printf(" (adds %q)", tx.Edits.Add[0].Field)
		}
		fmt.Println()
	}
	check("192.168.1.10:1025", "", "anyone@elsewhere.org")
	check("192.168.99.7:1025", "", "anyone@elsewhere.org")
	check("203.0.113.5:1025", "PLAIN", "anyone@elsewhere.org")
	check("203.0.113.5:1025", "", "anyone@elsewhere.org")
	check("203.0.113.5:1025", "", "Alice@Example.COM")
	check("203.0.113.5:1025", "", "postmaster@mx.example.com")
	check("203.0.113.5:1025", "", "bob@example.com")
	check("203.0.113.5:1025", "", "a|b@example.com")
	// Output:
	// 192.168.1.10:1025   anyone@elsewhere.org     accept
	// 192.168.99.7:1025   anyone@elsewhere.org     deny: 550 5.7.1 relay not permitted
	// 203.0.113.5:1025    anyone@elsewhere.org     accept
	// 203.0.113.5:1025    anyone@elsewhere.org     deny: 550 5.7.1 relay not permitted
	// 203.0.113.5:1025    Alice@Example.COM        accept (adds "X-Verified: alice@example.com")
	// 203.0.113.5:1025    postmaster@mx.example.com accept (adds "X-Verified: postmaster@mx.example.com")
	// 203.0.113.5:1025    bob@example.com          deny: 550 5.1.1 Unrouteable address
	// 203.0.113.5:1025    a|b@example.com          deny: 550 5.7.1 Restricted characters in address
}
