package dataplane

import (
	"math/rand/v2"
	"testing"
)

// TestRangeListModel checks add, remove, take and trimBelow against a bitmap of the same bytes,
// with seeded random operations.
func TestRangeListModel(t *testing.T) {
	const size = 256
	rng := rand.New(rand.NewPCG(10, 10))
	var l rangeList
	var model [size]bool
	for step := 0; step < 20000; step++ {
		lo := uint64(rng.IntN(size))
		hi := lo + uint64(rng.IntN(size-int(lo)+1))
		switch rng.IntN(4) {
		case 0, 1:
			l.add(lo, hi)
			for i := lo; i < hi; i++ {
				model[i] = true
			}
		case 2:
			l.remove(lo, hi)
			for i := lo; i < hi; i++ {
				model[i] = false
			}
		case 3:
			l.trimBelow(lo)
			for i := uint64(0); i < lo; i++ {
				model[i] = false
			}
		}
		checkRangeList(t, step, &l, &model)
	}
}

func checkRangeList(t *testing.T, step int, l *rangeList, model *[256]bool) {
	t.Helper()
	var got [256]bool
	prevHi := uint64(0)
	for i, r := range l.r {
		if r.lo >= r.hi || (i > 0 && r.lo <= prevHi) {
			t.Fatalf("step %d: ranges not sorted, disjoint and non-empty: %v", step, l.r)
		}
		prevHi = r.hi
		for b := r.lo; b < r.hi; b++ {
			got[b] = true
		}
	}
	if got != *model {
		t.Fatalf("step %d: set %v differs from the model", step, l.r)
	}
}
