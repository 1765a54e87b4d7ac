package spool_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/spool"
)

func spoolOne(t *testing.T, s *spool.Spool, rcpts ...string) string {
	t.Helper()
	ctx := context.Background()
	d, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(d, "Hello.\n")
	m := &exigo.Message{ID: d.ID(), Received: time.Now(), Stats: exigo.BodyStats{Lines: 1, MaxLineLength: 6}}
	m.Envelope.Sender = "s@example.org"
	for _, r := range rcpts {
		m.Envelope.AddRecipient(r)
	}
	if err := d.Commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	return d.ID()
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestDequeue: the -H file goes at once, the rest with Remove, which
// also removes Exim's msglog file and a journal Read saw.
func TestDequeue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := spoolOne(t, s, "a@example.com")
	in := filepath.Join(dir, "input")
	if err := os.MkdirAll(filepath.Join(dir, "msglog"), 0o750); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "msglog", id), []byte("log\n"), 0o640)
	os.WriteFile(filepath.Join(in, id+"-J"), nil, 0o640) // empty journal
	lk, err := s.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	e, err := lk.Read()
	if err != nil || len(e.Journal) != 0 || e.BodySize != 7 {
		t.Fatalf("Read: %+v, %v", e, err)
	}
	if err := lk.Dequeue(); err != nil {
		t.Fatal(err)
	}
	if err := lk.Dequeue(); err != nil {
		t.Fatalf("second Dequeue: %v", err)
	}
	if got, want := names(t, in), []string{id + "-D", id + "-J"}; !slices.Equal(got, want) {
		t.Errorf("input after Dequeue: %v, want %v", got, want)
	}
	if ids, err := s.List(context.Background()); err != nil || len(ids) != 0 {
		t.Errorf("List after Dequeue: %v, %v", ids, err)
	}
	if _, err := s.Read(id); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Read after Dequeue: %v", err)
	}
	if err := lk.Remove(); err != nil {
		t.Fatal(err)
	}
	if got := names(t, in); len(got) != 0 {
		t.Errorf("input after Remove: %v", got)
	}
	if got := names(t, filepath.Join(dir, "msglog")); len(got) != 0 {
		t.Errorf("msglog after Remove: %v", got)
	}
}

// TestRemoveAfterJournal: Remove deletes the journal AddDelivered wrote.
func TestRemoveAfterJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := spoolOne(t, s, "a@example.com", "b@example.com")
	lk, err := s.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.AddDelivered("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := lk.AddDelivered("b@example.com"); err != nil {
		t.Fatal(err)
	}
	j, _ := os.ReadFile(filepath.Join(dir, "input", id+"-J"))
	if string(j) != "a@example.com\nb@example.com\n" {
		t.Errorf("-J = %q", j)
	}
	if err := lk.Remove(); err != nil {
		t.Fatal(err)
	}
	if got := names(t, filepath.Join(dir, "input")); len(got) != 0 {
		t.Errorf("input after Remove: %v", got)
	}
}

// TestDeliverySyncsShared: journal writes and -H removals that arrive
// while a sync batch runs share the next batch.
func TestDeliverySyncsShared(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	var locks []*spool.Lock
	for range n + 1 {
		id := spoolOne(t, s, "a@example.com", "b@example.com")
		lk, err := s.Lock(id)
		if err != nil {
			t.Fatal(err)
		}
		locks = append(locks, lk)
	}
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	spool.SetDeliverySyncHook(s, func() {
		once.Do(func() {
			entered <- struct{}{}
			<-release
		})
	})
	first := make(chan error, 1)
	go func() { first <- locks[0].AddDelivered("a@example.com") }()
	<-entered // the first batch is running, and blocked
	errs := make(chan error, n)
	for i, lk := range locks[1:] {
		go func() {
			if i%2 == 0 {
				errs <- lk.AddDelivered("b@example.com")
			} else {
				errs <- lk.Dequeue()
			}
		}()
	}
	// Wait until the n calls wait for the next batch: their changes are
	// visible on disk.
	in := filepath.Join(dir, "input")
	for deadline := time.Now().Add(10 * time.Second); ; {
		list := strings.Join(names(t, in), " ")
		if strings.Count(list, "-J") == n/2+1 && strings.Count(list, "-H") == n/2+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the calls did not make their changes: %s", list)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // and are queued for the sync
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := spool.DeliveryBatches(s); got != 2 {
		t.Errorf("%d sync batches for %d calls, want 2", got, n+1)
	}
	for _, lk := range locks {
		if err := lk.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, in); len(got) != 0 {
		t.Errorf("input after Remove: %v", got)
	}
}

// TestTidyOrphanJournal: a -D and -J left without their -H (a crash
// after Dequeue) are removed by Tidy once old.
func TestTidyOrphanJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	id := spoolOne(t, s, "a@example.com", "b@example.com")
	lk, err := s.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	lk.AddDelivered("a@example.com")
	lk.Dequeue()
	lk.Unlock() // the process died here
	removed, err := s.Tidy(context.Background(), time.Hour)
	slices.Sort(removed)
	if err != nil || !slices.Equal(removed, []string{"input/" + id + "-D", "input/" + id + "-J"}) {
		t.Errorf("Tidy = %v, %v", removed, err)
	}
}
