package queue

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/transport"
)

// TestLookupCachePerMessage checks that routing and delivering one
// message share one lookup cache (Exim keeps lookup results until the
// end of a message) and that every message starts with an empty one.
func TestLookupCachePerMessage(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	var calls atomic.Int32
	src, err := lookup.NewSource(lookup.Spec{}, lookup.SingleKey, lookup.Func(func(_ context.Context, key string) (string, bool, error) {
		calls.Add(1)
		return "mx." + key, true, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := router.NewChain([]router.Entry{{Name: "looked-up", Router: router.RouterFunc(func(ctx context.Context, a *router.Address) (router.Result, error) {
		r, err := src.Find(ctx, a.Domain)
		if err != nil || !r.Found {
			return router.Result{}, err
		}
		return router.Accepted("smtp", hostFor(a.Domain)), nil
	})}})
	if err != nil {
		t.Fatal(err)
	}
	v.eng.Router = chain
	v.eng.Transports["smtp"] = transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
		for _, r := range d.Recipients {
			if _, err := src.Find(ctx, "example.com"); err != nil {
				return err
			}
			st.Set(r, transport.Result{Reply: "250 OK"})
		}
		return nil
	})

	id := v.add("alice@example.org", "bob@example.com", "carol@example.com", "dave@example.com")
	res, err := v.eng.DeliverMessage(bg, id)
	if err != nil || !res.Completed {
		t.Fatalf("first message: %+v %v", res, err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("lookups for one message = %d, want 1 (routing and delivery share the cache)", got)
	}
	id = v.add("alice@example.org", "erin@example.com")
	if res, err := v.eng.DeliverMessage(bg, id); err != nil || !res.Completed {
		t.Fatalf("second message: %+v %v", res, err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("lookups after a second message = %d, want 2 (a cache per message)", got)
	}
}
