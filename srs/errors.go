package srs

import (
	"errors"
	"fmt"
)

// Errors of the decoders. The errors returned wrap one of these with the
// detail; branch with errors.Is.
var (
	// ErrNotSRS: the address does not have the form of an SRS address.
	ErrNotSRS = errors.New("not an SRS address")
	// ErrTimestamp: the timestamp is older than the maximum age, in the
	// future, or malformed.
	ErrTimestamp = errors.New("SRS timestamp expired or invalid")
	// ErrHash: the hash is missing, too short or does not match.
	ErrHash = errors.New("SRS hash invalid")
	// ErrNoSecret: signing or verifying needs at least one secret.
	ErrNoSecret = errors.New("no SRS secret")
	// ErrAddress: an address to encode is malformed.
	ErrAddress = errors.New("malformed address")
	// ErrNotFound: database mode found no address under the key.
	ErrNotFound = errors.New("SRS database key not found")
)

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.err.Error() + ": " + w.msg }
func (w *wrapped) Unwrap() error { return w.err }

func wrapf(err error, format string, args ...any) error {
	return &wrapped{msg: fmt.Sprintf(format, args...), err: err}
}
