package acl

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

// TestListsAgainstExim matches the same subjects against the same lists
// with Exim's expansion conditions (match_domain, match_local_part,
// match_address, match_ip, which use Exim's list code) and with this
// package, and requires the same answers. The cases where exigo differs on
// purpose are in TestListsDifferFromExim.
func TestListsAgainstExim(t *testing.T) {
	t.Parallel()
	exim := testpeer.Need(t, "exim", "exim4-daemon-heavy")
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "exim -C needs root to read a private configuration")
	}
	type tcase struct {
		kind, subject, list string
	}
	var cases []tcase
	add := func(kind, list string, subjects ...string) {
		for _, s := range subjects {
			cases = append(cases, tcase{kind, s, list})
		}
	}
	add("domain", `@ : example.com : *.example.com : !bad.example.net : ^[0-9]+\.test$`,
		"Example.COM", "mx.test.example", "a.b.Example.com", "bad.example.net", "123.TEST", "12a.test", "other.net")
	add("domain", "!a.b.c : *.b.c", "a.b.c", "x.b.c", "x.y")
	add("domain", "!a.b.c", "a.b.c", "x.y")
	add("domain", "*key.ex", "donkey.ex", "cipher.key.ex", "key.exx")
	add("domain", ":", "x")
	add("domain", "a : : b", "a", "b", "c")
	add("domain", "EXAMPLE.org : ^XX", "example.ORG", "xxx.org", "axx.org")
	add("domain", "<; a.example ; !b.example ; *.example", "a.example", "b.example", "c.example")
	add("domain", "!a.example : !b.example", "a.example", "c.example")
	add("local_part", "postmaster : ^[0-9]+$ : *-owner : +caseful : Bob : *-Admin : ^Z",
		"PostMaster", "123", "list-OWNER", "Bob", "bob", "x-Admin", "x-admin", "Zed", "zed")
	add("local_part", "@ : !root : *", "@", "ROOT", "joe")
	add("local_part", "a::b : c", "a:b", "a", "c")
	add("address", `postmaster@example.com : *@spam.example : ^.*\.biz$ : *.enemy.example : enemy.example`,
		"PostMaster@Example.COM", "anyone@SPAM.example", "x@shop.BIZ", "a@b.enemy.example", "a@enemy.example", "a@example.com")
	add("address", ":", "a@b")
	add("address", "*b@x", "ab@x", "a@x", "ab@y")
	add("address", "*@*.example", "a@b.example", "a@example")
	add("address", "postmaster@@", "postmaster@mx.test.example", "postmaster@other")
	add("address", "+caseful : User@example.com", "User@Example.COM", "user@example.com")
	add("address", "+caseful : ^Abc@", "Abc@X", "abc@x")
	add("address", "!*@example.com : *@*", "a@example.com", "a@example.org")
	add("address", "local", "a@local", "a@LOCAL", "a@other")
	add("address", "^$ : a@b", "a@b", "c@d")
	add("ip", "192.168.0.0/16 : !10.0.0.1 : 10.0.0.0/8", "192.168.5.5", "10.0.0.1", "10.0.0.2", "172.16.0.1")
	add("ip", "10.0.0.0/8 : !10.0.0.1", "10.0.0.1")
	add("ip", "!10.0.0.1", "192.0.2.1", "10.0.0.1")
	add("ip", "10.1.2.99/24", "10.1.2.3", "10.1.3.3")
	add("ip", "192.168.23.236/31", "192.168.23.237", "192.168.23.238")
	add("ip", "<; 2001:db8::/32 ; ::1", "2001:db8::5", "::1", "2001:db9::")
	add("ip", "::::1 : 2001::db8::::/32", "2001:db8:1::1", "::1", "::2")
	add("ip", "127.0.0.1", "::ffff:127.0.0.1", "127.0.0.2", "::1")
	add("ip", "0.0.0.0/0", "203.0.113.5", "2001:db8::1")
	add("ip", "*", "192.0.2.1", "2001:db8::1")

	var in bytes.Buffer
	for _, c := range cases {
		cond := map[string]string{"domain": "match_domain", "local_part": "match_local_part", "address": "match_address", "ip": "match_ip"}[c.kind]
		fmt.Fprintf(&in, "${if %s{%s}{\\N%s\\N}{yes}{no}}\n", cond, c.subject, c.list)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "exim.conf")
	cfgText := fmt.Sprintf("exim_user = root\nexim_group = root\nprimary_hostname = mx.test.example\nspool_directory = %s/spool\nlog_file_path = %s/%%slog\n", dir, dir)
	if err := os.WriteFile(conf, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exim, "-C", conf, "-be")
	cmd.Stdin = &in
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("exim -be: %v\n%s", err, out)
	}
	var answers []string
	for _, line := range strings.Split(string(out), "\n") {
		if a, ok := strings.CutPrefix(line, "> "); ok && a != "" {
			answers = append(answers, a)
		}
	}
	if len(answers) != len(cases) {
		t.Fatalf("exim gave %d answers for %d cases:\n%s", len(answers), len(cases), out)
	}
	cfg := &ListConfig{PrimaryHostname: "mx.test.example"}
	for i, c := range cases {
		var ok bool
		var err error
		ctx := context.Background()
		switch c.kind {
		case "domain":
			ok, _, err = Must(ParseDomainList(c.list, cfg)).Match(ctx, c.subject)
		case "local_part":
			ok, _, err = Must(ParseLocalPartList(c.list, cfg)).Match(ctx, c.subject)
		case "address":
			ok, _, err = Must(ParseAddressList(c.list, cfg)).Match(ctx, c.subject)
		case "ip":
			ok, _, err = Must(ParseHostList(c.list, cfg)).Match(ctx, &Host{Addr: netip.MustParseAddr(c.subject)})
		}
		if err != nil {
			t.Errorf("%s %q in %q: %v", c.kind, c.subject, c.list, err)
			continue
		}
		want := answers[i] == "yes"
		if answers[i] != "yes" && answers[i] != "no" {
			t.Errorf("%s %q in %q: exim said %q", c.kind, c.subject, c.list, answers[i])
			continue
		}
		if ok != want {
			t.Errorf("%s %q in %q: exigo %v, exim %v", c.kind, c.subject, c.list, ok, want)
		}
	}
}

// TestListsDifferFromExim pins the documented differences.
func TestListsDifferFromExim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Exim: no. An IPv4 client matches IPv4-mapped items.
	for _, list := range []string{"<; ::ffff:127.0.0.1", "<; ::ffff:127.0.0.0/104"} {
		if ok, _, _ := Must(ParseHostList(list, nil)).Match(ctx, &Host{Addr: netip.MustParseAddr("127.0.0.1")}); !ok {
			t.Errorf("%q: no match", list)
		}
	}
	// Exim: no. Domains compare caselessly after +caseful.
	if ok, _, _ := Must(ParseAddressList("+caseful : User@EXAMPLE.com", nil)).Match(ctx, "User@Example.COM"); !ok {
		t.Errorf("+caseful domain: no match")
	}
	// Exim: "<>" changes the separator. exigo: the empty sender.
	if ok, _, _ := Must(ParseAddressList("<>", nil)).Match(ctx, ""); !ok {
		t.Errorf("<>: no match")
	}
	// Exim: "1.2.3/24" fails to match at run time. exigo: a parse error.
	if _, err := ParseHostList("1.2.3/24", nil); err == nil {
		t.Errorf("1.2.3/24 accepted")
	}
}
