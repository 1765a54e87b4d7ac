// Command exigo is the command-line tool of the exigo mail-pipeline
// library: subcommands over its packages for operators and for black-box
// tests.
//
// Usage:
//
//	exigo COMMAND [ARGS...]
//
// Run "exigo help" for the list of commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// command is one subcommand: it gets the arguments after its name and
// returns the exit status.
type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	summary string
}

// commands maps subcommand names to their implementations. To add one,
// add an entry here and put its code in its own file.
var commands = map[string]command{
	"spool":  {runSpool, "inspect an Exim-format spool (ls, show)"},
	"arc":    {runArc, "verify or add an ARC set (RFC 8617) on a message"},
	"srs":    {runSrs, "Sender Rewriting Scheme (encode, decode, forward, reverse)"},
	"lookup": {runLookup, "LMDB lookup files (lmdb load, get, dump)"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand; it is main without the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "exigo: unknown command %q (run \"exigo help\")\n", args[0])
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: exigo COMMAND [ARGS...]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}
