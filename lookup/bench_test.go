package lookup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func benchFile(b *testing.B, data string) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchLookups(b *testing.B, l Lookup, keys []string) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, _, err := l.Lookup(ctx, keys[i%len(keys)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkLSearch: 100,000 entries, lookups of present keys.
func BenchmarkLSearch(b *testing.B) {
	var s strings.Builder
	keys := make([]string, 0, 1000)
	for i := range 100000 {
		fmt.Fprintf(&s, "user%d@example.com: mailbox%d\n", i, i)
		if i%100 == 0 {
			keys = append(keys, fmt.Sprintf("USER%d@example.com", i))
		}
	}
	benchLookups(b, LSearch(benchFile(b, s.String())), keys)
}

// BenchmarkIPLSearch: 10,000 host keys and 1,000 networks.
func BenchmarkIPLSearch(b *testing.B) {
	var s strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&s, "10.%d.%d.0/24: net%d\n", i/256, i%256, i)
	}
	for i := range 10000 {
		fmt.Fprintf(&s, "192.168.%d.%d: host%d\n", i/256, i%256, i)
	}
	keys := []string{"192.168.3.4", "10.2.3.4", "172.16.0.1", "2001:db8::1"}
	benchLookups(b, IPLSearch(benchFile(b, s.String())), keys)
}

// BenchmarkNWildLSearch: 100 suffix and regexp patterns, 10,000 literals.
func BenchmarkNWildLSearch(b *testing.B) {
	var s strings.Builder
	for i := range 50 {
		fmt.Fprintf(&s, "*.d%d.example: suffix%d\n^u%d-[0-9]+@: re%d\n", i, i, i, i)
	}
	for i := range 10000 {
		fmt.Fprintf(&s, "host%d.example: lit%d\n", i, i)
	}
	keys := []string{"HOST5000.example", "a.d49.example", "u7-123@x", "nomatch.example"}
	benchLookups(b, NWildLSearch(benchFile(b, s.String())), keys)
}
