package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/exigo-mta/exigo/srs"
)

const srsUsage = `usage:
  exigo srs encode --secret S --return-path ADDR --domain D [--time UNIX]
        Exim's ${srs_encode}: print the SRS0 address
  exigo srs decode --secret S [--time UNIX] LOCALPART_OR_ADDRESS
        Exim's inbound_srs: print the original address, or exit 1
  exigo srs forward --secret S [--secret OLD]... [options] SENDER ALIAS
        full SRS (Mail::SRS, postsrsd): print the SRS0/SRS1 address
  exigo srs reverse --secret S [--secret OLD]... [options] ADDRESS
        full SRS: print the address an SRS0/SRS1 address stands for
options of forward and reverse:
  --hash-length N  --hash-min N  --max-age DAYS  --separator =|+|-
  --no-hash  --no-timestamp  --always-rewrite  --time UNIX
`

// runSrs implements "exigo srs".
func runSrs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, srsUsage)
		return 2
	}
	switch args[0] {
	case "encode":
		return srsEncode(args[1:], stdout, stderr)
	case "decode":
		return srsDecode(args[1:], stdout, stderr)
	case "forward", "reverse":
		return srsFull(ctx, args[0], args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, srsUsage)
		return 0
	}
	fmt.Fprintf(stderr, "exigo srs: unknown subcommand %q\n%s", args[0], srsUsage)
	return 2
}

// unixTime is a --time flag: seconds since the epoch, default now.
type unixTime struct{ t time.Time }

func (u *unixTime) String() string { return fmt.Sprint(u.t.Unix()) }
func (u *unixTime) Set(s string) error {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return fmt.Errorf("not a Unix time: %q", s)
	}
	u.t = time.Unix(n, 0)
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func newSrsFlags(name string, stderr io.Writer) (*flag.FlagSet, *unixTime) {
	fs := flag.NewFlagSet("exigo srs "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, srsUsage) }
	now := &unixTime{t: time.Now()}
	fs.Var(now, "time", "the time as a Unix time (default now)")
	return fs, now
}

func srsEncode(args []string, stdout, stderr io.Writer) int {
	fs, now := newSrsFlags("encode", stderr)
	secret := fs.String("secret", "", "the secret")
	rp := fs.String("return-path", "", "the return path to rewrite")
	domain := fs.String("domain", "", "the forwarding domain")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *domain == "" {
		if err == nil {
			fmt.Fprint(stderr, srsUsage)
		}
		return 2
	}
	out, err := srs.Native{Secret: *secret}.Encode(*rp, *domain, now.t)
	if err != nil {
		fmt.Fprintf(stderr, "exigo srs encode: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, out)
	return 0
}

func srsDecode(args []string, stdout, stderr io.Writer) int {
	fs, now := newSrsFlags("decode", stderr)
	secret := fs.String("secret", "", "the secret (empty: check the syntax only, as Exim does)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		if err == nil {
			fmt.Fprint(stderr, srsUsage)
		}
		return 2
	}
	lp := fs.Arg(0)
	if i := strings.LastIndexByte(lp, '@'); i >= 0 {
		lp = lp[:i]
		if len(lp) >= 2 && lp[0] == '"' && lp[len(lp)-1] == '"' {
			lp = lp[1 : len(lp)-1]
		}
	}
	rcpt, err := srs.Native{Secret: *secret}.Check(lp, now.t)
	if err != nil {
		fmt.Fprintf(stderr, "exigo srs decode: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, rcpt)
	return 0
}

func srsFull(ctx context.Context, op string, args []string, stdout, stderr io.Writer) int {
	fs, now := newSrsFlags(op, stderr)
	var s srs.SRS
	var secrets stringList
	fs.Var(&secrets, "secret", "a secret; repeat for old secrets (the first signs, all verify)")
	fs.IntVar(&s.HashLength, "hash-length", srs.DefaultHashLength, "hash characters written")
	fs.IntVar(&s.HashMin, "hash-min", 0, "shortest hash accepted (default: hash-length)")
	fs.IntVar(&s.MaxAge, "max-age", srs.DefaultMaxAge, "maximum age in days")
	sep := fs.String("separator", "=", "separator after SRS0/SRS1: =, + or -")
	fs.BoolVar(&s.NoHash, "no-hash", false, "write no hash and verify none (usehash = false)")
	fs.BoolVar(&s.NoTimestamp, "no-timestamp", false, "write no timestamp and check none")
	fs.BoolVar(&s.AlwaysRewrite, "always-rewrite", false, "rewrite senders of the alias domain too")
	want := 1
	if op == "forward" {
		want = 2
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != want {
		if err == nil {
			fmt.Fprint(stderr, srsUsage)
		}
		return 2
	}
	if len(*sep) != 1 || !strings.Contains("=+-", *sep) {
		fmt.Fprintf(stderr, "exigo srs %s: separator must be =, + or -\n", op)
		return 2
	}
	s.Separator = (*sep)[0]
	s.Secrets = secrets
	var out string
	var err error
	if op == "forward" {
		out, err = s.Forward(ctx, fs.Arg(0), fs.Arg(1), now.t)
	} else {
		out, err = s.Reverse(ctx, fs.Arg(0), now.t)
	}
	if err != nil {
		fmt.Fprintf(stderr, "exigo srs %s: %v\n", op, err)
		return 1
	}
	fmt.Fprintln(stdout, out)
	return 0
}
