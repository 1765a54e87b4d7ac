package lookup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Errors that file lookups wrap; test for them with errors.Is.
var (
	// ErrLineTooLong: a line of the file is longer than the limit set
	// with MaxLineLength.
	ErrLineTooLong = errors.New("line too long")
	// ErrFileTooLarge: the file is larger than the limit set with
	// MaxFileSize.
	ErrFileTooLarge = errors.New("file too large")
	// ErrNotRegular: the path names something other than a regular file
	// (or, for DSearch, other than a directory).
	ErrNotRegular = errors.New("not a regular file")
	// ErrInvalidKey: the key cannot be looked up with this lookup type
	// (an iplsearch key that is not an IP address, a dsearch key with a
	// slash). Exim defers such lookups; so should callers.
	ErrInvalidKey = errors.New("invalid lookup key")
	// ErrBadPattern: a wildcard key in a (n)wildlsearch file is a regular
	// expression that does not compile. Reported when a lookup reaches
	// the line, as Exim does.
	ErrBadPattern = errors.New("bad regular expression")
	// ErrUnsupported: a feature of Exim that exigo does not implement,
	// such as a nested "type;data" lookup used as a (n)wildlsearch key.
	ErrUnsupported = errors.New("not supported")
)

// FileError reports a problem with a lookup's file. Line is 0 when the
// problem is not with one line.
type FileError struct {
	Path string
	Line int
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("lookup: %s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("lookup: %s: %v", e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Defaults for the Option values.
const (
	DefaultMaxFileSize   = 64 << 20 // bytes
	DefaultMaxLineLength = 64 << 10 // bytes
	DefaultCheckInterval = time.Second
)

// Option configures a file lookup.
type Option func(*fileOptions)

type fileOptions struct {
	maxFileSize   int64
	maxLine       int
	checkInterval time.Duration
	now           func() time.Duration // monotonic clock, for tests
}

// MaxFileSize limits the size of the file; a larger file makes every
// lookup fail with an error wrapping ErrFileTooLarge. The whole file is
// held in memory (with its index), so this bounds the memory one lookup
// uses. n <= 0 means DefaultMaxFileSize.
func MaxFileSize(n int64) Option { return func(o *fileOptions) { o.maxFileSize = n } }

// MaxLineLength limits the length of one physical line; a longer line
// makes every lookup fail with an error wrapping ErrLineTooLong that
// names the line. n <= 0 means DefaultMaxLineLength.
func MaxLineLength(n int) Option { return func(o *fileOptions) { o.maxLine = n } }

// CheckInterval sets how often the file is checked for changes: a lookup
// stats the file when more than d has passed since the last check, and
// re-reads it when its device, inode, size, modification time or change
// time differ. d == 0 checks on every lookup; a negative d never checks
// again once the file is loaded. The default is DefaultCheckInterval.
func CheckInterval(d time.Duration) Option { return func(o *fileOptions) { o.checkInterval = d } }

type fileKind int

const (
	kindLSearch fileKind = iota
	kindWild
	kindIP
)

func (k fileKind) String() string {
	switch k {
	case kindWild:
		return "wildlsearch"
	case kindIP:
		return "iplsearch"
	default:
		return "lsearch"
	}
}

// File is a lookup in a text file in Exim's lsearch format: LSearch,
// WildLSearch, NWildLSearch or IPLSearch. The file is read and indexed on
// the first lookup and again whenever it changes (see CheckInterval). A
// File is safe for concurrent use.
type File struct {
	path string
	kind fileKind
	opts fileOptions
	base time.Time // origin of the monotonic clock

	cur atomic.Pointer[snapshot]
	mu  sync.Mutex // serialises (re)loading
}

// snapshot is one parsed version of the file. It is immutable but for
// checked.
type snapshot struct {
	id      fileID
	checked atomic.Int64 // clock reading of the last stat, in ns
	idx     index
}

// index answers lookups for one version of a file.
type index interface {
	find(key string) (string, bool, error)
}

// LSearch returns a lookup in an lsearch file: keys are literal strings,
// compared case-insensitively (ASCII letters only); the first entry with
// the key wins. The file is indexed in a hash map.
func LSearch(path string, opts ...Option) *File { return newFile(path, kindLSearch, opts) }

// NWildLSearch returns a lookup in an nwildlsearch file: like LSearch, but
// each key in the file may be a pattern, tried in file order until one
// matches the lookup key:
//
//   - "*suffix" matches keys that end with suffix ("*.example.com",
//     "*@example.com"), case-insensitively;
//   - "^regexp" is a regular expression (Go's RE2 syntax, not PCRE),
//     matched case-insensitively unless it turns that off with "(?-i)";
//   - "!pattern" matches every key that pattern does not match (a list
//     whose last item is negative matches by default, as in Exim);
//   - anything else is a literal key, compared case-insensitively.
//
// Keys are trimmed of surrounding white space (this matters for quoted
// keys). A key containing ";" is a nested lookup and one starting with
// "/" a file of list items in Exim; exigo does not support either and
// fails a lookup that reaches such a line with ErrUnsupported.
func NWildLSearch(path string, opts ...Option) *File { return newFile(path, kindWild, opts) }

// WildLSearch is NWildLSearch. In Exim, wildlsearch string-expands each
// key before using it as a pattern (so that "\N" protects regular
// expressions); exigo has no expansion language at this level and uses
// keys as they are written, which is what Exim's nwildlsearch does. A file
// written for Exim's wildlsearch needs its expansion syntax ("\N...\N",
// "$variables") removed.
func WildLSearch(path string, opts ...Option) *File { return newFile(path, kindWild, opts) }

// IPLSearch returns a lookup in an iplsearch file: keys in the file are IP
// addresses or networks in CIDR notation, IPv4 or IPv6 (IPv6 keys must be
// quoted because of their colons), and the lookup key is an IP address;
// the first entry whose network contains it wins. See the package
// documentation for the details.
func IPLSearch(path string, opts ...Option) *File { return newFile(path, kindIP, opts) }

func newFile(path string, kind fileKind, opts []Option) *File {
	f := &File{path: path, kind: kind, base: time.Now()}
	f.opts.checkInterval = DefaultCheckInterval
	for _, o := range opts {
		o(&f.opts)
	}
	if f.opts.maxFileSize <= 0 {
		f.opts.maxFileSize = DefaultMaxFileSize
	}
	if f.opts.maxLine <= 0 {
		f.opts.maxLine = DefaultMaxLineLength
	}
	if f.opts.now == nil {
		f.opts.now = func() time.Duration { return time.Since(f.base) }
	}
	return f
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// String returns the lookup in Exim's notation, such as
// "lsearch;/etc/aliases".
func (f *File) String() string { return f.kind.String() + ";" + f.path }

// Lookup looks key up in the file. An empty key is never found. Problems
// with the file (missing, unreadable, too large, a bad line) are errors;
// so is an iplsearch key that is not an IP address (ErrInvalidKey).
func (f *File) Lookup(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if f.kind == kindIP {
		// Exim checks the key before it opens the file.
		if key == "" {
			return "", false, nil
		}
		if key != "*" {
			if _, err := parseIPLookupKey(key); err != nil {
				return "", false, &FileError{Path: f.path, Err: fmt.Errorf("%w: %q is not an IP address", ErrInvalidKey, key)}
			}
		}
	} else if key == "" {
		return "", false, nil
	}
	s, err := f.load(ctx)
	if err != nil {
		return "", false, err
	}
	return s.idx.find(key)
}

// Load reads the file now if it has changed (or was never read) and
// reports any problem with it, so that a bad file can be found at start-up
// rather than on the first lookup.
func (f *File) Load(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := f.check(ctx, true)
	return err
}

// load returns the current snapshot, re-reading the file when the check
// interval has passed and the file has changed.
func (f *File) load(ctx context.Context) (*snapshot, error) { return f.check(ctx, false) }

// check returns the current snapshot; force ignores the check interval.
func (f *File) check(ctx context.Context, force bool) (*snapshot, error) {
	s := f.cur.Load()
	if s == nil {
		return f.reload(nil)
	}
	iv := f.opts.checkInterval
	now := int64(f.opts.now())
	if !force && (iv < 0 || iv > 0 && now-s.checked.Load() < int64(iv)) {
		return s, nil
	}
	id, err := statID(f.path)
	if err != nil {
		return nil, f.fileErr(err)
	}
	if id == s.id {
		s.checked.Store(now)
		return s, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f.reload(s)
}

// reload reads and indexes the file unless another goroutine already
// replaced old with a snapshot of the file as it is now.
func (f *File) reload(old *snapshot) (*snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.cur.Load(); s != old && s != nil {
		if id, err := statID(f.path); err == nil && id == s.id {
			return s, nil
		}
	}
	s, err := f.read()
	if err != nil {
		return nil, err
	}
	f.cur.Store(s)
	return s, nil
}

func (f *File) fileErr(err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return err
	}
	var le *lineError
	if errors.As(err, &le) {
		return &FileError{Path: f.path, Line: le.line, Err: le.err}
	}
	return &FileError{Path: f.path, Err: err}
}

// read reads and indexes the file. When the file changes while it is
// being read, it is read again (a few times at most).
func (f *File) read() (*snapshot, error) {
	for attempt := 0; ; attempt++ {
		data, id, changed, err := f.readOnce()
		if err != nil {
			return nil, f.fileErr(err)
		}
		if changed && attempt < 3 {
			continue
		}
		s := &snapshot{id: id}
		s.checked.Store(int64(f.opts.now()))
		s.idx, err = buildIndex(f.kind, f.path, data, f.opts.maxLine)
		if err != nil {
			return nil, f.fileErr(err)
		}
		return s, nil
	}
}

func (f *File) readOnce() (data string, id fileID, changed bool, err error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return "", fileID{}, false, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return "", fileID{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return "", fileID{}, false, fmt.Errorf("%w (%s lookup)", ErrNotRegular, f.kind)
	}
	if fi.Size() > f.opts.maxFileSize {
		return "", fileID{}, false, fmt.Errorf("%w (%d bytes, limit %d)", ErrFileTooLarge, fi.Size(), f.opts.maxFileSize)
	}
	id = idOf(fi)
	buf := make([]byte, 0, fi.Size()+1)
	for {
		n, err := fh.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > f.opts.maxFileSize {
			return "", fileID{}, false, fmt.Errorf("%w (more than %d bytes)", ErrFileTooLarge, f.opts.maxFileSize)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fileID{}, false, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	fi2, err := fh.Stat()
	if err != nil {
		return "", fileID{}, false, err
	}
	return string(buf), id, idOf(fi2) != id, nil
}

func buildIndex(kind fileKind, path, data string, maxLine int) (index, error) {
	switch kind {
	case kindWild:
		return buildWild(path, data, maxLine)
	case kindIP:
		return buildIP(path, data, maxLine)
	default:
		return buildLSearch(data, maxLine)
	}
}

// lsearchIndex maps ASCII-lower-cased keys to the data of their first
// entry.
type lsearchIndex map[string]string

func buildLSearch(data string, maxLine int) (lsearchIndex, error) {
	m := make(lsearchIndex)
	err := parseRecords(data, maxLine, func(r record) error {
		k := asciiLower(r.key)
		if _, dup := m[k]; !dup {
			m[k] = r.value
		}
		return nil
	})
	return m, err
}

func (m lsearchIndex) find(key string) (string, bool, error) {
	v, ok := m[asciiLower(key)]
	return v, ok, nil
}
