package lookup

import (
	"fmt"
	"regexp"
	"strings"
)

type patKind uint8

const (
	patLiteral patKind = iota
	patSuffix          // "*suffix"
	patRegexp          // "^regexp"
	patNever           // an empty key: matches nothing, even negated
	patBroken          // reaching it is an error (bad regexp, unsupported form)
)

// wildEntry is one entry of a (n)wildlsearch file.
type wildEntry struct {
	line  int
	kind  patKind
	not   bool
	pat   string // literal (lower-cased) or suffix (lower-cased)
	re    *regexp.Regexp
	err   error // for patBroken
	value string
}

// wildIndex keeps the entries in file order. Plain literal keys, the
// common case, are also in a map so that a lookup only has to try the
// pattern entries that come before the first matching literal.
type wildIndex struct {
	path     string
	entries  []wildEntry
	patterns []int          // indexes of the entries that are not plain literals
	literal  map[string]int // lower-cased literal -> index of its first entry
}

func buildWild(path, data string, maxLine int) (*wildIndex, error) {
	w := &wildIndex{path: path, literal: make(map[string]int)}
	err := parseRecords(data, maxLine, func(r record) error {
		e := parsePattern(r.key)
		e.line, e.value = r.line, r.value
		i := len(w.entries)
		w.entries = append(w.entries, e)
		switch {
		case e.kind == patNever:
			// never matches: not worth indexing
		case e.kind == patLiteral && !e.not:
			if _, dup := w.literal[e.pat]; !dup {
				w.literal[e.pat] = i
			}
		default:
			w.patterns = append(w.patterns, i)
		}
		return nil
	})
	return w, err
}

// parsePattern interprets a (n)wildlsearch key the way Exim's
// match_isinlist treats a one-item string list.
func parsePattern(key string) wildEntry {
	var e wildEntry
	p := trimSpace(key)
	if p == "" {
		e.kind = patNever
		return e
	}
	if p[0] == '!' {
		e.not = true
		p = trimSpaceLeft(p[1:])
	}
	switch {
	case p != "" && p[0] == '/':
		e.kind = patBroken
		e.err = fmt.Errorf("%w: key %q names a file of list items", ErrUnsupported, key)
	case p != "" && p[0] == '^':
		re, err := regexp.Compile("(?i)" + p)
		if err != nil {
			e.kind = patBroken
			e.err = fmt.Errorf("%w: %q: %v", ErrBadPattern, p, err)
			break
		}
		e.kind, e.re = patRegexp, re
	case p != "" && p[0] == '*':
		e.kind, e.pat = patSuffix, asciiLower(p[1:])
	case strings.IndexByte(p, ';') >= 0:
		e.kind = patBroken
		e.err = fmt.Errorf("%w: key %q is a nested lookup", ErrUnsupported, key)
	default:
		e.kind, e.pat = patLiteral, asciiLower(p)
	}
	return e
}

// match reports whether the entry matches key (lkey is key lower-cased).
func (e *wildEntry) match(key, lkey string) bool {
	var m bool
	switch e.kind {
	case patLiteral:
		m = lkey == e.pat
	case patSuffix:
		m = strings.HasSuffix(lkey, e.pat)
	case patRegexp:
		m = e.re.MatchString(key)
	default:
		return false
	}
	return m != e.not
}

func (w *wildIndex) find(key string) (string, bool, error) {
	lkey := asciiLower(key)
	limit := len(w.entries)
	if i, ok := w.literal[lkey]; ok {
		limit = i
	}
	for _, i := range w.patterns {
		if i >= limit {
			break
		}
		e := &w.entries[i]
		if e.kind == patBroken {
			return "", false, &FileError{Path: w.path, Line: e.line, Err: e.err}
		}
		if e.match(key, lkey) {
			return e.value, true, nil
		}
	}
	if limit < len(w.entries) {
		return w.entries[limit].value, true, nil
	}
	return "", false, nil
}
