package acl

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
)

// FuzzParseLists parses the input as each kind of list and matches some
// subjects: nothing may panic, and SplitList must round-trip.
func FuzzParseLists(f *testing.F) {
	for _, s := range []string{
		"192.168.0.0/16 : !10.0.0.1 : ::::1",
		"<; 2001:db8::/32 ; !::1 ; *.example.com",
		"@ : example.com : *.example.com : !bad.example.net : ^[0-9]+\\.test$",
		"postmaster : +caseful : Bob : *-Admin",
		"postmaster@@ : *@spam.example : <> : : map*@; : *@map;",
		"net-map; : net24-map; : map; : +include_unknown : +ignore_defer",
		"<\n a\n\nb",
		"a:::b :: c",
		"!",
		"^(",
		"1.2.3/24",
		"<;::ffff:127.0.0.0/104",
	} {
		f.Add(s)
	}
	cfg := testConfig(newFakeResolver())
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, s string) {
		items := SplitList(s)
		if again := SplitList(joinList(items)); !slices.Equal(again, items) {
			t.Fatalf("SplitList(%q) = %q; joined %q splits to %q", s, items, joinList(items), again)
		}
		for _, it := range items {
			if it != strings.TrimSpace(it) && strings.Trim(it, " \t\n\v\f\r") != it {
				t.Fatalf("item %q not trimmed", it)
			}
		}
		if l, err := ParseHostList(s, cfg); err == nil {
			for _, a := range []string{"192.168.1.1", "10.0.0.1", "::1", "::ffff:127.0.0.1", "192.0.2.1"} {
				l.Match(ctx, &Host{Addr: netip.MustParseAddr(a)})
			}
			l.Match(ctx, &Host{})
		}
		if l, err := ParseDomainList(s, cfg); err == nil {
			l.Match(ctx, "Example.COM")
			l.Match(ctx, "")
		}
		if l, err := ParseLocalPartList(s, cfg); err == nil {
			l.Match(ctx, "Bob")
		}
		if l, err := ParseAddressList(s, cfg); err == nil {
			l.Match(ctx, "Bob@Example.COM")
			l.Match(ctx, "")
			l.Match(ctx, "no-at-sign")
		}
	})
}

// FuzzRatelimitSpec parses ratelimit specifications and evaluates the
// ones that parse.
func FuzzRatelimitSpec(f *testing.F) {
	for _, s := range []string{"100 / 1h", "0/5m/strict", "10K / 1h30m / per_byte", "5/1d/per_rcpt/leaky/count=2/$authenticated_id", "1/1w/per_conn/readonly", "x/y/z", "1/99999999999999999999w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := NewRatelimit(s, &MemoryRateStore{})
		if err != nil {
			return
		}
		if r.Limit < 0 || r.Period <= 0 {
			t.Fatalf("%q: limit %v period %v", s, r.Limit, r.Period)
		}
		r.Now = func() time.Time { return base }
		for _, st := range []Stage{StageConnect, StageRcpt, StageData} {
			tx, _ := newTx(st)
			r.Eval(context.Background(), tx)
		}
	})
}

// FuzzAddHeader builds add_header modifiers: what is accepted must add
// valid fields that Apply can write and read back.
func FuzzAddHeader(f *testing.F) {
	for _, s := range []string{"X-A: 1", "X-A: a\r\n\tb", ":at_start:X-A: 1\n:after_received:X-B: 2", "$acl_m_h", "X-A: $acl_m_v\n\t$acl_m_w", "bad", "X-A: a\rb"} {
		f.Add(s, "v\r\nInjected: x")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		m, err := AddHeader(text, AtEnd)
		if err != nil {
			return
		}
		tx, _ := newTx(StageData)
		tx.Message.Vars = map[string]string{"acl_m_h": value, "acl_m_v": value, "acl_m_w": value}
		if err := m.Apply(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
		if tx.Edits == nil {
			return
		}
		for _, a := range tx.Edits.Add {
			if err := checkField(a.Field); err != nil {
				t.Fatalf("%q added invalid field %q: %v", text, a.Field, err)
			}
		}
		h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader("Received: x\r\nFrom: a\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Edits.Apply(&h); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := textproto.WriteHeader(&b, h); err != nil {
			t.Fatal(err)
		}
		h2, err := textproto.ReadHeader(bufio.NewReader(&b))
		if err != nil {
			t.Fatalf("written header does not parse: %v\n%q", err, b.String())
		}
		if h2.Len() != 2+len(tx.Edits.Add) {
			t.Fatalf("%d fields after adding %d: %q", h2.Len(), len(tx.Edits.Add), b.String())
		}
	})
}

// FuzzExpand expands arbitrary templates with arbitrary variable values:
// values must never add line breaks.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$acl_m0 ${acl_m0}", "\\$x \\\\", "${", "$", "${lookup{a}b}", "a\nb$acl_c_x"} {
		f.Add(s, "v\r\nw")
	}
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		tx, _ := newTx(StageRcpt)
		tx.Message.Vars = map[string]string{"acl_m0": value}
		tx.Session.Vars = map[string]string{"acl_c_x": value}
		out := tx.Expand(tmpl)
		if strings.Count(out, "\n") > strings.Count(tmpl, "\n") || strings.Count(out, "\r") > strings.Count(tmpl, "\r") {
			t.Fatalf("Expand(%q) with %q = %q adds line breaks", tmpl, value, out)
		}
	})
}

// FuzzReplyCodes builds replies from arbitrary messages: the code class
// must always be the verdict's.
func FuzzReplyCodes(f *testing.F) {
	for _, s := range []string{"550 5.7.1 text", "450 4.7.1 x", "5.7.9 y", "251 2.1.5 fine", "3.1.4 pi", "999 9.9.9", "550", "550 5.7.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		for _, v := range []Verdict{VerdictAccept, VerdictDeny, VerdictDefer, VerdictDrop} {
			for _, st := range []Stage{StageConnect, StageRcpt, StagePredata, StageData} {
				def := defaultReply(v, st, "")
				e := defaultReply(v, st, msg)
				if e.Code/100 != def.Code/100 {
					t.Fatalf("%v %v %q: code %d", v, st, msg, e.Code)
				}
				if e.Enhanced != def.Enhanced && e.Enhanced[0] != e.Code/100 {
					t.Fatalf("%v %v %q: enhanced %v with code %d", v, st, msg, e.Enhanced, e.Code)
				}
				if msg != "" && !strings.HasSuffix(msg, e.Message) {
					t.Fatalf("%v %v %q: text %q", v, st, msg, e.Message)
				}
			}
		}
	})
}
