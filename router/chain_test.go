package router_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/redirect"
)

func newMsg(sender string) *exigo.Message {
	return &exigo.Message{ID: "1xUm1a-0000hS-2z", Envelope: exigo.Envelope{Sender: sender}}
}

func mustChain(t *testing.T, entries ...router.Entry) *router.Chain {
	t.Helper()
	c, err := router.NewChain(entries)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leaves formats routing outcomes, one per line:
// "address router outcome [transport] [reply] [<- parent]".
func leaves(ls []router.Routed) string {
	var lines []string
	for _, l := range ls {
		s := l.Recipient.Address + " " + l.Router + " " + l.Outcome.String()
		if l.Transport != "" {
			s += " T=" + l.Transport
		}
		if l.Reply != nil {
			s += " [" + l.Reply.Error() + "]"
		}
		if l.Err != nil {
			s += " err=" + l.Err.Error()
		}
		for p := l.Recipient.Parent; p != nil; p = p.Parent {
			s += " <- " + p.Address
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

func route(c *router.Chain, addr string) string {
	return leaves(c.Route(context.Background(), newMsg("sender@example.org"), &exigo.Recipient{Address: addr}))
}

func domains(t *testing.T, s string) *acl.DomainList {
	t.Helper()
	return acl.Must(acl.ParseDomainList(s, nil))
}

func localParts(t *testing.T, s string) *acl.LocalPartList {
	t.Helper()
	return acl.Must(acl.ParseLocalPartList(s, nil))
}

// aliasChain is the usual configuration: aliases, then local users, then
// a remote router for other domains.
func aliasChain(t *testing.T, aliases map[string]string, opts ...func(*router.Entry)) *router.Chain {
	t.Helper()
	al := router.Entry{
		Name:    "aliases",
		Domains: domains(t, "test.example"),
		Router:  &redirect.Router{Data: redirect.ByLocalPart(lookup.Map(aliases)), AllowFail: true, AllowDefer: true},
	}
	for _, o := range opts {
		o(&al)
	}
	return mustChain(t,
		al,
		router.Entry{Name: "local", Domains: domains(t, "test.example"), LocalParts: localParts(t, "root : real : cleo"),
			Router: router.AcceptTo("maildir")},
		router.Entry{Name: "remote", Domains: domains(t, "! test.example"), Router: router.AcceptTo("smtp")},
	)
}

func TestChainRedirect(t *testing.T) {
	t.Parallel()
	aliases := map[string]string{
		"gone":     ":fail: Gone away, no forwarding address",
		"gone2":    ":fail:",
		"coded":    ":fail: 551 5.1.6 moved to elsewhere",
		"badcode":  ":fail: 451 4.1.6 wrong class",
		"later":    ":defer: try again tomorrow",
		"hole":     ":blackhole:",
		"mhole":    "real, :blackhole:",
		"unk":      ":unknown:",
		"empty":    "# nothing here",
		"multi":    "a@remote.example, b@remote.example",
		"single":   "gone",
		"loop1":    "loop2",
		"loop2":    "loop1",
		"cleo":     "cleo, cleopatra@egypt.example",
		"chain":    "chain2",
		"chain2":   "real",
		"dup":      "x1, x2, real",
		"x1":       "real",
		"x2":       "REAL@Test.Example",
		"bs":       `\real`,
		"errdata":  "a@b@c",
		"pipe":     "|/bin/cat",
		"selfonly": "selfonly",
	}
	c := aliasChain(t, aliases)
	tests := []struct{ addr, want string }{
		{"real@test.example", "real@test.example local accept T=maildir"},
		{"Real@TEST.example", "Real@TEST.example local accept T=maildir"},
		{"nobody@test.example", "nobody@test.example  fail [550 5.1.1 Unrouteable address]"},
		{"x@elsewhere.example", "x@elsewhere.example remote accept T=smtp"},
		{"gone@test.example", "gone@test.example aliases fail [550 5.0.0 Gone away, no forwarding address]"},
		{"gone2@test.example", "gone2@test.example aliases fail [550 5.0.0]"},
		{"coded@test.example", "coded@test.example aliases fail [551 5.1.6 moved to elsewhere]"},
		{"badcode@test.example", "badcode@test.example aliases fail [550 5.0.0 451 4.1.6 wrong class]"},
		{"later@test.example", "later@test.example aliases defer [451 4.0.0 try again tomorrow]"},
		{"hole@test.example", "hole@test.example aliases discard"},
		{"mhole@test.example", "mhole@test.example aliases discard"},
		{"unk@test.example", "unk@test.example  fail [550 5.1.1 Unrouteable address]"},
		{"empty@test.example", "empty@test.example  fail [550 5.1.1 Unrouteable address]"},
		{"multi@test.example", "a@remote.example remote accept T=smtp <- multi@test.example\nb@remote.example remote accept T=smtp <- multi@test.example"},
		{"single@test.example", "gone@test.example aliases fail [550 5.0.0 Gone away, no forwarding address] <- single@test.example"},
		// loop1 -> loop2 -> loop1: the aliases router is skipped for the
		// second loop1, which no other router handles.
		{"loop1@test.example", "loop1@test.example  fail [550 5.1.1 Unrouteable address] <- loop2@test.example <- loop1@test.example"},
		// A user keeping a copy: the generated cleo skips the aliases.
		{"cleo@test.example", "cleo@test.example local accept T=maildir <- cleo@test.example\ncleopatra@egypt.example remote accept T=smtp <- cleo@test.example"},
		{"selfonly@test.example", "selfonly@test.example  fail [550 5.1.1 Unrouteable address] <- selfonly@test.example"},
		{"chain@test.example", "real@test.example local accept T=maildir <- chain2@test.example <- chain@test.example"},
		// Duplicates (local part case kept, domain without case) are
		// delivered once.
		{"dup@test.example", "real@test.example local accept T=maildir <- x1@test.example <- dup@test.example\nREAL@Test.Example local accept T=maildir <- x2@test.example <- dup@test.example"},
		{"bs@test.example", "real@test.example local accept T=maildir <- bs@test.example"},
		{"errdata@test.example", `errdata@test.example aliases defer err=error in redirect data: redirect: malformed address: @c may not follow a@b in "a@b@c"`},
		{"pipe@test.example", `pipe@test.example aliases defer err=redirect: item not supported: pipe "/bin/cat"`},
	}
	for _, tt := range tests {
		if got := route(c, tt.addr); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.addr, got, tt.want)
		}
	}
}

func TestChainDuplicates(t *testing.T) {
	t.Parallel()
	c := aliasChain(t, map[string]string{"list": "a, b", "a": "real", "b": "real, other@x.example"})
	want := "real@test.example local accept T=maildir <- a@test.example <- list@test.example\n" +
		"other@x.example remote accept T=smtp <- b@test.example <- list@test.example"
	if got := route(c, "list@test.example"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestChainNotAllowed(t *testing.T) {
	t.Parallel()
	c := mustChain(t, router.Entry{Name: "aliases", Router: &redirect.Router{
		Data:            redirect.ByLocalPart(lookup.Map{"f": ":fail: no", "d": ":defer: later", "h": ":blackhole:"}),
		ForbidBlackhole: true,
	}})
	for addr, want := range map[string]string{
		"f@x.example": "f@x.example aliases defer err=redirect: item not permitted: :fail: (allow_fail is not set)",
		"d@x.example": "d@x.example aliases defer err=redirect: item not permitted: :defer: (allow_defer is not set)",
		"h@x.example": "h@x.example aliases defer err=redirect: item not permitted: :blackhole: (forbid_blackhole is set)",
	} {
		if got := route(c, addr); got != want {
			t.Errorf("%s:\n got %s\nwant %s", addr, got, want)
		}
	}
}

var verdictKey = exigo.NewKey[string]("test verdict")

func TestChainChildrenInherit(t *testing.T) {
	t.Parallel()
	c := mustChain(t,
		router.Entry{Name: "aliases", Domains: domains(t, "test.example"),
			AddressData: func(_ context.Context, a *router.Address) (string, bool, error) {
				return "data-of-" + a.LocalPart, true, nil
			},
			Router: &redirect.Router{Data: redirect.ByLocalPart(lookup.Map{"list": "x@remote.example, y@remote.example"})}},
		router.Entry{Name: "remote", Router: router.RouterFunc(func(_ context.Context, a *router.Address) (router.Result, error) {
			// $address_data set by the aliases router is visible here.
			return router.Accepted("smtp:" + a.Data()), nil
		})},
	)
	rcpt := &exigo.Recipient{Address: "list@test.example", ORCPT: "rfc822;list@test.example", Notify: exigo.NotifyFailure, ErrorsTo: "owner@test.example"}
	exigo.Set(&rcpt.Attrs, verdictKey, "spam=no")
	got := c.Route(context.Background(), newMsg(""), rcpt)
	if len(got) != 2 {
		t.Fatalf("got %s", leaves(got))
	}
	for i, want := range []string{"x@remote.example", "y@remote.example"} {
		r := got[i].Recipient
		if r.Address != want || r.Parent != rcpt || r.Root() != rcpt {
			t.Errorf("child %d: %s parent %v", i, r.Address, r.Parent)
		}
		if v, _ := exigo.Get(&r.Attrs, verdictKey); v != "spam=no" {
			t.Errorf("child %d: verdict %q", i, v)
		}
		if v, _ := exigo.Get(&r.Attrs, router.AddressDataKey); v != "data-of-list" {
			t.Errorf("child %d: address_data %q", i, v)
		}
		if r.ORCPT != rcpt.ORCPT || r.Notify != rcpt.Notify || r.ErrorsTo != rcpt.ErrorsTo {
			t.Errorf("child %d: DSN fields %q %v %q", i, r.ORCPT, r.Notify, r.ErrorsTo)
		}
		if got[i].Transport != "smtp:data-of-list" {
			t.Errorf("child %d: transport %q", i, got[i].Transport)
		}
	}
	// The parent's own attributes are unchanged by its children.
	exigo.Set(&got[0].Recipient.Attrs, verdictKey, "changed")
	if v, _ := exigo.Get(&rcpt.Attrs, verdictKey); v != "spam=no" {
		t.Errorf("parent verdict changed to %q", v)
	}
}

// recorder records the preconditions tested, in order.
type recorder struct{ calls []string }

func (r *recorder) lookup(name string, found bool) lookup.Lookup {
	return lookup.Func(func(_ context.Context, key string) (string, bool, error) {
		r.calls = append(r.calls, name+"("+key+")")
		return name + "-data", found, nil
	})
}

func TestChainPreconditionOrder(t *testing.T) {
	t.Parallel()
	type fail struct{ domains, localParts, senders, condition, addressData bool }
	tests := []struct {
		name   string
		verify bool
		e      func(*router.Entry)
		fail   fail
		want   string
		result string
	}{
		{name: "all true", want: "domains(test.example) local_parts(real) senders(s@example.org) condition address_data router", result: "accept first"},
		{name: "domains false", fail: fail{domains: true}, want: "domains(test.example)", result: "accept second"},
		{name: "local_parts false", fail: fail{localParts: true}, want: "domains(test.example) local_parts(real)", result: "accept second"},
		{name: "senders false", fail: fail{senders: true}, want: "domains(test.example) local_parts(real) senders(s@example.org)", result: "accept second"},
		{name: "condition false", fail: fail{condition: true}, want: "domains(test.example) local_parts(real) senders(s@example.org) condition", result: "accept second"},
		{name: "address_data forced failure declines", fail: fail{addressData: true}, want: "domains(test.example) local_parts(real) senders(s@example.org) condition address_data", result: "accept second"},
		{name: "verify_only when delivering", e: func(e *router.Entry) { e.VerifyOnly = true }, want: "", result: "accept second"},
		{name: "verify_only when verifying", verify: true, e: func(e *router.Entry) { e.VerifyOnly = true }, want: "domains(test.example) local_parts(real) senders(s@example.org) condition address_data router", result: "accept first"},
		{name: "no_verify when verifying", verify: true, e: func(e *router.Entry) { e.NoVerify = true }, want: "", result: "accept second"},
		// A failed precondition skips the router even with no_more.
		{name: "no_more and failed precondition", fail: fail{domains: true}, e: func(e *router.Entry) { e.NoMore = true }, want: "domains(test.example)", result: "accept second"},
		// address_data's forced failure is a decline: no_more applies.
		{name: "no_more and address_data", fail: fail{addressData: true}, e: func(e *router.Entry) { e.NoMore = true }, want: "domains(test.example) local_parts(real) senders(s@example.org) condition address_data", result: "fail first"},
	}
	for _, tt := range tests {
		rec := &recorder{}
		e := router.Entry{
			Name:       "first",
			Domains:    acl.Must(acl.NewDomainList(nil, acl.Item{Lookup: rec.lookup("domains", !tt.fail.domains)})),
			LocalParts: acl.Must(acl.NewLocalPartList(nil, acl.Item{Lookup: rec.lookup("local_parts", !tt.fail.localParts)})),
			Senders:    acl.Must(acl.NewAddressList(nil, acl.Item{Lookup: rec.lookup("senders", !tt.fail.senders)})),
			Condition: router.ConditionFunc(func(_ context.Context, a *router.Address) (bool, error) {
				rec.calls = append(rec.calls, "condition")
				if a.DomainData != "domains-data" || a.LocalPartData != "local_parts-data" || a.SenderData != "senders-data" {
					return false, fmt.Errorf("data %q %q %q", a.DomainData, a.LocalPartData, a.SenderData)
				}
				return !tt.fail.condition, nil
			}),
			AddressData: func(context.Context, *router.Address) (string, bool, error) {
				rec.calls = append(rec.calls, "address_data")
				return "ad", !tt.fail.addressData, nil
			},
			Router: router.RouterFunc(func(context.Context, *router.Address) (router.Result, error) {
				rec.calls = append(rec.calls, "router")
				return router.Accepted("t1"), nil
			}),
		}
		if tt.e != nil {
			tt.e(&e)
		}
		c := mustChain(t, e, router.Entry{Name: "second", Router: router.AcceptTo("t2")})
		rcpt := &exigo.Recipient{Address: "Real@test.example"}
		var res router.Routed
		if tt.verify {
			res = c.Verify(context.Background(), newMsg("s@example.org"), rcpt)
		} else {
			ls := c.Route(context.Background(), newMsg("s@example.org"), rcpt)
			if len(ls) != 1 {
				t.Fatalf("%s: %s", tt.name, leaves(ls))
			}
			res = ls[0]
		}
		if got := strings.Join(rec.calls, " "); got != tt.want {
			t.Errorf("%s: calls %q, want %q", tt.name, got, tt.want)
		}
		if got := res.Outcome.String() + " " + res.Router; got != tt.result {
			t.Errorf("%s: result %q, want %q", tt.name, got, tt.result)
		}
	}
}

func TestChainPassAndMore(t *testing.T) {
	t.Parallel()
	pass := router.RouterFunc(func(context.Context, *router.Address) (router.Result, error) { return router.Passed(), nil })
	decline := router.RouterFunc(func(context.Context, *router.Address) (router.Result, error) { return router.Declined(), nil })
	tests := []struct {
		name    string
		entries []router.Entry
		want    string
	}{
		{"decline goes on", []router.Entry{{Name: "a", Router: decline}, {Name: "b", Router: router.AcceptTo("t")}}, "x@y.example b accept T=t"},
		{"no_more fails", []router.Entry{{Name: "a", Router: decline, NoMore: true}, {Name: "b", Router: router.AcceptTo("t")}}, "x@y.example a fail [550 5.1.1 Unrouteable address]"},
		{"cannot_route_message of no_more router", []router.Entry{{Name: "a", Router: decline, NoMore: true, CannotRouteMessage: "Remote domain not found in DNS"}}, "x@y.example a fail [550 5.1.1 Remote domain not found in DNS]"},
		{"cannot_route_message of the last router seen", []router.Entry{
			{Name: "a", Router: decline, CannotRouteMessage: "from a"},
			{Name: "b", Router: decline, Domains: domains(t, "other.example"), CannotRouteMessage: "Unknown local user"}},
			"x@y.example  fail [550 5.1.1 Unknown local user]"},
		{"pass overrides no_more", []router.Entry{{Name: "a", Router: pass, NoMore: true}, {Name: "b", Router: router.AcceptTo("t")}}, "x@y.example b accept T=t"},
		{"pass_router", []router.Entry{{Name: "a", Router: pass, PassRouter: "c"}, {Name: "b", Router: router.AcceptTo("tb")}, {Name: "c", Router: router.AcceptTo("tc")}}, "x@y.example c accept T=tc"},
		{"pass at the end", []router.Entry{{Name: "a", Router: pass}}, "x@y.example  fail [550 5.1.1 Unrouteable address]"},
		{"error defers", []router.Entry{{Name: "a", Router: router.RouterFunc(func(context.Context, *router.Address) (router.Result, error) {
			return router.Result{}, errors.New("database offline")
		})}, {Name: "b", Router: router.AcceptTo("t")}}, "x@y.example a defer err=database offline"},
		{"fail_verify only when verifying", []router.Entry{{Name: "a", Router: router.AcceptTo("t"), FailVerify: true}}, "x@y.example a accept T=t"},
	}
	for _, tt := range tests {
		c := mustChain(t, tt.entries...)
		if got := route(c, "x@y.example"); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestChainRedirectRouter(t *testing.T) {
	t.Parallel()
	c := mustChain(t,
		router.Entry{Name: "first", Router: router.AcceptTo("wrong"), Domains: domains(t, "remote.example")},
		router.Entry{Name: "aliases", Router: &redirect.Router{Data: redirect.ByLocalPart(lookup.Map{"a": "b@remote.example"})}, RedirectRouter: "last"},
		router.Entry{Name: "last", Router: router.AcceptTo("right")},
	)
	if got, want := route(c, "a@test.example"), "b@remote.example last accept T=right <- a@test.example"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestChainLimits(t *testing.T) {
	t.Parallel()
	// Every address x@d generates x0@d and x1@d: an explosion.
	grow := router.RouterFunc(func(_ context.Context, a *router.Address) (router.Result, error) {
		return router.Redirected(a.Recipient.Child(a.LocalPart+"0@d.example"), a.Recipient.Child(a.LocalPart+"1@d.example")), nil
	})
	c, err := router.NewChain([]router.Entry{{Name: "grow", Router: grow}}, router.WithLimits(100, 20))
	if err != nil {
		t.Fatal(err)
	}
	ls := c.Route(context.Background(), newMsg(""), &exigo.Recipient{Address: "x@d.example"})
	deferred := 0
	for _, l := range ls {
		if l.Outcome != router.Defer {
			t.Fatalf("unexpected %s", leaves([]router.Routed{l}))
		}
		deferred++
	}
	if deferred == 0 || !strings.Contains(leaves(ls), "err=router: more than 20 addresses generated") {
		t.Errorf("got %s", leaves(ls))
	}
	// A chain one address long per generation hits the depth limit.
	deep := router.RouterFunc(func(_ context.Context, a *router.Address) (router.Result, error) {
		return router.Redirected(a.Recipient.Child(a.LocalPart + "x@d.example")), nil
	})
	c, _ = router.NewChain([]router.Entry{{Name: "deep", Router: deep}}, router.WithLimits(5, 0))
	ls = c.Route(context.Background(), newMsg(""), &exigo.Recipient{Address: "x@d.example"})
	if got, want := leaves(ls), "xxxxxxx@d.example  defer err=router: redirections more than 5 deep <- xxxxxx@d.example <- xxxxx@d.example <- xxxx@d.example <- xxx@d.example <- xx@d.example <- x@d.example"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestChainCancelled(t *testing.T) {
	t.Parallel()
	c := mustChain(t, router.Entry{Name: "a", Router: router.AcceptTo("t")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := leaves(c.Route(ctx, newMsg(""), &exigo.Recipient{Address: "x@y.example"}))
	if want := "x@y.example  defer err=context canceled"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestNewChainErrors(t *testing.T) {
	t.Parallel()
	acc := router.AcceptTo("t")
	tests := []struct {
		entries []router.Entry
		want    string
	}{
		{[]router.Entry{{Router: acc}}, "router: entry 0 has no name"},
		{[]router.Entry{{Name: "a"}}, "router: a: no router"},
		{[]router.Entry{{Name: "a", Router: acc}, {Name: "a", Router: acc}}, `router: duplicate router name "a"`},
		{[]router.Entry{{Name: "a", Router: acc}, {Name: "b", Router: acc, PassRouter: "a"}}, `router: b: pass_router "a" is not below it`},
		{[]router.Entry{{Name: "a", Router: acc, PassRouter: "z"}}, `router: a: pass_router "z" does not exist`},
		{[]router.Entry{{Name: "a", Router: acc, RedirectRouter: "z"}}, `router: a: redirect_router "z" does not exist`},
	}
	for _, tt := range tests {
		_, err := router.NewChain(tt.entries)
		if err == nil || err.Error() != tt.want {
			t.Errorf("got %v, want %s", err, tt.want)
		}
	}
}

func TestVerifyRecipient(t *testing.T) {
	t.Parallel()
	aliases := map[string]string{
		"gone":   ":fail: Gone away, no forwarding address",
		"gone2":  ":fail:",
		"coded":  ":fail: 551 5.1.6 moved to elsewhere",
		"later":  ":defer: try again tomorrow",
		"later2": ":defer:",
		"hole":   ":blackhole:",
		"multi":  "a@remote.example, nobody@test.example",
		"single": "gone",
		"fwd":    "nobody",
		"ok":     "real",
		"loop1":  "loop2",
		"loop2":  "loop1",
		"broken": "a@b@c",
	}
	c := aliasChain(t, aliases, func(e *router.Entry) {
		e.AddressData = func(_ context.Context, a *router.Address) (string, bool, error) {
			return "ad-" + a.LocalPart, true, nil
		}
	})
	tests := []struct {
		local string
		want  string // the error, "" for nil
		data  string // $address_data afterwards
	}{
		{"real", "", "ad-real"},
		{"nobody", "550 5.1.1 Unrouteable address", "ad-nobody"},
		{"gone", "550 5.0.0 Gone away, no forwarding address", "ad-gone"},
		{"gone2", "550 5.0.0", "ad-gone2"},
		{"coded", "551 5.1.6 moved to elsewhere", "ad-coded"},
		{"later", "451 4.0.0 try again tomorrow", "ad-later"},
		{"later2", "451 4.0.0", "ad-later2"},
		{"hole", "", "ad-hole"},
		// Several children: verification stops with success.
		{"multi", "", "ad-multi"},
		// One child: verification continues with it.
		{"single", "550 5.0.0 Gone away, no forwarding address", "ad-gone"},
		{"fwd", "550 5.1.1 Unrouteable address", "ad-nobody"},
		{"ok", "", "ad-real"},
		{"loop1", "550 5.1.1 Unrouteable address", "ad-loop2"},
		{"broken", `router aliases: error in redirect data: redirect: malformed address: @c may not follow a@b in "a@b@c"`, "ad-broken"},
	}
	for _, tt := range tests {
		tx := &acl.Tx{Stage: acl.StageRcpt, Message: newMsg("s@example.org")}
		rcpt := &exigo.Recipient{Address: tt.local + "@test.example"}
		err := c.VerifyRecipient(context.Background(), tx, rcpt)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.local, got, tt.want)
		}
		if d := tx.Expand("$address_data"); d != tt.data {
			t.Errorf("%s: $address_data %q, want %q", tt.local, d, tt.data)
		}
		if rcpt.Attrs.Len() != 0 {
			t.Errorf("%s: verification changed the recipient's attributes", tt.local)
		}
	}
}

// TestVerifyRecipientACL runs the chain behind an ACL's verify =
// recipient and checks the replies a client would get, which match Exim
// 4.96's for the same aliases ("550 Unrouteable address", "550 Gone away,
// ...", "551 5.1.6 ...", "451 try again tomorrow"; Exim sends no
// enhanced codes of its own).
func TestVerifyRecipientACL(t *testing.T) {
	t.Parallel()
	c := aliasChain(t, map[string]string{
		"gone":  ":fail: Gone away, no forwarding address",
		"coded": ":fail: 551 5.1.6 moved to elsewhere",
		"later": ":defer: try again tomorrow",
		"oops":  "a@b@c",
	})
	list := acl.List{
		{Verb: acl.Deny, Conditions: []acl.Condition{acl.Not(acl.VerifyRecipient(c))}},
		{Verb: acl.Accept},
	}
	tests := []struct{ local, verdict, reply string }{
		{"real", "accept", ""},
		{"nobody", "deny", "550 5.1.1 Unrouteable address"},
		{"gone", "deny", "550 5.7.1 Gone away, no forwarding address"},
		{"coded", "deny", "551 5.1.6 moved to elsewhere"},
		{"later", "defer", "451 4.7.1 try again tomorrow"},
		{"oops", "defer", "451 4.7.1 Temporary local problem - please try later"},
	}
	for _, tt := range tests {
		tx := &acl.Tx{Stage: acl.StageRcpt, Message: newMsg("s@example.org"), Recipient: &exigo.Recipient{Address: tt.local + "@test.example"}}
		res := list.Run(context.Background(), tx)
		reply := ""
		if res.Reply != nil {
			reply = res.Reply.Error()
		}
		if res.Verdict.String() != tt.verdict || reply != tt.reply {
			t.Errorf("%s: got %s %q, want %s %q", tt.local, res.Verdict, reply, tt.verdict, tt.reply)
		}
	}
}
