package exigo

// Key identifies one typed attribute. Create keys with [NewKey], normally
// once in a package-level variable; two keys never collide, even when their
// names are equal.
type Key[T any] struct {
	name string
}

// NewKey returns a new key for values of type T. The name is used only for
// debugging and logging.
func NewKey[T any](name string) *Key[T] {
	return &Key[T]{name: name}
}

// String returns the key's name.
func (k *Key[T]) String() string { return k.name }

// Attrs holds typed attributes. The zero value is empty and ready to use.
// Attrs is not safe for concurrent use: a message or recipient belongs to
// one goroutine at a time.
type Attrs struct {
	m map[any]any
}

// Get returns the value stored under k and whether there was one.
func Get[T any](a *Attrs, k *Key[T]) (T, bool) {
	v, ok := a.m[k]
	if !ok {
		var zero T
		return zero, false
	}
	return v.(T), true
}

// Set stores v under k, replacing any previous value.
func Set[T any](a *Attrs, k *Key[T], v T) {
	if a.m == nil {
		a.m = make(map[any]any)
	}
	a.m[k] = v
}

// Delete removes the value stored under k.
func Delete[T any](a *Attrs, k *Key[T]) {
	delete(a.m, k)
}

// Len returns the number of attributes stored.
func (a *Attrs) Len() int { return len(a.m) }

// Clone returns a shallow copy: the values themselves are shared.
func (a *Attrs) Clone() Attrs {
	if len(a.m) == 0 {
		return Attrs{}
	}
	m := make(map[any]any, len(a.m))
	for k, v := range a.m {
		m[k] = v
	}
	return Attrs{m: m}
}
