package lookup

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseSpec parses lookup type specs ("partial2(.)lsearch*@,ret=key")
// and runs the decorated search: String must round-trip, the search must
// try a bounded number of keys, and the first key tried that is present
// must win.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"lsearch", "partial-lsearch", "partial0-dbm*", "partial12(.)cdb*@", "partial()lsearch",
		"partial(-(*.)lsearch", "dsearch*,,ret=full,cache=no_rd,filter=dir,ret=key", "partial(lsearch",
		"lsearch*x", "partial99999-lsearch", "partial0(-.)x*@,ret=key", "lsearch, ret=key", "net-lsearch",
	} {
		f.Add(s, "a.b.c.d")
		f.Add(s, "joe@x.example")
	}
	f.Add("partial0()t*@", "@..@.")
	f.Add("partial1(*)t", "")
	f.Fuzz(func(t *testing.T, s, key string) {
		sp, err := ParseSpec(s)
		if err != nil {
			if !strings.Contains(err.Error(), "bad lookup type") {
				t.Fatalf("ParseSpec(%q): error %v without ErrSpec", s, err)
			}
			return
		}
		back, err := ParseSpec(sp.String())
		if err != nil || !reflect.DeepEqual(back, sp) {
			t.Fatalf("ParseSpec(%q) = %+v; String %q parses to %+v, %v", s, sp, sp.String(), back, err)
		}
		if sp.Type == "" {
			t.Fatalf("ParseSpec(%q): empty type", s)
		}
		if len(key) > 200 {
			key = key[:200]
		}
		r := &recorder{m: Map{}}
		res, err := sp.find(context.Background(), r, key)
		if err != nil || res.Found {
			t.Fatalf("empty map: %+v %v", res, err)
		}
		if max := strings.Count(key, ".") + 5; len(r.keys) > max {
			t.Fatalf("%d keys tried for %q, more than %d", len(r.keys), key, max)
		}
		if r.keys[0] != key {
			t.Fatalf("first key %q, not %q", r.keys[0], key)
		}
		// With the keys from the i-th tried on present, the first tried
		// of them wins (keys can repeat: partial0 and "*" both try "*",
		// as in Exim).
		for i := len(r.keys) - 1; i >= 0; i-- {
			m := Map{}
			for _, k := range r.keys[i:] {
				m[k] = "v:" + k
			}
			res, err := sp.find(context.Background(), m, key)
			if err != nil || !res.Found {
				t.Fatalf("key %q present but not found: %+v %v", r.keys[i], res, err)
			}
			set := map[string]bool{}
			for _, k := range r.keys[i:] {
				set[k] = true
			}
			first := ""
			for _, k := range r.keys {
				if set[k] {
					first = k
					break
				}
			}
			if res.Key != first {
				t.Fatalf("found %q, want the first present %q (tried %q)", res.Key, first, r.keys)
			}
			want := "v:" + first
			if sp.RetKey {
				want = key
			}
			if res.Value != want {
				t.Fatalf("value %q, want %q", res.Value, want)
			}
			if res.Wild+res.Fixed != "" && !strings.Contains(key, res.Fixed) {
				t.Fatalf("fixed part %q not in key %q", res.Fixed, key)
			}
		}
	})
}
