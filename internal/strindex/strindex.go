// Package strindex finds, among a caller's numbered items, the one that has
// a given string: the first of 10,000 entries with a name, the subscription
// with an id. It does what a map[string]int does for that, in under a third
// of the memory and with fewer scattered reads: the table holds no strings,
// only a 32-bit tag of each string's hash and the item's number in one word,
// and a lookup reads the item's own string (through the caller's key
// function) only when the tag matches, where a map also reads its own copy of
// the key. A plan's uniqueness checks and matching make tens of thousands of
// such lookups in tables larger than the processor's caches, where a map's
// scattered keys cost more than the rest of the work.
package strindex

import "hash/maphash"

// Index maps strings to item numbers. The zero Index is not usable; make
// one with New. It is not safe for concurrent use.
type Index struct {
	// slots are 0 when empty, else tag<<32 | (item+1).
	slots []uint64
	mask  uint64
	n     int
	seed  maphash.Seed
	key   func(item int) string
	// hash is maphash.String, replaced by tests to force collisions.
	hash func(maphash.Seed, string) uint64
}

// MaxItems is the largest item number plus one.
const MaxItems = 1<<32 - 1

// New returns an Index sized for about n strings (it grows past that).
// key(i) must return item i's string from the moment i is passed to Claim
// or Set (growing the table reads it) for as long as the Index is used, and
// must not change once item i is in the Index.
func New(n int, key func(item int) string) *Index {
	size := 16
	for 3*size < 4*n { // at most three quarters full (see put)
		size *= 2
	}
	return &Index{slots: make([]uint64, size), mask: uint64(size - 1), seed: maphash.MakeSeed(), key: key, hash: maphash.String}
}

// Len returns the number of strings in x.
func (x *Index) Len() int { return x.n }

// find returns the slot of s, or of the empty slot where s would go, and
// whether s is there.
func (x *Index) find(s string, h uint64) (slot uint64, found bool) {
	tag := h >> 32
	for slot = h & x.mask; ; slot = (slot + 1) & x.mask {
		v := x.slots[slot]
		if v == 0 {
			return slot, false
		}
		if v>>32 == tag && x.key(int(uint32(v))-1) == s {
			return slot, true
		}
	}
}

// Find returns the item whose string is s.
func (x *Index) Find(s string) (item int, ok bool) {
	slot, ok := x.find(s, x.hash(x.seed, s))
	if !ok {
		return 0, false
	}
	return int(uint32(x.slots[slot])) - 1, true
}

// Claim returns the item whose string is s, if there is one; otherwise it
// records item as s's and returns item and false. It hashes s once.
func (x *Index) Claim(s string, item int) (holder int, found bool) {
	h := x.hash(x.seed, s)
	slot, ok := x.find(s, h)
	if ok {
		return int(uint32(x.slots[slot])) - 1, true
	}
	x.put(slot, h, item)
	return item, false
}

// Set makes item the one whose string is s, replacing any other.
func (x *Index) Set(s string, item int) {
	h := x.hash(x.seed, s)
	slot, ok := x.find(s, h)
	if ok {
		x.slots[slot] = x.slots[slot]&^(1<<32-1) | uint64(item+1)
		return
	}
	x.put(slot, h, item)
}

// put fills the empty slot with item under hash h, growing the table when
// it is three quarters full. Eight slots share a cache line, so even then a
// probe rarely leaves the line it starts in.
func (x *Index) put(slot, h uint64, item int) {
	if item < 0 || item >= MaxItems {
		panic("strindex: item number out of range")
	}
	x.slots[slot] = h>>32<<32 | uint64(item+1)
	x.n++
	if 4*x.n > 3*len(x.slots) {
		x.grow()
	}
}

// grow doubles the table, rehashing each item's string.
func (x *Index) grow() {
	old := x.slots
	x.slots = make([]uint64, 2*len(old))
	x.mask = uint64(len(x.slots) - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		slot := x.hash(x.seed, x.key(int(uint32(v))-1)) & x.mask
		for x.slots[slot] != 0 {
			slot = (slot + 1) & x.mask
		}
		x.slots[slot] = v
	}
}
