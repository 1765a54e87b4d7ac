// Package lookup defines the Lookup interface: single-key lookups in a data
// source, with Exim's semantics (Exim specification, chapter 9 "File and
// database lookups"). Not found is not an error; an error means the source
// could not be consulted and the caller should defer.
//
// Besides the interface and its adapters (Func, Map), the package
// implements Exim's single-key file lookups of section 9.3:
//
//   - [LSearch]: lsearch, a text file of "key: data" lines;
//   - [WildLSearch], [NWildLSearch]: the same with wildcard keys
//     ("*suffix", "^regexp", "!pattern");
//   - [IPLSearch]: iplsearch, whose keys are IP addresses and CIDR
//     networks (IPv4 and IPv6), looked up by address;
//   - [DSearch]: dsearch, a directory searched for an entry by name, with
//     Exim 4.96's ret=full and filter= options.
//
// [Open] builds any of them from Exim's "type;argument" notation. The
// decorations Exim adds to lookup types (partial matching "partial-",
// defaults "*" and "*@", "net-" keys in host lists) belong to the caller.
//
// # File format
//
// An lsearch file holds one entry per line: a key, optional white space,
// an optional colon, and the data, which is the rest of the line with
// leading and trailing white space removed. A key ends at the first colon
// or white space; a key that begins with a double quote ends at the
// closing quote and may use the backslash escapes of Exim's quoted
// strings (\\ \" \n \t \r \b \f \v, octal \ddd and hexadecimal \xhh), so
// it can hold colons and white space. Keys are compared case-insensitively
// (ASCII letters only) and the first entry with a key wins. A line that
// begins with white space continues the data of the entry above: the
// continuation is appended after one space (not a newline), whatever white
// space began it. Lines that are empty, or hold only white space, or begin
// with "#" are ignored; as Exim 4.96 does (though its specification says
// otherwise), such a line also ends the data of the entry above it, so
// continuation lines after it are dropped. For example
//
//	postmaster:   root,
//	              hostmaster
//	"a key: with colon"  data
//
// gives "root, hostmaster" for the key POSTMASTER and "data" for the key
// "a key: with colon".
//
// # Caching
//
// A file is read and indexed once, on the first lookup (or by
// [File.Load]): lsearch into a hash map; wildlsearch into a slice kept in
// file order, with a hash map for its literal keys so that a lookup tries
// only the patterns above the first matching literal; iplsearch into one
// hash map of networks per mask length, so that a lookup costs one probe
// per mask length used in the file, whatever its size. A
// lookup stats the file again when [DefaultCheckInterval] (see
// [CheckInterval]) has passed since the last check, and re-reads it when
// its device, inode, size, modification time or change time differ, so
// both replacing a file by rename and rewriting it in place are noticed.
// A File is safe for concurrent use; reads never block on a reload
// except while one is under way. Memory is bounded by [MaxFileSize]
// (the whole file is kept) and [MaxLineLength]; a file over either limit
// fails every lookup with an error naming the file (and line).
//
// # Differences from Exim
//
//   - Trailing white space is removed from the last line even when it has
//     no final newline (Exim keeps it there).
//   - NUL bytes are ordinary characters (Exim's line reader stops at
//     them and mis-reads the rest of such a line).
//   - WildLSearch does not string-expand keys: there is no expansion
//     language here. It is the same as NWildLSearch.
//   - Regular expressions in wildcard keys use Go's RE2 syntax, not PCRE:
//     no back references or look-around, and "$" matches only at the end
//     of the key. A key that does not compile fails the lookups that
//     reach its line, with the file and line named (as Exim does).
//   - A (n)wildlsearch key that is a nested lookup ("cdb;/file") or a
//     file of list items ("/file") fails the lookups that reach it with
//     ErrUnsupported; Exim performs them.
//   - iplsearch rejects keys that Exim's parser lets through by accident:
//     "192.0.2.0/" (Exim reads /0 and matches everything) and "/+8". As
//     in Exim, other keys that are not IP addresses (such as "010.1.1.1")
//     are skipped, "*" is only found by the key "*", the lookup key must
//     be an address without a mask (else ErrInvalidKey), IPv4-mapped
//     IPv6 lookup keys are looked up as IPv4, and an IPv6 zone ("%eth0")
//     is ignored. Exim's ret=full option of iplsearch is not implemented.
//   - Exim caches lookup results per process; exigo caches the parsed
//     file and answers each lookup from the index.
package lookup
