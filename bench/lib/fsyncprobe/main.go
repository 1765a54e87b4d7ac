// Command fsyncprobe measures how many small files per second the disk under
// a directory makes durable: each file is created, written, fsynced and
// closed, first one at a time and then by several concurrent writers. The
// ingest benchmark (bench/ingest.sh) prints its result first so that every
// run records the disk speed it was measured on.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

func main() {
	dir := flag.String("dir", "", "directory to write the probe files in (created, emptied afterwards)")
	n := flag.Int("n", 1000, "files per measurement")
	writers := flag.Int("writers", 20, "concurrent writers in the second measurement")
	size := flag.Int("size", 4096, "bytes per file")
	flag.Parse()
	if *dir == "" || *n <= 0 || *writers <= 0 || *size < 0 {
		fmt.Fprintln(os.Stderr, "usage: fsyncprobe -dir DIR [-n 1000] [-writers 20] [-size 4096]")
		os.Exit(2)
	}
	if err := run(*dir, *n, *writers, *size); err != nil {
		fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
		os.Exit(1)
	}
}

func run(dir string, n, writers, size int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = 'x'
	}
	for _, w := range []int{1, writers} {
		sub := filepath.Join(dir, fmt.Sprintf("w%d", w))
		if err := os.Mkdir(sub, 0o755); err != nil {
			return err
		}
		elapsed, err := measure(sub, n, w, buf)
		if err != nil {
			return err
		}
		fmt.Printf("fsync probe: %d files of %d bytes, %2d writer(s): %6.2fs  %7.0f files/s\n",
			n, size, w, elapsed.Seconds(), float64(n)/elapsed.Seconds())
	}
	return nil
}

// measure writes n files into dir with w concurrent writers and returns the
// wall-clock time until the last one is durable.
func measure(dir string, n, w int, buf []byte) (time.Duration, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	start := time.Now()
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += w {
				if err := writeSync(filepath.Join(dir, fmt.Sprintf("f%06d", i)), buf); err != nil {
					mu.Lock()
					if ferr == nil {
						ferr = err
					}
					mu.Unlock()
					return
				}
			}
		}(g)
	}
	wg.Wait()
	return time.Since(start), ferr
}

func writeSync(name string, buf []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
