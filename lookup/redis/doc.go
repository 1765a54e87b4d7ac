// Package redis implements Exim's redis lookup (Exim specification,
// chapter 9 "File and database lookups", the query-style redis lookup and
// the redis_servers main option; first described in experimental-spec.txt,
// "Redis Lookup") on github.com/redis/go-redis/v9: a lookup whose query is
// one Redis command, such as "SMEMBERS relay_from_ips" or "HGET $domain
// domain".
//
// # Servers
//
// [New] takes the servers in the form of Exim's redis_servers items,
// "host:port/database/password" ([ParseServer]): the port defaults to
// 6379, an empty database is 0 and an empty password means none;
// "host(/path/to/socket)/database/password" connects to a Unix socket
// (the host is then only a label). An Exim redis_servers setting is a
// colon-separated list, "127.0.0.1::6379/0/ : 10.0.0.2::6379/0/" or
// "<; 127.0.0.1:6379/0/ ; 10.0.0.2:6379/0/": acl.SplitList splits it into
// these items. Exim's per-query "servers=" option has no counterpart:
// make one Lookup per server list. Servers are tried in order: a server
// that cannot be reached (connection refused, timeout, I/O error), that
// rejects the password (NOAUTH, WRONGPASS) or that says another server
// should answer (MOVED, ASK, LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN,
// READONLY) makes the lookup go on to the next one; any other answer,
// found, not found or an error reply, ends the lookup.
//
// # Queries
//
// The query is a Redis command and its arguments, separated by white
// space ([SplitQuery]); a backslash makes the character after it part of
// the argument, so "SET my\ key value" sets the key "my key". [Quote]
// (Exim's ${quote_redis:...}) escapes a string that is to be inserted
// into a query as one argument. [Lookup.Do] takes the arguments ready
// split.
//
// # Results
//
//   - a string or status reply is the value (GET, HGET key field, "OK");
//   - an integer reply is its decimal form (EXISTS, SCARD, INCR, TTL);
//   - an array reply (SMEMBERS, LRANGE, HMGET, KEYS) is its elements,
//     one per line joined by "\n" (no newline after the last), nested
//     arrays flattened, nil elements as empty lines and integers in
//     decimal; an empty array is not found;
//   - a nil reply (GET of a missing key) is not found;
//   - an error reply, or an error element in an array, is an error (the
//     caller defers), wrapping the go-redis error (errors.As to
//     redis.Error).
//
// Connections are kept in a pool per server (go-redis's), using RESP2,
// the protocol Exim's hiredis speaks, so replies have the same shape.
// Commands are not retried on the same server: a lookup may be a write
// (INCR, SET), which must not run twice.
//
// # Differences from Exim
//
// Exim 4.96 answers a nil reply with success and an empty value, and a
// top-level integer reply with "true" or "false" (non-zero or zero);
// this package reports nil as not found and gives the integer's digits,
// which lets a lookup tell a missing key from an empty one and read
// counters. [EximCompat] restores Exim's two behaviours. Exim drops the
// arguments after the 32nd and ignores arrays nested more than two
// deep; this package keeps them. Exim writes a nil element at the very
// start of an array reply as nothing at all; here it is an empty line
// like any other nil element. Exim accepts a server item only with both
// slashes ("host/db/password"); this package also accepts "host",
// "host:port" and "host/db", and bracketed IPv6 addresses
// ("[::1]:6379/0/"), and lets a password contain "/".
package redis
