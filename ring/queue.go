package ring

import "math/bits"

// Queue is the behaviour shared by [SPSC], [MPSC] and [Blocking], so code
// such as Blocking can be written once for either ring. The interface says
// nothing about how many goroutines may call each side; that contract belongs
// to the concrete type.
type Queue[T any] interface {
	// Push appends v and reports whether there was room. It never blocks.
	Push(v T) bool
	// PushBatch appends a prefix of vs, as long as there is room for, and
	// returns its length (0 when full). It never blocks.
	PushBatch(vs []T) int
	// Pop removes the oldest element; ok is false when the ring is empty.
	Pop() (v T, ok bool)
	// PopBatch moves up to len(dst) oldest elements into dst and returns
	// how many. It never blocks.
	PopBatch(dst []T) int
	// Len is a snapshot of the number of queued elements; it may be stale by
	// the time it returns and is meant for metrics and heuristics only.
	Len() int
	// Cap is the fixed capacity (a power of two).
	Cap() int
}

// Compile-time checks that every ring is a Queue.
var (
	_ Queue[int] = (*SPSC[int])(nil)
	_ Queue[int] = (*MPSC[int])(nil)
	_ Queue[int] = (*Blocking[int])(nil)
)

// MaxCapacity bounds the capacity a ring may be created with. It keeps the
// slot array's size sane and far from the index arithmetic's limits; a larger
// request is a programming error, not a runtime condition.
const MaxCapacity = 1 << 30

// roundCapacity returns the power of two (at least 2) that NewSPSC and NewMPSC
// allocate for a requested capacity. Two is the minimum because MPSC's
// per-slot sequence numbers need two states a lap apart to differ.
func roundCapacity(capacity int) int {
	if capacity <= 0 || capacity > MaxCapacity {
		panic("ring: capacity must be in [1, MaxCapacity]")
	}
	if capacity < 2 {
		return 2
	}
	return 1 << bits.Len(uint(capacity-1))
}

// clampLen turns a racy (tail - head) snapshot into a length in [0, capacity].
// The two indices are loaded one after the other, so the difference can
// briefly exceed the capacity; it can never be negative because head is
// always loaded first and tail never falls behind it.
func clampLen(tail, head, capacity uint64) int {
	n := tail - head
	if n > capacity {
		n = capacity
	}
	return int(n)
}
