package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/mailtest"
	"github.com/exigo-mta/exigo/smtpd"
)

type result struct {
	v     string
	found bool
	err   error
}

func look(ctx context.Context, l *mailtest.Lookup, key string) result {
	v, ok, err := l.Lookup(ctx, key)
	return result{v, ok, err}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	entries := map[string]string{"a": "1"}
	l := mailtest.NewLookup(entries)
	entries["b"] = "not copied"
	down := errors.New("database down")
	busy := errors.New("row locked")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	steps := []struct {
		do   func()
		ctx  context.Context
		key  string
		want result
	}{
		{nil, ctx, "a", result{"1", true, nil}},
		{nil, ctx, "A", result{}},
		{nil, ctx, "b", result{}},
		{func() { l.Set("b", "2") }, ctx, "b", result{"2", true, nil}},
		{func() { l.Set("b", "") }, ctx, "b", result{"", true, nil}},
		{func() { l.Delete("a") }, ctx, "a", result{}},
		{func() { l.FailWith("b", busy) }, ctx, "b", result{"", false, busy}},
		{nil, ctx, "c", result{}},
		{func() { l.FailAll(down) }, ctx, "c", result{"", false, down}},
		{func() { l.FailAll(nil) }, ctx, "b", result{"", false, busy}},
		{func() { l.FailWith("b", nil) }, ctx, "b", result{"", true, nil}},
		{nil, cancelled, "b", result{"", false, context.Canceled}},
	}
	var keys []string
	for i, s := range steps {
		if s.do != nil {
			s.do()
		}
		if got := look(s.ctx, l, s.key); got != s.want {
			t.Errorf("step %d: Lookup(%q) = %+v, want %+v", i, s.key, got, s.want)
		}
		keys = append(keys, s.key)
	}
	if l.Calls() != len(steps) || !slices.Equal(l.Queries(), keys) {
		t.Errorf("Calls %d, Queries %q; want %d, %q", l.Calls(), l.Queries(), len(steps), keys)
	}
}

func TestLookupZeroValueConcurrent(t *testing.T) {
	t.Parallel()
	var l mailtest.Lookup
	if got := look(context.Background(), &l, "x"); got != (result{}) {
		t.Fatalf("zero value: %+v", got)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				k := fmt.Sprintf("k%d-%d", i, j)
				l.Set(k, "v")
				if r := look(context.Background(), &l, k); r != (result{"v", true, nil}) {
					t.Errorf("%s: %+v", k, r)
				}
				l.Delete(k)
			}
		}()
	}
	wg.Wait()
	if n := l.Calls(); n != 1+8*50 {
		t.Errorf("Calls = %d", n)
	}
}

// A lookup that fails makes the ACL defer: the client gets 451.
func TestLookupDefersACL(t *testing.T) {
	t.Parallel()
	users := mailtest.NewLookup(map[string]string{"alice@example.com": ""})
	known := acl.Must(acl.NewAddressList(nil, acl.Item{Lookup: users}))
	srv := mailtest.NewServer(t, mailtest.WithACL(smtpd.ACLs{Rcpt: acl.List{
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Recipients(known)}},
		{Verb: acl.Deny, Message: "550 5.1.1 unknown user"},
	}}))
	c := srv.Dial(t)
	c.Ehlo("client.example")
	c.Cmd("MAIL FROM:<bob@example.org>")
	want := []string{"250 2.1.5 Accepted", "550 5.1.1 unknown user", "451 4.7.1 Temporary local problem - please try later", "250 2.1.5 Accepted"}
	var got []string
	got = append(got, c.Cmd("RCPT TO:<Alice@example.com>").String())
	got = append(got, c.Cmd("RCPT TO:<carol@example.com>").String())
	users.FailAll(errors.New("database down"))
	got = append(got, c.Cmd("RCPT TO:<alice@example.com>").String())
	users.FailAll(nil)
	users.Set("carol@example.com", "")
	got = append(got, c.Cmd("RCPT TO:<carol@example.com>").String())
	if !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	if q := users.Queries(); !slices.Equal(q, []string{"alice@example.com", "carol@example.com", "alice@example.com", "carol@example.com"}) {
		t.Errorf("queries %q", q)
	}
}
