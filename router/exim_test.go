package router_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/internal/testpeer"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/redirect"
)

// The same alias file, routed by Exim 4.96 and by a chain of the same
// shape: aliases (redirect, allow_fail, allow_defer), local users
// (accept), other domains (accept).
const eximAliases = `gone: :fail: Gone away, no forwarding address
coded: :fail: 551 5.1.6 moved to elsewhere
later: :defer: try again tomorrow
hole: :blackhole:
unk: :unknown:
multi: a@remote.example, b@remote.example
single: gone
loop1: loop2
loop2: loop1
cleo: cleo, cleopatra@egypt.example
q1: "real"
q2: "a,b"@remote.example, real
bs: \real
nm: Real Person <real@test.example>
paren: real (the real one)
rt: <@relay.example:real@test.example>
lt: "quoted local"@remote.example
chain: chain2
chain2: real
caps: REAL
cont: a@remote.example,
  b@remote.example
e1: a@b@c
e2: <>
e3: a@-b.example
emp: ,
`

var eximLocals = []string{
	"real", "nobody", "gone", "coded", "later", "hole", "unk", "multi", "single", "loop1", "cleo",
	"q1", "q2", "bs", "nm", "paren", "rt", "lt", "chain", "caps", "cont", "e1", "e2", "e3", "emp",
}

func eximAndChain(t *testing.T) (*testpeer.Exim, *router.Chain) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "aliases")
	if err := os.WriteFile(file, []byte(eximAliases), 0o644); err != nil {
		t.Fatal(err)
	}
	e := testpeer.NewExim(t, `domainlist local_domains = test.example
acl_smtp_rcpt = rcpt
begin acl
rcpt:
  deny !verify = recipient
  accept
begin routers
aliases:
  driver = redirect
  domains = +local_domains
  data = ${lookup{$local_part}lsearch{`+file+`}}
  allow_fail
  allow_defer
local:
  driver = accept
  domains = +local_domains
  local_parts = root : real : cleo
  transport = t
remote:
  driver = accept
  domains = ! +local_domains
  transport = t
begin transports
t:
  driver = appendfile
  file = /dev/null
`)
	local := acl.Must(acl.ParseDomainList("test.example", nil))
	c := mustChain(t,
		router.Entry{Name: "aliases", Domains: local, Router: &redirect.Router{
			Data: redirect.ByLocalPart(lookup.LSearch(file)), AllowFail: true, AllowDefer: true}},
		router.Entry{Name: "local", Domains: local, LocalParts: localParts(t, "root : real : cleo"), Router: router.AcceptTo("t")},
		router.Entry{Name: "remote", Domains: acl.Must(acl.ParseDomainList("! test.example", nil)), Router: router.AcceptTo("t")},
	)
	return e, c
}

// parseBT turns `exim -bt` output into one line per final address:
// "address accept router", "address fail text", "address defer" or
// "address discard".
func parseBT(out string) []string {
	var res []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "  router = "):
			name, _, _ := strings.Cut(strings.TrimPrefix(l, "  router = "), ",")
			if len(res) > 0 {
				res[len(res)-1] += " accept " + name
			}
		case strings.HasPrefix(l, " "):
		case strings.HasPrefix(l, "mail to ") && strings.HasSuffix(l, " is discarded"):
			res = append(res, strings.TrimSuffix(strings.TrimPrefix(l, "mail to "), " is discarded")+" discard")
		case strings.Contains(l, " is undeliverable: "):
			addr, msg, _ := strings.Cut(l, " is undeliverable: ")
			res = append(res, addr+" fail "+msg)
		case strings.Contains(l, " cannot be resolved at this time: "):
			addr, _, _ := strings.Cut(l, " cannot be resolved at this time: ")
			res = append(res, addr+" defer")
		default:
			res = append(res, l)
		}
	}
	return res
}

func ours(ls []router.Routed) []string {
	var res []string
	for _, l := range ls {
		s := l.Recipient.Address + " " + l.Outcome.String()
		switch l.Outcome {
		case router.Accept:
			s += " " + l.Router
		case router.Fail:
			msg := l.Reply.Message
			if l.Reply.Code != 550 {
				msg = fmt.Sprintf("%d %s %s", l.Reply.Code, l.Reply.Enhanced, msg)
			}
			s += " " + msg
		}
		res = append(res, s)
	}
	return res
}

func TestEximRouting(t *testing.T) {
	t.Parallel()
	e, c := eximAndChain(t)
	for _, lp := range append(eximLocals, "x@remote.example") {
		addr := lp
		if !strings.Contains(addr, "@") {
			addr += "@test.example"
		}
		out, err := e.Run("", "-bt", addr)
		if err != nil && !strings.Contains(err.Error(), "exit status") {
			t.Fatal(err)
		}
		// Exim routes (and lists) generated addresses last first; the
		// order does not matter.
		exim := parseBT(out)
		slices.Sort(exim)
		want := strings.Join(exim, "\n")
		mine := ours(c.Route(context.Background(), newMsg("s@test.example"), &exigo.Recipient{Address: addr}))
		slices.Sort(mine)
		got := strings.Join(mine, "\n")
		if got != want {
			t.Errorf("%s:\nexigo:\n%s\nexim:\n%s", addr, got, want)
		}
	}
}

var enhancedPrefix = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3} `)

func TestEximVerifyRecipient(t *testing.T) {
	t.Parallel()
	e, c := eximAndChain(t)
	var script strings.Builder
	script.WriteString("HELO client.example\nMAIL FROM:<s@test.example>\n")
	for _, lp := range eximLocals {
		script.WriteString("RCPT TO:<" + lp + "@test.example>\n")
	}
	script.WriteString("QUIT\n")
	out, err := e.SMTP("192.0.2.1.4567", script.String())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\r\n"), "\r\n")
	// greeting, HELO, MAIL, the RCPTs, QUIT
	if len(lines) != 3+len(eximLocals)+1 {
		t.Fatalf("exim replies:\n%s", out)
	}
	list := acl.List{
		{Verb: acl.Deny, Conditions: []acl.Condition{acl.Not(acl.VerifyRecipient(c))}},
		{Verb: acl.Accept},
	}
	for i, lp := range eximLocals {
		code, text, _ := strings.Cut(lines[3+i], " ")
		text = enhancedPrefix.ReplaceAllString(text, "")
		want := code + " " + text
		if code == "250" {
			want = "250"
		}
		tx := &acl.Tx{Stage: acl.StageRcpt, Message: newMsg("s@test.example"), Recipient: &exigo.Recipient{Address: lp + "@test.example"}}
		res := list.Run(context.Background(), tx)
		got := "250"
		if res.Reply != nil {
			got = fmt.Sprintf("%d %s", res.Reply.Code, res.Reply.Message)
		}
		if got != want {
			t.Errorf("%s: exigo %q, exim %q", lp, got, want)
		}
	}
}
