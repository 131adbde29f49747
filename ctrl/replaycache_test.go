package ctrl

import "testing"

// TestExpiringSetGrowsToBound checks the lazily grown ring: entries survive each doubling in
// insertion order, the bound still evicts the oldest, and expiry still prunes from the old end.
func TestExpiringSetGrowsToBound(t *testing.T) {
	const max = 300 // not a power of two: the last growth is clipped to it
	s := newExpiringSet[int](max)
	if got := len(s.order); got != initialOrder {
		t.Fatalf("initial ring %d, want %d", got, initialOrder)
	}
	for k := 0; k < max; k++ {
		if !s.add(k, 0, int64(1000+k)) {
			t.Fatalf("add(%d) reported a duplicate", k)
		}
	}
	if len(s.order) != max || s.len() != max {
		t.Fatalf("ring %d holding %d, want %d and %d", len(s.order), s.len(), max, max)
	}
	for k := 0; k < max; k++ {
		if !s.contains(k, 0) {
			t.Fatalf("key %d lost while growing", k)
		}
	}
	if s.add(7, 0, 5000) {
		t.Fatal("a live key was added twice")
	}
	// Full: one more evicts the oldest (0) and nothing else.
	if !s.add(max, 0, 2000) || s.contains(0, 0) || !s.contains(1, 0) || s.len() != max {
		t.Fatalf("eviction at the bound: contains(0)=%v contains(1)=%v len=%d", s.contains(0, 0), s.contains(1, 0), s.len())
	}
	// Keys 1..100 expire at 1001..1100: at 1100 the next add prunes them (and adds itself).
	s.add(-1, 1100, 3000)
	if s.contains(100, 1100) || !s.contains(101, 1100) || s.len() != max-100+1 {
		t.Fatalf("prune: contains(100)=%v contains(101)=%v len=%d, want false true %d", s.contains(100, 1100), s.contains(101, 1100), s.len(), max-100+1)
	}
}
