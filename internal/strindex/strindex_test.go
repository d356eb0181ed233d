package strindex

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// items is what a caller keeps: item i's string is items[i].
type items []string

func (it *items) key(i int) string { return (*it)[i] }

// hashes are the hash functions the tests run under: the real one, one
// that gives every string the same hash (every lookup probes through every
// string, and every tag matches), and one with few distinct values (tags
// collide while the strings differ).
var hashes = map[string]func(maphash.Seed, string) uint64{
	"maphash":  maphash.String,
	"constant": func(maphash.Seed, string) uint64 { return 0x1234_5678_0000_0003 },
	"few": func(seed maphash.Seed, s string) uint64 {
		h := maphash.String(seed, s) % 5
		return h<<32 | h
	},
}

// TestIndexAgreesWithAMap runs random Claim, Set and Find calls against an
// Index and a map[string]int doing the same, from a table sized far too
// small (so that it grows) and one sized right.
func TestIndexAgreesWithAMap(t *testing.T) {
	for name, hash := range hashes {
		for _, size := range []int{0, 3000} {
			t.Run(fmt.Sprintf("%s/size%d", name, size), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(7, uint64(size)))
				var it items
				x := New(size, it.key)
				x.hash = hash
				want := map[string]int{}
				for step := range 3000 {
					s := fmt.Sprintf("s%d", rng.IntN(1500))
					switch op := rng.IntN(3); op {
					case 0, 1: // Claim, or Set, of a new item with s
						it = append(it, s)
						i := len(it) - 1
						if op == 1 {
							x.Set(s, i)
							want[s] = i
							break
						}
						got, found := x.Claim(s, i)
						w, wfound := want[s]
						if !wfound {
							w = i
							want[s] = i
						}
						if got != w || found != wfound {
							t.Fatalf("step %d: Claim(%q, %d) = %d, %v; want %d, %v", step, s, i, got, found, w, wfound)
						}
					case 2:
						got, found := x.Find(s)
						w, wfound := want[s]
						if got != w || found != wfound {
							t.Fatalf("step %d: Find(%q) = %d, %v; want %d, %v", step, s, got, found, w, wfound)
						}
					}
					if x.Len() != len(want) {
						t.Fatalf("step %d: Len() = %d, want %d", step, x.Len(), len(want))
					}
				}
				for s, w := range want {
					if got, ok := x.Find(s); !ok || got != w {
						t.Errorf("at the end, Find(%q) = %d, %v; want %d, true", s, got, ok, w)
					}
				}
				if _, ok := x.Find("absent"); ok {
					t.Error("Find found a string that was never added")
				}
			})
		}
	}
}

func TestIndexStaysAtMostThreeQuartersFull(t *testing.T) {
	var it items
	x := New(10, it.key)
	for i := range 1000 {
		it = append(it, fmt.Sprint(i))
		x.Claim(it[i], i)
		if 4*x.Len() > 3*len(x.slots) {
			t.Fatalf("after %d strings the table has %d slots", x.Len(), len(x.slots))
		}
	}
	// Sized right, it never grows.
	if y := New(10000, it.key); len(y.slots) != 16384 {
		t.Errorf("New(10000) has %d slots, want 16384", len(y.slots))
	}
}

func TestIndexRefusesItemsOutOfRange(t *testing.T) {
	for _, item := range []int{-1, MaxItems} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Claim with item %d did not panic", item)
				}
			}()
			New(1, func(int) string { return "x" }).Claim("x", item)
		}()
	}
}

// BenchmarkClaim claims 10,000 distinct names, as a file's uniqueness check
// does, with an Index and with a map[string]int.
func BenchmarkClaim(b *testing.B) {
	var it items
	for i := range 10000 {
		it = append(it, fmt.Sprintf("hook-%05d", i))
	}
	b.Run("Index", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x := New(len(it), it.key)
			for i, s := range it {
				if _, dup := x.Claim(s, i); dup {
					b.Fatal("duplicate")
				}
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := make(map[string]int, len(it))
			for i, s := range it {
				if _, dup := m[s]; dup {
					b.Fatal("duplicate")
				}
				m[s] = i
			}
		}
	})
}
