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
// [Open] builds any of them from Exim's "type;argument" notation.
//
// # Lookup types, ${lookup} and lists
//
// The rest of Exim's lookup semantics (chapter 9, sections 9.2 to 9.7, and
// the "${lookup" expansion item of chapter 11) is split in three small
// pieces, so that each user takes only what it needs:
//
//   - [Spec] is a lookup type with its decorations, as Exim writes it
//     before a source: "partial2(.)lsearch*@,ret=key,cache=no_rd".
//     [ParseSpec] reads that notation; the decorations (partial
//     matching, the "*" and "*@" defaults, ret=key) are implemented once,
//     here, over any [Lookup], in Exim's order: the key; with partial
//     matching the affix followed by the key, then by the key without
//     its first, second ... dot-separated component while at least N
//     components remain, then for partial0 the affix alone (a final dot
//     removed); "*@domain" for a key "local@domain"; "*". [Result]
//     carries the value, the key that was found (such as "*.example.com")
//     and Exim's $1 and $2; [Result.Or], [Result.OrFail] and
//     [Result.Expand] are the three forms of "${lookup{k}t{s}}",
//     "{$value}fail" and "{found}{notfound}".
//   - [Registry] maps type names to openers: the set of lookup types an
//     Exim binary is built with, as a value (no global state, no init
//     registration). [NewRegistry] has the file types of this package;
//     package lookup/lookups adds lmdb, which cannot be registered from
//     here because it imports this package. A type is [SingleKey] (the
//     source names a file, the key is looked up in it) or [QueryStyle]
//     (no source, the key is the query, as for dnsdb and redis: register
//     those with [Registry.RegisterQuery]). The Registry opens each
//     source once and hands out [Source] values (a Spec bound to an
//     opened source, itself a Lookup), which is what a list item
//     "partial-lsearch;/file" compiles to; [Registry.Do] runs a [Query],
//     the Go form of "${lookup{key}spec{source}}".
//   - [Cache] keeps decorated results for one SMTP transaction or one
//     delivery, as Exim keeps lookup results until the end of a message.
//     It travels in the context ([WithCache]) because it is scoped to a
//     request, not to the lookup: lists, conditions and routers that look
//     things up deep down use it without new parameters, and code that
//     does not care passes a context without one. Errors are not cached;
//     "cache=no_rd" reads the source and still stores the result.
//
// Package acl uses Specs and a Registry for the lookup items of domain,
// host, address and local part lists.
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
//     file and answers each lookup from the index, and caches decorated
//     results in a [Cache] only for the scope the caller gives it.
//   - [ParseSpec] rejects what Exim lets through by accident: text after
//     "*" ("lsearch*x" is "lsearch*" in Exim), white space and the
//     characters ";{}" in options. Options it does not know go to the
//     type, whose Opener may reject them (the file types do; Exim
//     ignores unknown options).
//   - After an exact match Result.Fixed is the key; Exim sets $2 to the
//     key only when partial matching was requested. After partial0's
//     final lookup of the affix alone, Result.Wild is the whole key;
//     Exim's $1 lacks its last character (and Exim 4.96 fails an
//     internal check on an empty key there).
package lookup
