//go:build !unix

package file

import (
	"context"
	"os"
	"time"
)

const noFollow = 0

// lockFile does nothing where fcntl locks do not exist: use DotLock.
func lockFile(context.Context, *os.File, time.Time) error { return nil }
