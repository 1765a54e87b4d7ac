package spool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
)

// Spool is an Exim-format spool directory. It is safe for concurrent use.
type Spool struct {
	dir    string
	split  bool
	format IDFormat
	orig   originator
	log    *slog.Logger
	limits Limits
	mode   syncMode
	now    func() time.Time
	ids    *idGen
	gc     groupCommitter
	fsync  *fsSyncer // shared syncs of delivery-side changes

	msglogMu    sync.Mutex
	msglogSeen  bool      // the msglog directory existed ...
	msglogCheck time.Time // ... when last looked at

	dirsMu sync.Mutex
	dirs   map[string]bool // input subdirectories known to exist
}

// Option configures a Spool.
type Option func(*Spool)

// WithSplit sets Exim's split_spool_directory: messages live in
// input/X/, where X is the sixth character of the ID.
func WithSplit(split bool) Option { return func(s *Spool) { s.split = split } }

// WithIDFormat selects the ID format of new messages (default IDLong).
func WithIDFormat(f IDFormat) Option { return func(s *Spool) { s.format = f } }

// WithOriginator sets the login, uid and gid written on line 2 of -H
// files (default: the running process's user).
func WithOriginator(login string, uid, gid int) Option {
	return func(s *Spool) { s.orig = originator{login: login, uid: int64(uid), gid: int64(gid)} }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Spool) { s.log = l } }

// WithLimits bounds what the reader accepts.
func WithLimits(l Limits) Option { return func(s *Spool) { s.limits = l } }

// WithClock replaces time.Now (for tests).
func WithClock(now func() time.Time) Option { return func(s *Spool) { s.now = now } }

// Open opens the spool in dir, creating dir/input if needed.
func Open(dir string, opts ...Option) (*Spool, error) {
	s := &Spool{
		dir:  dir,
		now:  time.Now,
		log:  slog.New(slog.DiscardHandler),
		dirs: make(map[string]bool),
		mode: syncDefault,
	}
	s.orig.uid, s.orig.gid = int64(os.Getuid()), int64(os.Getgid())
	s.orig.login = strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(s.orig.login); err == nil {
		s.orig.login = u.Username
	}
	for _, o := range opts {
		o(s)
	}
	if len(s.orig.login) > 63 || strings.ContainsAny(s.orig.login, "\n\x00") {
		return nil, fmt.Errorf("spool: bad originator login %q", s.orig.login)
	}
	s.limits = s.limits.withDefaults()
	if err := os.MkdirAll(filepath.Join(dir, "input"), 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.ids = &idGen{format: s.format, pid: uint64(os.Getpid()), now: s.now}
	s.gc.s = s
	s.fsync = &fsSyncer{}
	return s, nil
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// IDFormat returns the format of IDs the spool allocates.
func (s *Spool) IDFormat() IDFormat { return s.format }

// subdir returns the input subdirectory of id: "input" or "input/X".
func (s *Spool) subdir(id string, split bool) string {
	if split {
		return "input/" + id[5:6]
	}
	return "input"
}

func (s *Spool) ensureDir(rel string) error {
	s.dirsMu.Lock()
	defer s.dirsMu.Unlock()
	if s.dirs[rel] {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.dir, rel), 0o750); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.dirs[rel] = true
	return nil
}

// locate finds the directory holding id's -H file: the configured layout
// first, then the other one (as Exim does).
func (s *Spool) locate(id string) (string, error) {
	if !ValidID(id) {
		return "", fmt.Errorf("%w %q", ErrBadID, id)
	}
	for _, split := range []bool{s.split, !s.split} {
		rel := s.subdir(id, split)
		if _, err := os.Lstat(filepath.Join(s.dir, rel, id+"-H")); err == nil {
			return rel, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("spool: %w", err)
		}
	}
	return "", fmt.Errorf("%w: %s", ErrNotFound, id)
}

// ErrNotFound is returned when a message is not in the spool.
var ErrNotFound = errors.New("spool: no such message")

// List returns the IDs of the messages in the spool (those with a -H
// file, in either ID format), in Exim's queue order: by receive time
// (the ID's time and fraction), then by ID.
func (s *Spool) List(ctx context.Context) ([]string, error) {
	in := filepath.Join(s.dir, "input")
	ents, err := os.ReadDir(in)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var ids []string
	scan := func(ents []os.DirEntry) {
		for _, e := range ents {
			id, ok := strings.CutSuffix(e.Name(), "-H")
			if ok && !e.IsDir() && ValidID(id) {
				ids = append(ids, id)
			}
		}
	}
	scan(ents)
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 1 || b62digit(e.Name()[0]) < 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sub, err := os.ReadDir(filepath.Join(in, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		scan(sub)
	}
	SortIDs(ids)
	return slices.Compact(ids), nil
}

// SortIDs sorts message IDs in Exim's queue order: by the time part, then
// the fraction (sub-second) part, then the whole ID.
func SortIDs(ids []string) {
	key := func(id string) (string, uint64) {
		info, err := ParseID(id)
		if err != nil {
			return id, 0
		}
		return id[:6], uint64(info.Time.Nanosecond())
	}
	slices.SortFunc(ids, func(a, b string) int {
		ta, fa := key(a)
		tb, fb := key(b)
		return cmp.Or(strings.Compare(ta, tb), cmp.Compare(fa, fb), strings.Compare(a, b))
	})
}

// Entry is a message read from the spool: the -H file, the message it
// describes, and what the -D and -J files add.
type Entry struct {
	*HeaderFile
	// Message is the message; its Body opens the -D file past its first
	// line, and Stats.Size is the message size as Exim computes it.
	Message *exigo.Message
	// BodySize is the size of the body (the -D file without its first
	// line).
	BodySize int64
	// Journal holds the addresses of the -J file: delivered by an attempt
	// that did not get to rewrite the -H file.
	Journal []string
	// Dir is the input directory, relative to the spool ("input" or
	// "input/X").
	Dir string
}

// Delivered reports whether addr is done with: in the non-recipients set
// or in the journal.
func (e *Entry) Delivered(addr string) bool {
	return e.HeaderFile.Delivered(addr) || slices.Contains(e.Journal, addr)
}

// Size returns the message size as exim -bp shows it: live header fields,
// the blank line and the body.
func (e *Entry) Size() int64 { return e.HeaderSize() + 1 + e.BodySize }

// Read reads message id: its -H file, the size and first line of its -D
// file, and its -J file. It takes no lock: a message being delivered may
// change under a reader (see Lock).
func (s *Spool) Read(id string) (*Entry, error) {
	rel, err := s.locate(id)
	if err != nil {
		return nil, err
	}
	return s.readIn(rel, id)
}

func (s *Spool) readIn(rel, id string) (*Entry, error) {
	e, _, err := s.readEntry(rel, id, nil)
	return e, err
}

// readEntry reads message id from directory rel. df, if not nil, is the
// open -D file (a Lock's), checked without opening it again. It also
// reports whether a -J file exists (possibly empty).
func (s *Spool) readEntry(rel, id string, df *os.File) (*Entry, bool, error) {
	hname := rel + "/" + id + "-H"
	f, err := os.Open(filepath.Join(s.dir, hname))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return nil, false, fmt.Errorf("spool: %w", err)
	}
	h, err := ParseHeaderFile(hname, f, s.limits)
	f.Close()
	if err != nil {
		return nil, false, err
	}
	m, err := h.Message()
	if err != nil {
		return nil, false, fmt.Errorf("spool: %s: %w", hname, err)
	}
	e := &Entry{HeaderFile: h, Message: m, Dir: rel}
	dname := rel + "/" + id + "-D"
	dpath := filepath.Join(s.dir, dname)
	var size int64
	if df != nil {
		size, err = checkData(df, dname, id)
	} else {
		size, err = checkDataFile(dpath, dname, id)
	}
	if err != nil {
		return nil, false, err
	}
	e.BodySize = size
	m.Stats.Size = e.Size()
	off := int64(len(id) + 3)
	m.Body = exigo.OpenerFunc(func() (io.ReadCloser, error) {
		f, err := os.Open(dpath)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		return &sectionFile{SectionReader: io.NewSectionReader(f, off, 1<<62), f: f}, nil
	})
	var jExists bool
	e.Journal, jExists, err = readJournal(filepath.Join(s.dir, rel, id+"-J"))
	if err != nil {
		return nil, false, err
	}
	return e, jExists, nil
}

// checkDataFile checks that the -D file starts with "ID-D\n" and returns
// the body size.
func checkDataFile(path, name, id string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, &FormatError{File: name, Msg: "missing"}
		}
		return 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	return checkData(f, name, id)
}

// checkData is checkDataFile for an open -D file; it reads at offset 0
// and leaves the file offset alone.
func checkData(f *os.File, name, id string) (int64, error) {
	want := id + "-D\n"
	buf := make([]byte, len(want))
	if n, _ := f.ReadAt(buf, 0); n != len(buf) || string(buf) != want {
		return 0, &FormatError{File: name, Line: 1, Msg: "first line is not " + id + "-D"}
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	return fi.Size() - int64(len(want)), nil
}

type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionFile) Close() error { return s.f.Close() }

// readJournal reads a -J file: one address per line. A last line without
// a newline is a write cut short by a crash and is ignored.
// It also reports whether the file exists.
func readJournal(path string) ([]string, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("spool: %w", err)
	}
	var out []string
	for len(b) > 0 {
		i := strings.IndexByte(string(b), '\n')
		if i < 0 {
			break
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		b = b[i+1:]
	}
	return out, true, nil
}

// Tidy removes temporary files (from a crash during reception or a
// rewrite) older than age, and -D and -J files without a -H file older
// than age, which Exim's own receive, or a crash after a delivery
// attempt removed the -H file (Lock.Dequeue, Lock.Remove), leaves
// behind. It returns
// the names removed, relative to the spool directory.
func (s *Spool) Tidy(ctx context.Context, age time.Duration) ([]string, error) {
	var removed []string
	cutoff := s.now().Add(-age)
	dirs := []string{"input"}
	if ents, err := os.ReadDir(filepath.Join(s.dir, "input")); err == nil {
		for _, e := range ents {
			if e.IsDir() && len(e.Name()) == 1 {
				dirs = append(dirs, "input/"+e.Name())
			}
		}
	}
	for _, rel := range dirs {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		ents, err := os.ReadDir(filepath.Join(s.dir, rel))
		if err != nil {
			return removed, fmt.Errorf("spool: %w", err)
		}
		names := make(map[string]bool, len(ents))
		for _, e := range ents {
			names[e.Name()] = true
		}
		for _, e := range ents {
			n := e.Name()
			stale := strings.HasSuffix(n, tmpD) || strings.HasSuffix(n, tmpH)
			for _, suf := range []string{"-D", "-J"} {
				if id, ok := strings.CutSuffix(n, suf); ok && ValidID(id) && !names[id+"-H"] {
					stale = true
				}
			}
			if !stale {
				continue
			}
			fi, err := e.Info()
			if err != nil || fi.ModTime().After(cutoff) {
				continue
			}
			if err := os.Remove(filepath.Join(s.dir, rel, n)); err == nil {
				removed = append(removed, rel+"/"+n)
			}
		}
	}
	return removed, nil
}
