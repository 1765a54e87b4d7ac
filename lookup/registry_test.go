package lookup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// closer is a Map that counts Close calls.
type closer struct {
	Map
	closed *atomic.Int32
}

func (c closer) Close() error {
	c.closed.Add(1)
	if c.Map["fail-close"] != "" {
		return errors.New("close failed")
	}
	return nil
}

func TestRegistryTypes(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	if got := r.Types(); !slices.Equal(got, []string{"dsearch", "iplsearch", "lsearch", "nwildlsearch", "wildlsearch"}) {
		t.Errorf("Types = %q", got)
	}
	r.RegisterQuery("dnsdb", Map{"mx=example.com": "10 mx.example.com"})
	if k, ok := r.Kind("dnsdb"); k != QueryStyle || !ok {
		t.Errorf("Kind(dnsdb) = %v %v", k, ok)
	}
	if k, ok := r.Kind("lsearch"); k != SingleKey || !ok {
		t.Errorf("Kind(lsearch) = %v %v", k, ok)
	}
	if k, ok := r.Kind("cdb"); k != 0 || ok {
		t.Errorf("Kind(cdb) = %v %v", k, ok)
	}
	if SingleKey.String() != "single-key" || QueryStyle.String() != "query-style" || Kind(9).String() != "Kind(9)" {
		t.Errorf("Kind strings")
	}
	for _, bad := range []func(){
		func() { r.Register("", SingleKey, func(string, []string) (Lookup, error) { return Map{}, nil }) },
		func() { r.Register("a-b", SingleKey, func(string, []string) (Lookup, error) { return Map{}, nil }) },
		func() { r.Register("é", SingleKey, func(string, []string) (Lookup, error) { return Map{}, nil }) },
		func() { r.Register("x", 0, func(string, []string) (Lookup, error) { return Map{}, nil }) },
		func() { r.Register("x", SingleKey, nil) },
		func() { r.RegisterQuery("x", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			bad()
		}()
	}
}

func TestRegistryDo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "domains")
	if err := os.WriteFile(f, []byte("*.example.com: wild\nexample.org: exact\n*: star\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry()
	dns := Map{"mx=example.com": "10 mx.example.com"}
	r.RegisterQuery("dnsdb", dns)
	ctx := context.Background()
	tests := []struct {
		q    Query
		want Result
		err  string
	}{
		{Query{Spec: MustParseSpec("partial-lsearch"), Source: f, Key: "www.Example.com"},
			Result{Value: "wild", Found: true, Key: "*.Example.com", Wild: "www", Fixed: "Example.com"}, ""},
		{Query{Spec: MustParseSpec("lsearch"), Source: f, Key: "www.example.com"}, Result{}, ""},
		{Query{Spec: MustParseSpec("lsearch*"), Source: f, Key: "www.example.com"},
			Result{Value: "star", Found: true, Key: "*", Wild: "www.example.com"}, ""},
		{Query{Spec: MustParseSpec("lsearch,ret=key"), Source: f, Key: "EXAMPLE.org"},
			Result{Value: "EXAMPLE.org", Found: true, Key: "EXAMPLE.org", Fixed: "EXAMPLE.org"}, ""},
		{Query{Spec: Spec{Type: "dnsdb"}, Key: "mx=example.com"},
			Result{Value: "10 mx.example.com", Found: true, Key: "mx=example.com", Fixed: "mx=example.com"}, ""},
		{Query{Spec: Spec{Type: "dnsdb"}, Key: "mx=example.net"}, Result{}, ""},
		{Query{Spec: MustParseSpec("partial-dnsdb"), Key: "x"}, Result{},
			`lookup: bad lookup type: partial matching is not permitted for query-style type "dnsdb"`},
		{Query{Spec: MustParseSpec("dnsdb*@"), Key: "x"}, Result{},
			`lookup: bad lookup type: defaults "*" and "*@" are not permitted for query-style type "dnsdb"`},
		{Query{Spec: Spec{Type: "dnsdb"}, Source: "x", Key: "x"}, Result{},
			`lookup: bad lookup type: query-style type "dnsdb" takes no source (the query is the key)`},
		{Query{Spec: MustParseSpec("dnsdb,servers=x"), Key: "x"}, Result{},
			`lookup: opening dnsdb: lookup: dnsdb: not supported: options ["servers=x"]`},
		{Query{Spec: MustParseSpec("cdb"), Source: f, Key: "x"}, Result{}, `lookup: unknown lookup type "cdb"`},
		{Query{Spec: MustParseSpec("lsearch,ret=full"), Source: f, Key: "x"}, Result{},
			`lookup: opening lsearch;` + f + `: lookup: lsearch: not supported: option "ret=full"`},
		{Query{Spec: MustParseSpec("lsearch"), Source: f + ".missing", Key: "x"}, Result{},
			`lookup: ` + f + `.missing: open ` + f + `.missing: no such file or directory`},
	}
	for _, tc := range tests {
		got, err := r.Do(ctx, tc.q)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("%s{%s}{%s}:\n got %+v %s\nwant %+v %s", tc.q.Spec, tc.q.Source, tc.q.Key, got, gotErr, tc.want, tc.err)
		}
	}
	if _, err := r.Do(ctx, Query{Spec: MustParseSpec("cdb"), Key: "x"}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := r.Do(ctx, Query{Spec: MustParseSpec("partial-dnsdb"), Key: "x"}); !errors.Is(err, ErrSpec) {
		t.Errorf("partial query-style: %v", err)
	}
}

func TestRegistryOpensOnce(t *testing.T) {
	t.Parallel()
	var r Registry // the zero Registry works
	var opens atomic.Int32
	var closed atomic.Int32
	fails := map[string]bool{"bad": true}
	var mu sync.Mutex
	r.Register("fake", SingleKey, func(source string, options []string) (Lookup, error) {
		opens.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if fails[source] {
			return nil, errors.New("cannot open")
		}
		return closer{Map: Map{"k": source + strings.Join(options, "+")}, closed: &closed}, nil
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, spec := range []string{"fake", "partial-fake*", "fake,ret=key", "fake,cache=no_rd"} {
				res, err := r.Do(ctx, Query{Spec: MustParseSpec(spec), Source: "s1", Key: "k"})
				if err != nil || !res.Found {
					t.Errorf("%s: %+v %v", spec, res, err)
				}
			}
			if _, err := r.Open(MustParseSpec("fake,opt"), "s1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := opens.Load(); n != 2 { // s1 without options, s1 with "opt"
		t.Errorf("%d opens, want 2", n)
	}
	// A failed open is not kept: the next lookup tries again.
	for range 2 {
		_, err := r.Do(ctx, Query{Spec: Spec{Type: "fake"}, Source: "bad", Key: "k"})
		if err == nil || err.Error() != "lookup: opening fake;bad: cannot open" {
			t.Errorf("bad: %v", err)
		}
	}
	mu.Lock()
	fails["bad"] = false
	mu.Unlock()
	if res, err := r.Do(ctx, Query{Spec: Spec{Type: "fake"}, Source: "bad", Key: "k"}); err != nil || res.Value != "bad" {
		t.Errorf("bad after repair: %+v %v", res, err)
	}
	if n := opens.Load(); n != 5 {
		t.Errorf("%d opens, want 5", n)
	}
	src, err := r.Open(MustParseSpec("partial-fake*@"), "s1")
	if err != nil || src.String() != "partial-fake*@;s1" || src.Kind() != SingleKey || src.Spec().Type != "fake" {
		t.Errorf("Open: %v %v", src, err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := closed.Load(); n != 3 {
		t.Errorf("%d closed, want 3", n)
	}
	if _, err := r.Do(ctx, Query{Spec: Spec{Type: "fake"}, Source: "s1", Key: "k"}); err != ErrClosed {
		t.Errorf("after Close: %v", err)
	}
	if _, err := r.Open(Spec{Type: "fake"}, "s1"); err != ErrClosed {
		t.Errorf("Open after Close: %v", err)
	}
}

func TestRegistryBoundsDoSources(t *testing.T) {
	t.Parallel()
	var r Registry
	var opens, closed atomic.Int32
	r.Register("fake", SingleKey, func(source string, _ []string) (Lookup, error) {
		opens.Add(1)
		return closer{Map: Map{"k": source}, closed: &closed}, nil
	})
	ctx := WithCache(context.Background(), &Cache{})
	for i := range maxDoOpened + 10 {
		src := fmt.Sprintf("s%d", i)
		for range 2 {
			res, err := r.Do(ctx, Query{Spec: Spec{Type: "fake"}, Source: src, Key: "k"})
			if err != nil || res.Value != src {
				t.Fatalf("%s: %+v %v", src, res, err)
			}
		}
	}
	// The first maxDoOpened sources are kept; the others are opened and
	// closed at each lookup that the cache does not answer (the second
	// one it does).
	if n, c := opens.Load(), closed.Load(); n != maxDoOpened+10 || c != 10 {
		t.Errorf("%d opens, %d closes", n, c)
	}
	// Sources opened by Open are kept whatever the count.
	if _, err := r.Open(Spec{Type: "fake"}, "extra"); err != nil {
		t.Fatal(err)
	}
	r.Do(ctx, Query{Spec: Spec{Type: "fake"}, Source: "extra", Key: "x"})
	if n := opens.Load(); n != maxDoOpened+11 {
		t.Errorf("%d opens", n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if c := closed.Load(); c != maxDoOpened+11 {
		t.Errorf("%d closed", c)
	}
}

func TestRegistryQueryNotClosed(t *testing.T) {
	t.Parallel()
	var r Registry
	var closed atomic.Int32
	r.RegisterQuery("q", closer{Map: Map{"GET a": "1"}, closed: &closed})
	if res, err := r.Do(context.Background(), Query{Spec: Spec{Type: "q"}, Key: "GET a"}); res.Value != "1" || err != nil {
		t.Fatalf("%+v %v", res, err)
	}
	if err := r.Close(); err != nil || closed.Load() != 0 {
		t.Errorf("Close: %v, %d closed", err, closed.Load())
	}
}

func TestRegistryCloseErrors(t *testing.T) {
	t.Parallel()
	var r Registry
	var closed atomic.Int32
	r.Register("fake", SingleKey, func(source string, _ []string) (Lookup, error) {
		return closer{Map: Map{"fail-close": source}, closed: &closed}, nil
	})
	if _, err := r.Open(Spec{Type: "fake"}, "x"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err == nil || err.Error() != "lookup: closing fake;x: close failed" {
		t.Errorf("Close: %v", err)
	}
}

func TestNewSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := NewSource(MustParseSpec("partial-x*"), SingleKey, Map{"*.b.c": "wild", "*": "star"})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Lookup(ctx, "a.b.c"); v != "wild" || !ok || err != nil {
		t.Errorf("a.b.c: %q %v %v", v, ok, err)
	}
	if s.String() != "partial-x*;" {
		t.Errorf("String %q", s.String())
	}
	q, err := NewSource(Spec{}, QueryStyle, Map{"q": "v"})
	if err != nil || q.String() != "" {
		t.Fatal(q, err)
	}
	if _, err := NewSource(MustParseSpec("x*"), QueryStyle, Map{}); err == nil {
		t.Errorf("star on query-style accepted")
	}
	if _, err := NewSource(Spec{}, 7, Map{}); err == nil {
		t.Errorf("bad kind accepted")
	}
	if _, err := NewSource(Spec{}, SingleKey, nil); err == nil {
		t.Errorf("nil lookup accepted")
	}
}
