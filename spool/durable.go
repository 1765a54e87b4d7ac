package spool

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// fsSyncer makes the changes of concurrent delivery attempts (journal
// appends, -H removals) durable in shared batches: group commit for the
// delivery side, as groupCommitter is for reception.
//
// A caller makes its change, then calls sync with what has to reach the
// disk: a directory (for a created or removed name) and/or a file (for
// its data). There is no background goroutine: the first caller that
// finds no batch running leads one, which takes every request waiting
// at that moment, fdatasyncs each file and fsyncs each distinct
// directory once; the requests made meanwhile form the next batch. So n
// concurrent -H removals in one directory cost one or two directory
// syncs instead of n.
type fsSyncer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	pending []*syncReq
	batches int    // batches run, for tests
	hook    func() // called by a batch's leader before it syncs, for tests
}

type syncReq struct {
	dir  string   // directory to fsync, or ""
	f    *os.File // file to fdatasync, or nil
	err  error
	done bool
}

// sync returns once dir and f (either may be empty) are synced by a
// batch that started after the call, or with the error of that sync.
func (y *fsSyncer) sync(dir string, f *os.File) error {
	r := &syncReq{dir: dir, f: f}
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.cond == nil {
		y.cond = sync.NewCond(&y.mu)
	}
	y.pending = append(y.pending, r)
	for !r.done {
		if y.running {
			y.cond.Wait()
			continue
		}
		batch := y.pending
		y.pending = nil
		y.running = true
		hook := y.hook
		y.mu.Unlock()
		if hook != nil {
			hook()
		}
		runSyncBatch(batch)
		y.mu.Lock()
		for _, b := range batch {
			b.done = true
		}
		y.batches++
		y.running = false
		y.cond.Broadcast()
	}
	return r.err
}

// runSyncBatch syncs the files' data, then each directory once.
func runSyncBatch(batch []*syncReq) {
	dirs := make(map[string][]*syncReq)
	for _, r := range batch {
		if r.f != nil {
			if err := unix.Fdatasync(int(r.f.Fd())); err != nil {
				r.err = fmt.Errorf("fdatasync: %w", err)
			}
		}
		if r.dir != "" {
			dirs[r.dir] = append(dirs[r.dir], r)
		}
	}
	for dir, rs := range dirs {
		if err := syncDir(dir); err != nil {
			for _, r := range rs {
				if r.err == nil {
					r.err = fmt.Errorf("sync directory: %w", err)
				}
			}
		}
	}
}
