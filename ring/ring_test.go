package ring

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// Shared test helpers and the single-goroutine behaviour both rings must
// have. The concurrent stress tests live next to each type's tests.

// stress scales the stress tests: the race detector makes every atomic
// operation an order of magnitude slower, and the whole -race run of the
// package has to stay well under 30 s on a loaded 2-core machine.
func stress(n int) int {
	if testing.Short() {
		return n / 10
	}
	return n
}

// newRand gives each goroutine of a test its own deterministic stream, so a
// failure's batch-size pattern is reproducible (the interleaving, of course,
// is not).
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// backoff is how test goroutines wait for a full or empty ring: yield, never
// sleep, so progress depends only on the other goroutine running.
func backoff() { runtime.Gosched() }

type queueMaker struct {
	name string
	make func(capacity int) Queue[uint64]
}

var queueMakers = []queueMaker{
	{"SPSC", func(c int) Queue[uint64] { return NewSPSC[uint64](c) }},
	{"MPSC", func(c int) Queue[uint64] { return NewMPSC[uint64](c) }},
	{"Blocking(SPSC)", func(c int) Queue[uint64] { return NewBlocking[uint64](NewSPSC[uint64](c)) }},
	{"Blocking(MPSC)", func(c int) Queue[uint64] { return NewBlocking[uint64](NewMPSC[uint64](c)) }},
}

func TestCapacityRounding(t *testing.T) {
	cases := []struct{ in, want int }{
		{1, 2}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {1000, 1024}, {1024, 1024},
		{1025, 2048}, {MaxCapacity - 1, MaxCapacity}, {MaxCapacity, MaxCapacity},
	}
	for _, c := range cases {
		if got := roundCapacity(c.in); got != c.want {
			t.Errorf("roundCapacity(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	for _, m := range queueMakers {
		if got := m.make(5).Cap(); got != 8 {
			t.Errorf("%s: Cap() = %d, want 8", m.name, got)
		}
	}
}

func TestCapacityPanics(t *testing.T) {
	for _, c := range []int{0, -1, MaxCapacity + 1} {
		for _, m := range queueMakers[:2] {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s(%d) did not panic", m.name, c)
					}
				}()
				m.make(c)
			}()
		}
	}
}

// TestSequential checks FIFO order, full and empty, Len, and partial
// batches on every ring, from one goroutine.
func TestSequential(t *testing.T) {
	for _, m := range queueMakers {
		t.Run(m.name, func(t *testing.T) {
			q := m.make(4)
			if _, ok := q.Pop(); ok {
				t.Fatal("Pop on empty ring succeeded")
			}
			if n := q.PopBatch(make([]uint64, 3)); n != 0 {
				t.Fatalf("PopBatch on empty ring = %d", n)
			}
			for i := range uint64(4) {
				if !q.Push(i) {
					t.Fatalf("Push(%d) failed below capacity", i)
				}
				if q.Len() != int(i)+1 {
					t.Fatalf("Len = %d, want %d", q.Len(), i+1)
				}
			}
			if q.Push(99) {
				t.Fatal("Push on full ring succeeded")
			}
			if n := q.PushBatch([]uint64{99}); n != 0 {
				t.Fatalf("PushBatch on full ring = %d", n)
			}
			if v, ok := q.Pop(); !ok || v != 0 {
				t.Fatalf("Pop = %d, %v; want 0, true", v, ok)
			}
			// Partial batch: 1 slot free of 3 requested, and it wraps.
			if n := q.PushBatch([]uint64{4, 5, 6}); n != 1 {
				t.Fatalf("PushBatch with one free slot = %d, want 1", n)
			}
			dst := make([]uint64, 8)
			if n := q.PopBatch(dst[:2]); n != 2 || dst[0] != 1 || dst[1] != 2 {
				t.Fatalf("PopBatch = %d %v", n, dst[:n])
			}
			if n := q.PushBatch([]uint64{5, 6, 7}); n != 2 {
				t.Fatalf("PushBatch = %d, want 2", n)
			}
			n := q.PopBatch(dst)
			if want := []uint64{3, 4, 5, 6}; n != len(want) || !equal(dst[:n], want) {
				t.Fatalf("PopBatch = %v, want %v", dst[:n], want)
			}
			if q.Len() != 0 {
				t.Fatalf("Len = %d after draining", q.Len())
			}
			if q.PushBatch(nil) != 0 || q.PopBatch(nil) != 0 {
				t.Fatal("empty batches must move nothing")
			}
		})
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPopZeroesSlots checks that neither ring keeps a popped pointer alive.
func TestPopZeroesSlots(t *testing.T) {
	vals := make([]*int, 8)
	for i := range vals {
		vals[i] = new(int)
	}
	s := NewSPSC[*int](4)
	m := NewMPSC[*int](4)
	for round := range 3 { // several laps, single and batch
		for _, v := range vals[:3] {
			s.Push(v)
			m.Push(v)
		}
		if round%2 == 0 {
			s.Pop()
			m.Pop()
			s.PopBatch(make([]*int, 4))
			m.PopBatch(make([]*int, 4))
		} else {
			s.PopBatch(make([]*int, 1))
			m.PopBatch(make([]*int, 1))
			s.Pop()
			m.Pop()
			s.Pop()
			m.Pop()
		}
		for i, p := range s.buf {
			if p != nil {
				t.Fatalf("round %d: SPSC slot %d still holds a pointer", round, i)
			}
		}
		for i := range m.slots {
			if m.slots[i].val != nil {
				t.Fatalf("round %d: MPSC slot %d still holds a pointer", round, i)
			}
		}
	}
}

// TestCounterWrap runs both rings across the 2^64 wrap of their positions:
// never reached in practice, but the signed-difference arithmetic must hold.
func TestCounterWrap(t *testing.T) {
	start := ^uint64(0) - 5
	s := NewSPSC[uint64](4)
	s.head.Store(start)
	s.tail.Store(start)
	s.headCache, s.tailCache = start, start
	qs := []Queue[uint64]{s, newMPSCAt[uint64](4, start)}
	for _, q := range qs {
		next, want := uint64(0), uint64(0)
		dst := make([]uint64, 3)
		for range 20 {
			next += uint64(q.PushBatch([]uint64{next, next + 1, next + 2}))
			if q.Push(next) {
				next++
			}
			if q.Len() > q.Cap() {
				t.Fatalf("%T: Len %d > Cap", q, q.Len())
			}
			n := q.PopBatch(dst[:2])
			for _, v := range dst[:n] {
				if v != want {
					t.Fatalf("%T: got %d, want %d", q, v, want)
				}
				want++
			}
			if v, ok := q.Pop(); ok {
				if v != want {
					t.Fatalf("%T: got %d, want %d", q, v, want)
				}
				want++
			}
		}
		if want < 40 {
			t.Fatalf("%T: only %d elements went through", q, want)
		}
	}
}
