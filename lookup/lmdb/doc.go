// Package lmdb implements Exim's lmdb lookup (Exim specification,
// section 9.3 "Single-key lookup types": lmdb) on
// github.com/PowerDNS/lmdb-go (cgo, LMDB 0.9): single-key lookups in an
// LMDB environment, plus a writer that Exim does not have.
//
// [Open] takes a path: a file is opened as a single-file environment
// (MDB_NOSUBDIR, with its lock file beside it as "PATH-lock"), a
// directory as an environment directory (data.mdb and lock.mdb). The
// unnamed main database is used unless [WithDatabase] names a
// sub-database. A DB is read-only (MDB_RDONLY, as Exim opens it) unless
// [Writable] is given.
//
// # Concurrency and replaced files
//
// LMDB readers never block writers nor each other: a lookup sees the
// last committed transaction, also of other processes. Lookups reuse
// read-only transactions (MDB_NOTLS, which lmdb-go always sets, lets them
// move between threads), kept in slots claimed without a lock: while
// nothing has been committed since a transaction began (its id is the
// last transaction id in the file's meta pages, two memory loads) it is
// used as it is, so a lookup then costs one mdb_get; after a commit it
// is renewed first. A transaction left idle on an old snapshot is reset
// within a second, so that it does not keep writers from reusing pages.
// [DB.LookupBytes] appends the value to a caller's buffer and allocates
// nothing.
//
// [WithCache] adds an in-process cache of results, checked before LMDB
// and valid while the last transaction id and the file stay the same: a
// hit is a hash, a few memory loads and a copy.
//
// All DBs of one file in a process share one environment (with
// hints/lmdb's too, through internal/lmdbenv): LMDB's locks belong to
// the process, and two environments on one file in one process would
// release each other's locks. The options of the first Open of a file
// apply to the environment. A timer marks a check due every
// [CheckInterval] (default one second); the next lookup then stats the
// file, and when its device or inode changed (it was replaced by
// rename), the old environment is closed once its lookups finish and
// the new file is opened. The lock file is not
// replaced with the data file, so whoever replaces a file should do it
// while no other process holds the old one open, or remove the old lock
// file too; rewriting in place (a writer, mdb_load, python3-lmdb) needs
// no such care. A writable DB grows its map by doubling when a write
// finds it full, up to [WithMaxMapSize], and adopts a map grown by
// another process.
//
// # Text format
//
// [DB.Load] and [TextReader] read what `mdb_load -T` reads; [DB.Dump]
// writes what `mdb_dump -p` writes (see [TextReader] and [AppendText]
// for the escapes and the differences).
//
// # Differences from Exim
//
// Exim returns a value up to its first NUL byte (it treats the data as a
// C string); this package returns the exact bytes stored. Exim can only
// read; this package also writes. An empty key, or one longer than
// LMDB's limit (511 bytes), is not found, since LMDB cannot store it
// (mdb_get fails with MDB_BAD_VALSIZE there). A missing sub-database is
// an error of [Open], and a missing file too.
package lmdb
