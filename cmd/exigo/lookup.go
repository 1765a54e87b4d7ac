package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/exigo-mta/exigo/lookup/lmdb"
)

const lookupUsage = `usage:
  exigo lookup lmdb load FILE
        store the records of mdb_load -T text read on stdin (a key line,
        then its value line; \\ and \hh escapes) in FILE, creating it
  exigo lookup lmdb get FILE KEY
        print the value of KEY and a newline, or exit 1 when it is absent
  exigo lookup lmdb dump FILE
        print FILE's records in the format of mdb_dump -p
FILE is a single-file LMDB environment (MDB_NOSUBDIR) and its unnamed
database, as Exim's lmdb lookup opens it.
`

// runLookup implements "exigo lookup".
func runLookup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, lookupUsage)
		return 0
	}
	if len(args) < 2 || args[0] != "lmdb" {
		fmt.Fprint(stderr, lookupUsage)
		return 2
	}
	sub, rest := args[1], args[2:]
	want := map[string]int{"load": 1, "get": 2, "dump": 1}[sub]
	if want == 0 || len(rest) != want {
		fmt.Fprint(stderr, lookupUsage)
		return 2
	}
	return lookupLMDB(ctx, sub, rest, os.Stdin, stdout, stderr)
}

func lookupLMDB(ctx context.Context, sub string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "exigo lookup lmdb %s: %v\n", sub, err)
		return 1
	}
	var opts []lmdb.Option
	if sub == "load" {
		opts = append(opts, lmdb.Writable())
	}
	db, err := lmdb.Open(args[0], opts...)
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	switch sub {
	case "load":
		if _, err := db.Load(ctx, stdin); err != nil {
			return fail(err)
		}
	case "get":
		v, found, err := db.LookupBytes(ctx, []byte(args[1]), nil)
		if err != nil {
			return fail(err)
		}
		if !found {
			return 1
		}
		if _, err := stdout.Write(append(v, '\n')); err != nil {
			return fail(err)
		}
	case "dump":
		if err := db.Dump(ctx, stdout); err != nil {
			return fail(err)
		}
	}
	return 0
}
