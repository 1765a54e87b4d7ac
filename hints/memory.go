package hints

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

// Option configures a Memory database.
type Option func(*Memory)

// WithClock makes the database read the time from now instead of
// time.Now, for tests of expiry.
func WithClock(now func() time.Time) Option { return func(m *Memory) { m.now = now } }

// Memory is an in-memory DB. It keeps nothing across restarts; it is meant
// for tests and for programs that need no persistence. The zero value is
// not usable: call NewMemory.
type Memory struct {
	now    func() time.Time
	mu     sync.RWMutex
	recs   map[string]memRecord
	closed bool
}

type memRecord struct {
	value  []byte
	expiry int64 // ns, 0 = never
}

// NewMemory returns an empty in-memory database.
func NewMemory(opts ...Option) *Memory {
	m := &Memory{now: time.Now, recs: make(map[string]memRecord)}
	for _, o := range opts {
		o(m)
	}
	return m
}

var _ DB = (*Memory)(nil)

// Get implements DB.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := CheckKey(key); err != nil {
		return nil, false, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	r, ok := m.recs[key]
	if !ok || Expired(r.expiry, m.now()) {
		return nil, false, nil
	}
	return bytes.Clone(r.value), true, nil
}

// Put implements DB.
func (m *Memory) Put(ctx context.Context, key string, value []byte, expiry time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	r := memRecord{value: bytes.Clone(value), expiry: ExpiryNanos(expiry)}
	if r.value == nil {
		r.value = []byte{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.recs[key] = r
	return nil
}

// Delete implements DB.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.recs, key)
	return nil
}

// Range implements DB. It copies the matching records under the lock and
// calls fn without it.
func (m *Memory) Range(ctx context.Context, prefix string, fn func(key string, value []byte, expiry time.Time) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	type kv struct {
		key string
		memRecord
	}
	var recs []kv
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	now := m.now()
	for k, r := range m.recs {
		if strings.HasPrefix(k, prefix) && !Expired(r.expiry, now) {
			recs = append(recs, kv{k, memRecord{bytes.Clone(r.value), r.expiry}})
		}
	}
	m.mu.RUnlock()
	sort.Slice(recs, func(i, j int) bool { return recs[i].key < recs[j].key })
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !fn(r.key, r.value, ExpiryTime(r.expiry)) {
			return nil
		}
	}
	return nil
}

// Purge implements DB.
func (m *Memory) Purge(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	now := m.now()
	n := 0
	for k, r := range m.recs {
		if Expired(r.expiry, now) {
			delete(m.recs, k)
			n++
		}
	}
	return n, nil
}

// Close implements DB; it discards the records.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.recs = nil
	return nil
}
