package spool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// HeaderFile is the content of an Exim -H file, field by field, as Exim
// 4.96 writes and reads it (Exim specification, chapter "Format of spool
// files"). Reading a file and writing it back gives the same bytes.
//
// The dash lines are kept in [HeaderFile.Vars] in file order, including
// the ones this package does not know, so a rewrite after a delivery
// attempt loses nothing. Use [HeaderFile.Var], [HeaderFile.SetVar] and
// [HeaderFile.DelVar] to read and change them.
type HeaderFile struct {
	// ID is the message ID (the file's first line without "-H").
	ID string
	// Login, UID and GID identify the originator: the user that called
	// the receiving process (line 2).
	Login    string
	UID, GID int64
	// Sender is the envelope sender without angle brackets (line 3).
	Sender string
	// Time is the Unix time at which reception started (line 4); the
	// microseconds are in the -received_time_usec variable.
	Time int64
	// Warnings is the number of delay warnings sent (line 4).
	Warnings int
	// Vars are the dash lines in file order.
	Vars []Var
	// NonRecipients are the addresses not to deliver to any more (those
	// delivered), sorted. Exim keeps them as a binary tree; a file whose
	// set is unchanged is written back with the tree it was read with.
	NonRecipients []string
	// Recipients are the envelope recipients, delivered ones included.
	Recipients []RcptLine
	// Headers are the message header fields in order, deleted and
	// rewritten ones (flag '*') included.
	Headers []HeaderLine

	tree    []string // tree lines as read ("YN addr"), nil if none
	treeSet []string // NonRecipients when the tree was read
}

// Var is one dash line of a -H file: "-name value", "--name value" for a
// tainted value, or for the ACL variables "-aclm name length" followed by
// the data on the next line(s).
type Var struct {
	Name    string // e.g. "helo_name", "frozen", "aclm"
	Value   string // the rest of the line after one space; "" for a flag
	Tainted bool   // written with a second dash (Exim 4.94+)
	Quoter  string // the "(quoter)" prefix of a value quoted for a lookup
	Data    string // for acl, aclc and aclm: the variable's value
}

// hasData reports whether a variable of this name carries a data block.
func hasData(name string) bool { return name == "aclc" || name == "aclm" || name == "acl" }

// RcptLine is one recipient of a -H file.
type RcptLine struct {
	Address string
	// ORCPT is the DSN original recipient as stored: "addr-type;xtext".
	ORCPT string
	// DSNFlags are the NOTIFY bits (exigo.Notify values).
	DSNFlags int
	// ErrorsTo is the address errors go to instead of the sender.
	ErrorsTo string
	// PNo is the index of the parent of a one_time child address, -1 if
	// none.
	PNo int
}

// HeaderLine is one header field of a -H file.
type HeaderLine struct {
	// Flag is Exim's type character: ' ' (other), 'B' Bcc, 'C' Cc, 'F'
	// From, 'I' Message-ID, 'P' Received, 'R' Reply-To, 'S' Sender, 'T'
	// To, '*' deleted or rewritten (kept, not transmitted).
	Flag byte
	// Text is the whole field, name to final newline, with LF line ends.
	Text string
}

// Deleted reports whether the field was deleted or replaced.
func (h HeaderLine) Deleted() bool { return h.Flag == '*' }

// FlagFor returns the type character Exim gives a live header field with
// this name.
func FlagFor(name string) byte {
	switch strings.ToLower(name) {
	case "bcc":
		return 'B'
	case "cc":
		return 'C'
	case "from":
		return 'F'
	case "message-id":
		return 'I'
	case "received":
		return 'P'
	case "reply-to":
		return 'R'
	case "sender":
		return 'S'
	case "to":
		return 'T'
	}
	return ' '
}

// Var returns the first variable with this name.
func (h *HeaderFile) Var(name string) (Var, bool) {
	for _, v := range h.Vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

// Has reports whether a variable with this name is present (a flag set).
func (h *HeaderFile) Has(name string) bool {
	_, ok := h.Var(name)
	return ok
}

// SetVar replaces the first variable named v.Name, or appends v.
func (h *HeaderFile) SetVar(v Var) {
	for i := range h.Vars {
		if h.Vars[i].Name == v.Name {
			h.Vars[i] = v
			return
		}
	}
	h.Vars = append(h.Vars, v)
}

// DelVar removes every variable with this name.
func (h *HeaderFile) DelVar(name string) {
	h.Vars = slices.DeleteFunc(h.Vars, func(v Var) bool { return v.Name == name })
}

// AddNonRecipient marks addr as delivered. It reports whether addr was new.
func (h *HeaderFile) AddNonRecipient(addr string) bool {
	i, found := slices.BinarySearch(h.NonRecipients, addr)
	if found {
		return false
	}
	h.NonRecipients = slices.Insert(h.NonRecipients, i, addr)
	return true
}

// Delivered reports whether addr is in the non-recipients set.
func (h *HeaderFile) Delivered(addr string) bool {
	_, found := slices.BinarySearch(h.NonRecipients, addr)
	return found
}

// HeaderSize returns the size of the live header fields, the part of
// $message_size that the -H file holds.
func (h *HeaderFile) HeaderSize() int64 {
	var n int64
	for _, l := range h.Headers {
		if l.Flag != '*' {
			n += int64(len(l.Text))
		}
	}
	return n
}

// ErrFormat is wrapped by every *FormatError.
var ErrFormat = errors.New("spool: format error")

// FormatError reports a corrupt spool file: the file (relative to the
// spool directory, e.g. "input/1xUm1a-0000hS-2z-H"), the line, and what
// is wrong.
type FormatError struct {
	File string
	Line int
	Msg  string
}

func (e *FormatError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("spool: %s line %d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("spool: %s: %s", e.File, e.Msg)
}

// Unwrap returns ErrFormat.
func (e *FormatError) Unwrap() error { return ErrFormat }

// Limits bound what the reader accepts; the zero value means the
// defaults below.
type Limits struct {
	FileSize   int64 // whole -H file; default 64 MiB
	LineLength int   // one envelope line; default 1 MiB
	Recipients int   // default 1,000,000
	Data       int   // one ACL variable's data; default 16 MiB
	Header     int   // one header field; default 16 MiB
}

func (l Limits) withDefaults() Limits {
	if l.FileSize <= 0 {
		l.FileSize = 64 << 20
	}
	if l.LineLength <= 0 {
		l.LineLength = 1 << 20
	}
	if l.Recipients <= 0 {
		l.Recipients = 1_000_000
	}
	if l.Data <= 0 {
		l.Data = 16 << 20
	}
	if l.Header <= 0 {
		l.Header = 16 << 20
	}
	return l
}

type hreader struct {
	r    *bufio.Reader
	file string
	line int // number of the line last read
	lim  Limits
}

func (p *hreader) errf(format string, args ...any) error {
	return &FormatError{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

// readLine reads one line without its newline. A missing final newline
// is an error: the file was cut short.
func (p *hreader) readLine() (string, error) {
	p.line++
	var buf []byte
	for {
		frag, err := p.r.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > p.lim.LineLength+1 {
			return "", p.errf("line longer than %d bytes", p.lim.LineLength)
		}
		if err == nil {
			return string(buf[:len(buf)-1]), nil
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return "", p.errf("unexpected end of file")
		}
		return "", fmt.Errorf("spool: %s: %w", p.file, err)
	}
}

// readN reads exactly n bytes, counting the newlines in them.
func (p *hreader) readN(n int) ([]byte, error) {
	b := make([]byte, 0, min(n, 64<<10))
	for len(b) < n {
		chunk := min(n-len(b), 64<<10)
		start := len(b)
		b = append(b, make([]byte, chunk)...)
		if _, err := io.ReadFull(p.r, b[start:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, p.errf("unexpected end of file")
			}
			return nil, fmt.Errorf("spool: %s: %w", p.file, err)
		}
	}
	return b, nil
}

// ParseHeaderFile reads a -H file. file names it in errors (e.g.
// "input/ID-H"); the first line must be the ID followed by "-H", where
// the ID is the base name of file without "-H" when file ends in "-H".
// The reader accepts everything Exim 4.96 writes (and the older recipient
// and ACL variable forms Exim still reads) and rejects anything else with
// a *FormatError naming file and line.
func ParseHeaderFile(file string, r io.Reader, lim Limits) (*HeaderFile, error) {
	lim = lim.withDefaults()
	lr := &io.LimitedReader{R: r, N: lim.FileSize + 1}
	p := &hreader{r: bufio.NewReaderSize(lr, 64<<10), file: file, lim: lim}
	h, err := p.parse()
	if err != nil {
		return nil, err
	}
	if lr.N <= 0 {
		return nil, &FormatError{File: file, Msg: fmt.Sprintf("file larger than %d bytes", lim.FileSize)}
	}
	if base := file[strings.LastIndexByte(file, '/')+1:]; strings.HasSuffix(base, "-H") && base != h.ID+"-H" {
		return nil, &FormatError{File: file, Line: 1, Msg: fmt.Sprintf("ID %s does not match the file name", h.ID)}
	}
	return h, nil
}

func (p *hreader) parse() (*HeaderFile, error) {
	h := &HeaderFile{}
	// Line 1: ID-H.
	l, err := p.readLine()
	if err != nil {
		return nil, err
	}
	id, ok := strings.CutSuffix(l, "-H")
	if !ok || !ValidID(id) {
		return nil, p.errf("first line is not a message ID followed by -H")
	}
	h.ID = id

	// Line 2: login uid gid.
	if l, err = p.readLine(); err != nil {
		return nil, err
	}
	f := strings.Split(l, " ")
	if len(f) < 3 {
		return nil, p.errf("bad originator line")
	}
	gid, err1 := strconv.ParseInt(f[len(f)-1], 10, 64)
	uid, err2 := strconv.ParseInt(f[len(f)-2], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, p.errf("bad originator uid or gid")
	}
	h.Login, h.UID, h.GID = strings.Join(f[:len(f)-2], " "), uid, gid

	// Line 3: <sender>.
	if l, err = p.readLine(); err != nil {
		return nil, err
	}
	if len(l) < 2 || l[0] != '<' || l[len(l)-1] != '>' {
		return nil, p.errf("bad sender line")
	}
	h.Sender = l[1 : len(l)-1]

	// Line 4: time warnings.
	if l, err = p.readLine(); err != nil {
		return nil, err
	}
	ts, ws, ok := strings.Cut(l, " ")
	t, err1 := strconv.ParseInt(ts, 10, 64)
	w, err2 := strconv.Atoi(ws)
	if !ok || err1 != nil || err2 != nil || w < 0 {
		return nil, p.errf("bad time and warning count line")
	}
	h.Time, h.Warnings = t, w

	// Dash lines, until the non-recipients tree.
	for {
		if l, err = p.readLine(); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(l, "-") {
			break
		}
		v, err := p.parseVar(l)
		if err != nil {
			return nil, err
		}
		h.Vars = append(h.Vars, v)
	}

	// Non-recipients tree.
	if l != "XX" {
		if err := p.parseTree(h, l); err != nil {
			return nil, err
		}
	}

	// Recipients.
	if l, err = p.readLine(); err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 0 {
		return nil, p.errf("bad recipient count")
	}
	if n > p.lim.Recipients {
		return nil, p.errf("recipient count %d above the limit %d", n, p.lim.Recipients)
	}
	h.Recipients = make([]RcptLine, 0, min(n, 1024))
	for range n {
		if l, err = p.readLine(); err != nil {
			return nil, err
		}
		r, ok := parseRcpt(l)
		if !ok {
			return nil, p.errf("bad recipient line")
		}
		if r.PNo >= n {
			return nil, p.errf("parent number %d out of range", r.PNo)
		}
		h.Recipients = append(h.Recipients, r)
	}

	// Blank line, then the headers.
	if l, err = p.readLine(); err != nil {
		return nil, err
	}
	if l != "" {
		return nil, p.errf("no blank line after the recipients")
	}
	for {
		b, err := p.r.Peek(1)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("spool: %s: %w", p.file, err)
		}
		if b[0] < '0' || b[0] > '9' {
			p.line++
			return nil, p.errf("header line does not start with a length")
		}
		hl, err := p.parseHeader()
		if err != nil {
			return nil, err
		}
		h.Headers = append(h.Headers, hl)
	}
	return h, nil
}

func (p *hreader) parseVar(l string) (Var, error) {
	var v Var
	s := l[1:]
	if strings.HasPrefix(s, "-") {
		v.Tainted = true
		s = s[1:]
	}
	if strings.HasPrefix(s, "(") {
		q, rest, ok := strings.Cut(s[1:], ")")
		if !ok {
			return v, p.errf("unterminated quoter in variable line")
		}
		v.Quoter, s = q, rest
	}
	v.Name, v.Value, _ = strings.Cut(s, " ")
	if v.Name == "" {
		return v, p.errf("empty variable name")
	}
	if hasData(v.Name) {
		i := strings.LastIndexByte(v.Value, ' ')
		if i < 0 {
			return v, p.errf("no length in -%s line", v.Name)
		}
		n, err := strconv.Atoi(v.Value[i+1:])
		if err != nil || n < 0 {
			return v, p.errf("bad length in -%s line", v.Name)
		}
		if n > p.lim.Data {
			return v, p.errf("-%s data longer than %d bytes", v.Name, p.lim.Data)
		}
		v.Value = v.Value[:i]
		start := p.line
		b, err := p.readN(n + 1)
		if err != nil {
			return v, err
		}
		p.line += bytes.Count(b, []byte{'\n'})
		if b[n] != '\n' {
			p.line = start
			return v, p.errf("-%s data not followed by a newline", v.Name)
		}
		v.Data = string(b[:n])
	}
	return v, nil
}

// parseTree reads Exim's non-recipients tree, written in preorder: each
// line is "LR address" where L and R are Y or N for a left and right
// subtree following.
func (p *hreader) parseTree(h *HeaderFile, first string) error {
	pending := 1 // nodes still to read
	l := first
	for {
		if len(l) < 3 || (l[0] != 'Y' && l[0] != 'N') || (l[1] != 'Y' && l[1] != 'N') || l[2] != ' ' {
			return p.errf("bad non-recipients tree line")
		}
		h.tree = append(h.tree, l)
		h.NonRecipients = append(h.NonRecipients, l[3:])
		if len(h.tree) > p.lim.Recipients {
			return p.errf("more than %d non-recipients", p.lim.Recipients)
		}
		pending--
		if l[0] == 'Y' {
			pending++
		}
		if l[1] == 'Y' {
			pending++
		}
		if pending == 0 {
			break
		}
		var err error
		if l, err = p.readLine(); err != nil {
			return err
		}
	}
	slices.Sort(h.NonRecipients)
	h.NonRecipients = slices.Compact(h.NonRecipients)
	h.treeSet = slices.Clone(h.NonRecipients)
	return nil
}

// parseRcpt parses a recipient line the way Exim does: from the end,
// since addresses may contain spaces. Forms: "address",
// "address pno" (early Exim 4), "address d,pno,d" (Exim 3) and
// "address [orcpt len,dsnflags ]errorsto len,pno#flags".
func parseRcpt(l string) (RcptLine, bool) {
	r := RcptLine{Address: l, PNo: -1}
	if l == "" {
		return r, false
	}
	i := len(l) - 1
	for i >= 0 && isDigit(l[i]) {
		i--
	}
	if i < 0 || i == len(l)-1 {
		return r, true // plain address (ends with a non-digit or is all digits)
	}
	switch l[i] {
	case ',': // Exim 3: address d,pno,d
		j := i - 1
		for j >= 0 && (isDigit(l[j]) || l[j] == ',') {
			j--
		}
		if j >= 0 && l[j] == ' ' {
			parts := strings.Split(l[j+1:], ",")
			if len(parts) >= 2 {
				if pno, err := strconv.Atoi(parts[1]); err == nil {
					r.PNo = pno
				}
			}
			r.Address = l[:j]
		}
		return r, true
	case ' ': // early Exim 4: address pno
		pno, err := strconv.Atoi(l[i+1:])
		if err != nil {
			return r, false
		}
		r.Address, r.PNo = l[:i], pno
		return r, true
	case '#':
	default:
		return r, true
	}
	flags, err := strconv.Atoi(l[i+1:])
	if err != nil {
		return r, false
	}
	end := i // l[:end] is what remains
	if flags&1 != 0 {
		s, e, _, pno, ok := backField(l, end)
		if !ok {
			return r, false
		}
		r.ErrorsTo, r.PNo, end = s, pno, e
	}
	if flags&2 != 0 {
		s, e, _, dsn, ok := backField(l, end)
		if !ok {
			return r, false
		}
		r.ORCPT, r.DSNFlags, end = s, dsn, e
	}
	if end <= 0 {
		return r, false
	}
	r.Address = l[:end]
	return r, true
}

// backField parses "<sp>text<sp>len,num" ending at l[end] (exclusive),
// reading backwards, and returns text, the new end (before the leading
// space), len and num.
func backField(l string, end int) (text string, newEnd, n, num int, ok bool) {
	j := end - 1
	for j >= 0 && (isDigit(l[j]) || l[j] == ',' || l[j] == '-') {
		j--
	}
	if j < 0 || l[j] != ' ' {
		return "", 0, 0, 0, false
	}
	a, b, found := strings.Cut(l[j+1:end], ",")
	var err1, err2 error
	n, err1 = strconv.Atoi(a)
	num, err2 = strconv.Atoi(b)
	if !found || err1 != nil || err2 != nil || n < 0 || n > j {
		return "", 0, 0, 0, false
	}
	// l[j-n:j] is the text, preceded by a space.
	k := j - n
	if k < 1 || l[k-1] != ' ' {
		return "", 0, 0, 0, false
	}
	return l[k:j], k - 1, n, num, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *hreader) parseHeader() (HeaderLine, error) {
	p.line++
	start := p.line
	var n int
	digits := 0
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return HeaderLine{}, p.errf("unexpected end of file in header length")
		}
		if !isDigit(c) {
			if digits == 0 {
				return HeaderLine{}, p.errf("header line does not start with a length")
			}
			if err := p.r.UnreadByte(); err != nil {
				return HeaderLine{}, err
			}
			break
		}
		digits++
		if digits > 9 {
			return HeaderLine{}, p.errf("header length too long")
		}
		n = n*10 + int(c-'0')
	}
	if n > p.lim.Header {
		return HeaderLine{}, p.errf("header of %d bytes above the limit %d", n, p.lim.Header)
	}
	if n == 0 {
		return HeaderLine{}, p.errf("empty header")
	}
	fb := make([]byte, 2)
	if _, err := io.ReadFull(p.r, fb); err != nil {
		return HeaderLine{}, p.errf("unexpected end of file in header")
	}
	flag := fb[0]
	if fb[1] != ' ' || !validFlag(flag) {
		return HeaderLine{}, p.errf("bad header flag %q", fb)
	}
	b, err := p.readN(n)
	if err != nil {
		return HeaderLine{}, err
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return HeaderLine{}, p.errf("NUL in header")
	}
	if b[n-1] != '\n' {
		return HeaderLine{}, p.errf("header does not end with a newline (bad length %d?)", n)
	}
	p.line = start + bytes.Count(b, []byte{'\n'}) - 1
	return HeaderLine{Flag: flag, Text: string(b)}, nil
}

func validFlag(c byte) bool {
	return c == ' ' || c == '*' || (c >= 'A' && c <= 'Z')
}

// WriteTo writes the -H file. It fails, writing nothing, when a field
// cannot be represented (a newline in an address, a header that does not
// end with one).
func (h *HeaderFile) WriteTo(w io.Writer) (int64, error) {
	b, err := h.AppendBinary(nil)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// AppendBinary appends the -H file to b.
func (h *HeaderFile) AppendBinary(b []byte) ([]byte, error) {
	if !ValidID(h.ID) {
		return b, fmt.Errorf("spool: writing -H: bad ID %q", h.ID)
	}
	bad := func(what, s string) error {
		if strings.ContainsAny(s, "\n\x00") {
			return fmt.Errorf("spool: writing %s-H: newline or NUL in %s", h.ID, what)
		}
		return nil
	}
	if err := errors.Join(bad("login", h.Login), bad("sender", h.Sender)); err != nil {
		return b, err
	}
	b = append(b, h.ID...)
	b = append(b, "-H\n"...)
	b = append(b, h.Login...)
	b = fmt.Appendf(b, " %d %d\n<%s>\n%d %d\n", h.UID, h.GID, h.Sender, h.Time, h.Warnings)
	for _, v := range h.Vars {
		if err := errors.Join(bad("variable name", v.Name+v.Quoter), bad("variable "+v.Name, v.Value)); err != nil {
			return b, err
		}
		if v.Name == "" || strings.ContainsAny(v.Name, " )") || strings.Contains(v.Quoter, ")") {
			return b, fmt.Errorf("spool: writing %s-H: bad variable name %q", h.ID, v.Name)
		}
		b = append(b, '-')
		if v.Tainted {
			b = append(b, '-')
		}
		if v.Quoter != "" {
			b = append(b, '(')
			b = append(b, v.Quoter...)
			b = append(b, ')')
		}
		b = append(b, v.Name...)
		if hasData(v.Name) {
			b = fmt.Appendf(b, " %s %d\n%s\n", v.Value, len(v.Data), v.Data)
			continue
		}
		if v.Value != "" {
			b = append(b, ' ')
			b = append(b, v.Value...)
		}
		b = append(b, '\n')
	}
	b, err := h.appendTree(b)
	if err != nil {
		return b, err
	}
	b = strconv.AppendInt(b, int64(len(h.Recipients)), 10)
	b = append(b, '\n')
	for _, r := range h.Recipients {
		if r.Address == "" {
			return b, fmt.Errorf("spool: writing %s-H: empty recipient", h.ID)
		}
		if err := errors.Join(bad("recipient", r.Address+r.ORCPT+r.ErrorsTo)); err != nil {
			return b, err
		}
		b = append(b, r.Address...)
		if r.PNo < 0 && r.ErrorsTo == "" && r.DSNFlags == 0 && r.ORCPT == "" {
			if back, ok := parseRcpt(r.Address); ok && back == r {
				b = append(b, '\n')
				continue
			}
			// The plain form would be misread: use the long one.
		}
		b = fmt.Appendf(b, " %s %d,%d %s %d,%d#3\n", r.ORCPT, len(r.ORCPT), r.DSNFlags, r.ErrorsTo, len(r.ErrorsTo), r.PNo)
	}
	b = append(b, '\n')
	for _, l := range h.Headers {
		if l.Text == "" || l.Text[len(l.Text)-1] != '\n' || strings.IndexByte(l.Text, 0) >= 0 {
			return b, fmt.Errorf("spool: writing %s-H: header %q does not end with a newline", h.ID, l.Text)
		}
		if !validFlag(l.Flag) {
			return b, fmt.Errorf("spool: writing %s-H: bad header flag %q", h.ID, l.Flag)
		}
		b = fmt.Appendf(b, "%03d%c ", len(l.Text), l.Flag)
		b = append(b, l.Text...)
	}
	return b, nil
}

func (h *HeaderFile) appendTree(b []byte) ([]byte, error) {
	if len(h.NonRecipients) == 0 {
		return append(b, "XX\n"...), nil
	}
	if h.tree != nil && slices.Equal(h.NonRecipients, h.treeSet) {
		for _, l := range h.tree {
			b = append(b, l...)
			b = append(b, '\n')
		}
		return b, nil
	}
	set := slices.Clone(h.NonRecipients)
	slices.Sort(set)
	set = slices.Compact(set)
	for _, a := range set {
		if a == "" || strings.ContainsAny(a, "\n\x00") {
			return b, fmt.Errorf("spool: writing %s-H: bad non-recipient %q", h.ID, a)
		}
	}
	// A balanced search tree ordered by byte comparison, as Exim's
	// tree_search expects, written in preorder.
	var walk func(lo, hi int)
	walk = func(lo, hi int) {
		mid := (lo + hi) / 2
		left, right := byte('N'), byte('N')
		if mid > lo {
			left = 'Y'
		}
		if mid+1 < hi {
			right = 'Y'
		}
		b = append(b, left, right, ' ')
		b = append(b, set[mid]...)
		b = append(b, '\n')
		if mid > lo {
			walk(lo, mid)
		}
		if mid+1 < hi {
			walk(mid+1, hi)
		}
	}
	walk(0, len(set))
	return b, nil
}
