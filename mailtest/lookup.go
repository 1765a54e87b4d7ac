package mailtest

import (
	"context"
	"maps"
	"sync"

	"github.com/exigo-mta/exigo/lookup"
)

var _ lookup.Lookup = (*Lookup)(nil)

// Lookup is an in-memory [lookup.Lookup] for tests: a map whose entries
// can change while the code under test runs, which counts and records
// the keys asked for, and which can be told to fail (an error from a
// lookup makes an ACL defer, so this is how to test the 451 paths).
// Keys match exactly, as in [lookup.Map]. The zero value is an empty
// lookup, ready to use; it is safe for concurrent use.
type Lookup struct {
	mu      sync.Mutex
	m       map[string]string
	fail    map[string]error
	failAll error
	queries []string
}

// NewLookup returns a lookup holding a copy of entries.
func NewLookup(entries map[string]string) *Lookup {
	return &Lookup{m: maps.Clone(entries)}
}

// Lookup returns the value stored under key. It records the call first;
// then an error set by FailAll or FailWith for key is returned, or
// ctx's error when ctx is done.
func (l *Lookup) Lookup(ctx context.Context, key string) (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, key)
	if l.failAll != nil {
		return "", false, l.failAll
	}
	if err := l.fail[key]; err != nil {
		return "", false, err
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	v, ok := l.m[key]
	return v, ok, nil
}

// Set stores value under key.
func (l *Lookup) Set(key, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[string]string)
	}
	l.m[key] = value
}

// Delete removes key.
func (l *Lookup) Delete(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

// FailWith makes lookups of key return err (a temporary failure); nil
// makes them work again.
func (l *Lookup) FailWith(key string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		delete(l.fail, key)
		return
	}
	if l.fail == nil {
		l.fail = make(map[string]error)
	}
	l.fail[key] = err
}

// FailAll makes every lookup return err, as a database that is down;
// nil makes them work again.
func (l *Lookup) FailAll(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failAll = err
}

// Calls returns the number of lookups made so far, failed ones included.
func (l *Lookup) Calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queries)
}

// Queries returns the keys looked up so far, in order.
func (l *Lookup) Queries() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.queries...)
}
