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

// DeliveryBatches returns the number of delivery-side sync batches run.
func DeliveryBatches(s *Spool) int {
	s.fsync.mu.Lock()
	defer s.fsync.mu.Unlock()
	return s.fsync.batches
}

// SetDeliverySyncHook sets a function each delivery-side sync batch calls
// before it syncs.
func SetDeliverySyncHook(s *Spool, f func()) {
	s.fsync.mu.Lock()
	s.fsync.hook = f
	s.fsync.mu.Unlock()
}
