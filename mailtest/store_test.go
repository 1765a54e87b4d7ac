package mailtest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/spool"
)

func TestMemStore(t *testing.T) {
	t.Parallel()
	var st memStore
	ctx := context.Background()
	d1, err := st.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := st.Create(ctx)
	info1, err1 := spool.ParseID(d1.ID())
	info2, err2 := spool.ParseID(d2.ID())
	if err1 != nil || err2 != nil || info1.PID != 1 || info2.PID != 2 || info1.Format != spool.IDLong {
		t.Fatalf("IDs %q %q: %v %v", d1.ID(), d2.ID(), err1, err2)
	}
	read := func(d interface{ Body() exigo.Opener }) string {
		rc, err := d.Body().Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	d1.Write([]byte("line 1\n"))
	if got := read(d1); got != "line 1\n" {
		t.Errorf("body so far %q", got)
	}
	d1.Write([]byte("line 2\n"))
	if err := d1.Commit(ctx, &exigo.Message{ID: "other"}); err == nil || err.Error() != `mailtest: commit: message ID "other" is not the draft's "`+d1.ID()+`"` {
		t.Errorf("commit with another ID: %v", err)
	}
	if err := d1.Commit(ctx, &exigo.Message{ID: d1.ID()}); err != nil {
		t.Fatal(err)
	}
	if _, err := d1.Write([]byte("more")); !errors.Is(err, errDraftClosed) {
		t.Errorf("write after commit: %v", err)
	}
	if err := d1.Commit(ctx, &exigo.Message{ID: d1.ID()}); !errors.Is(err, errDraftClosed) {
		t.Errorf("second commit: %v", err)
	}
	if err := d1.Abort(); err != nil || read(d1) != "line 1\nline 2\n" {
		t.Errorf("abort after commit: %v, body %q", err, read(d1))
	}
	d2.Write([]byte("x"))
	if err := d2.Abort(); err != nil || read(d2) != "" {
		t.Errorf("abort: %v, body %q", err, read(d2))
	}
	if err := d2.Commit(ctx, &exigo.Message{ID: d2.ID()}); !errors.Is(err, errDraftClosed) {
		t.Errorf("commit after abort: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.Create(cctx); err != context.Canceled {
		t.Errorf("create with a cancelled context: %v", err)
	}
}
