package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/spool"
)

const spoolUsage = `usage:
  exigo spool ls DIR        list the messages like exim -bp
  exigo spool show DIR ID   show one message's envelope and header
`

// runSpool implements "exigo spool".
func runSpool(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, spoolUsage)
		return 2
	}
	switch args[0] {
	case "ls":
		return spoolLs(ctx, args[1:], stdout, stderr, time.Now)
	case "show":
		return spoolShow(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "exigo spool: unknown subcommand %q\n%s", args[0], spoolUsage)
	return 2
}

func openSpool(dir string) (*spool.Spool, error) {
	return spool.Open(dir)
}

// spoolLs lists the spool the way exim -bp does: the same bytes for the
// same messages (Exim 4.96 lists only 16-character IDs; this lists both
// formats). A message that cannot be read gets an error line and makes
// the exit status 1.
func spoolLs(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("exigo spool ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprint(stderr, spoolUsage)
		return 2
	}
	s, err := openSpool(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "exigo spool ls: %v\n", err)
		return 1
	}
	ids, err := s.List(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "exigo spool ls: %v\n", err)
		return 1
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	code := 0
	t := now()
	for _, id := range ids {
		e, err := s.Read(id)
		if errors.Is(err, spool.ErrNotFound) {
			continue // delivered and removed since List
		}
		if err != nil {
			fmt.Fprintf(w, "%s *** spool read error: %v ***\n\n", id, err)
			code = 1
			continue
		}
		if err := e.WriteListing(w, t); err != nil {
			fmt.Fprintf(stderr, "exigo spool ls: %v\n", err)
			return 1
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "exigo spool ls: %v\n", err)
		return 1
	}
	return code
}

// spoolShow prints one message's envelope and header.
func spoolShow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("exigo spool show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		fmt.Fprint(stderr, spoolUsage)
		return 2
	}
	s, err := openSpool(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "exigo spool show: %v\n", err)
		return 1
	}
	e, err := s.Read(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "exigo spool show: %v\n", err)
		return 1
	}
	var b strings.Builder
	writeShow(&b, e)
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		fmt.Fprintf(stderr, "exigo spool show: %v\n", err)
		return 1
	}
	return 0
}

func writeShow(b *strings.Builder, e *spool.Entry) {
	field := func(name, value string) { fmt.Fprintf(b, "%-12s %s\n", name+":", value) }
	field("ID", e.ID)
	field("Received", e.ReceivedTime().UTC().Format("2006-01-02 15:04:05.000000 -0700"))
	field("Originator", fmt.Sprintf("%s %d %d", e.Login, e.UID, e.GID))
	field("Sender", "<"+e.Sender+">")
	field("Size", strconv.FormatInt(e.Size(), 10))
	field("Warnings", strconv.Itoa(e.Warnings))
	if frozen, at := e.Frozen(); frozen {
		field("Frozen", at.UTC().Format("2006-01-02 15:04:05 -0700"))
	}
	b.WriteString("Variables:\n")
	for _, v := range e.Vars {
		dash := "-"
		if v.Tainted {
			dash = "--"
		}
		if v.Quoter != "" {
			dash += "(" + v.Quoter + ")"
		}
		fmt.Fprintf(b, "  %s%s", dash, v.Name)
		if v.Value != "" {
			b.WriteString(" " + v.Value)
		}
		if v.Name == "aclc" || v.Name == "aclm" || v.Name == "acl" {
			fmt.Fprintf(b, " = %q", v.Data)
		}
		b.WriteByte('\n')
	}
	b.WriteString("Recipients:\n")
	for _, r := range e.Recipients {
		mark := " "
		if e.Delivered(r.Address) {
			mark = "D"
		}
		fmt.Fprintf(b, "  %s %s", mark, r.Address)
		if r.ORCPT != "" {
			fmt.Fprintf(b, " ORCPT=%s", r.ORCPT)
		}
		if n := exigo.Notify(r.DSNFlags).String(); n != "" {
			fmt.Fprintf(b, " NOTIFY=%s", n)
		}
		if r.ErrorsTo != "" {
			fmt.Fprintf(b, " errors_to=<%s>", r.ErrorsTo)
		}
		if r.PNo >= 0 {
			fmt.Fprintf(b, " parent=%d", r.PNo)
		}
		b.WriteByte('\n')
	}
	extra := false
	for _, a := range append(append([]string(nil), e.NonRecipients...), e.Journal...) {
		found := false
		for _, r := range e.Recipients {
			found = found || r.Address == a
		}
		if !found {
			if !extra {
				b.WriteString("Also delivered:\n")
				extra = true
			}
			fmt.Fprintf(b, "  D %s\n", a)
		}
	}
	b.WriteString("Header:\n")
	for _, h := range e.Headers {
		fmt.Fprintf(b, "%03d%c %s", len(h.Text), h.Flag, h.Text)
	}
}
