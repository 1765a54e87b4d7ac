package lookup

import "context"

// Lookup finds the value stored under key.
type Lookup interface {
	// Lookup returns the value for key and whether it was found. A
	// missing key is ("", false, nil); err is for temporary failures.
	Lookup(ctx context.Context, key string) (value string, found bool, err error)
}

// Func adapts a function to a [Lookup].
type Func func(ctx context.Context, key string) (string, bool, error)

// Lookup calls f.
func (f Func) Lookup(ctx context.Context, key string) (string, bool, error) { return f(ctx, key) }

// Map is a static lookup over a Go map. Keys match exactly.
type Map map[string]string

// Lookup returns m[key].
func (m Map) Lookup(_ context.Context, key string) (string, bool, error) {
	v, ok := m[key]
	return v, ok, nil
}
