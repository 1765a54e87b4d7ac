package spool

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommit measures durable messages per second (4 KiB bodies) for
// each way of syncing a batch, with 1 and 20 concurrent committers.
//
//	go test -run '^$' -bench BenchmarkCommit -benchmem ./spool
func BenchmarkCommit(b *testing.B) {
	body := []byte(strings.Repeat(strings.Repeat("z", 63)+"\n", 64))
	for _, mode := range []string{"syncfs", "fdatasync", "parallel", "sync_file_range"} {
		for _, writers := range []int{1, 20} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode, writers), func(b *testing.B) {
				s, err := Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				SetSyncMode(s, mode)
				ctx := context.Background()
				one := func() {
					d, err := s.Create(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := d.Write(body); err != nil {
						b.Fatal(err)
					}
					if err := d.Commit(ctx, testMessage(d.ID(), time.Now())); err != nil {
						b.Fatal(err)
					}
				}
				var n atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				if writers == 1 {
					for b.Loop() {
						one()
						n.Add(1)
					}
				} else {
					b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							one()
							n.Add(1)
						}
					})
				}
				el := time.Since(start)
				b.ReportMetric(float64(n.Load())/el.Seconds(), "msgs/s")
				b.ReportMetric(float64(n.Load())/float64(Batches(s)), "msgs/batch")
			})
		}
	}
}
