package lookup

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Spec
	}{
		{"lsearch", Spec{Type: "lsearch"}},
		{"partial-lsearch", Spec{Type: "lsearch", Partial: true, PartialMin: 2, PartialAffix: "*."}},
		{"partial0-dbm*", Spec{Type: "dbm", Partial: true, PartialMin: 0, PartialAffix: "*.", Star: true}},
		{"partial12(.)cdb*@", Spec{Type: "cdb", Partial: true, PartialMin: 12, PartialAffix: ".", StarAt: true}},
		{"partial()lsearch", Spec{Type: "lsearch", Partial: true, PartialMin: 2}},
		{"partial(-(*.)lsearch", Spec{Type: "lsearch", Partial: true, PartialMin: 2, PartialAffix: "-(*."}},
		{"lsearch,ret=key", Spec{Type: "lsearch", RetKey: true}},
		{"dsearch*,,ret=full,cache=no_rd,filter=dir,ret=key", Spec{Type: "dsearch", Star: true, RetKey: true, NoCacheRead: true, Options: []string{"ret=full", "filter=dir"}}},
		{"lmdb,", Spec{Type: "lmdb"}},
		{"my_type2", Spec{Type: "my_type2"}},
		{"partial-lsearch,x=y=z", Spec{Type: "lsearch", Partial: true, PartialMin: 2, PartialAffix: "*.", Options: []string{"x=y=z"}}},
	}
	for _, tc := range tests {
		got, err := ParseSpec(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		back, err := ParseSpec(got.String())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("%q: String %q parses to %+v, %v", tc.in, got.String(), back, err)
		}
	}
	if s := MustParseSpec("partial2(*.)lsearch*@,cache=no_rd,ret=key,x").String(); s != "partial-lsearch*@,ret=key,cache=no_rd,x" {
		t.Errorf("String = %q", s)
	}
	if s := MustParseSpec("partial0(.)lsearch").String(); s != "partial0(.)lsearch" {
		t.Errorf("String = %q", s)
	}

	bad := map[string]string{
		"":                     `lookup: bad lookup type "": no type name`,
		"partial":              `lookup: bad lookup type "partial": "partial" must be followed by "-" or "(affix)"`,
		"partialx-lsearch":     `lookup: bad lookup type "partialx-lsearch": "partial" must be followed by "-" or "(affix)"`,
		"partial(lsearch":      `lookup: bad lookup type "partial(lsearch": no ')' after the partial affix`,
		"partial(ab)lsearch":   `lookup: bad lookup type "partial(ab)lsearch": partial affix "ab" is not punctuation`,
		"partial-(.)lsearch":   `lookup: bad lookup type "partial-(.)lsearch": no type name`,
		"partial(.)-lsearch":   `lookup: bad lookup type "partial(.)-lsearch": no type name`,
		"partial99999-lsearch": `lookup: bad lookup type "partial99999-lsearch": partial count out of range`,
		"lsearch*x":            `lookup: bad lookup type "lsearch*x": unexpected "x" after the type`,
		"lsearch, ret=key":     `lookup: bad lookup type "lsearch, ret=key": bad option " ret=key"`,
		"net-lsearch":          `lookup: bad lookup type "net-lsearch": unexpected "-lsearch" after the type`,
		"*lsearch":             `lookup: bad lookup type "*lsearch": no type name`,
		"lsearch**":            `lookup: bad lookup type "lsearch**": unexpected "*" after the type`,
		"lsearch,a;b":          `lookup: bad lookup type "lsearch,a;b": bad option "a;b"`,
	}
	for in, want := range bad {
		_, err := ParseSpec(in)
		if err == nil || err.Error() != want {
			t.Errorf("ParseSpec(%q): %v; want %s", in, err, want)
		}
		if err != nil && !errors.Is(err, ErrSpec) {
			t.Errorf("ParseSpec(%q): %v does not wrap ErrSpec", in, err)
		}
	}
	// Unknown options are the type's business.
	if sp := MustParseSpec("lsearch,ret=key*"); !slices.Equal(sp.Options, []string{"ret=key*"}) || sp.RetKey {
		t.Errorf("lsearch,ret=key*: %+v", sp)
	}
}

// recorder is a Map that records the keys asked for.
type recorder struct {
	m    Map
	keys []string
	err  map[string]error
}

func (r *recorder) Lookup(ctx context.Context, key string) (string, bool, error) {
	r.keys = append(r.keys, key)
	if err := r.err[key]; err != nil {
		return "", false, err
	}
	return r.m.Lookup(ctx, key)
}

func TestSpecFindOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec, key string
		keys      []string // the keys tried, in order, with an empty map
	}{
		{"lsearch", "a.b.c.d", []string{"a.b.c.d"}},
		{"partial-lsearch", "a.b.c.d", []string{"a.b.c.d", "*.a.b.c.d", "*.b.c.d", "*.c.d"}},
		{"partial1-lsearch", "a.b.c.d", []string{"a.b.c.d", "*.a.b.c.d", "*.b.c.d", "*.c.d", "*.d"}},
		{"partial0-lsearch", "a.b.c.d", []string{"a.b.c.d", "*.a.b.c.d", "*.b.c.d", "*.c.d", "*.d", "*"}},
		{"partial3-lsearch", "a.b.c.d", []string{"a.b.c.d", "*.a.b.c.d", "*.b.c.d"}},
		{"partial4-lsearch", "a.b.c.d", []string{"a.b.c.d", "*.a.b.c.d"}},
		{"partial-lsearch", "c.d", []string{"c.d", "*.c.d"}},
		{"partial-lsearch", "d", []string{"d", "*.d"}},
		{"partial0-lsearch", "d", []string{"d", "*.d", "*"}},
		{"partial0(-)lsearch", "c.d", []string{"c.d", "-c.d", "-d", "-"}},
		{"partial0(.)lsearch", "c.d", []string{"c.d", ".c.d", ".d", ""}},
		{"partial0()lsearch", "b.c.d", []string{"b.c.d", "c.d", "d"}},
		{"partial()lsearch", "b.c.d", []string{"b.c.d", "c.d"}},
		{"partial-lsearch", "a..c.d", []string{"a..c.d", "*.a..c.d", "*..c.d", "*.c.d"}},
		{"partial-lsearch", "a.c.d.", []string{"a.c.d.", "*.a.c.d.", "*.c.d.", "*.d."}},
		{"lsearch*", "x@a.b", []string{"x@a.b", "*"}},
		{"lsearch*@", "x@a.b", []string{"x@a.b", "*@a.b", "*"}},
		{"lsearch*@", "x@y@a.b", []string{"x@y@a.b", "*@a.b", "*"}},
		{"lsearch*@", "@a.b", []string{"@a.b", "*"}},
		{"lsearch*@", "nodomain", []string{"nodomain", "*"}},
		{"partial-lsearch*@", "x@a.b.c", []string{"x@a.b.c", "*.x@a.b.c", "*.b.c", "*@a.b.c", "*"}},
		{"partial0-lsearch*", "a.b", []string{"a.b", "*.a.b", "*.b", "*", "*"}},
	}
	for _, tc := range tests {
		r := &recorder{m: Map{}}
		res, err := MustParseSpec(tc.spec).find(context.Background(), r, tc.key)
		if err != nil || res != (Result{}) {
			t.Errorf("%s %q: %+v %v", tc.spec, tc.key, res, err)
		}
		if !slices.Equal(r.keys, tc.keys) {
			t.Errorf("%s %q tried\n %q\nwant\n %q", tc.spec, tc.key, r.keys, tc.keys)
		}
	}
}

func TestSpecFindResult(t *testing.T) {
	t.Parallel()
	m := Map{
		"a.b.c.d":       "full",
		"*.c.d":         "wild-cd",
		"*@dom.example": "atdom",
		"*":             "star",
		"-":             "dash",
	}
	tests := []struct {
		spec, key string
		want      Result
	}{
		{"lsearch", "a.b.c.d", Result{Value: "full", Found: true, Key: "a.b.c.d", Fixed: "a.b.c.d"}},
		{"partial-lsearch", "q.r.c.d", Result{Value: "wild-cd", Found: true, Key: "*.c.d", Wild: "q.r", Fixed: "c.d"}},
		{"partial-lsearch,ret=key", "q.r.c.d", Result{Value: "q.r.c.d", Found: true, Key: "*.c.d", Wild: "q.r", Fixed: "c.d"}},
		{"partial-lsearch", "c.d", Result{Value: "wild-cd", Found: true, Key: "*.c.d", Fixed: "c.d"}},
		{"partial-lsearch", "q.r.s.d", Result{}},
		{"partial0-lsearch", "q.r.s.e", Result{Value: "star", Found: true, Key: "*", Wild: "q.r.s.e"}},
		{"partial0(-.)lsearch", "a.v", Result{Value: "dash", Found: true, Key: "-", Wild: "a.v"}},
		{"lsearch*@", "joe@dom.example", Result{Value: "atdom", Found: true, Key: "*@dom.example", Wild: "joe"}},
		{"lsearch*@,ret=key", "joe@dom.example", Result{Value: "joe@dom.example", Found: true, Key: "*@dom.example", Wild: "joe"}},
		{"lsearch*", "joe@dom.example", Result{Value: "star", Found: true, Key: "*", Wild: "joe@dom.example"}},
	}
	for _, tc := range tests {
		got, err := MustParseSpec(tc.spec).find(context.Background(), m, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %+v %v; want %+v", tc.spec, tc.key, got, err, tc.want)
		}
	}

	// An error stops the search.
	boom := errors.New("boom")
	r := &recorder{m: m, err: map[string]error{"*.r.c.d": boom}}
	if _, err := MustParseSpec("partial-lsearch*").find(context.Background(), r, "q.r.c.d"); err != boom {
		t.Errorf("error: %v", err)
	}
	if want := []string{"q.r.c.d", "*.q.r.c.d", "*.r.c.d"}; !slices.Equal(r.keys, want) {
		t.Errorf("tried %q after an error", r.keys)
	}
	// A cancelled context stops partial matching between components.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = &recorder{m: Map{}}
	if _, err := MustParseSpec("partial0-lsearch").find(ctx, r, strings.Repeat("a.", 100)+"z"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if len(r.keys) != 2 {
		t.Errorf("cancelled: %d keys tried", len(r.keys))
	}
}

func TestResultForms(t *testing.T) {
	t.Parallel()
	found := Result{Value: "v", Found: true, Key: "k"}
	var missing Result
	if found.Or("") != "v" || missing.Or("") != "" || missing.Or("def") != "def" {
		t.Errorf("Or")
	}
	if v, err := found.OrFail(); v != "v" || err != nil {
		t.Errorf("OrFail found: %q %v", v, err)
	}
	if v, err := missing.OrFail(); v != "" || err != ErrForcedFail {
		t.Errorf("OrFail missing: %q %v", v, err)
	}
	wrap := func(v string) string { return "<" + v + ">" }
	if found.Expand(wrap, "no") != "<v>" || missing.Expand(wrap, "no") != "no" {
		t.Errorf("Expand")
	}
}
