package lookup

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

var (
	errNotIP   = errors.New("not an IP address")
	errBadMask = errors.New("bad CIDR mask")
)

// ParseIPKey parses a key of an iplsearch file: an IPv4 address in
// dotted-quad form or an IPv6 address, optionally followed by "/" and a
// mask length (decimal digits, at most 32 or 128). An IPv6 address may
// carry a "%zone" suffix, which is ignored (not with a mask). A key
// without a mask is a host: a /32 or /128 network. The network address
// is returned masked.
//
// Exim's string_is_ip_address accepts a few more forms, which this
// rejects: a "/" with no digits (Exim reads it as /0, so that
// "192.0.2.1/" matches every IPv4 address) and a mask with a sign
// ("/+8").
func ParseIPKey(s string) (netip.Prefix, error) {
	addrPart, maskPart, hasMask := strings.Cut(s, "/")
	if hasMask && strings.IndexByte(addrPart, '%') >= 0 {
		return netip.Prefix{}, fmt.Errorf("%q: %w (zone with a mask)", s, errNotIP)
	}
	a, err := parseIPAddr(addrPart)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: %w", s, err)
	}
	bits := a.BitLen()
	if hasMask {
		if maskPart == "" {
			return netip.Prefix{}, fmt.Errorf("%q: %w", s, errBadMask)
		}
		n := 0
		for i := 0; i < len(maskPart); i++ {
			c := maskPart[i]
			if c < '0' || c > '9' {
				return netip.Prefix{}, fmt.Errorf("%q: %w", s, errBadMask)
			}
			if n = n*10 + int(c-'0'); n > bits {
				return netip.Prefix{}, fmt.Errorf("%q: %w", s, errBadMask)
			}
		}
		bits = n
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

// parseIPAddr parses an address without a mask: dotted-quad IPv4 (no
// leading zeros, as Exim) or IPv6 with an optional zone, which is
// dropped. The result is not unmapped.
func parseIPAddr(s string) (netip.Addr, error) {
	if i := strings.IndexByte(s, '%'); i >= 0 {
		// Exim accepts any zone text, even an empty one; netip does not.
		s = s[:i]
		if strings.IndexByte(s, ':') < 0 {
			return netip.Addr{}, errNotIP
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errNotIP
	}
	return a, nil
}

// parseIPLookupKey parses the key of an iplsearch lookup: an address
// without a mask. IPv4-mapped IPv6 addresses become IPv4, as Exim
// converts them before the lookup.
func parseIPLookupKey(s string) (netip.Addr, error) {
	a, err := parseIPAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Unmap(), nil
}

// ipEntry is one entry of an iplsearch file whose key is a network.
type ipEntry struct {
	pos   int // position among the file's entries: the first match wins
	value string
}

// ipIndex finds the first entry whose network contains an address
// without scanning: for each mask length used in the file it maps the
// masked networks to their first entry, so a lookup costs one map probe
// per distinct mask length (at most 33 for IPv4, 129 for IPv6).
type ipIndex struct {
	byLen map[int]map[netip.Prefix]ipEntry // mask length -> network -> first entry
	v4    []int                            // mask lengths of IPv4 keys, longest first
	v6    []int                            // mask lengths of IPv6 keys, longest first
	star  *ipEntry                         // first "*" entry, for the key "*"
}

func buildIP(_ string, data string, maxLine int) (*ipIndex, error) {
	x := &ipIndex{byLen: make(map[int]map[netip.Prefix]ipEntry)}
	pos := 0
	err := parseRecords(data, maxLine, func(r record) error {
		pos++
		if r.key == "*" {
			if x.star == nil {
				x.star = &ipEntry{pos: pos, value: r.value}
			}
			return nil
		}
		p, err := ParseIPKey(r.key)
		if err != nil {
			return nil // not an IP key: Exim skips the line
		}
		// IPv6 lengths are offset by 64 so that both families share byLen.
		l := p.Bits()
		if p.Addr().Is6() {
			l += 64
		}
		m := x.byLen[l]
		if m == nil {
			m = make(map[netip.Prefix]ipEntry)
			x.byLen[l] = m
			if p.Addr().Is6() {
				x.v6 = append(x.v6, p.Bits())
			} else {
				x.v4 = append(x.v4, p.Bits())
			}
		}
		if _, dup := m[p]; !dup {
			m[p] = ipEntry{pos: pos, value: r.value}
		}
		return nil
	})
	return x, err
}

func (x *ipIndex) find(key string) (string, bool, error) {
	if key == "*" {
		if x.star != nil {
			return x.star.value, true, nil
		}
		return "", false, nil
	}
	a, err := parseIPLookupKey(key)
	if err != nil {
		// File.Lookup has checked the key already.
		return "", false, fmt.Errorf("%w: %q is not an IP address", ErrInvalidKey, key)
	}
	lens, off := x.v4, 0
	if a.Is6() {
		lens, off = x.v6, 64
	}
	var best ipEntry
	for _, l := range lens {
		p, err := a.Prefix(l)
		if err != nil {
			continue
		}
		if e, ok := x.byLen[l+off][p]; ok && (best.pos == 0 || e.pos < best.pos) {
			best = e
		}
	}
	if best.pos == 0 {
		return "", false, nil
	}
	return best.value, true, nil
}
