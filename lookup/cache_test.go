package lookup

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var keys []string
	fail := false
	var r Registry
	r.Register("rec", SingleKey, func(source string, _ []string) (Lookup, error) {
		return Func(func(_ context.Context, key string) (string, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			keys = append(keys, source+":"+key)
			if fail {
				return "", false, errors.New("down")
			}
			if key == "*.b.c" || key == "k" {
				return "v-" + source, true, nil
			}
			return "", false, nil
		}), nil
	})
	tried := func() []string {
		mu.Lock()
		defer mu.Unlock()
		k := keys
		keys = nil
		return k
	}
	do := func(ctx context.Context, spec, source, key string) Result {
		t.Helper()
		res, err := r.Do(ctx, Query{Spec: MustParseSpec(spec), Source: source, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	bg := context.Background()
	if CacheFrom(bg) != nil {
		t.Fatal("cache in Background")
	}
	// Without a cache every lookup is done.
	do(bg, "rec", "f", "k")
	do(bg, "rec", "f", "k")
	if got := tried(); !slices.Equal(got, []string{"f:k", "f:k"}) {
		t.Errorf("no cache: %q", got)
	}

	c := &Cache{}
	ctx := WithCache(bg, c)
	if CacheFrom(ctx) != c {
		t.Fatal("CacheFrom")
	}
	want := Result{Value: "v-f", Found: true, Key: "*.b.c", Wild: "a", Fixed: "b.c"}
	for range 3 {
		if res := do(ctx, "partial-rec", "f", "a.b.c"); res != want {
			t.Errorf("partial: %+v", res)
		}
	}
	if got := tried(); !slices.Equal(got, []string{"f:a.b.c", "f:*.a.b.c", "f:*.b.c"}) {
		t.Errorf("cached partial: %q", got)
	}
	// Other decorations, sources and keys are other entries; a Source
	// from Open shares the entries of Do.
	do(ctx, "rec", "f", "a.b.c")
	do(ctx, "partial-rec", "g", "a.b.c")
	src, err := r.Open(MustParseSpec("partial-rec"), "f")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := src.Find(ctx, "a.b.c"); res != want || err != nil {
		t.Errorf("Source.Find: %+v %v", res, err)
	}
	if got := tried(); !slices.Equal(got, []string{"f:a.b.c", "g:a.b.c", "g:*.a.b.c", "g:*.b.c"}) {
		t.Errorf("other entries: %q", got)
	}
	// cache=no_rd reads the source, and stores what it finds.
	mu.Lock()
	fail = false
	mu.Unlock()
	do(ctx, "rec,cache=no_rd", "f", "k")
	do(ctx, "rec,cache=no_rd", "f", "k")
	do(ctx, "rec", "f", "k")
	if got := tried(); !slices.Equal(got, []string{"f:k", "f:k"}) {
		t.Errorf("no_rd: %q", got)
	}
	// Errors are not cached.
	mu.Lock()
	fail = true
	mu.Unlock()
	for range 2 {
		if _, err := r.Do(ctx, Query{Spec: Spec{Type: "rec"}, Source: "f", Key: "e"}); err == nil || err.Error() != "down" {
			t.Errorf("error: %v", err)
		}
	}
	if got := tried(); !slices.Equal(got, []string{"f:e", "f:e"}) {
		t.Errorf("errors: %q", got)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	n := c.Len()
	if n != 4 {
		t.Errorf("Len = %d", n)
	}
	c.Reset()
	if c.Len() != 0 {
		t.Errorf("Len after Reset = %d", c.Len())
	}
	do(ctx, "rec", "f", "k")
	if got := tried(); !slices.Equal(got, []string{"f:k"}) {
		t.Errorf("after Reset: %q", got)
	}

	// A full cache keeps what it has and stores nothing new.
	small := &Cache{Max: 2}
	sctx := WithCache(bg, small)
	for _, k := range []string{"k1", "k2", "k3", "k1", "k3"} {
		do(sctx, "rec", "f", k)
	}
	if got := tried(); !slices.Equal(got, []string{"f:k1", "f:k2", "f:k3", "f:k3"}) {
		t.Errorf("small cache: %q", got)
	}
	if small.Len() != 2 {
		t.Errorf("small Len = %d", small.Len())
	}
}

func TestCacheNewSource(t *testing.T) {
	t.Parallel()
	n := 0
	l := Func(func(_ context.Context, key string) (string, bool, error) {
		n++
		return key, true, nil
	})
	// Two Sources over different Go lookups never share entries.
	s1, _ := NewSource(Spec{}, SingleKey, l)
	s2, _ := NewSource(Spec{}, SingleKey, Map{"k": "other"})
	ctx := WithCache(context.Background(), &Cache{})
	for range 3 {
		if v, _, _ := s1.Lookup(ctx, "k"); v != "k" {
			t.Errorf("s1 = %q", v)
		}
		if v, _, _ := s2.Lookup(ctx, "k"); v != "other" {
			t.Errorf("s2 = %q", v)
		}
	}
	if n != 1 {
		t.Errorf("%d lookups", n)
	}
}
