package hints

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// RetryPrefix begins the keys of retry records, so that they share a DB
// with other hints: RetryPrefix + "T:mx.example.com:192.0.2.25" holds the
// retry state of a host, RetryPrefix + "R:example.com" that of a routing
// failure, after the fashion of Exim's retry database keys.
const RetryPrefix = "retry:"

// Retry is the retry state of one destination: what Exim's retry
// database holds and exim_dumpdb shows (Exim specification, chapter 32
// "Retry configuration" and section 54.12).
type Retry struct {
	FirstFailed time.Time // the first failure of the current run of failures
	LastTry     time.Time // the latest delivery attempt
	NextTry     time.Time // the computed time of the next attempt
	Expired     bool      // the cutoff of the last retry rule has passed
	Errno       int       // the error code (Exim's basic_errno), int32 range
	MoreErrno   int       // the additional error code, int32 range
	Text        string    // a description of the error
}

const retryHeaderSize = 1 + 3*8 + 1 + 2*4

// MarshalBinary encodes r: a version byte (1); FirstFailed, LastTry and
// NextTry as big-endian signed 64-bit nanoseconds since the Unix epoch (0
// for the zero time); a flags byte (1 = Expired); Errno and MoreErrno as
// big-endian signed 32-bit integers; then the bytes of Text.
func (r Retry) MarshalBinary() ([]byte, error) {
	if r.Errno < math.MinInt32 || r.Errno > math.MaxInt32 || r.MoreErrno < math.MinInt32 || r.MoreErrno > math.MaxInt32 {
		return nil, fmt.Errorf("hints: retry error codes %d, %d out of range", r.Errno, r.MoreErrno)
	}
	b := make([]byte, retryHeaderSize, retryHeaderSize+len(r.Text))
	b[0] = 1
	for i, t := range []time.Time{r.FirstFailed, r.LastTry, r.NextTry} {
		var ns int64
		if !t.IsZero() {
			ns = t.UnixNano()
		}
		binary.BigEndian.PutUint64(b[1+8*i:], uint64(ns))
	}
	if r.Expired {
		b[25] = 1
	}
	binary.BigEndian.PutUint32(b[26:], uint32(int32(r.Errno)))
	binary.BigEndian.PutUint32(b[30:], uint32(int32(r.MoreErrno)))
	return append(b, r.Text...), nil
}

// UnmarshalBinary decodes what MarshalBinary encodes; anything else is
// an error wrapping ErrCorrupt.
func (r *Retry) UnmarshalBinary(b []byte) error {
	if len(b) < retryHeaderSize {
		return fmt.Errorf("%w: retry record of %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != 1 {
		return fmt.Errorf("%w: retry record version %d", ErrCorrupt, b[0])
	}
	if b[25] > 1 {
		return fmt.Errorf("%w: retry record flags %#x", ErrCorrupt, b[25])
	}
	var ts [3]time.Time
	for i := range ts {
		if ns := int64(binary.BigEndian.Uint64(b[1+8*i:])); ns != 0 {
			ts[i] = time.Unix(0, ns)
		}
	}
	*r = Retry{
		FirstFailed: ts[0],
		LastTry:     ts[1],
		NextTry:     ts[2],
		Expired:     b[25] == 1,
		Errno:       int(int32(binary.BigEndian.Uint32(b[26:]))),
		MoreErrno:   int(int32(binary.BigEndian.Uint32(b[30:]))),
		Text:        string(b[retryHeaderSize:]),
	}
	return nil
}

// GetRetry reads the retry record stored under RetryPrefix+key.
func GetRetry(ctx context.Context, db DB, key string) (Retry, bool, error) {
	var r Retry
	b, ok, err := db.Get(ctx, RetryPrefix+key)
	if err != nil || !ok {
		return r, false, err
	}
	if err := r.UnmarshalBinary(b); err != nil {
		return Retry{}, false, fmt.Errorf("%w (key %q)", err, RetryPrefix+key)
	}
	return r, true, nil
}

// PutRetry stores r under RetryPrefix+key until expiry (Exim drops retry
// records that exim_tidydb finds 30 days old; callers choose).
func PutRetry(ctx context.Context, db DB, key string, r Retry, expiry time.Time) error {
	b, err := r.MarshalBinary()
	if err != nil {
		return err
	}
	return db.Put(ctx, RetryPrefix+key, b, expiry)
}
