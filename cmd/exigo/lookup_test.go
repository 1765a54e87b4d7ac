package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookupLMDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	var out, errb bytes.Buffer
	in := "user@example.com\n:defer: later\nb\\5cs\\\\\nx\\00y\n"
	if code := lookupLMDB(ctx, "load", []string{path}, strings.NewReader(in), &out, &errb); code != 0 {
		t.Fatalf("load: %d %s", code, errb.String())
	}
	out.Reset()
	if code := lookupLMDB(ctx, "get", []string{path, "user@example.com"}, nil, &out, &errb); code != 0 || out.String() != ":defer: later\n" {
		t.Errorf("get: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := lookupLMDB(ctx, "get", []string{path, `b\s\`}, nil, &out, &errb); code != 0 || out.String() != "x\x00y\n" {
		t.Errorf("get escaped: %d %q", code, out.String())
	}
	out.Reset()
	if code := lookupLMDB(ctx, "get", []string{path, "absent"}, nil, &out, &errb); code != 1 || out.String() != "" || errb.String() != "" {
		t.Errorf("get absent: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := lookupLMDB(ctx, "dump", []string{path}, nil, &out, &errb); code != 0 {
		t.Fatalf("dump: %d %s", code, errb.String())
	}
	want := "VERSION=3\nformat=print\ntype=btree\nmapsize=67108864\nmaxreaders=126\ndb_pagesize=4096\nHEADER=END\n" +
		" b\\5cs\\5c\n x\\00y\n user@example.com\n :defer: later\nDATA=END\n"
	if out.String() != want {
		t.Errorf("dump:\n%s", out.String())
	}
	if _, err := exec.LookPath("mdb_dump"); err == nil {
		got, err := exec.Command("mdb_dump", "-n", "-p", path).Output()
		// LMDB 0.9.31's mdb_dump writes a backslash bare.
		if err != nil || string(got) != strings.ReplaceAll(want, `\5c`, `\`) {
			t.Errorf("mdb_dump: %v\n%s", err, got)
		}
	}
	errb.Reset()
	if code := lookupLMDB(ctx, "load", []string{path}, strings.NewReader("k\nbad\\zz\n"), &out, &errb); code != 1 ||
		errb.String() != "exigo lookup lmdb load: lmdb: bad mdb_load text: line 2: backslash at column 4 not followed by two hex digits\n" {
		t.Errorf("bad load: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := runLookup(ctx, []string{"lmdb", "get", path}, &out, &errb); code != 2 || !strings.HasPrefix(errb.String(), "usage:") {
		t.Errorf("usage: %d %q", code, errb.String())
	}
}
