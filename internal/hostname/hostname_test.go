package hostname_test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/exigo-mta/exigo/internal/hostname"
)

func TestLazy(t *testing.T) {
	t.Parallel()
	want, _ := os.Hostname()
	if want == "" {
		want = "localhost"
	}
	var l hostname.Lazy
	if got := l.Get("mx.example.org"); got != "mx.example.org" {
		t.Errorf("configured: %q", got)
	}
	var wg sync.WaitGroup
	got := make([]string, 4)
	for i := range got {
		wg.Go(func() { got[i] = l.Get("") })
	}
	wg.Wait()
	for _, g := range got {
		if g != want {
			t.Errorf("Get(\"\") = %q, want %q", g, want)
		}
	}
	if g := l.Get("other.example"); g != "other.example" {
		t.Errorf("configured after a lookup: %q", g)
	}
}

func ExampleLazy() {
	var name hostname.Lazy // e.g. a field of a transport
	fmt.Println(name.Get("mx.example.org"))
	// Output: mx.example.org
}
