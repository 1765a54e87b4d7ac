package hints_test

import (
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/hints/hintstest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	hintstest.Run(t, func(t testing.TB, dir string, now func() time.Time) hints.DB {
		return hints.NewMemory(hints.WithClock(now))
	}, false)
}
