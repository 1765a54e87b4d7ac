package lmdb_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/hints/lmdb"
)

func BenchmarkGet(b *testing.B) {
	db := open(b, filepath.Join(b.TempDir(), "h.mdb"))
	defer db.Close()
	for i := range 1000 {
		if err := db.Put(ctx, fmt.Sprintf("T:mx%d.example:192.0.2.%d", i, i%256), []byte("retry record"), time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok, err := db.Get(ctx, fmt.Sprintf("T:mx%d.example:192.0.2.%d", i%1000, i%1000%256)); err != nil || !ok {
				b.Error(ok, err)
				return
			}
			i++
		}
	})
}

func BenchmarkPut(b *testing.B) {
	for _, mode := range []struct {
		name string
		m    lmdb.SyncMode
	}{{"SyncData", lmdb.SyncData}, {"SyncNone", lmdb.SyncNone}} {
		b.Run(mode.name, func(b *testing.B) {
			db := open(b, filepath.Join(b.TempDir(), "h.mdb"), lmdb.WithSync(mode.m))
			defer db.Close()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := db.Put(ctx, fmt.Sprintf("k%d", i%1000), []byte("retry record"), time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
