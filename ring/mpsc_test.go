package ring

import (
	"fmt"
	"sync"
	"testing"
)

// item identifies an element by producer and per-producer sequence number,
// so the consumer can check exactly-once, in-order delivery per producer.
type item struct {
	producer uint32
	seq      uint32
}

// orderChecker is the consumer's ledger: next[p] is the sequence number it
// expects from producer p.
type orderChecker struct {
	t    testing.TB
	next []uint32
	got  int
}

func newOrderChecker(t testing.TB, producers int) *orderChecker {
	return &orderChecker{t: t, next: make([]uint32, producers)}
}

func (c *orderChecker) see(it item) {
	c.t.Helper()
	if int(it.producer) >= len(c.next) {
		c.t.Fatalf("element from unknown producer %d", it.producer)
	}
	if want := c.next[it.producer]; it.seq != want {
		c.t.Fatalf("producer %d: got seq %d, want %d (lost, duplicated or reordered)",
			it.producer, it.seq, want)
	}
	c.next[it.producer]++
	c.got++
}

// pushSeq pushes seqs 0..n-1 for producer id, mixing Push and PushBatch of
// random sizes, retrying with backoff when the ring is full.
func pushSeq(q Queue[item], id uint32, n int) {
	rng := newRand(uint64(id) + 100)
	src := make([]item, 8)
	for next := 0; next < n; {
		if rng.IntN(2) == 0 {
			k := min(1+rng.IntN(len(src)), n-next)
			for i := range k {
				src[i] = item{id, uint32(next + i)}
			}
			pushed := q.PushBatch(src[:k])
			if pushed == 0 {
				backoff()
			}
			next += pushed
		} else if q.Push(item{id, uint32(next)}) {
			next++
		} else {
			backoff()
		}
	}
}

// TestMPSCStress runs 4 and 8 producers, each pushing its own sequence with
// a mix of Push and PushBatch, against one consumer mixing Pop and
// PopBatch, and checks every element arrives exactly once and in order per
// producer. A capacity of 4 keeps producers fighting over the same slots
// and makes PushBatch hit its partial-room path constantly.
func TestMPSCStress(t *testing.T) {
	for _, producers := range []int{4, 8} {
		for _, capacity := range []int{4, 256} {
			t.Run(fmt.Sprintf("p%d/cap%d", producers, capacity), func(t *testing.T) {
				t.Parallel()
				perProducer := stress(240_000) / producers
				q := NewMPSC[item](capacity)
				var wg sync.WaitGroup
				for p := range producers {
					wg.Go(func() { pushSeq(q, uint32(p), perProducer) })
				}
				check := newOrderChecker(t, producers)
				rng := newRand(7)
				dst := make([]item, 16)
				for check.got < producers*perProducer {
					if rng.IntN(2) == 0 {
						n := q.PopBatch(dst[:1+rng.IntN(len(dst))])
						if n == 0 {
							backoff()
						}
						for _, it := range dst[:n] {
							check.see(it)
						}
					} else if it, ok := q.Pop(); ok {
						check.see(it)
					} else {
						backoff()
					}
				}
				wg.Wait()
				for p, n := range check.next {
					if int(n) != perProducer {
						t.Errorf("producer %d: %d of %d delivered", p, n, perProducer)
					}
				}
				if q.Len() != 0 {
					t.Errorf("Len = %d after draining", q.Len())
				}
			})
		}
	}
}

// TestMPSCBatchContiguous checks that what one PushBatch call reserved is
// never interleaved with another producer's elements: each element carries
// its index within the call, and every element but a call's first must
// directly follow its predecessor from the same call.
func TestMPSCBatchContiguous(t *testing.T) {
	type tagged struct {
		it   item
		call uint32 // per-producer call number
		idx  uint32 // index within that call's accepted elements
	}
	const producers = 4
	perProducer := stress(160_000) / producers
	q := NewMPSC[tagged](16)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			rng := newRand(uint64(p))
			src := make([]tagged, 8)
			call := uint32(0)
			for next := 0; next < perProducer; {
				k := min(1+rng.IntN(len(src)), perProducer-next)
				for i := range k {
					src[i] = tagged{item{uint32(p), uint32(next + i)}, call, uint32(i)}
				}
				n := q.PushBatch(src[:k])
				if n == 0 {
					backoff()
					continue
				}
				next += n
				call++
			}
		})
	}
	check := newOrderChecker(t, producers)
	var prev tagged
	for check.got < producers*perProducer {
		v, ok := q.Pop()
		if !ok {
			backoff()
			continue
		}
		check.see(v.it)
		if v.idx > 0 && (prev.it.producer != v.it.producer || prev.call != v.call || prev.idx != v.idx-1) {
			t.Fatalf("batch %d of producer %d interrupted: %+v followed %+v",
				v.call, v.it.producer, v, prev)
		}
		prev = v
	}
	wg.Wait()
}
