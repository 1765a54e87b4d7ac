package lmdb

import (
	"bufio"
	"context"
	"fmt"
	"io"

	mdb "github.com/PowerDNS/lmdb-go/lmdb"

	"github.com/exigo-mta/exigo/internal/lmdbenv"
)

// update runs a write transaction, growing the map when it is full and
// adopting a map grown by another process.
func (db *DB) update(ctx context.Context, op string, fn func(txn *mdb.Txn, dbi mdb.DBI) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !db.writable {
		return ErrReadOnly
	}
	return db.wrap(op, db.retry(func(h *handle) error {
		return h.st.Update(func(txn *mdb.Txn) error { return fn(txn, h.dbi) }, db.maxMap)
	}))
}

// ErrFull is returned when a write does not fit in the largest map
// allowed ([WithMaxMapSize]).
var ErrFull = lmdbenv.ErrFull

// Put stores value under key, replacing any value there.
func (db *DB) Put(ctx context.Context, key, value []byte) error {
	return db.update(ctx, "put", func(txn *mdb.Txn, dbi mdb.DBI) error {
		return txn.Put(dbi, key, value, 0)
	})
}

// Delete removes key; a missing key is not an error.
func (db *DB) Delete(ctx context.Context, key []byte) error {
	return db.update(ctx, "delete", func(txn *mdb.Txn, dbi mdb.DBI) error {
		err := txn.Del(dbi, key, nil)
		if mdb.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// Load reads `mdb_load -T` text (see [TextReader]) from r and stores its
// records, in one transaction: on any error nothing is stored. It
// returns the number of records read. The whole input is held in memory
// until it is committed.
func (db *DB) Load(ctx context.Context, r io.Reader) (int, error) {
	if !db.writable {
		return 0, ErrReadOnly
	}
	type rec struct{ k, v []byte }
	var recs []rec
	tr := NewTextReader(r)
	for {
		k, v, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if len(k) == 0 {
			return 0, fmt.Errorf("%w: line %d: empty key", ErrSyntax, tr.line-1)
		}
		recs = append(recs, rec{append([]byte(nil), k...), append([]byte(nil), v...)})
		if len(recs)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
	}
	err := db.update(ctx, "load", func(txn *mdb.Txn, dbi mdb.DBI) error {
		for _, r := range recs {
			if err := txn.Put(dbi, r.k, r.v, 0); err != nil {
				return fmt.Errorf("key %q: %w", r.k, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(recs), nil
}

// Dump writes the database in the format of `mdb_dump -p` to w, from
// one read transaction (a consistent snapshot).
func (db *DB) Dump(ctx context.Context, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	err := db.retry(func(h *handle) error { return db.dump(ctx, h, bw) })
	if err == nil {
		err = bw.Flush()
	}
	return db.wrap("dump", err)
}

func (db *DB) dump(ctx context.Context, h *handle, bw *bufio.Writer) error {
	return h.st.View(ctx, func(txn *mdb.Txn) error {
		txn.RawRead = true
		info, err := h.st.Env().Info()
		if err != nil {
			return err
		}
		st, err := txn.Stat(h.dbi)
		if err != nil {
			return err
		}
		flags, err := txn.Flags(h.dbi)
		if err != nil {
			return err
		}
		if _, err := bw.Write(dumpHeader(info.MapSize, int(info.MaxReaders), st.PSize, db.name, flags&mdb.DupSort != 0)); err != nil {
			return err
		}
		cur, err := txn.OpenCursor(h.dbi)
		if err != nil {
			return err
		}
		defer cur.Close()
		var line []byte
		for n := 0; ; n++ {
			k, v, err := cur.Get(nil, nil, mdb.Next)
			if mdb.IsNotFound(err) {
				break
			}
			if err != nil {
				return err
			}
			if n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			line = append(line[:0], ' ')
			line = AppendText(line, k)
			line = append(line, '\n', ' ')
			line = AppendText(line, v)
			line = append(line, '\n')
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
		_, err = bw.WriteString("DATA=END\n")
		return err
	})
}
