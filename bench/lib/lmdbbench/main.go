// Command lmdbbench supports bench/lmdb.sh: "db PATH" builds the
// benchmark database of lookup/lmdb's BenchmarkLookup in the single file
// PATH unless it is there already (1,000,000 keys of 41 bytes,
// "user%08d@lookup-benchmark.example.org", with 60-byte values, in one
// transaction); "keys DIR N" writes DIR/random.keys (N keys drawn from all
// of them) and DIR/hot.keys (N keys drawn from the first 1,000), one a
// line, in the order the benchmark's serial loop draws them (xorshift64
// from the same seed), for python3-lmdb.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"
)

const (
	nKeys = 1_000_000
	seed  = 88172645463325252 // lookup/lmdb's benchSeed
)

func key(i int) []byte { return fmt.Appendf(nil, "user%08d@lookup-benchmark.example.org", i) }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lmdbbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "db":
		return build(args[1])
	case len(args) == 3 && args[0] == "keys":
		n, err := strconv.Atoi(args[2])
		if err != nil || n <= 0 {
			return fmt.Errorf("bad count %q", args[2])
		}
		if err := writeKeys(filepath.Join(args[1], "random.keys"), nKeys, n); err != nil {
			return err
		}
		return writeKeys(filepath.Join(args[1], "hot.keys"), 1000, n)
	}
	return fmt.Errorf("usage: lmdbbench db PATH | keys DIR N")
}

func build(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 100<<20 {
		return nil
	}
	os.Remove(path)
	os.Remove(path + "-lock")
	env, err := mdb.NewEnv()
	if err != nil {
		return err
	}
	defer env.Close()
	if err := env.SetMapSize(1 << 30); err != nil {
		return err
	}
	if err := env.Open(path, mdb.NoSubdir, 0o644); err != nil {
		return err
	}
	return env.Update(func(txn *mdb.Txn) error {
		dbi, err := txn.OpenRoot(0)
		if err != nil {
			return err
		}
		for i := range nKeys {
			v := fmt.Appendf(nil, "value %08d of the benchmark, sixty bytes long in all..", i)
			if err := txn.Put(dbi, key(i), v[:60], 0); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeKeys(path string, over, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	x := uint64(seed)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		w.Write(key(int(x % uint64(over))))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
