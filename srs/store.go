package srs

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/exigo-mta/exigo/hints"
)

// MapStore is an in-memory [Store], safe for concurrent use. The zero
// value is empty and ready.
type MapStore struct {
	mu sync.Mutex
	m  map[string]string
}

// Put stores address under key.
func (m *MapStore) Put(_ context.Context, key, address string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[string]string)
	}
	m.m[key] = address
	return nil
}

// Get returns the address under key.
func (m *MapStore) Get(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.m[key]
	if !ok {
		return "", ErrNotFound
	}
	return a, nil
}

// HintsStore keeps database-mode addresses in a hints database (Exim's
// srs_dbinsert / srs_dbselect), so that several exigo nodes sharing one
// hints database (for example on Redis) reverse each other's addresses.
// Records expire after TTL (default 31 days, a little longer than the
// default maximum age of an SRS address).
type HintsStore struct {
	DB  hints.DB
	TTL time.Duration
	// Prefix is put in front of every key; default "srs:".
	Prefix string
	// Now replaces time.Now, for tests.
	Now func() time.Time
}

// Put stores address under key.
func (h *HintsStore) Put(ctx context.Context, key, address string) error {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	ttl := cmp.Or(h.TTL, 31*24*time.Hour)
	if err := h.DB.Put(ctx, cmp.Or(h.Prefix, "srs:")+key, []byte(address), now().Add(ttl)); err != nil {
		return fmt.Errorf("srs: storing %s: %w", key, err)
	}
	return nil
}

// Get returns the address under key, or an error wrapping ErrNotFound.
func (h *HintsStore) Get(ctx context.Context, key string) (string, error) {
	v, found, err := h.DB.Get(ctx, cmp.Or(h.Prefix, "srs:")+key)
	if err != nil {
		return "", fmt.Errorf("srs: looking up %s: %w", key, err)
	}
	if !found {
		return "", ErrNotFound
	}
	return string(v), nil
}
