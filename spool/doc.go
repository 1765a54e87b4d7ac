// Package spool stores messages in an Exim-compatible spool directory, so
// that exigo and Exim can share one queue: Exim lists, delivers and
// removes what exigo spooled, and exigo reads what Exim spooled.
//
// It implements the Exim specification's chapter "Format of spool files"
// (57 in the 4.96 edition) as Exim 4.96 writes and reads it:
//
//   - Message IDs in both formats ([ParseID]): the 16-character one of
//     Exim 4.96 and earlier (tttttt-pppppp-ff, fraction in 1/2000 s) and
//     the 23-character one of Exim 4.97+ (tttttt-ppppppppppp-ffff,
//     microseconds), base 62. Exim 4.96 ignores long IDs, so a spool it
//     shares must be opened [WithIDFormat](IDShort).
//   - input/ with optional split directories ([WithSplit]; input/X/
//     where X is the sixth character of the ID), -D files ("<id>-D" line,
//     then the body with LF line ends), -H files ([HeaderFile]: the four
//     fixed lines, the dash variables, tainted "--" ones included, the
//     non-recipients tree, the recipients with their DSN and errors_to
//     suffix, the "%03d%c " header lines), and -J journals.
//   - Exim's per-message lock: a write lock on the first line of the -D
//     file ([Spool.Lock]), so an Exim queue runner and exigo never deliver
//     one message at the same time.
//
// # Durability and group commit
//
// [Draft.Commit] returns only when the -D and -H files are on disk under
// their final names: the files are written under temporary names
// ("<id>-D.tmp", "<id>-H.tmp", which Exim ignores), their data is synced,
// they are renamed (-D first) and the directory is synced. Concurrent
// Commits share these steps: the first one leads a batch that takes
// every Commit waiting, syncs all their data with one syncfs(2), renames
// and syncs each directory once. A crash leaves either a complete
// message or temporary files that no reader takes for a message
// ([Spool.Tidy] removes them).
//
// The delivery side shares its syncs too: [Lock.AddDelivered] (a -J
// journal line) and [Lock.Dequeue] (the removal of a delivered
// message's -H file) each make their change and then wait for a batch
// that started after it: the batch fdatasyncs the journals written and
// fsyncs each directory changed once, and the calls of all Locks
// arriving while one batch runs make up the next one.
// [Lock.Remove] syncs nothing: its caller removes only messages whose
// recipients are all recorded as done, which a crash cannot undo.
//
// # Differences from Exim
//
//   - Exim creates the -D file under its final name while receiving;
//     exigo uses a temporary name, so a -D file never exists without
//     having been complete.
//   - Exim keeps an ORCPT only when NOTIFY flags are set; exigo writes
//     the long recipient form whenever ORCPT, NOTIFY or errors_to is set.
//     ENVID and ORCPT are stored xtext-encoded, as Exim does; the
//     exigo.Message carries them decoded.
//   - exigo adds dash lines of its own (-exigo_body, -exigo_requiretls,
//     -exigo_size, -exigo_session); Exim ignores unknown dash lines (and
//     drops them when it rewrites the file).
//   - The reader is stricter than Exim's where Exim would silently
//     misread: a -D file must start with its ID line, a header must end
//     with a newline; every error names the file and line
//     ([FormatError]). It enforces size limits ([Limits]).
//   - The lock is an open-file-description lock (F_OFD_SETLK), which
//     also excludes a second Lock in the same process; it conflicts with
//     Exim's classic fcntl locks as usual.
package spool
