package lookup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// Kind says how a lookup type takes its key (Exim specification, section
// 9.2 "Lookup types").
type Kind uint8

const (
	// SingleKey types look a key up in a source named apart from it,
	// usually a file: "${lookup{key}lsearch{/file}}", "lsearch;/file".
	// They accept partial matching and the "*" and "*@" defaults.
	SingleKey Kind = iota + 1
	// QueryStyle types take a query and no separate source: the query
	// is the key of their Lookup ("${lookup dnsdb{mx=example.com}}",
	// "redis;GET foo"). Partial matching and defaults are errors.
	QueryStyle
)

func (k Kind) String() string {
	switch k {
	case SingleKey:
		return "single-key"
	case QueryStyle:
		return "query-style"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Opener opens the lookup of one type for one source. For a [SingleKey]
// type, source is the file or database (the argument of "type;source");
// for a [QueryStyle] type it is "" and the Lookup's key is the query.
// options are the type's options from the Spec (those other than ret=key
// and cache=no_rd, which the Registry implements); an Opener should
// reject the ones it does not know. A Lookup that an Opener returns and
// that is also an [io.Closer] belongs to the Registry, which closes it in
// [Registry.Close] (or after one [Registry.Do] when it keeps too many).
type Opener func(source string, options []string) (Lookup, error)

// Registry maps lookup type names to their openers, and keeps the lookups
// it opened so that each source is opened once: the analogue of the set
// of lookup types compiled into an Exim binary, without global state. A
// program builds one (usually with [NewRegistry], or lookups.New for the
// types with dependencies such as lmdb), registers its own types, and
// shares it. Sources opened with [Registry.Open] stay open until
// [Registry.Close]; [Registry.Do] keeps up to 1024 sources open, and
// opens and closes others at each lookup, so that file names built
// from message data cannot grow it without limit. The zero Registry has
// no types. A Registry is safe for concurrent use.
type Registry struct {
	mu     sync.Mutex
	types  map[string]regType
	opened map[openKey]*opened
	// Sources opened for [Registry.Do] only (not for [Registry.Open]),
	// bounded by maxDoOpened.
	doOpened int
	closed   bool
}

// maxDoOpened bounds the sources that Do keeps open: a source named by
// message data (a file per local part, say) must not grow the Registry
// without limit. Beyond it, Do opens, uses and closes.
const maxDoOpened = 1024

type regType struct {
	kind Kind
	open Opener
	// borrowed: the lookups belong to the caller (RegisterQuery), so
	// Close does not close them.
	borrowed bool
}

type openKey struct{ typ, opts, source string }

// opened is one lookup opened by a Registry, shared by every Source with
// the same type, options and source; its address identifies it in a
// Cache.
type opened struct {
	ready chan struct{}
	kind  Kind
	name  string // "type;source" for errors
	l     Lookup
	err   error
	// transient: opened for one Do call and not kept.
	transient bool
	// borrowed: not ours to close.
	borrowed bool
	// reg and id identify a lookup a Registry opened, in a Cache: two
	// transient openings of one source share cached results.
	reg *Registry
	id  openKey
}

// NewRegistry returns a Registry with the file lookups of this package:
// lsearch, wildlsearch, nwildlsearch, iplsearch and dsearch (see
// [Open]); opts apply to the first four.
func NewRegistry(opts ...Option) *Registry {
	r := &Registry{}
	for _, name := range []string{"lsearch", "wildlsearch", "nwildlsearch", "iplsearch", "dsearch"} {
		r.Register(name, SingleKey, func(source string, options []string) (Lookup, error) {
			kind := name
			if len(options) > 0 {
				kind += "," + strings.Join(options, ",")
			}
			return Open(kind, source, opts...)
		})
	}
	return r
}

// Register adds the lookup type name (letters, digits and "_"), or
// replaces it for the sources opened from then on. It panics if name is not a valid type name, kind is
// neither SingleKey nor QueryStyle, or open is nil.
func (r *Registry) Register(name string, kind Kind, open Opener) {
	checkTypeName(name)
	if kind != SingleKey && kind != QueryStyle {
		panic(fmt.Sprintf("lookup: Register %s: bad kind %d", name, kind))
	}
	if open == nil {
		panic("lookup: Register " + name + ": nil Opener")
	}
	r.register(name, regType{kind: kind, open: open})
}

func checkTypeName(name string) {
	if name == "" || strings.IndexFunc(name, func(c rune) bool { return c > 0x7f || !isTypeByte(byte(c)) }) >= 0 {
		panic(fmt.Sprintf("lookup: Register: bad type name %q", name))
	}
}

func (r *Registry) register(name string, t regType) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.types == nil {
		r.types = map[string]regType{}
	}
	r.types[name] = t
}

// RegisterQuery adds a query-style type served by l: every "name;query"
// and "${lookup name{query}}" passes the query to l. Options other than
// ret=key and cache=no_rd are rejected. This is how dnsdb and redis
// lookups, which are configured once (resolver, servers) and then take
// any query, are registered. l stays the caller's: [Registry.Close] does
// not close it. RegisterQuery panics as Register does.
func (r *Registry) RegisterQuery(name string, l Lookup) {
	checkTypeName(name)
	if l == nil {
		panic("lookup: RegisterQuery " + name + ": nil Lookup")
	}
	open := func(_ string, options []string) (Lookup, error) {
		if len(options) > 0 {
			return nil, fmt.Errorf("lookup: %s: %w: options %q", name, ErrUnsupported, options)
		}
		return l, nil
	}
	r.register(name, regType{kind: QueryStyle, open: open, borrowed: true})
}

// Kind reports the kind of the type name, and whether it is registered.
func (r *Registry) Kind(name string) (Kind, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.types[name]
	return t.kind, ok
}

// Types returns the registered type names, sorted.
func (r *Registry) Types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ErrUnknownType is wrapped by the errors for lookup types that are not
// registered.
var ErrUnknownType = errors.New("unknown lookup type")

// ErrClosed is returned by a Registry after Close.
var ErrClosed = errors.New("lookup: registry closed")

// Open returns the Source for spec and source: the lookup of spec.Type
// opened for source (once per Registry for each type, options and
// source) with spec's decorations. For a query-style type source must be
// "". The Source is valid until the Registry is closed.
func (r *Registry) Open(spec Spec, source string) (*Source, error) {
	o, err := r.open(spec, source, false)
	if err != nil {
		return nil, err
	}
	return &Source{spec: spec, deco: spec.decorations(), o: o}, nil
}

func (r *Registry) open(spec Spec, source string, forDo bool) (*opened, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	t, ok := r.types[spec.Type]
	if !ok {
		r.mu.Unlock()
		return nil, fmt.Errorf("lookup: %w %q", ErrUnknownType, spec.Type)
	}
	if err := checkSpec(spec, t.kind, source); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	k := openKey{spec.Type, strings.Join(spec.Options, ","), source}
	o := r.opened[k]
	if o == nil {
		if forDo && r.doOpened >= maxDoOpened {
			r.mu.Unlock()
			o = r.openNow(t, k, nil)
			if o.err != nil {
				return nil, o.err
			}
			return o, nil
		}
		if r.opened == nil {
			r.opened = map[openKey]*opened{}
		}
		o = &opened{ready: make(chan struct{})}
		r.opened[k] = o
		if forDo {
			r.doOpened++
		}
		r.mu.Unlock()
		r.openNow(t, k, o)
		if o.err != nil {
			r.mu.Lock()
			if r.opened[k] == o {
				delete(r.opened, k)
				if forDo {
					r.doOpened--
				}
			}
			r.mu.Unlock()
		}
	} else {
		r.mu.Unlock()
		<-o.ready
	}
	if o.err != nil {
		return nil, o.err
	}
	return o, nil
}

// openNow calls the opener, filling o (or a new opened, unregistered).
func (r *Registry) openNow(t regType, k openKey, o *opened) *opened {
	if o == nil {
		o = &opened{ready: make(chan struct{}), transient: true}
	}
	defer close(o.ready)
	o.kind = t.kind
	o.borrowed = t.borrowed
	o.reg, o.id = r, k
	o.name = k.typ + ";" + k.source
	if t.kind == QueryStyle {
		o.name = k.typ
	}
	var opts []string
	if k.opts != "" {
		opts = strings.Split(k.opts, ",")
	}
	l, err := t.open(k.source, opts)
	switch {
	case err != nil:
		o.err = fmt.Errorf("lookup: opening %s: %w", o.name, err)
	case l == nil:
		o.err = fmt.Errorf("lookup: opening %s: opener returned no lookup", o.name)
	default:
		o.l = l
	}
	return o
}

// checkSpec rejects decorations that do not fit the type's kind.
func checkSpec(spec Spec, kind Kind, source string) error {
	if kind != QueryStyle {
		return nil
	}
	switch {
	case spec.Partial:
		return fmt.Errorf("lookup: %w: partial matching is not permitted for query-style type %q", ErrSpec, spec.Type)
	case spec.Star || spec.StarAt:
		return fmt.Errorf("lookup: %w: defaults \"*\" and \"*@\" are not permitted for query-style type %q", ErrSpec, spec.Type)
	case source != "":
		return fmt.Errorf("lookup: %w: query-style type %q takes no source (the query is the key)", ErrSpec, spec.Type)
	}
	return nil
}

// Close closes the lookups the Registry opened that are io.Closers and
// makes later opens fail with ErrClosed. Sources already handed out fail
// their lookups from then on as their lookups do when closed.
func (r *Registry) Close() error {
	r.mu.Lock()
	r.closed = true
	all := r.opened
	r.opened = nil
	r.mu.Unlock()
	var errs []error
	for _, o := range all {
		<-o.ready
		if o.borrowed {
			continue
		}
		if c, ok := o.l.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("lookup: closing %s: %w", o.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Query is one lookup with Exim's decorations: the Go form of
// "${lookup{Key}Spec{Source}}" for single-key types and of
// "${lookup Spec{Key}}" for query-style types (Source empty, Key the
// query).
type Query struct {
	Spec
	Source string
	Key    string
}

// Do performs q: it opens q's source (once; see [Registry.Open]) and
// looks the key up with q's decorations, through the [Cache] in ctx if
// there is one (see [WithCache]). A key that is not found is a Result
// with Found false and no error; an error means the lookup could not be
// done (Exim defers).
func (r *Registry) Do(ctx context.Context, q Query) (Result, error) {
	deco := q.decorations()
	if c := CacheFrom(ctx); c != nil && !q.NoCacheRead {
		// Answer from the cache without opening: the key of a result
		// that a lookup this Registry opened does not need the lookup.
		k := cacheKey{reg: r, id: openKey{q.Type, strings.Join(q.Options, ","), q.Source}, deco: deco, key: q.Key}
		if res, ok := c.get(k); ok {
			return res, nil
		}
	}
	o, err := r.open(q.Spec, q.Source, true)
	if err != nil {
		return Result{}, err
	}
	s := Source{spec: q.Spec, deco: deco, o: o}
	res, err := s.Find(ctx, q.Key)
	if o.transient && !o.borrowed {
		// Opened for this call only: the Registry keeps enough.
		if c, ok := o.l.(io.Closer); ok {
			_ = c.Close()
		}
	}
	return res, err
}

// Source is a lookup type opened for one source, with the decorations of
// a Spec: what a list item "partial-lsearch*;/file" stands for. It is a
// [Lookup] (the decorated lookup's value and whether it was found) and is
// safe for concurrent use.
type Source struct {
	spec Spec
	deco string // spec.decorations(), for cache keys
	o    *opened
}

// NewSource decorates a Lookup built in Go: Find and Lookup apply spec's
// partial matching, defaults and options (spec.Type and spec.Options are
// ignored). kind says what the key is; spec's partial matching and
// defaults are an error for QueryStyle.
func NewSource(spec Spec, kind Kind, l Lookup) (*Source, error) {
	if kind != SingleKey && kind != QueryStyle {
		return nil, fmt.Errorf("lookup: NewSource: bad kind %d", kind)
	}
	if l == nil {
		return nil, errors.New("lookup: NewSource: nil Lookup")
	}
	if err := checkSpec(spec, kind, ""); err != nil {
		return nil, err
	}
	name := spec.Type
	if name == "" {
		name = fmt.Sprintf("%T", l)
	}
	o := &opened{kind: kind, name: name, l: l}
	return &Source{spec: spec, deco: spec.decorations(), o: o}, nil
}

// Spec returns the Spec the Source was opened with.
func (s *Source) Spec() Spec { return s.spec }

// Kind returns the kind of the Source's lookup type.
func (s *Source) Kind() Kind { return s.o.kind }

// String returns the Source as Exim writes it in lists: "spec;source"
// (for query-style types, the spec).
func (s *Source) String() string {
	if s.o.kind == QueryStyle {
		return s.spec.String()
	}
	_, src, _ := strings.Cut(s.o.name, ";")
	return s.spec.String() + ";" + src
}

// Find looks key up (for a query-style type, runs the query key) with
// the Source's decorations, through the [Cache] in ctx if any. Errors
// are not cached.
func (s *Source) Find(ctx context.Context, key string) (Result, error) {
	c := CacheFrom(ctx)
	ck := cacheKey{o: s.o, deco: s.deco, key: key}
	if s.o.reg != nil {
		ck.o, ck.reg, ck.id = nil, s.o.reg, s.o.id
	}
	if c != nil && !s.spec.NoCacheRead {
		if r, ok := c.get(ck); ok {
			return r, nil
		}
	}
	r, err := s.spec.find(ctx, s.o.l, key)
	if err != nil {
		return Result{}, err // the lookup's error names its source
	}
	if c != nil {
		c.put(ck, r)
	}
	return r, nil
}

// Quoter is implemented by query-style lookups whose query language
// gives some characters a meaning (Exim's ${quote_<type>:...} operators,
// such as quote_redis): Quote returns s written so that the query takes
// it as one literal value. Lists that put the subject into a query
// (package acl) quote it with the lookup's Quote.
type Quoter interface {
	Quote(s string) string
}

// Quote quotes s for the Source's query language when its lookup is a
// [Quoter], and returns s unchanged otherwise.
func (s *Source) Quote(v string) string {
	if q, ok := s.o.l.(Quoter); ok {
		return q.Quote(v)
	}
	return v
}

// Lookup implements [Lookup]: the value of Find and whether it was found.
func (s *Source) Lookup(ctx context.Context, key string) (string, bool, error) {
	r, err := s.Find(ctx, key)
	return r.Value, r.Found, err
}
