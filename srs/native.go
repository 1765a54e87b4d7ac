package srs

import (
	"strings"
	"time"
)

// Native is Exim's built-in SRS (Exim 4.95+, SUPPORT_SRS): the
// ${srs_encode} expansion item and the inbound_srs condition. Secret is
// the HMAC key; the zero value has an empty secret, which Encode uses as
// is and Check treats as "check the syntax only", as Exim does.
type Native struct {
	Secret string
}

// NativeMaxAge is the age in days beyond which Exim's inbound_srs
// rejects an address (ages 0 to 10 pass).
const NativeMaxAge = 10

const (
	base32Lower = "abcdefghijklmnopqrstuvwxyz234567"
	base32Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	hexDigits   = "0123456789abcdef"
)

// day returns the number of days since the Unix epoch, as Exim computes
// it (tv_sec / 86400).
func day(t time.Time) int64 { return t.Unix() / 86400 }

// Encode returns ${srs_encode {Secret}{returnPath}{domain}} at time now:
//
//	SRS0=HHHH=TT=domain=local@forwarder
//
// HHHH is the first 4 lower-case hex digits of HMAC-MD5(Secret,
// returnPath in ASCII lower case, exactly as given: angle brackets,
// display names and comments included); TT is the day number modulo 1024
// in two lower-case base32 digits; domain and local are the return
// path's, the domain keeping its case. When the local part contains a
// double quote, Exim removes every double quote from it and quotes the
// whole new local part. An empty return path yields "" (a bounce is not
// rewritten). A return path Exim cannot parse is an error.
func (n Native) Encode(returnPath, domain string, now time.Time) (string, error) {
	if returnPath == "" {
		return "", nil
	}
	local, rpDomain, _, err := extractAddress(returnPath)
	if err != nil {
		return "", err
	}
	quoted := strings.IndexByte(local, '"') >= 0
	sum := hmacMD5([]byte(n.Secret), true, returnPath)
	d := day(now) & 0x3ff

	var b strings.Builder
	b.Grow(len(returnPath) + len(domain) + 16)
	if quoted {
		b.WriteByte('"')
	}
	b.WriteString("SRS0=")
	b.WriteByte(hexDigits[sum[0]>>4])
	b.WriteByte(hexDigits[sum[0]&15])
	b.WriteByte(hexDigits[sum[1]>>4])
	b.WriteByte(hexDigits[sum[1]&15])
	b.WriteByte('=')
	b.WriteByte(base32Lower[d>>5])
	b.WriteByte(base32Lower[d&31])
	b.WriteByte('=')
	b.WriteString(rpDomain)
	b.WriteByte('=')
	if quoted {
		for i := 0; i < len(local); i++ {
			if local[i] != '"' {
				b.WriteByte(local[i])
			}
		}
		b.WriteByte('"')
	} else {
		b.WriteString(local)
	}
	b.WriteByte('@')
	b.WriteString(domain)
	return b.String(), nil
}

// nativeParts splits an Exim SRS local part, matching Exim's pattern
// ^(?i)SRS0=([^=]+)=([a-z2-7]{2})=([^=]*)=(.*)$.
func nativeParts(lp string) (hash, stamp, domain, local string, ok bool) {
	if len(lp) < 5 || !strings.EqualFold(lp[:5], "SRS0=") {
		return
	}
	rest := lp[5:]
	i := strings.IndexByte(rest, '=')
	if i <= 0 {
		return
	}
	hash, rest = rest[:i], rest[i+1:]
	if len(rest) < 3 || rest[2] != '=' || b32val(rest[0]) < 0 || b32val(rest[1]) < 0 {
		return
	}
	stamp, rest = rest[:2], rest[3:]
	i = strings.IndexByte(rest, '=')
	if i < 0 {
		return
	}
	domain, local = rest[:i], rest[i+1:]
	if strings.IndexByte(local, '\n') >= 0 || strings.IndexByte(domain, '\n') >= 0 || strings.IndexByte(hash, '\n') >= 0 {
		return
	}
	return hash, stamp, domain, local, true
}

// b32val decodes one base32 digit of either case, or returns -1.
func b32val(c byte) int {
	switch {
	case 'a' <= c && c <= 'z':
		return int(c - 'a')
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case '2' <= c && c <= '7':
		return int(c-'2') + 26
	}
	return -1
}

// needsQuote reports whether Exim quotes the recipient it rebuilds from
// the SRS local part lp: lp starts with a double quote or has a byte
// that is neither ASCII alphanumeric nor one of .!#$%&'*+-/=?^_`{|}~.
func needsQuote(lp string) bool {
	if strings.HasPrefix(lp, `"`) {
		return true
	}
	for i := 0; i < len(lp); i++ {
		c := lp[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0 {
			continue
		}
		return true
	}
	return false
}

// Recipient rebuilds the original address from an Exim SRS local part
// without checking hash or timestamp: Exim's $srs_recipient. It is in
// ASCII lower case; the local part is quoted when the SRS local part
// holds any byte outside atext (note: anywhere in it, the domain field
// included, as Exim does). ok is false when lp is not an SRS0 local
// part.
func Recipient(lp string) (recipient string, ok bool) {
	_, _, domain, local, ok := nativeParts(lp)
	if !ok {
		return "", false
	}
	return buildRecipient(lp, local, domain), true
}

func buildRecipient(lp, local, domain string) string {
	q := needsQuote(lp)
	b := make([]byte, 0, len(local)+len(domain)+3)
	if q {
		b = append(b, '"')
	}
	b = appendLower(b, local)
	if q {
		b = append(b, '"')
	}
	b = append(b, '@')
	b = appendLower(b, domain)
	return string(b)
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// Check is Exim's inbound_srs condition on the local part lp (unquoted,
// as $local_part) at time now. It returns the original address
// ($srs_recipient) and nil when lp is a valid SRS0 local part for
// Secret: a timestamp 0 to [NativeMaxAge] days old and a hash equal to
// the first 4 hex digits of HMAC-MD5(Secret, recipient). The recipient
// is returned with a non-nil error too whenever lp has the SRS0 form (Exim
// sets $srs_recipient in that case); the error wraps [ErrNotSRS],
// [ErrTimestamp] or [ErrHash].
//
// Two deliberate choices, where Exim 4.96 is inconsistent:
//   - Exim matches the local part caselessly but decodes the timestamp
//     with the lower-case alphabet only, so an upper-case timestamp
//     decodes to garbage (a pointer difference) and is in practice
//     rejected. Check decodes it caselessly: a relay that upper-cases
//     local parts does not break an otherwise valid address. It accepts
//     everything Exim accepts. The hash is compared byte for byte, as
//     Exim does (lower-case hex).
//   - With an empty Secret, Exim's condition is true for any local part
//     of the SRS0 form and sets $srs_recipient without verifying
//     anything. Check does the same, so that configurations that rely on
//     it keep working; use a non-empty secret to verify.
func (n Native) Check(lp string, now time.Time) (recipient string, err error) {
	hash, stamp, domain, local, ok := nativeParts(lp)
	if !ok {
		return "", wrapf(ErrNotSRS, "%.64q does not match SRS0=hash=tt=domain=local", lp)
	}
	recipient = buildRecipient(lp, local, domain)
	if n.Secret == "" {
		return recipient, nil
	}
	then := int64(b32val(stamp[0])<<5 | b32val(stamp[1]))
	if age := (day(now) - then) & 0x3ff; age > NativeMaxAge {
		if age > 512 {
			return recipient, wrapf(ErrTimestamp, "timestamp %s is in the future", stamp)
		}
		return recipient, wrapf(ErrTimestamp, "timestamp %s is %d days old (maximum %d)", stamp, age, NativeMaxAge)
	}
	if len(hash) != 4 {
		return recipient, wrapf(ErrHash, "hash %.16q is not 4 characters", hash)
	}
	sum := hmacMD5([]byte(n.Secret), false, recipient)
	if hash[0] != hexDigits[sum[0]>>4] || hash[1] != hexDigits[sum[0]&15] ||
		hash[2] != hexDigits[sum[1]>>4] || hash[3] != hexDigits[sum[1]&15] {
		return recipient, wrapf(ErrHash, "hash %q does not match", hash)
	}
	return recipient, nil
}
