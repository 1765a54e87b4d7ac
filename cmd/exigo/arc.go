package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exigo-mta/exigo/arc"
)

const arcUsage = `usage:
  exigo arc verify [--dns-file F] < MESSAGE
      prints arc=STATE, reason=..., domains=d1:d2:..., oldest_pass=N
  exigo arc sign --admd ID --selector S [--domain D] --key FILE
      [--timestamp T] [--expire[=N|+N]] [--headers h1:h2:...] [--dns-file F]
      < MESSAGE   writes the message with a new ARC set prepended
--dns-file F holds lines "name TXT-value" and replaces DNS.
`

// runArc implements "exigo arc".
func runArc(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return arcMain(ctx, args, os.Stdin, stdout, stderr)
}

func arcMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, arcUsage)
		return 2
	}
	switch args[0] {
	case "verify":
		return arcVerify(ctx, args[1:], stdin, stdout, stderr)
	case "sign":
		return arcSign(ctx, args[1:], stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "exigo arc: unknown subcommand %q\n%s", args[0], arcUsage)
	return 2
}

func loadResolver(file string) (arc.TXTResolver, error) {
	if file == "" {
		return nil, nil // net.DefaultResolver
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return arc.ParseDNSFile(f)
}

func arcVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("exigo arc verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dnsFile := fs.String("dns-file", "", "file of `name TXT-value` lines replacing DNS")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprint(stderr, arcUsage)
		return 2
	}
	r, err := loadResolver(*dnsFile)
	if err != nil {
		fmt.Fprintf(stderr, "exigo arc verify: %v\n", err)
		return 1
	}
	v := &arc.Verifier{Resolver: r}
	res, err := v.Verify(ctx, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "exigo arc verify: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "arc=%s\nreason=%s\ndomains=%s\noldest_pass=%d\n",
		res.State, res.Reason, strings.Join(res.Domains, ":"), res.OldestPass)
	return 0
}

// expireFlag is --expire[=N|+N]: alone, now + 30 days; N, an absolute
// Unix time; +N, N seconds from the signing time.
type expireFlag struct {
	set      bool
	at       int64
	relative time.Duration
}

func (e *expireFlag) IsBoolFlag() bool { return true }
func (e *expireFlag) String() string   { return "" }
func (e *expireFlag) Set(s string) error {
	e.set = true
	switch {
	case s == "true":
		e.relative = arc.DefaultExpire
	case strings.HasPrefix(s, "+"):
		n, err := strconv.ParseUint(s[1:], 10, 31)
		if err != nil || n == 0 {
			return fmt.Errorf("bad relative expiry %q", s)
		}
		e.relative = time.Duration(n) * time.Second
	default:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("bad expiry time %q", s)
		}
		e.at = n
	}
	return nil
}

func arcSign(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("exigo arc sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admd := fs.String("admd", "", "authserv-id of our Authentication-Results fields")
	selector := fs.String("selector", "", "selector (s=)")
	domain := fs.String("domain", "", "signing domain (d=); default the ADMD")
	keyFile := fs.String("key", "", "private key file (PEM RSA or Ed25519)")
	ts := fs.Int64("timestamp", 0, "signing time t= (Unix seconds); default now")
	headers := fs.String("headers", "", "colon-separated fields for the AMS h=")
	dnsFile := fs.String("dns-file", "", "file of `name TXT-value` lines replacing DNS")
	var exp expireFlag
	fs.Var(&exp, "expire", "add x=: alone now+30 days, =N absolute, =+N relative")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *admd == "" || *selector == "" || *keyFile == "" {
		fmt.Fprint(stderr, arcUsage)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "exigo arc sign: %v\n", err)
		return 1
	}
	keyData, err := os.ReadFile(*keyFile)
	if err != nil {
		return fail(err)
	}
	key, err := arc.ParseKey(keyData)
	if err != nil {
		return fail(err)
	}
	r, err := loadResolver(*dnsFile)
	if err != nil {
		return fail(err)
	}
	s := &arc.Signer{ADMD: *admd, Domain: *domain, Selector: *selector, Key: key,
		Timestamps: true, Verifier: &arc.Verifier{Resolver: r}}
	if *ts != 0 {
		t := time.Unix(*ts, 0)
		s.Now = func() time.Time { return t }
	}
	if *headers != "" {
		s.Headers = strings.Split(*headers, ":")
	}
	if exp.at != 0 {
		s.ExpireAt = time.Unix(exp.at, 0)
	}
	s.Expire = exp.relative
	msg, err := io.ReadAll(stdin)
	if err != nil {
		return fail(err)
	}
	br := bufio.NewReader(bytes.NewReader(msg))
	h, err := arc.ReadHeader(br, 0)
	if err != nil {
		return fail(err)
	}
	fields, err := s.Sign(ctx, h, br)
	if err != nil {
		return fail(err)
	}
	out := fields.Bytes()
	if i := bytes.IndexByte(msg, '\n'); i >= 0 && (i == 0 || msg[i-1] != '\r') {
		out = bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
	}
	if _, err := stdout.Write(append(out, msg...)); err != nil {
		return fail(err)
	}
	return 0
}
