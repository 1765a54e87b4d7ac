package lmdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"
)

const benchKeys = 1_000_000

var benchData struct {
	once sync.Once
	path string
	keys [][]byte
	err  error
}

func benchKey(i int) []byte {
	return fmt.Appendf(nil, "user%08d@lookup-benchmark.example.org", i) // 40 bytes
}

// benchDB returns a database of 1,000,000 keys of 40 bytes and values of
// 60 bytes, built once in the temporary directory and kept there between
// runs (delete exigo-lmdb-bench-1m* to rebuild).
func benchDB(b *testing.B) (string, [][]byte) {
	benchData.once.Do(func() {
		benchData.path = filepath.Join(os.TempDir(), "exigo-lmdb-bench-1m")
		benchData.keys = make([][]byte, benchKeys)
		for i := range benchData.keys {
			benchData.keys[i] = benchKey(i)
		}
		if fi, err := os.Stat(benchData.path); err == nil && fi.Size() > 100<<20 {
			return
		}
		os.Remove(benchData.path)
		os.Remove(benchData.path + "-lock")
		db, err := Open(benchData.path, Writable(), WithMapSize(1<<30))
		if err != nil {
			benchData.err = err
			return
		}
		defer db.Close()
		benchData.err = db.update(context.Background(), "fill", func(txn *mdb.Txn, dbi mdb.DBI) error {
			for i, k := range benchData.keys {
				v := fmt.Appendf(nil, "value %08d of the benchmark, sixty bytes long in all..", i)
				if err := txn.Put(dbi, k, v[:60], 0); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if benchData.err != nil {
		b.Fatal(benchData.err)
	}
	return benchData.path, benchData.keys
}

// picker returns a key index: random over n keys (xorshift, no locks).
type picker struct{ x, n uint64 }

func (p *picker) next() int {
	p.x ^= p.x << 13
	p.x ^= p.x >> 7
	p.x ^= p.x << 17
	return int(p.x % p.n)
}

func BenchmarkLookup(b *testing.B) {
	path, keys := benchDB(b)
	db, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	h, i, err := db.acquire(false)
	if err != nil {
		b.Fatal(err)
	}
	env, dbi := h.st.env, h.dbi
	h.release(i)

	impls := []struct {
		name string
		get  func(key []byte, dst []byte) ([]byte, error)
	}{
		{"exigo-LookupBytes", func(key, dst []byte) ([]byte, error) {
			v, found, err := db.LookupBytes(ctx, key, dst)
			if !found && err == nil {
				err = fmt.Errorf("%s not found", key)
			}
			return v, err
		}},
		{"raw-View", func(key, dst []byte) ([]byte, error) {
			err := env.View(func(txn *mdb.Txn) error {
				txn.RawRead = true
				v, err := txn.Get(dbi, key)
				dst = append(dst, v...)
				return err
			})
			return dst, err
		}},
	}
	for _, hot := range []bool{false, true} {
		n := uint64(len(keys))
		set := "random"
		if hot {
			n, set = 1000, "hot1000"
		}
		for _, par := range []bool{false, true} {
			mode := "serial"
			if par {
				mode = "parallel"
			}
			for _, impl := range impls {
				b.Run(impl.name+"/"+set+"/"+mode, func(b *testing.B) {
					run := func(seed uint64, loop func() bool) {
						p := picker{x: seed, n: n}
						buf := make([]byte, 0, 128)
						for loop() {
							var err error
							buf, err = impl.get(keys[p.next()], buf[:0])
							if err != nil {
								b.Error(err)
								return
							}
						}
					}
					b.ReportAllocs()
					if !par {
						run(88172645463325252, b.Loop)
						return
					}
					var seed sync.Mutex
					s := uint64(88172645463325252)
					b.RunParallel(func(pb *testing.PB) {
						seed.Lock()
						s += 0x9e3779b97f4a7c15
						my := s
						seed.Unlock()
						run(my, pb.Next)
					})
				})
			}
			// Raw lmdb-go with a read transaction reused by Reset/Renew:
			// the floor for any lookup layer.
			b.Run("raw-Renew/"+set+"/"+mode, func(b *testing.B) {
				run := func(seed uint64, loop func() bool) {
					txn, err := env.BeginTxn(nil, mdb.Readonly)
					if err != nil {
						b.Error(err)
						return
					}
					defer txn.Abort()
					txn.RawRead = true
					txn.Reset()
					p := picker{x: seed, n: n}
					buf := make([]byte, 0, 128)
					for loop() {
						if err := txn.Renew(); err != nil {
							b.Error(err)
							return
						}
						v, err := txn.Get(dbi, keys[p.next()])
						if err != nil {
							b.Error(err)
							return
						}
						buf = append(buf[:0], v...)
						txn.Reset()
					}
				}
				b.ReportAllocs()
				if !par {
					run(88172645463325252, b.Loop)
					return
				}
				var seed sync.Mutex
				s := uint64(88172645463325252)
				b.RunParallel(func(pb *testing.PB) {
					seed.Lock()
					s += 0x9e3779b97f4a7c15
					my := s
					seed.Unlock()
					run(my, pb.Next)
				})
			})
		}
	}
}

// BenchmarkLookupString is lookup.Lookup, which allocates the key copy
// and the value string.
func BenchmarkLookupString(b *testing.B) {
	path, keys := benchDB(b)
	db, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	p := picker{x: 88172645463325252, n: uint64(len(keys))}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := db.Lookup(ctx, string(keys[p.next()])); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
