package spool

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// IDFormat selects the message ID format a spool allocates.
type IDFormat int

const (
	// IDLong is the 23-character format of Exim 4.97 and later:
	// tttttt-ppppppppppp-ffff (time, process ID, microseconds).
	IDLong IDFormat = iota
	// IDShort is the 16-character format of Exim 4.96 and earlier:
	// tttttt-pppppp-ff (time, process ID, 1/2000 s). Exim 4.96 ignores
	// long IDs in its spool, so a spool shared with it must use IDShort.
	IDShort
)

// String returns "long" or "short".
func (f IDFormat) String() string {
	if f == IDShort {
		return "short"
	}
	return "long"
}

// Len returns the length of an ID in this format: 23 or 16.
func (f IDFormat) Len() int {
	if f == IDShort {
		return 16
	}
	return 23
}

// Layout of the two formats: lengths of the pid and fraction parts and
// the resolution of the fraction.
func (f IDFormat) pidLen() int {
	if f == IDShort {
		return 6
	}
	return 11
}

func (f IDFormat) fracLen() int {
	if f == IDShort {
		return 2
	}
	return 4
}

// resolution is the length of one fraction unit.
func (f IDFormat) resolution() time.Duration {
	if f == IDShort {
		return 500 * time.Microsecond
	}
	return time.Microsecond
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendBase62 appends v in base 62, zero-padded (and truncated) to n digits.
func appendBase62(b []byte, v uint64, n int) []byte {
	start := len(b)
	for range n {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= start; i-- {
		b[i] = base62[v%62]
		v /= 62
	}
	return b
}

func b62digit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

func parseBase62(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := b62digit(s[i])
		if d < 0 {
			return 0, false
		}
		// 11 digits of base 62 exceed 2^64 only above 62^11 > 2^65: check.
		hi := v * 62
		if hi/62 != v || hi+uint64(d) < hi {
			return 0, false
		}
		v = hi + uint64(d)
	}
	return v, true
}

// ErrBadID is returned (wrapped) by [ParseID] for a malformed message ID.
var ErrBadID = errors.New("spool: bad message ID")

// IDInfo is what a message ID says.
type IDInfo struct {
	Format IDFormat
	// Time is when reception started, to the ID's resolution (500 µs for
	// the short format, 1 µs for the long one). A fraction beyond one
	// second (IDs of hosts with Exim's localhost_number) is ignored.
	Time time.Time
	// PID is the process ID field.
	PID uint64
	// Frac is the raw fraction field.
	Frac uint64
}

// ParseID parses a message ID in either format.
func ParseID(id string) (IDInfo, error) {
	var f IDFormat
	switch len(id) {
	case 23:
		f = IDLong
	case 16:
		f = IDShort
	default:
		return IDInfo{}, fmt.Errorf("%w %q: length %d", ErrBadID, id, len(id))
	}
	p := 6 + 1 + f.pidLen()
	if id[6] != '-' || id[p] != '-' {
		return IDInfo{}, fmt.Errorf("%w %q: missing '-'", ErrBadID, id)
	}
	sec, ok1 := parseBase62(id[:6])
	pid, ok2 := parseBase62(id[7:p])
	frac, ok3 := parseBase62(id[p+1:])
	if !ok1 || !ok2 || !ok3 {
		return IDInfo{}, fmt.Errorf("%w %q: not base 62", ErrBadID, id)
	}
	t := time.Unix(int64(sec), 0)
	if us := frac * uint64(f.resolution()/time.Microsecond); us < 1e6 {
		t = t.Add(time.Duration(us) * time.Microsecond)
	}
	return IDInfo{Format: f, Time: t, PID: pid, Frac: frac}, nil
}

// ValidID reports whether id is a well-formed message ID in either format.
func ValidID(id string) bool {
	_, err := ParseID(id)
	return err == nil
}

// FormatID returns the ID of the given format for a message received at t
// by process pid. It does not make the ID unique: a [Spool] does that.
func FormatID(f IDFormat, t time.Time, pid uint64) string {
	b := make([]byte, 0, 23)
	b = appendBase62(b, uint64(t.Unix()), 6)
	b = append(b, '-')
	b = appendBase62(b, pid, f.pidLen())
	b = append(b, '-')
	frac := uint64(t.Nanosecond()) / uint64(f.resolution())
	b = appendBase62(b, frac, f.fracLen())
	return string(b)
}

// idGen allocates IDs that are unique within one process: every ID takes
// its own clock tick (500 µs or 1 µs), never one handed out before, and
// the ID is only returned once the clock has passed that tick, so a later
// process that reuses the pid cannot produce it again (Exim waits for the
// tick the same way). Above one ID per tick the callers wait for the
// clock: the short format allows at most 2,000 IDs per second and process,
// the long one 1,000,000.
type idGen struct {
	format IDFormat
	pid    uint64
	now    func() time.Time

	mu   sync.Mutex
	last int64 // last tick handed out
}

func (g *idGen) tick(t time.Time) int64 {
	return t.UnixNano() / int64(g.format.resolution())
}

func (g *idGen) next() (string, time.Time) {
	now := g.now()
	g.mu.Lock()
	t := g.tick(now)
	if t <= g.last {
		t = g.last + 1
	}
	g.last = t
	g.mu.Unlock()

	res := int64(g.format.resolution())
	// Wait until the clock has passed tick t.
	for {
		cur := g.tick(g.now())
		if cur > t {
			break
		}
		wait := time.Duration((t+1)*res - g.now().UnixNano())
		if wait > 200*time.Microsecond {
			time.Sleep(wait)
		} else {
			runtime.Gosched()
		}
	}
	at := time.Unix(0, t*res)
	return FormatID(g.format, at, g.pid), at
}
