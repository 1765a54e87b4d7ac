package srs

import (
	"context"
	"sync"
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
