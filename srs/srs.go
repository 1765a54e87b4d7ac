package srs

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Defaults of [SRS] for zero fields.
const (
	DefaultHashLength = 4  // base64 characters of the hash
	DefaultMaxAge     = 21 // days (libsrs2 and postsrsd; Mail::SRS uses 49)
)

// Store keeps original addresses for database mode (Exim's
// srs_dbinsert / srs_dbselect). A hints database or a lookup adapts to it
// in a few lines; [MapStore] keeps them in memory.
type Store interface {
	// Put stores address under key.
	Put(ctx context.Context, key, address string) error
	// Get returns the address stored under key, or an error wrapping
	// [ErrNotFound].
	Get(ctx context.Context, key string) (string, error)
}

// SRS is the full Sender Rewriting Scheme as libsrs2, libsrs_alt,
// Mail::SRS (its default Guarded scheme) and postsrsd implement it:
//
//	SRS0=HHHH=TT=domain=local@forwarder
//	SRS1=HHHH=firsthop==HHHH=TT=domain=local@forwarder
//
// HHHH is the base64 HMAC-SHA1 of the ASCII-lower-cased fields, cut to
// HashLength characters; TT the day number modulo 1024 in two upper-case
// base32 digits. An address already in SRS0 form is re-forwarded as SRS1,
// which keeps the first forwarder (firsthop) and its SRS0 data; an SRS1
// address is re-forwarded as SRS1 with a new hash. The zero value is
// usable once Secrets is set.
type SRS struct {
	// Secrets are the HMAC keys: the first signs, all verify, so that a
	// new secret can be put first while addresses signed with the old
	// one are still accepted.
	Secrets []string
	// HashLength is the length of the hash written (srs_hashlength);
	// 0 means [DefaultHashLength].
	HashLength int
	// HashMin is the shortest hash accepted (srs_hashmin); 0 means
	// HashLength.
	HashMin int
	// MaxAge is the age in days beyond which a timestamp is rejected
	// (srs_maxage); 0 means [DefaultMaxAge].
	MaxAge int
	// Separator follows the SRS0/SRS1 tag: '=' (the default, for 0), '+'
	// or '-'. Reverse accepts any of the three.
	Separator byte
	// NoHash (srs_usehash = false) writes an empty hash field and skips
	// hash verification. Addresses become forgeable: for testing only.
	NoHash bool
	// NoTimestamp (srs_usetimestamp = false) writes an empty timestamp
	// field and skips the age check.
	NoTimestamp bool
	// AlwaysRewrite rewrites senders whose domain is the forwarder's;
	// otherwise Forward returns them unchanged, as the libraries do.
	AlwaysRewrite bool
	// DB switches to database mode: SRS0 addresses carry a key, derived
	// from the HMAC of the original address, under which Forward stores
	// the address in DB: SRS0=HHHH=TT=key@forwarder.
	DB Store
}

func (s *SRS) hashLength() int {
	if s.HashLength > 0 {
		return min(s.HashLength, 27)
	}
	return DefaultHashLength
}

func (s *SRS) hashMin() int {
	if s.HashMin > 0 {
		return s.HashMin
	}
	return s.hashLength()
}

func (s *SRS) maxAge() int64 {
	if s.MaxAge > 0 {
		return int64(s.MaxAge)
	}
	return DefaultMaxAge
}

func (s *SRS) separator() byte {
	switch s.Separator {
	case '+', '-':
		return s.Separator
	}
	return '='
}

// hash returns the base64 HMAC-SHA1 of the lower-cased parts under secret,
// without padding (27 characters).
func hash(secret string, parts ...string) string {
	sum := hmacSHA1([]byte(secret), true, parts...)
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

func (s *SRS) sign(parts ...string) string {
	if s.NoHash {
		return ""
	}
	return hash(s.Secrets[0], parts...)[:s.hashLength()]
}

// verify checks h against the parts with every secret, case-sensitively
// first, then ignoring case as libsrs2 and Mail::SRS do (a relay may have
// smashed the case of the local part).
func (s *SRS) verify(h string, parts ...string) error {
	if s.NoHash {
		return nil
	}
	if len(h) < s.hashMin() {
		return wrapf(ErrHash, "hash %.32q shorter than %d characters", h, s.hashMin())
	}
	if len(h) > 27 {
		return wrapf(ErrHash, "hash %.32q too long", h)
	}
	var valid [8]string
	all := valid[:0]
	for _, secret := range s.Secrets {
		v := hash(secret, parts...)[:len(h)]
		if v == h {
			return nil
		}
		all = append(all, v)
	}
	for _, v := range all {
		if strings.EqualFold(v, h) {
			return nil
		}
	}
	return wrapf(ErrHash, "hash %q does not match", h)
}

func timestamp(now time.Time) string {
	d := day(now) & 0x3ff
	return string([]byte{base32Upper[d>>5], base32Upper[d&31]})
}

func (s *SRS) checkTimestamp(ts string, now time.Time) error {
	if s.NoTimestamp {
		return nil
	}
	if len(ts) != 2 || b32val(ts[0]) < 0 || b32val(ts[1]) < 0 {
		return wrapf(ErrTimestamp, "bad timestamp %.16q", ts)
	}
	then := int64(b32val(ts[0])<<5 | b32val(ts[1]))
	cur := day(now) & 0x3ff
	for cur < then {
		cur += 1024
	}
	if cur > then+s.maxAge() {
		return wrapf(ErrTimestamp, "timestamp %s is %d days old (maximum %d)", ts, cur-then, s.maxAge())
	}
	return nil
}

// splitAddress splits an address at its last "@", removing the quotes
// around a quoted local part.
func splitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", "", false
	}
	local, domain = addr[:i], addr[i+1:]
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' {
		local = local[1 : len(local)-1]
	}
	return local, domain, true
}

// tagged reports whether local starts with tag ("SRS0" or "SRS1", any
// case) followed by a separator, and returns what follows the tag (the
// separator included).
func tagged(local, tag string) (rest string, ok bool) {
	if len(local) < 5 || !strings.EqualFold(local[:4], tag) || strings.IndexByte("=+-", local[4]) < 0 {
		return "", false
	}
	return local[4:], true
}

// Forward rewrites sender for forwarding by the host alias (a domain, or
// an address whose domain is used). It returns sender unchanged when its
// domain is alias (unless AlwaysRewrite). ctx is used by database mode.
func (s *SRS) Forward(ctx context.Context, sender, alias string, now time.Time) (string, error) {
	if len(s.Secrets) == 0 && !s.NoHash {
		return "", ErrNoSecret
	}
	user, host, ok := splitAddress(sender)
	if !ok || user == "" || host == "" {
		return "", wrapf(ErrAddress, "forward %.256q: no local part and domain", sender)
	}
	if strings.IndexByte(host, '=') >= 0 {
		return "", wrapf(ErrAddress, "forward %.256q: \"=\" in the domain", sender)
	}
	if i := strings.LastIndexByte(alias, '@'); i >= 0 {
		alias = alias[i+1:]
	}
	if alias == "" {
		return "", fmt.Errorf("srs: forward %.256q: empty alias domain", sender)
	}
	if !s.AlwaysRewrite && strings.EqualFold(host, alias) {
		return sender, nil
	}
	sep := string(s.separator())
	var local string
	if rest, ok := tagged(user, "SRS1"); ok {
		// SRS1<sep>hash=firsthop=data: re-sign for the same first hop.
		f := strings.SplitN(rest[1:], "=", 3)
		if len(f) != 3 || f[1] == "" {
			return "", wrapf(ErrNotSRS, "SRS1 address %.256q has no first hop", sender)
		}
		local = "SRS1" + sep + s.sign(f[1], f[2]) + "=" + f[1] + "=" + f[2]
	} else if rest, ok := tagged(user, "SRS0"); ok {
		local = "SRS1" + sep + s.sign(host, rest) + "=" + host + "=" + rest
	} else if s.DB != nil {
		ts := s.stamp(now)
		key := s.dbKey(user + "@" + host)
		if err := s.DB.Put(ctx, key, user+"@"+host); err != nil {
			return "", fmt.Errorf("srs: database insert: %w", err)
		}
		local = "SRS0" + sep + s.sign(ts, key) + "=" + ts + "=" + key
	} else {
		ts := s.stamp(now)
		local = "SRS0" + sep + s.sign(ts, host, user) + "=" + ts + "=" + host + "=" + user
	}
	if needsQuote(local) {
		local = `"` + local + `"`
	}
	return local + "@" + alias, nil
}

func (s *SRS) stamp(now time.Time) string {
	if s.NoTimestamp {
		return ""
	}
	return timestamp(now)
}

// dbKey derives the database key of an address: 16 lower-case base32
// digits of its HMAC, so that the same address always gets the same key.
func (s *SRS) dbKey(addr string) string {
	secret := ""
	if len(s.Secrets) > 0 {
		secret = s.Secrets[0]
	}
	sum := hmacSHA1([]byte(secret), true, "db:", addr)
	b := make([]byte, 16)
	for i := range b {
		b[i] = base32Lower[sum[i]&31]
	}
	return string(b)
}

// Reverse returns the address that addr (an SRS0 or SRS1 address, or
// just its local part) stands for: the original sender for SRS0, the
// first forwarder's SRS0 address for SRS1. The error wraps [ErrNotSRS],
// [ErrHash], [ErrTimestamp], [ErrNoSecret] or, in database mode,
// [ErrNotFound].
func (s *SRS) Reverse(ctx context.Context, addr string, now time.Time) (string, error) {
	if len(s.Secrets) == 0 && !s.NoHash {
		return "", ErrNoSecret
	}
	user, _, ok := splitAddress(addr)
	if !ok {
		user = addr
		if len(user) >= 2 && user[0] == '"' && user[len(user)-1] == '"' {
			user = user[1 : len(user)-1]
		}
	}
	if rest, ok := tagged(user, "SRS1"); ok {
		f := strings.SplitN(rest[1:], "=", 3)
		if len(f) != 3 || f[1] == "" {
			return "", wrapf(ErrNotSRS, "SRS1 address %.256q has no first hop", user)
		}
		if err := s.verify(f[0], f[1], f[2]); err != nil {
			return "", err
		}
		return quoteLocal("SRS0"+f[2]) + "@" + f[1], nil
	}
	rest, ok := tagged(user, "SRS0")
	if !ok {
		return "", wrapf(ErrNotSRS, "%.256q is neither SRS0 nor SRS1", user)
	}
	if s.DB != nil {
		f := strings.SplitN(rest[1:], "=", 3)
		if len(f) != 3 {
			return "", wrapf(ErrNotSRS, "%.256q: expected SRS0=hash=tt=key", user)
		}
		if err := s.verify(f[0], f[1], f[2]); err != nil {
			return "", err
		}
		if err := s.checkTimestamp(f[1], now); err != nil {
			return "", err
		}
		a, err := s.DB.Get(ctx, f[2])
		if err != nil {
			return "", fmt.Errorf("srs: database select %q: %w", f[2], err)
		}
		return a, nil
	}
	f := strings.SplitN(rest[1:], "=", 4)
	if len(f) != 4 || f[3] == "" {
		return "", wrapf(ErrNotSRS, "%.256q: expected SRS0=hash=tt=domain=local", user)
	}
	if err := s.verify(f[0], f[1], f[2], f[3]); err != nil {
		return "", err
	}
	if err := s.checkTimestamp(f[1], now); err != nil {
		return "", err
	}
	if f[2] == "" {
		return "", wrapf(ErrNotSRS, "%.256q has an empty domain", user)
	}
	return quoteLocal(f[3]) + "@" + f[2], nil
}

// quoteLocal quotes a local part that is not a dot-atom.
func quoteLocal(l string) string {
	if !needsQuote(l) && !strings.HasPrefix(l, ".") && !strings.HasSuffix(l, ".") && !strings.Contains(l, "..") {
		return l
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(l); i++ {
		if l[i] == '"' || l[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(l[i])
	}
	b.WriteByte('"')
	return b.String()
}
