package lmdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
	return fmt.Appendf(nil, "user%08d@lookup-benchmark.example.org", i) // 41 bytes
}

// benchDB returns a database of 1,000,000 keys of 40 bytes and values of
// 60 bytes, built once in the temporary directory and kept there between
// runs (delete exigo-lmdb-bench-1m* to rebuild), or the one
// $EXIGO_LMDB_BENCH_DB names (bench/lmdb.sh builds it with the same keys
// and values).
func benchDB(b *testing.B) (string, [][]byte) {
	benchData.once.Do(func() {
		benchData.path = filepath.Join(os.TempDir(), "exigo-lmdb-bench-1m")
		if p := os.Getenv("EXIGO_LMDB_BENCH_DB"); p != "" {
			benchData.path = p
		}
		benchData.keys = make([][]byte, benchKeys)
		buf := make([]byte, 0, benchKeys*41) // one object for the GC
		for i := range benchData.keys {
			n := len(buf)
			buf = append(buf, benchKey(i)...)
			benchData.keys[i] = buf[n:len(buf):len(buf)]
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
// bench/lib/lmdbbench writes the same sequence (seed benchSeed) for
// python3-lmdb.
type picker struct{ x, n uint64 }

const benchSeed = 88172645463325252

const seqLen = 1 << 20

var seqs sync.Map // n -> [][]byte

// keySeq returns the sequence of seqLen keys picked from the first n
// (from benchSeed), laid out one after the other in memory as
// python3-lmdb's list of bench/lmdb.sh is, so that reading the next key
// costs the same in both.
func keySeq(keys [][]byte, n uint64) [][]byte {
	if s, ok := seqs.Load(n); ok {
		return s.([][]byte)
	}
	p := picker{x: benchSeed, n: n}
	seq := make([][]byte, seqLen)
	buf := make([]byte, 0, seqLen*41)
	for i := range seq {
		k := keys[p.next()]
		o := len(buf)
		buf = append(buf, k...)
		seq[i] = buf[o:len(buf):len(buf)]
	}
	seqs.Store(n, seq)
	return seq
}

// seqIter walks a key sequence from an offset, wrapping around.
type seqIter struct {
	s [][]byte
	i int
}

func (it *seqIter) next() []byte {
	k := it.s[it.i&(seqLen-1)]
	it.i++
	return k
}

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
	cdb, err := Open(path, WithCache(4096))
	if err != nil {
		b.Fatal(err)
	}
	defer cdb.Close()
	ctx := context.Background()
	h, err := db.handle()
	if err != nil {
		b.Fatal(err)
	}
	env, dbi := h.st.Env(), h.dbi

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
		{"exigo-cache", func(key, dst []byte) ([]byte, error) {
			v, found, err := cdb.LookupBytes(ctx, key, dst)
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
		seq := keySeq(keys, n)
		for _, par := range []bool{false, true} {
			mode := "serial"
			if par {
				mode = "parallel"
			}
			for _, impl := range impls {
				b.Run(impl.name+"/"+set+"/"+mode, func(b *testing.B) {
					run := func(seed uint64, loop func() bool) {
						p := seqIter{s: seq, i: int(seed % seqLen)}
						buf := make([]byte, 0, 128)
						for loop() {
							var err error
							buf, err = impl.get(p.next(), buf[:0])
							if err != nil {
								b.Error(err)
								return
							}
						}
					}
					runLoop(b, par, run)
				})
			}
			// Raw lmdb-go in one long read transaction, as the issue's
			// figures and bench/lmdb.sh's python3-lmdb: no renewal, so
			// it would not see new commits.
			b.Run("raw-Txn/"+set+"/"+mode, func(b *testing.B) {
				run := func(seed uint64, loop func() bool) {
					txn, err := env.BeginTxn(nil, mdb.Readonly)
					if err != nil {
						b.Error(err)
						return
					}
					defer txn.Abort()
					txn.RawRead = true
					p := seqIter{s: seq, i: int(seed % seqLen)}
					buf := make([]byte, 0, 128)
					for loop() {
						v, err := txn.Get(dbi, p.next())
						if err != nil {
							b.Error(err)
							return
						}
						buf = append(buf[:0], v...)
					}
				}
				runLoop(b, par, run)
			})
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
					p := seqIter{s: seq, i: int(seed % seqLen)}
					buf := make([]byte, 0, 128)
					for loop() {
						if err := txn.Renew(); err != nil {
							b.Error(err)
							return
						}
						v, err := txn.Get(dbi, p.next())
						if err != nil {
							b.Error(err)
							return
						}
						buf = append(buf[:0], v...)
						txn.Reset()
					}
				}
				runLoop(b, par, run)
			})
		}
	}
}

// runLoop runs run once with b.Loop (serial), or in every goroutine of
// b.RunParallel with its own seed (parallel), reporting allocations.
func runLoop(b *testing.B, par bool, run func(seed uint64, loop func() bool)) {
	b.ReportAllocs()
	if !par {
		run(0, b.Loop)
		return
	}
	var mu sync.Mutex
	s := uint64(benchSeed)
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		s += 0x9e3779b97f4a7c15
		my := s
		mu.Unlock()
		run(my, pb.Next)
	})
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
	p := picker{x: benchSeed, n: uint64(len(keys))}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := db.Lookup(ctx, string(keys[p.next()])); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkLookupPaired alternates blocks of 1,024 lookups by exigo's
// LookupBytes and by raw lmdb-go in one long read transaction (raw-Txn)
// over the same keys, timing each block, so that a change of the
// machine's load hits both alike; it reports both as ns/lookup and their
// ratio (exigo/raw), per goroutine in the parallel case. Both read each
// block of keys, in turn first (the second finds the pages in the CPU's
// caches).
func BenchmarkLookupPaired(b *testing.B) {
	path, keys := benchDB(b)
	db, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	h, err := db.handle()
	if err != nil {
		b.Fatal(err)
	}
	env, dbi := h.st.Env(), h.dbi
	const block = 1024
	for _, set := range []string{"random", "hot1000"} {
		n := uint64(len(keys))
		if set == "hot1000" {
			n = 1000
		}
		seq := keySeq(keys, n)
		for _, par := range []bool{false, true} {
			mode := "serial"
			if par {
				mode = "parallel"
			}
			b.Run(set+"/"+mode, func(b *testing.B) {
				var mu sync.Mutex
				var tEx, tRaw time.Duration
				var nEx, nRaw int
				run := func(start int, loop func() bool) {
					txn, err := env.BeginTxn(nil, mdb.Readonly)
					if err != nil {
						b.Error(err)
						return
					}
					defer txn.Abort()
					txn.RawRead = true
					buf := make([]byte, 0, 128)
					var ex, raw time.Duration
					var cEx, cRaw int
					for i, more := 0, true; more; i++ {
						p := seqIter{s: seq, i: start + (i/2)*block}
						exigo := (i+i/2)%2 == 0 // exigo first in even pairs
						t0 := time.Now()
						k := 0
						for ; k < block; k++ {
							if !loop() {
								more = false
								break
							}
							key := p.next()
							if exigo {
								buf, _, err = db.LookupBytes(ctx, key, buf[:0])
							} else {
								var v []byte
								v, err = txn.Get(dbi, key)
								buf = append(buf[:0], v...)
							}
							if err != nil {
								b.Error(err)
								return
							}
						}
						d := time.Since(t0)
						if exigo {
							ex, cEx = ex+d, cEx+k
						} else {
							raw, cRaw = raw+d, cRaw+k
						}
					}
					mu.Lock()
					tEx, tRaw, nEx, nRaw = tEx+ex, tRaw+raw, nEx+cEx, nRaw+cRaw
					mu.Unlock()
				}
				b.ReportAllocs()
				if !par {
					run(0, b.Loop)
				} else {
					var next sync.Mutex
					start := 0
					b.RunParallel(func(pb *testing.PB) {
						next.Lock()
						start += seqLen / 8
						my := start
						next.Unlock()
						run(my, pb.Next)
					})
				}
				if nEx > 0 && nRaw > 0 {
					ex := float64(tEx.Nanoseconds()) / float64(nEx)
					raw := float64(tRaw.Nanoseconds()) / float64(nRaw)
					b.ReportMetric(ex, "exigo-ns/lookup")
					b.ReportMetric(raw, "raw-ns/lookup")
					b.ReportMetric(ex/raw, "exigo/raw")
				}
			})
		}
	}
}
