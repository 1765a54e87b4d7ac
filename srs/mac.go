package srs

import (
	"crypto/md5"
	"crypto/sha1"
)

// hmacMD5 and hmacSHA1 compute RFC 2104 HMACs over the concatenation of
// parts. They use the one-shot Sum functions on a buffer that stays on
// the stack for the usual sizes, so that a check costs no allocation;
// crypto/hmac allocates two hash states per call.

const macBlock = 64 // MD5 and SHA-1 block size

func macKey(secret []byte, sum func([]byte) []byte) [macBlock]byte {
	var k [macBlock]byte
	if len(secret) > macBlock {
		copy(k[:], sum(secret))
	} else {
		copy(k[:], secret)
	}
	return k
}

// macInput builds pad||parts, with every part in ASCII lower case when
// lower is set.
func macInput(buf []byte, k *[macBlock]byte, pad byte, lower bool, parts ...string) []byte {
	for _, c := range k {
		buf = append(buf, c^pad)
	}
	for _, p := range parts {
		if !lower {
			buf = append(buf, p...)
			continue
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf = append(buf, c)
		}
	}
	return buf
}

func hmacMD5(secret []byte, lower bool, parts ...string) [md5.Size]byte {
	k := macKey(secret, func(b []byte) []byte { s := md5.Sum(b); return s[:] })
	var stack [512]byte
	inner := md5.Sum(macInput(stack[:0], &k, 0x36, lower, parts...))
	outer := macInput(stack[:0], &k, 0x5c, false)
	outer = append(outer, inner[:]...)
	return md5.Sum(outer)
}

func hmacSHA1(secret []byte, lower bool, parts ...string) [sha1.Size]byte {
	k := macKey(secret, func(b []byte) []byte { s := sha1.Sum(b); return s[:] })
	var stack [512]byte
	inner := sha1.Sum(macInput(stack[:0], &k, 0x36, lower, parts...))
	outer := macInput(stack[:0], &k, 0x5c, false)
	outer = append(outer, inner[:]...)
	return sha1.Sum(outer)
}
