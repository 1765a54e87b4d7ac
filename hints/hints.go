// Package hints defines exigo's hints database: a small persistent
// key-value store for the state that makes mail delivery smarter but can
// be lost without losing mail — retry times (the Retry record), and later
// TLS session tickets, EHLO capabilities, the SRS database and ratelimit
// data. It plays the part of Exim's hints databases (Exim specification,
// chapter 32 "Retry configuration" for the retry database, and the
// "exim_tidydb" and "exim_dumpdb" utilities of chapter 54).
//
// [DB] is the interface: Get, Put with an expiry time, Delete, Range over
// a key prefix in key order, Purge of expired records, and Close. Three
// implementations exist: [Memory], in this package, for tests and
// single-process use without persistence; the LMDB one in package
// github.com/exigo-mta/exigo/hints/lmdb, which is the default on disk; and
// the Redis one in package github.com/exigo-mta/exigo/hints/redis, which
// lets several nodes share retry data, TLS sessions and the SRS database.
// Package hintstest holds the conformance tests every implementation
// passes.
//
// # Differences from Exim
//
// Exim keeps one DBM file per kind of hint (retry, wait-<transport>,
// misc, ...) with a fixed C struct per record, guarded by a separate lock
// file, and lets records age until exim_tidydb removes them. exigo uses
// one database with key prefixes, stores an expiry time with every record
// (expired records are never returned, and Purge removes them), and its
// records are not byte-compatible with Exim's: the two cannot share hints
// files (nothing is lost by that: hints can always be rebuilt).
//
// # Record encoding
//
// Implementations that store bytes (such as the LMDB one) store each
// record as [EncodeRecord] makes it: one version byte (1), then the
// expiry as a big-endian signed 64-bit count of nanoseconds since the Unix
// epoch (0 for no expiry), then the value's bytes.
package hints

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// DB is a hints database. Keys are non-empty strings of at most
// MaxKeyLen bytes, ordered bytewise; values are arbitrary bytes. A record
// whose expiry time has been reached is treated as absent by Get and
// Range, and removed by Purge. Implementations are safe for concurrent
// use by many goroutines, and fn in Range may call the DB's other methods.
type DB interface {
	// Get returns the value stored under key. A missing or expired key
	// is (nil, false, nil). The returned slice is the caller's.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Put stores value under key, replacing any record there, to expire
	// at expiry; the zero time means never. Put copies value.
	Put(ctx context.Context, key string, value []byte, expiry time.Time) error
	// Delete removes key; removing a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Range calls fn for each unexpired record whose key begins with
	// prefix, in increasing key order, until fn returns false. fn owns
	// the value slice it is given. Records that fn (or anyone else) adds
	// or removes during the iteration may or may not be seen.
	Range(ctx context.Context, prefix string, fn func(key string, value []byte, expiry time.Time) bool) error
	// Purge removes the expired records and returns how many it removed.
	Purge(ctx context.Context) (int, error)
	// Close releases the database. Later calls fail with ErrClosed;
	// closing again returns nil.
	Close() error
}

// MaxKeyLen is the longest key a DB accepts, in bytes (LMDB's default
// limit).
const MaxKeyLen = 511

// Errors returned by DB implementations; test for them with errors.Is.
var (
	ErrInvalidKey = errors.New("hints: invalid key")     // empty or longer than MaxKeyLen
	ErrClosed     = errors.New("hints: database closed") // the DB was closed
	ErrCorrupt    = errors.New("hints: corrupt record")  // a stored record cannot be decoded
	ErrFull       = errors.New("hints: database full")   // the database reached its size limit
)

// CheckKey returns an error wrapping ErrInvalidKey for a key a DB does
// not accept.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes (at most %d)", ErrInvalidKey, len(key), MaxKeyLen)
	}
	return nil
}

const (
	recordVersion    = 1
	recordHeaderSize = 9
)

// ExpiryNanos converts an expiry time to the stored form: nanoseconds
// since the Unix epoch, 0 for the zero time (no expiry). Times before
// 1970 become 1 (long expired); times after 2262 saturate.
func ExpiryNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if t.Before(time.Unix(0, 1)) {
		return 1
	}
	if t.After(time.Unix(0, 1<<63-1)) {
		return 1<<63 - 1
	}
	return t.UnixNano()
}

// ExpiryTime converts a stored expiry back: 0 is the zero time.
func ExpiryTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Expired reports whether a record with the stored expiry ns has expired
// at now.
func Expired(ns int64, now time.Time) bool { return ns != 0 && now.UnixNano() >= ns }

// EncodeRecord returns the stored form of a record (see the package
// documentation).
func EncodeRecord(value []byte, expiry time.Time) []byte {
	b := make([]byte, recordHeaderSize+len(value))
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:], uint64(ExpiryNanos(expiry)))
	copy(b[recordHeaderSize:], value)
	return b
}

// DecodeRecord splits a stored record into its value (a sub-slice of b)
// and its expiry in nanoseconds (0 for none). A record that is too short
// or of an unknown version is an error wrapping ErrCorrupt.
func DecodeRecord(b []byte) (value []byte, expiry int64, err error) {
	if len(b) < recordHeaderSize {
		return nil, 0, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != recordVersion {
		return nil, 0, fmt.Errorf("%w: version %d", ErrCorrupt, b[0])
	}
	exp := int64(binary.BigEndian.Uint64(b[1:]))
	if exp < 0 {
		return nil, 0, fmt.Errorf("%w: negative expiry", ErrCorrupt)
	}
	return b[recordHeaderSize:], exp, nil
}
