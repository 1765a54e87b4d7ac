package spool

// Test hooks.

func SetSyncMode(s *Spool, mode string) {
	for m := syncFdatasync; m <= syncRange; m++ {
		if m.String() == mode {
			s.mode = m
			return
		}
	}
	panic("unknown sync mode " + mode)
}

func Batches(s *Spool) int64 { return s.gc.batches.Load() }
