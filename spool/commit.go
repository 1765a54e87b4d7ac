package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// syncMode is how a batch makes its files' data durable before the
// renames. The benchmark in commit_test.go compares them.
type syncMode int

const (
	// syncFdatasync calls fdatasync on every file, one after the other.
	syncFdatasync syncMode = iota
	// syncParallel calls fdatasync on every file from its own goroutine.
	syncParallel
	// syncFS calls syncfs(2) once for the file system.
	syncFS
	// syncRange starts write-back of every file with sync_file_range,
	// then calls fdatasync on each.
	syncRange

	syncDefault = syncFS
)

func (m syncMode) String() string {
	return [...]string{"fdatasync", "parallel", "syncfs", "sync_file_range"}[m]
}

type commitJob struct {
	d    *Draft
	hf   *os.File
	dir  string
	done chan commitResult
	// state: jobWaiting, jobTaken (in a batch), jobAbandoned (its caller
	// gave up), jobLeader (asked to lead the next batch).
	state atomic.Int32
}

const (
	jobWaiting int32 = iota
	jobTaken
	jobAbandoned
	jobLeader
)

type commitResult struct {
	err  error
	lead bool // not a result: the job's caller must lead the next batch
}

// groupCommitter batches concurrent Commits. There is no background
// goroutine: the first Commit that finds no batch running becomes the
// leader and runs one batch, which takes every Commit waiting at that
// moment (its own included); it then hands the lead to the first Commit
// that arrived meanwhile, so no caller waits for more than the batch
// that carries its message and the one before it.
type groupCommitter struct {
	s       *Spool
	mu      sync.Mutex
	pending []*commitJob
	running bool
	batches atomic.Int64 // number of batches run, for tests and stats
}

func (g *groupCommitter) commit(ctx context.Context, j *commitJob) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	g.pending = append(g.pending, j)
	lead := !g.running
	g.running = true
	g.mu.Unlock()

	for {
		if lead {
			g.lead()
		}
		var res commitResult
		select {
		case res = <-j.done:
		case <-ctx.Done():
			if j.state.CompareAndSwap(jobWaiting, jobAbandoned) {
				return ctx.Err()
			}
			res = <-j.done
		}
		if !res.lead {
			return res.err
		}
		lead = true
	}
}

// lead runs one batch, then passes the lead on.
func (g *groupCommitter) lead() {
	g.mu.Lock()
	batch := g.pending
	g.pending = nil
	g.mu.Unlock()
	g.run(batch)

	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.pending) > 0 {
		next := g.pending[0]
		if next.state.CompareAndSwap(jobWaiting, jobLeader) {
			next.done <- commitResult{lead: true}
			return
		}
		g.pending = g.pending[1:] // abandoned
	}
	g.running = false
}

// run makes one batch durable: sync the files' data, rename -D then -H
// into place, sync each directory once, then wake the waiters.
func (g *groupCommitter) run(batch []*commitJob) {
	g.batches.Add(1)
	jobs := batch[:0]
	for _, j := range batch {
		if j.state.CompareAndSwap(jobWaiting, jobTaken) || j.state.CompareAndSwap(jobLeader, jobTaken) {
			jobs = append(jobs, j)
		}
	}
	if len(jobs) == 0 {
		return
	}
	errs := make([]error, len(jobs))
	g.syncData(jobs, errs)

	dirs := make(map[string][]int)
	for i, j := range jobs {
		if errs[i] != nil {
			continue
		}
		id := j.d.id
		if err := os.Rename(filepath.Join(j.dir, id+tmpD), filepath.Join(j.dir, id+"-D")); err != nil {
			errs[i] = fmt.Errorf("spool: commit %s: %w", id, err)
			continue
		}
		if err := os.Rename(filepath.Join(j.dir, id+tmpH), filepath.Join(j.dir, id+"-H")); err != nil {
			// Put the -D back under its temporary name for Abort.
			_ = os.Rename(filepath.Join(j.dir, id+"-D"), filepath.Join(j.dir, id+tmpD))
			errs[i] = fmt.Errorf("spool: commit %s: %w", id, err)
			continue
		}
		dirs[j.dir] = append(dirs[j.dir], i)
	}
	for dir, idx := range dirs {
		if err := syncDir(dir); err != nil {
			for _, i := range idx {
				j := jobs[i]
				// Not durable: take the message back so the caller's
				// failure report is true.
				id := j.d.id
				_ = os.Remove(filepath.Join(j.dir, id+"-H"))
				_ = os.Rename(filepath.Join(j.dir, id+"-D"), filepath.Join(j.dir, id+tmpD))
				errs[i] = fmt.Errorf("spool: commit %s: %w", id, err)
			}
		}
	}
	for i, j := range jobs {
		j.done <- commitResult{err: errs[i]}
	}
}

func (g *groupCommitter) syncData(jobs []*commitJob, errs []error) {
	files := func(j *commitJob) [2]*os.File { return [2]*os.File{j.d.f, j.hf} }
	wrap := func(j *commitJob, err error) error {
		return fmt.Errorf("spool: commit %s: sync: %w", j.d.id, err)
	}
	switch g.s.mode {
	case syncFS:
		// One syncfs covers every file of the batch. Since Linux 5.8
		// it reports write-back errors of the file system.
		if err := unix.Syncfs(int(jobs[0].d.f.Fd())); err != nil {
			for i, j := range jobs {
				errs[i] = wrap(j, err)
			}
		}
	case syncFdatasync:
		for i, j := range jobs {
			for _, f := range files(j) {
				if err := unix.Fdatasync(int(f.Fd())); err != nil && errs[i] == nil {
					errs[i] = wrap(j, err)
				}
			}
		}
	case syncRange:
		for _, j := range jobs {
			for _, f := range files(j) {
				_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
			}
		}
		for i, j := range jobs {
			for _, f := range files(j) {
				if err := unix.Fdatasync(int(f.Fd())); err != nil && errs[i] == nil {
					errs[i] = wrap(j, err)
				}
			}
		}
	case syncParallel:
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var e error
				for _, f := range files(j) {
					if err := unix.Fdatasync(int(f.Fd())); err != nil && e == nil {
						e = wrap(j, err)
					}
				}
				errs[i] = e
			}()
		}
		wg.Wait()
	}
}

// syncDir makes the directory's entries durable. EINVAL (file systems
// that cannot sync directories) is ignored, as Exim does.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, unix.EINVAL) {
		return nil
	}
	return err
}
