package lookup

import (
	"context"
	"sync"
)

// DefaultCacheSize is the number of results a [Cache] keeps when its Max
// is zero.
const DefaultCacheSize = 4096

// Cache keeps the results of decorated lookups ([Source.Find],
// [Registry.Do]) for the lifetime a caller chooses: one SMTP transaction,
// or one delivery attempt, as Exim keeps lookup results until the end of
// a message. Within that scope the same lookup gives the same answer,
// even if its file changes, and is done once. Results are keyed by the
// opened source (type, options and source), the decorations (partial
// matching, defaults, ret=key) and the key; errors are not cached. A
// lookup whose Spec has NoCacheRead (Exim's "cache=no_rd") does not read
// the cache but stores its result.
//
// A Cache travels in a context ([WithCache]), so that lookups done deep
// inside lists, conditions and routers use it without extra parameters.
// The zero Cache is ready to use; a Cache is safe for concurrent use.
type Cache struct {
	// Max bounds the number of results kept; 0 means
	// DefaultCacheSize. When the cache is full, new results are not
	// kept.
	Max int

	mu sync.Mutex
	m  map[cacheKey]Result
}

type cacheKey struct {
	o    *opened // a Source made by NewSource
	reg  *Registry
	id   openKey // with reg: a lookup the Registry opened
	deco string
	key  string
}

type cacheCtxKey struct{}

// WithCache returns a context carrying c, for the lookups done with it.
func WithCache(ctx context.Context, c *Cache) context.Context {
	return context.WithValue(ctx, cacheCtxKey{}, c)
}

// CacheFrom returns the Cache in ctx, or nil.
func CacheFrom(ctx context.Context) *Cache {
	c, _ := ctx.Value(cacheCtxKey{}).(*Cache)
	return c
}

// Len returns the number of results kept.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Reset forgets every result, for a Cache reused for the next
// transaction.
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

func (c *Cache) get(k cacheKey) (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[k]
	return r, ok
}

func (c *Cache) put(k cacheKey, r Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	max := c.Max
	if max <= 0 {
		max = DefaultCacheSize
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= max {
		return
	}
	if c.m == nil {
		c.m = map[cacheKey]Result{}
	}
	c.m[k] = r
}
