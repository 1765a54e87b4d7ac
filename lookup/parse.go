package lookup

import (
	"fmt"
	"strings"
)

// record is one logical entry of an lsearch-format file: a key line and
// its continuation lines.
type record struct {
	line   int    // 1-based line number of the key line
	key    string // the key, de-quoted when it was quoted
	quoted bool   // the key was written in double quotes
	value  string // the data, continuation lines joined with one space
}

// lineError is a problem with one line of a file; the caller adds the
// file name.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// isSpace is C's isspace in the C locale, which is what Exim uses to
// find key terminators, continuation lines and trailing white space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func trimSpaceRight(s string) string {
	i := len(s)
	for i > 0 && isSpace(s[i-1]) {
		i--
	}
	return s[:i]
}

func trimSpaceLeft(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[i:]
}

func trimSpace(s string) string { return trimSpaceLeft(trimSpaceRight(s)) }

// parseRecords splits data, the contents of an lsearch-format file, into
// records and calls fn for each, in file order. The format is Exim's
// (specification, "Single-key lookup types", lsearch):
//
//   - a line that is empty after removing trailing white space, or that
//     begins with "#", is ignored; it also ends the data of the entry
//     above it (Exim 4.96 appends no continuation line that follows one);
//   - a line beginning with white space continues the data of the entry
//     above it: its leading white space becomes one space;
//   - any other line starts an entry: the key runs to the first colon or
//     white space, or, when the line begins with a double quote, to the
//     closing quote (or the end of the line) with backslash escapes
//     interpreted; then white space, an optional colon and more white
//     space are skipped and the rest of the line is the data.
//
// Trailing white space is removed from every line. Lines are separated by
// LF; a CR before the LF is white space and so disappears. A physical
// line longer than maxLine bytes (LF excluded) is an error wrapping
// ErrLineTooLong.
func parseRecords(data string, maxLine int, fn func(record) error) error {
	var (
		cur     record
		have    bool // cur holds an entry not yet passed to fn
		ended   bool // a blank or comment line ended cur's data
		b       strings.Builder
		joining bool // cur.value is being built in b
	)
	flush := func() error {
		if !have {
			return nil
		}
		if joining {
			cur.value = b.String()
			b.Reset()
			joining = false
		}
		have = false
		return fn(cur)
	}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var line string
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, ""
		}
		if maxLine > 0 && len(line) > maxLine {
			return &lineError{lineNo, fmt.Errorf("%w (%d bytes, limit %d)", ErrLineTooLong, len(line), maxLine)}
		}
		line = trimSpaceRight(line)
		switch {
		case line == "" || line[0] == '#':
			ended = true
			continue
		case isSpace(line[0]):
			if have && !ended {
				if !joining {
					b.WriteString(cur.value)
					joining = true
				}
				b.WriteByte(' ')
				b.WriteString(trimSpaceLeft(line))
			}
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		cur = record{line: lineNo}
		cur.key, cur.value, cur.quoted = splitKeyLine(line)
		have, ended = true, false
	}
	return flush()
}

// splitKeyLine splits a line that starts an entry (not empty, not
// starting with white space) into its key and data.
func splitKeyLine(line string) (key, value string, quoted bool) {
	var rest string
	if line[0] == '"' {
		key, rest = unquoteKey(line[1:])
		quoted = true
	} else {
		i := 0
		for i < len(line) && line[i] != ':' && !isSpace(line[i]) {
			i++
		}
		key, rest = line[:i], line[i:]
	}
	rest = trimSpaceLeft(rest)
	if rest != "" && rest[0] == ':' {
		rest = trimSpaceLeft(rest[1:])
	}
	return key, rest, quoted
}

// unquoteKey reads a quoted key whose opening quote has been consumed. It
// stops at the closing quote, or at the end of s when there is none, and
// returns the key and what follows the closing quote.
func unquoteKey(s string) (key, rest string) {
	// Fast path: no escapes.
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			return s[:i], s[i+1:]
		case '\\':
			goto slow
		}
	}
	return s, ""
slow:
	var b strings.Builder
	i := 0
	for i < len(s) && s[i] != '"' {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		c, n := interpretEscape(s[i+1:])
		b.WriteByte(c)
		i += 1 + n
	}
	if i < len(s) {
		i++ // the closing quote
	}
	return b.String(), s[i:]
}

// interpretEscape interprets the characters after a backslash as Exim
// does in quoted strings (specification, "String values"): \\ \n \r \t,
// also \b \f \v, up to three octal digits (the value taken modulo 256),
// \x and up to two hexadecimal digits (\x without one is NUL), and any
// other character stands for itself. A backslash at the very end stands
// for itself. It returns the byte and how many bytes of s it used.
func interpretEscape(s string) (byte, int) {
	if s == "" {
		return '\\', 0
	}
	switch c := s[0]; {
	case c >= '0' && c <= '7':
		v, n := 0, 0
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			v = v*8 + int(s[n]-'0')
			n++
		}
		return byte(v), n
	case c == 'x':
		v, n := 0, 1
		for n < 3 && n < len(s) && isHex(s[n]) {
			v = v*16 + hexVal(s[n])
			n++
		}
		return byte(v), n
	case c == 'b':
		return '\b', 1
	case c == 'f':
		return '\f', 1
	case c == 'n':
		return '\n', 1
	case c == 'r':
		return '\r', 1
	case c == 't':
		return '\t', 1
	case c == 'v':
		return '\v', 1
	default:
		return c, 1
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	default:
		return int(c-'A') + 10
	}
}

// asciiLower folds ASCII letters to lower case, as Exim's caseless
// comparisons (strncmpic) do; other bytes are unchanged.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
