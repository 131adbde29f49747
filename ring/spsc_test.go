package ring

import (
	"fmt"
	"testing"
)

// TestSPSCStress pushes 0..n-1 from one goroutine and checks on the other
// that every value arrives exactly once and in order. Small capacities force
// constant wrap-around and full/empty races on the cached indices; mixing
// single and batch calls on both sides exercises every path against every
// other.
func TestSPSCStress(t *testing.T) {
	for _, capacity := range []int{2, 4, 64} {
		for _, mode := range []string{"single", "batch", "mixed"} {
			t.Run(fmt.Sprintf("cap%d/%s", capacity, mode), func(t *testing.T) {
				t.Parallel()
				spscStress(t, NewSPSC[uint64](capacity), mode, stress(300_000))
			})
		}
	}
}

func spscStress(t *testing.T, q *SPSC[uint64], mode string, n int) {
	useBatch := func(r int) bool {
		switch mode {
		case "single":
			return false
		case "batch":
			return true
		}
		return r%2 == 0
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := newRand(1)
		src := make([]uint64, 16)
		for next := uint64(0); next < uint64(n); {
			if useBatch(rng.IntN(4)) {
				k := min(1+rng.IntN(len(src)), n-int(next))
				for i := range k {
					src[i] = next + uint64(i)
				}
				pushed := q.PushBatch(src[:k])
				if pushed == 0 {
					backoff()
				}
				next += uint64(pushed)
			} else if q.Push(next) {
				next++
			} else {
				backoff()
			}
		}
	}()
	rng := newRand(2)
	dst := make([]uint64, 16)
	for want := uint64(0); want < uint64(n); {
		if useBatch(rng.IntN(4)) {
			k := q.PopBatch(dst[:1+rng.IntN(len(dst))])
			if k == 0 {
				backoff()
			}
			for _, v := range dst[:k] {
				if v != want {
					t.Fatalf("got %d, want %d", v, want)
				}
				want++
			}
		} else if v, ok := q.Pop(); ok {
			if v != want {
				t.Fatalf("got %d, want %d", v, want)
			}
			want++
		} else {
			backoff()
		}
	}
	<-done
	if _, ok := q.Pop(); ok {
		t.Fatal("ring not empty after all elements were consumed")
	}
}
