//go:build unix

package file

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const noFollow = syscall.O_NOFOLLOW

// lockFile takes an fcntl write lock on the whole file, polling until
// deadline.
func lockFile(ctx context.Context, f *os.File, deadline time.Time) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINTR) {
			return &os.PathError{Op: "fcntl lock", Path: f.Name(), Err: err}
		}
		if err := sleep(ctx, wait, deadline); err != nil {
			return err
		}
	}
}
