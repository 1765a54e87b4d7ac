package lmdb

import (
	"hash/maphash"
	"sync/atomic"
)

// cache is a bounded, lock-free cache of lookup results: 4-way set
// associative, replacing by CLOCK (second chance) within a set. Entries
// are immutable once published, so readers need no lock; each carries
// the environment state and the transaction id it was read in, and is
// used only while both are current. A set keeps its entries' hashes and
// reference bits beside the pointers, so that a miss reads one cache line
// and no entry.
type cache struct {
	seed    maphash.Seed
	mask    uint64
	buckets []bucket
}

const ways = 4

type bucket struct {
	h    [ways]atomic.Uint64 // hash of e[i] (0: empty); checked again in the entry
	e    [ways]atomic.Pointer[centry]
	refs atomic.Uint32 // bit i: e[i] used since the CLOCK hand last passed
	hand atomic.Uint32
	_    [64 - 8]byte // keep a set off its neighbours' lines
}

type centry struct {
	hash     uint64
	gen, txn uint64 // lmdbenv.State.Gen, LMDB transaction id
	found    bool
	key, val []byte
}

func newCache(n int) *cache {
	nb := 1
	for nb*ways < n {
		nb <<= 1
	}
	return &cache{seed: maphash.MakeSeed(), mask: uint64(nb - 1), buckets: make([]bucket, nb)}
}

func (c *cache) hash(key []byte) uint64 {
	h := maphash.Bytes(c.seed, key)
	if h == 0 {
		h = 1 // 0 marks an empty way
	}
	return h
}

// get returns key's hash and its entry when one is valid for (gen, txn).
func (c *cache) get(key []byte, gen, txn uint64) (uint64, *centry) {
	h := c.hash(key)
	b := &c.buckets[h&c.mask]
	for i := range b.h {
		if b.h[i].Load() != h {
			continue
		}
		e := b.e[i].Load()
		if e == nil || e.hash != h || string(e.key) != string(key) {
			continue
		}
		if e.gen != gen || e.txn != txn {
			return h, nil
		}
		if bit := uint32(1) << i; b.refs.Load()&bit == 0 {
			b.refs.Or(bit)
		}
		return h, e
	}
	return h, nil
}

// put stores a result read in transaction txn of state gen. Racing puts
// may overwrite each other's entries, which only costs a later miss.
func (c *cache) put(h uint64, key, val []byte, found bool, gen, txn uint64) {
	if len(val) > MaxCachedValue {
		return
	}
	ne := &centry{hash: h, gen: gen, txn: txn, found: found}
	buf := make([]byte, len(key)+len(val))
	ne.key = buf[:len(key):len(key)]
	copy(ne.key, key)
	if found {
		ne.val = buf[len(key):]
		copy(ne.val, val)
	}
	b := &c.buckets[h&c.mask]
	victim := -1
	for i := range b.h {
		switch b.h[i].Load() {
		case 0:
			if victim < 0 {
				victim = i
			}
		case h:
			if e := b.e[i].Load(); e != nil && string(e.key) == string(key) {
				if e.gen == gen && e.txn > txn {
					return // a newer result is there already
				}
				victim = i
			}
		}
	}
	if victim < 0 {
		// CLOCK: the first way from the hand not used since it passed,
		// clearing the bits of those used.
		for range 2 * ways {
			i := int(b.hand.Add(1) % ways)
			bit := uint32(1) << i
			if b.refs.Load()&bit == 0 {
				victim = i
				break
			}
			b.refs.And(^bit)
		}
		if victim < 0 {
			victim = int(b.hand.Load() % ways)
		}
	}
	b.refs.And(^(uint32(1) << victim))
	b.h[victim].Store(0) // readers skip the way while it changes
	b.e[victim].Store(ne)
	b.h[victim].Store(h)
}
