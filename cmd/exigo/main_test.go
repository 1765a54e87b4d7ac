package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eximH is a -H file as Exim 4.96 writes it, with one delivered
// recipient.
const eximH = "1xUm73-0002GW-0X-H\n" +
	"root 0 0\n" +
	"<s@example.org>\n" +
	"1795271445 0\n" +
	"-received_time_usec .166919\n" +
	"--helo_name client.example\n" +
	"--host_address [192.0.2.1]:4567\n" +
	"-received_protocol esmtp\n" +
	"-aclm _foo 11\n" +
	"hello world\n" +
	"-body_linecount 1\n" +
	"-frozen 1795271500\n" +
	"-dsn_ret 2\n" +
	"NN r2@example.com\n" +
	"2\n" +
	"r1@example.com rfc822;x+2By@example.com 24,12  0,-1#3\n" +
	"r2@example.com\n" +
	"\n" +
	"013* Subject: old\n" +
	"011  Subject: t\n"

func writeSpool(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "input")
	os.MkdirAll(in, 0o750)
	os.WriteFile(filepath.Join(in, "1xUm73-0002GW-0X-H"), []byte(eximH), 0o640)
	os.WriteFile(filepath.Join(in, "1xUm73-0002GW-0X-D"), []byte("1xUm73-0002GW-0X-D\nbody\n"), 0o640)
	h2 := strings.NewReplacer("1xUm73-0002GW-0X", "1xUm70-0002GW-0X", "1795271445", "1795000000", "-frozen 1795271500\n", "", "NN r2@example.com\n", "XX\n").Replace(eximH)
	os.WriteFile(filepath.Join(in, "1xUm70-0002GW-0X-H"), []byte(h2), 0o640)
	os.WriteFile(filepath.Join(in, "1xUm70-0002GW-0X-D"), []byte("1xUm70-0002GW-0X-D\n"+strings.Repeat("a", 20000)), 0o640)
	return dir
}

func TestSpoolLs(t *testing.T) {
	t.Parallel()
	dir := writeSpool(t)
	// A corrupt message is reported and makes the status 1.
	os.WriteFile(filepath.Join(dir, "input", "1xUm75-0002GW-0X-H"), []byte("1xUm75-0002GW-0X-H\nroot 0 0\n<x>\n"), 0o640)
	var out, errb bytes.Buffer
	now := func() time.Time { return time.Unix(1795271445+125, 0) }
	code := spoolLs(context.Background(), []string{dir}, &out, &errb, now)
	want := " 3d   20K 1xUm70-0002GW-0X <s@example.org>\n" +
		"          r1@example.com\n" +
		"          r2@example.com\n" +
		"\n" +
		" 2m    17 1xUm73-0002GW-0X <s@example.org> *** frozen ***\n" +
		"          r1@example.com\n" +
		"        D r2@example.com\n" +
		"\n" +
		"1xUm75-0002GW-0X *** spool read error: spool: input/1xUm75-0002GW-0X-H line 4: unexpected end of file ***\n\n"
	if code != 1 || out.String() != want || errb.String() != "" {
		t.Errorf("code %d, stderr %q, stdout:\n%s", code, errb.String(), out.String())
	}
}

func TestSpoolShow(t *testing.T) {
	t.Parallel()
	dir := writeSpool(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"spool", "show", dir, "1xUm73-0002GW-0X"}, &out, &errb)
	want := `ID:          1xUm73-0002GW-0X
Received:    2026-11-21 14:30:45.166919 +0000
Originator:  root 0 0
Sender:      <s@example.org>
Size:        17
Warnings:    0
Frozen:      2026-11-21 14:31:40 +0000
Variables:
  -received_time_usec .166919
  --helo_name client.example
  --host_address [192.0.2.1]:4567
  -received_protocol esmtp
  -aclm _foo = "hello world"
  -body_linecount 1
  -frozen 1795271500
  -dsn_ret 2
Recipients:
    r1@example.com ORCPT=rfc822;x+2By@example.com NOTIFY=SUCCESS,FAILURE
  D r2@example.com
Header:
013* Subject: old
011  Subject: t
`
	if code != 0 || out.String() != want {
		t.Errorf("code %d, stderr %q, stdout:\n%s", code, errb.String(), out.String())
	}
	out.Reset()
	errb.Reset()
	code = run(context.Background(), []string{"spool", "show", dir, "1xUm74-0002GW-0X"}, &out, &errb)
	if code != 1 || errb.String() != "exigo spool show: spool: no such message: 1xUm74-0002GW-0X\n" {
		t.Errorf("missing message: %d %q", code, errb.String())
	}
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"nope"}, &out, &errb); code != 2 || errb.String() != "exigo: unknown command \"nope\" (run \"exigo help\")\n" {
		t.Errorf("unknown: %d %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"help"}, &out, &errb); code != 0 || out.String() != "usage: exigo COMMAND [ARGS...]\n\ncommands:\n  arc        verify or add an ARC set (RFC 8617) on a message\n  lookup     LMDB lookup files (lmdb load, get, dump)\n  spool      inspect an Exim-format spool (ls, show)\n  srs        Sender Rewriting Scheme (encode, decode, forward, reverse)\n" {
		t.Errorf("help: %d %q", code, out.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"spool", "ls"}, &out, &errb); code != 2 || errb.String() != spoolUsage {
		t.Errorf("spool ls without dir: %d %q", code, errb.String())
	}
}
