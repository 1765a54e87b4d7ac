package lookup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// EntryType selects which directory entries a DSearch lookup matches
// (Exim's dsearch option filter=).
type EntryType int

const (
	AnyEntry    EntryType = iota // any entry: file, directory, symbolic link, ...
	FileEntry                    // regular files only (filter=file)
	DirEntry                     // directories, "." and ".." included (filter=dir)
	SubdirEntry                  // directories other than "." and ".." (filter=subdir)
)

// DSearchOption configures a DSearch lookup.
type DSearchOption func(*Dir)

// ReturnFull makes a DSearch lookup return the entry's path, the
// directory and the key joined with "/" (Exim's ret=full), instead of the
// key.
func ReturnFull() DSearchOption { return func(d *Dir) { d.full = true } }

// Filter makes a DSearch lookup match only entries of type t (Exim's
// filter= option). Types are those of the entry itself: a symbolic link
// is neither a file nor a directory.
func Filter(t EntryType) DSearchOption { return func(d *Dir) { d.filter = t } }

// Dir is a dsearch lookup: it finds entries of a directory by name.
type Dir struct {
	dir    string
	full   bool
	filter EntryType
}

// DSearch returns a lookup that succeeds when the directory dir has an
// entry (as lstat(2) sees it) named by the key, and returns the key, or
// the full path with ReturnFull. Keys are case-sensitive, as file names
// are. A key containing "/" (or NUL) is an error wrapping ErrInvalidKey,
// as in Exim; an empty key is not found. The directory is consulted on
// every lookup: nothing is cached. Exim requires dir to be absolute;
// exigo also accepts a relative path (relative to the working directory
// at the time of the lookup).
func DSearch(dir string, opts ...DSearchOption) *Dir {
	d := &Dir{dir: dir}
	for _, o := range opts {
		o(d)
	}
	return d
}

// String returns the lookup in Exim's notation.
func (d *Dir) String() string {
	s := "dsearch"
	if d.full {
		s += ",ret=full"
	}
	switch d.filter {
	case FileEntry:
		s += ",filter=file"
	case DirEntry:
		s += ",filter=dir"
	case SubdirEntry:
		s += ",filter=subdir"
	}
	return s + ";" + d.dir
}

// Lookup looks key up in the directory.
func (d *Dir) Lookup(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if key == "" {
		return "", false, nil
	}
	if strings.ContainsAny(key, "/\x00") {
		return "", false, &FileError{Path: d.dir, Err: fmt.Errorf("%w: dsearch key %q contains a slash or NUL", ErrInvalidKey, key)}
	}
	path := d.dir + "/" + key
	fi, err := os.Lstat(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, &FileError{Path: d.dir, Err: err}
		}
		// Not found, unless the directory itself is missing: that is an
		// error, as in Exim.
		di, derr := os.Stat(d.dir)
		if derr != nil {
			return "", false, &FileError{Path: d.dir, Err: derr}
		}
		if !di.IsDir() {
			return "", false, &FileError{Path: d.dir, Err: fmt.Errorf("%w: not a directory (dsearch lookup)", ErrNotRegular)}
		}
		return "", false, nil
	}
	switch d.filter {
	case FileEntry:
		if !fi.Mode().IsRegular() {
			return "", false, nil
		}
	case DirEntry:
		if !fi.IsDir() {
			return "", false, nil
		}
	case SubdirEntry:
		if !fi.IsDir() || key == "." || key == ".." {
			return "", false, nil
		}
	}
	if d.full {
		return path, true, nil
	}
	return key, true, nil
}
