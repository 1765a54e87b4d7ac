package lmdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultMaxLineLength bounds one line of mdb_load text (before
// unescaping): a longer line is an error, not an allocation without end.
const DefaultMaxLineLength = 64 << 20

// ErrSyntax is wrapped by the errors of [TextReader] for malformed input.
var ErrSyntax = errors.New("lmdb: bad mdb_load text")

// TextReader reads the plain text that `mdb_load -T` takes: a key line,
// then its value line, alternating, each ended by a newline. A backslash
// followed by two hexadecimal digits stands for that byte and a double
// backslash for one backslash; every other byte stands for itself
// (a carriage return too). Unlike mdb_load, which stops at a NUL byte
// in a line (C strings) and silently drops a last key line without a
// newline, a TextReader rejects both.
type TextReader struct {
	r       *bufio.Reader
	line    int
	max     int
	key     []byte
	val     []byte
	scratch []byte
}

// NewTextReader returns a TextReader reading r.
func NewTextReader(r io.Reader) *TextReader {
	return &TextReader{r: bufio.NewReader(r), max: DefaultMaxLineLength}
}

// SetMaxLineLength sets the longest line accepted, in bytes.
func (t *TextReader) SetMaxLineLength(n int) { t.max = n }

// Next returns the next record. The slices are valid until the next
// call. At the end of the input it returns io.EOF; a key line without
// its value line is an error.
func (t *TextReader) Next() (key, value []byte, err error) {
	t.key, err = t.readLine(t.key[:0])
	if err != nil {
		return nil, nil, err
	}
	t.val, err = t.readLine(t.val[:0])
	if err == io.EOF {
		return nil, nil, fmt.Errorf("%w: line %d: key without a value line", ErrSyntax, t.line+1)
	}
	if err != nil {
		return nil, nil, err
	}
	return t.key, t.val, nil
}

// readLine reads and unescapes one line, appending to dst.
func (t *TextReader) readLine(dst []byte) ([]byte, error) {
	t.scratch = t.scratch[:0]
	for {
		chunk, err := t.r.ReadSlice('\n')
		if len(t.scratch)+len(chunk) > t.max+1 {
			return nil, fmt.Errorf("%w: line %d: longer than %d bytes", ErrSyntax, t.line+1, t.max)
		}
		t.scratch = append(t.scratch, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(t.scratch) == 0 {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: line %d: no newline at end of input", ErrSyntax, t.line+1)
		}
		if err != nil {
			return nil, fmt.Errorf("lmdb: reading line %d: %w", t.line+1, err)
		}
		break
	}
	t.line++
	line := t.scratch[:len(t.scratch)-1]
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch c {
		case 0:
			return nil, fmt.Errorf("%w: line %d: NUL byte (write \\00)", ErrSyntax, t.line)
		case '\\':
			if i+1 < len(line) && line[i+1] == '\\' {
				dst = append(dst, '\\')
				i++
				continue
			}
			if i+2 >= len(line) {
				return nil, fmt.Errorf("%w: line %d: backslash at column %d not followed by two hex digits", ErrSyntax, t.line, i+1)
			}
			hi, ok1 := unhex(line[i+1])
			lo, ok2 := unhex(line[i+2])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%w: line %d: backslash at column %d not followed by two hex digits", ErrSyntax, t.line, i+1)
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// AppendText appends b in the printable form of `mdb_dump -p` and
// `mdb_load -T`: bytes 0x20-0x7e as themselves, others as a backslash and
// two lower-case hex digits. A backslash is written "\5c", which both
// mdb_load and [TextReader] read back; LMDB 0.9.31's mdb_dump writes it
// bare, which mdb_load then misreads.
func AppendText(dst, b []byte) []byte {
	const hexc = "0123456789abcdef"
	for _, c := range b {
		if c >= 0x20 && c <= 0x7e && c != '\\' {
			dst = append(dst, c)
		} else {
			dst = append(dst, '\\', hexc[c>>4], hexc[c&15])
		}
	}
	return dst
}

// dumpHeader is the header of `mdb_dump -p` for a database.
func dumpHeader(mapSize int64, maxReaders int, pageSize uint, name string, dupSort bool) []byte {
	var b bytes.Buffer
	b.WriteString("VERSION=3\nformat=print\n")
	if name != "" {
		b.WriteString("database=" + string(AppendText(nil, []byte(name))) + "\n")
	}
	b.WriteString("type=btree\nmapsize=" + strconv.FormatInt(mapSize, 10) + "\n")
	b.WriteString("maxreaders=" + strconv.Itoa(maxReaders) + "\n")
	if dupSort {
		b.WriteString("duplicates=1\n")
	}
	b.WriteString("db_pagesize=" + strconv.FormatUint(uint64(pageSize), 10) + "\n")
	b.WriteString("HEADER=END\n")
	return b.Bytes()
}
