package smtpd

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
)

// TestLookupCachePerTransaction checks that the ACLs of one transaction
// share one lookup cache (the same lookup is made once per message, as in
// Exim) and that the next transaction starts with an empty one.
func TestLookupCachePerTransaction(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	counting := lookup.Func(func(ctx context.Context, key string) (string, bool, error) {
		calls.Add(1)
		return "yes", key == "example.com", nil
	})
	cfg := &acl.ListConfig{OpenLookup: func(kind, arg string) (lookup.Lookup, error) { return counting, nil }}
	domains, err := acl.ParseDomainList("counting;domains", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newServer(t)
	s.ACL.Rcpt = acl.List{
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Domains(domains)}},
		{Verb: acl.Deny, Message: "550 relay not permitted"},
	}
	addr := start(t, s)
	c := dial(t, addr)
	c.expect(testGreeting)
	c.cmd("EHLO client.example", ehloReply)
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<one@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("RCPT TO:<two@example.com>", "250 2.1.5 Accepted\r\n")
	c.cmd("RCPT TO:<x@example.net>", "550 5.7.1 relay not permitted\r\n")
	c.cmd("RCPT TO:<y@example.net>", "550 5.7.1 relay not permitted\r\n")
	if got := calls.Load(); got != 2 {
		t.Errorf("lookups in the first transaction = %d, want 2 (one per distinct domain)", got)
	}
	c.cmd("RSET", "250 2.0.0 Reset OK\r\n")
	c.cmd("MAIL FROM:<a@b.example>", "250 2.1.0 OK\r\n")
	c.cmd("RCPT TO:<three@example.com>", "250 2.1.5 Accepted\r\n")
	if got := calls.Load(); got != 3 {
		t.Errorf("lookups after RSET = %d, want 3 (the cache is per transaction)", got)
	}
}
