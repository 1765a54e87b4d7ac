package smtpd

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/exigo-mta/exigo"
)

// command is one parsed command line: the verb in upper case and the
// argument with surrounding blanks removed.
type command struct {
	verb string
	arg  string
}

// parseCommand splits a command line (without its line end) into verb and
// argument. The verb is upper-cased; an empty verb means an empty line.
func parseCommand(line []byte) command {
	// Trim trailing blanks: some clients send "QUIT " or "DATA\t".
	end := len(line)
	for end > 0 && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	line = line[:end]
	i := 0
	for i < len(line) && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	verb := upperASCII(line[:i])
	j := i
	for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
		j++
	}
	return command{verb: verb, arg: string(line[j:])}
}

// upperASCII returns b upper-cased as a string; common verbs are returned
// without allocating.
func upperASCII(b []byte) string {
	if len(b) == 4 {
		var u [4]byte
		for k, c := range b {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			u[k] = c
		}
		switch string(u[:]) {
		case "MAIL":
			return "MAIL"
		case "RCPT":
			return "RCPT"
		case "DATA":
			return "DATA"
		case "EHLO":
			return "EHLO"
		case "HELO":
			return "HELO"
		case "QUIT":
			return "QUIT"
		case "RSET":
			return "RSET"
		case "NOOP":
			return "NOOP"
		case "BDAT":
			return "BDAT"
		case "AUTH":
			return "AUTH"
		}
	}
	u := make([]byte, len(b))
	for k, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		u[k] = c
	}
	return string(u)
}

// param is one ESMTP parameter of MAIL or RCPT: KEY or KEY=VALUE. The key
// is upper-cased.
type param struct {
	key   string
	value string
	hasEq bool
}

// pathArg is the parsed argument of MAIL FROM: or RCPT TO:.
type pathArg struct {
	addr   string // address without angle brackets and source route
	params []param
}

// Errors from the path and parameter parser. Each carries the reply the
// server sends.
var (
	errPathSyntax   = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Syntax error in address: expected <address>"}
	errParamSyntax  = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 4}, Message: "Syntax error in parameters"}
	errAddrControl  = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 1, 7}, Message: "Address contains control characters"}
	errAddrTooLong  = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 1, 7}, Message: "Address too long"}
	errAddrBadUTF8  = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 1, 7}, Message: "Address is not valid UTF-8"}
	errParamTwice   = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 4}, Message: "Parameter given more than once"}
	errXtextInvalid = errors.New("invalid xtext")
)

// maxPathLen bounds an address: RFC 5321 section 4.5.3.1.3 says 256 octets
// for a path including the angle brackets.
const maxPathLen = 256

// parsePath parses "FROM:<addr> params" (prefix "FROM:") or "TO:<addr>
// params". It is lenient where Exim is: blanks after the colon, a missing
// pair of angle brackets, and a source route (which is dropped, RFC 5321
// appendix C).
func parsePath(arg, prefix string) (pathArg, error) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return pathArg{}, errPathSyntax
	}
	s := strings.TrimLeft(arg[len(prefix):], " \t")
	var addr string
	if strings.HasPrefix(s, "<") {
		end, err := closingBracket(s)
		if err != nil {
			return pathArg{}, err
		}
		addr = s[1:end]
		s = s[end+1:]
		if s != "" && s[0] != ' ' && s[0] != '\t' {
			return pathArg{}, errPathSyntax
		}
	} else {
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		addr, s = s[:i], s[i:]
		if addr == "" || strings.ContainsAny(addr, "<>\"") {
			return pathArg{}, errPathSyntax
		}
	}
	if len(addr)+2 > maxPathLen {
		return pathArg{}, errAddrTooLong
	}
	// Source route: "@a,@b:user@example.com".
	if strings.HasPrefix(addr, "@") {
		i := routeEnd(addr)
		if i < 0 {
			return pathArg{}, errPathSyntax
		}
		addr = addr[i+1:]
	}
	if err := checkAddrBytes(addr); err != nil {
		return pathArg{}, err
	}
	params, err := parseParams(s)
	if err != nil {
		return pathArg{}, err
	}
	return pathArg{addr: addr, params: params}, nil
}

// closingBracket returns the index of the '>' that closes the '<' at s[0],
// skipping quoted strings and backslash escapes in the local part.
func closingBracket(s string) (int, error) {
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == '>' && !inQuote:
			return i, nil
		case c == '<' && !inQuote:
			return 0, errPathSyntax
		}
	}
	return 0, errPathSyntax
}

// routeEnd returns the index of the ':' that ends a source route, or -1.
func routeEnd(addr string) int {
	for i := 0; i < len(addr); i++ {
		switch addr[i] {
		case ':':
			return i
		case '"', '<', '>', ' ':
			return -1
		}
	}
	return -1
}

// checkAddrBytes rejects control characters, unquoted blanks and invalid
// UTF-8 in an address.
func checkAddrBytes(addr string) error {
	inQuote := false
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return errAddrControl
		case c == '\\' && inQuote:
			if i+1 < len(addr) && (addr[i+1] < 0x20 || addr[i+1] == 0x7f) {
				return errAddrControl
			}
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ' ' && !inQuote:
			return errPathSyntax
		}
	}
	if inQuote {
		return errPathSyntax
	}
	if !utf8.ValidString(addr) {
		return errAddrBadUTF8
	}
	return nil
}

// isASCII reports whether s is all 7-bit.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// parseParams parses blank-separated ESMTP parameters (RFC 5321 section
// 4.1.2: esmtp-keyword ["=" esmtp-value]).
func parseParams(s string) ([]param, error) {
	var ps []param
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return ps, nil
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		tok := s[:i]
		s = s[i:]
		var p param
		if k := strings.IndexByte(tok, '='); k >= 0 {
			p = param{key: tok[:k], value: tok[k+1:], hasEq: true}
		} else {
			p = param{key: tok}
		}
		if !validKeyword(p.key) || !validParamValue(p.value) {
			return nil, errParamSyntax
		}
		p.key = strings.ToUpper(p.key)
		for _, q := range ps {
			if q.key == p.key {
				return nil, errParamTwice
			}
		}
		ps = append(ps, p)
	}
}

// validKeyword checks esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
func validKeyword(k string) bool {
	if k == "" || k[0] == '-' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validParamValue checks esmtp-value: printable, no '=' and no blanks
// (UTF-8 allowed, RFC 6531).
func validParamValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c == '=' || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(v)
}

// decodeXtext decodes RFC 3461 xtext: "+" followed by two upper-case hex
// digits stands for that octet; other characters are themselves.
func decodeXtext(s string) (string, error) {
	if strings.IndexByte(s, '+') < 0 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < '!' || c > '~' || c == '=' {
				return "", errXtextInvalid
			}
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) {
				return "", errXtextInvalid
			}
			h, ok1 := unhexUpper(s[i+1])
			l, ok2 := unhexUpper(s[i+2])
			if !ok1 || !ok2 {
				return "", errXtextInvalid
			}
			b = append(b, h<<4|l)
			i += 2
		case c < '!' || c > '~' || c == '=':
			return "", errXtextInvalid
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

func unhexUpper(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeUTF8AddrXtext decodes utf-8-addr-xtext and utf-8-addr-unitext
// (RFC 6533 section 3): "\x{HEX}" stands for the Unicode code point HEX;
// other characters stand for themselves. '+' and '=' must be escaped, and
// a backslash must start an escape.
func decodeUTF8AddrXtext(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errXtextInvalid
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if !strings.HasPrefix(s[i:], `\x{`) {
				return "", errXtextInvalid
			}
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errXtextInvalid
			}
			hex := s[i+3 : i+end]
			if len(hex) < 2 || len(hex) > 6 {
				return "", errXtextInvalid
			}
			n, err := strconv.ParseUint(hex, 16, 32)
			if err != nil || n > utf8.MaxRune || (n >= 0xD800 && n <= 0xDFFF) {
				return "", errXtextInvalid
			}
			// RFC 6533: leading zeros are not allowed beyond two digits.
			if len(hex) > 2 && hex[0] == '0' {
				return "", errXtextInvalid
			}
			b.WriteRune(rune(n))
			i += end + 1
		case c < 0x21 || c == '+' || c == '=' || c == 0x7f:
			return "", errXtextInvalid
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// decodeORCPT decodes the ORCPT value "addr-type;xtext" into
// "addr-type;address" (RFC 3461 section 4.2, RFC 6533 for utf-8).
func decodeORCPT(v string) (string, error) {
	i := strings.IndexByte(v, ';')
	if i <= 0 || i == len(v)-1 {
		return "", errXtextInvalid
	}
	typ, val := v[:i], v[i+1:]
	if !validKeyword(typ) {
		return "", errXtextInvalid
	}
	var dec string
	var err error
	if strings.EqualFold(typ, "utf-8") {
		dec, err = decodeUTF8AddrXtext(val)
	} else {
		dec, err = decodeXtext(val)
	}
	if err != nil {
		return "", err
	}
	if dec == "" || strings.ContainsFunc(dec, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", errXtextInvalid
	}
	return typ + ";" + dec, nil
}

// parseNotify parses the NOTIFY value: "NEVER" or a comma-separated list of
// SUCCESS, FAILURE and DELAY.
func parseNotify(v string) (exigo.Notify, bool) {
	if strings.EqualFold(v, "NEVER") {
		return exigo.NotifyNever, true
	}
	var n exigo.Notify
	for _, w := range strings.Split(v, ",") {
		var f exigo.Notify
		switch strings.ToUpper(w) {
		case "SUCCESS":
			f = exigo.NotifySuccess
		case "FAILURE":
			f = exigo.NotifyFailure
		case "DELAY":
			f = exigo.NotifyDelay
		default:
			return 0, false
		}
		if n&f != 0 {
			return 0, false
		}
		n |= f
	}
	return n, true
}

// parseSize parses a SIZE value: decimal digits, at most 18 of them.
func parseSize(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseBDAT parses "size [LAST]".
func parseBDAT(arg string) (size int64, last bool, ok bool) {
	f := strings.Fields(arg)
	switch len(f) {
	case 1:
	case 2:
		if !strings.EqualFold(f[1], "LAST") {
			return 0, false, false
		}
		last = true
	default:
		return 0, false, false
	}
	size, ok = parseSize(f[0])
	return size, last, ok
}

// validHelo checks a HELO/EHLO argument: a domain name (letters, digits,
// '-', '_' and '.') or an address literal in brackets.
func validHelo(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	if s[0] == '[' {
		if s[len(s)-1] != ']' || len(s) < 3 {
			return false
		}
		for i := 1; i < len(s)-1; i++ {
			c := s[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':' || c == 'v' || c == 'V' || c == 'p' || c == 'P' || c == 'I') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
