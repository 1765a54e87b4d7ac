package lookups_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/lookup/lmdb"
	"github.com/exigo-mta/exigo/lookup/lookups"
)

func TestNewWithLMDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "domains.mdb")
	w, err := lmdb.Open(path, lmdb.Writable())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"*.example.com": "wild", "example.org": "exact", "*": "star"} {
		if err := w.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	reg := lookups.New()
	if got := reg.Types(); !slices.Contains(got, "lmdb") || !slices.Contains(got, "lsearch") {
		t.Errorf("Types = %q", got)
	}
	tests := []struct {
		spec, key string
		want      lookup.Result
	}{
		{"partial-lmdb", "mx.example.com", lookup.Result{Value: "wild", Found: true, Key: "*.example.com", Wild: "mx", Fixed: "example.com"}},
		{"lmdb", "example.org", lookup.Result{Value: "exact", Found: true, Key: "example.org", Fixed: "example.org"}},
		{"lmdb", "EXAMPLE.org", lookup.Result{}}, // lmdb keys are case-sensitive
		{"lmdb*", "other.net", lookup.Result{Value: "star", Found: true, Key: "*", Wild: "other.net"}},
	}
	for _, tc := range tests {
		got, err := reg.Do(ctx, lookup.Query{Spec: lookup.MustParseSpec(tc.spec), Source: path, Key: tc.key})
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %+v %v; want %+v", tc.spec, tc.key, got, err, tc.want)
		}
	}
	_, err = reg.Do(ctx, lookup.Query{Spec: lookup.MustParseSpec("lmdb,x"), Source: path, Key: "k"})
	if !errors.Is(err, lookup.ErrUnsupported) {
		t.Errorf("lmdb,x: %v", err)
	}
	_, err = reg.Do(ctx, lookup.Query{Spec: lookup.Spec{Type: "lmdb"}, Source: path + ".missing", Key: "k"})
	if err == nil {
		t.Errorf("missing database: no error")
	}
	if err := reg.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestLMDBInLists: "hosts = net-lmdb;/path" and "domains = partial-lmdb;/path".
func TestLMDBInLists(t *testing.T) {
	t.Parallel()
	ctx := lookup.WithCache(context.Background(), &lookup.Cache{})
	path := filepath.Join(t.TempDir(), "policy.mdb")
	w, err := lmdb.Open(path, lmdb.Writable())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"192.0.2.7": "blocked host", "*.spam.example": "spam"} {
		if err := w.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	reg := lookups.New()
	defer reg.Close()
	cfg := &acl.ListConfig{Lookups: reg}
	hosts := acl.Must(acl.ParseHostList("net-lmdb;"+path, cfg))
	for addr, want := range map[string]string{"192.0.2.7": "blocked host", "192.0.2.8": ""} {
		ok, data, err := hosts.Match(ctx, &acl.Host{Addr: netip.MustParseAddr(addr)})
		if err != nil || ok != (want != "") || data != want {
			t.Errorf("hosts %s: %v %q %v", addr, ok, data, err)
		}
	}
	domains := acl.Must(acl.ParseDomainList("partial-lmdb;"+path, cfg))
	for d, want := range map[string]string{"a.b.spam.example": "spam", "spam.example": "spam", "ham.example": ""} {
		ok, data, err := domains.Match(ctx, d)
		if err != nil || ok != (want != "") || data != want {
			t.Errorf("domains %s: %v %q %v", d, ok, data, err)
		}
	}
}
