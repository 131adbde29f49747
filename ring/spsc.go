package ring

import "sync/atomic"

// SPSC is a bounded single-producer, single-consumer ring. It is the fast
// path between exactly two goroutines (the RX loop and one stream reader, for
// instance): one goroutine may call Push/PushBatch, one other may call
// Pop/PopBatch, and any goroutine may call Len and Cap.
//
// The layout follows rigtorp/SPSCQueue: each index lives on its own padded
// line and is written only by its owner, and each side keeps a private copy
// of the other side's index, reloading it (a cache miss on a line the other
// core owns) only when the copy says full or empty. In steady state a batch
// costs each side one shared-line read and one atomic store.
type SPSC[T any] struct {
	_ pad
	// Read-only after construction, so both cores keep this line shared.
	buf  []T
	mask uint64 // len(buf)-1
	_    pad
	// Producer's line.
	tail      atomic.Uint64 // next position to write; stored after the element
	headCache uint64        // producer's last view of head; a lower bound
	_         pad
	// Consumer's line.
	head      atomic.Uint64 // next position to read; stored after the slot is cleared
	tailCache uint64        // consumer's last view of tail; a lower bound
	_         pad
}

// NewSPSC returns an empty SPSC ring holding at least capacity elements
// (rounded up to a power of two, minimum 2). It panics if capacity <= 0 or
// capacity > MaxCapacity, since that can only be a programming error.
func NewSPSC[T any](capacity int) *SPSC[T] {
	n := roundCapacity(capacity)
	return &SPSC[T]{buf: make([]T, n), mask: uint64(n - 1)}
}

// Push appends v and reports whether there was room. Producer only.
func (q *SPSC[T]) Push(v T) bool {
	t := q.tail.Load() // our own index: a plain MOV, no contention
	// headCache is a lower bound of head, so "not full" per the cache is
	// true; only "full" needs confirming against the consumer's line.
	if t-q.headCache > q.mask {
		q.headCache = q.head.Load()
		if t-q.headCache > q.mask {
			return false
		}
	}
	q.buf[t&q.mask] = v
	q.tail.Store(t + 1) // publish: the element write happens before this
	return true
}

// PushBatch appends as many leading elements of vs as fit and returns how
// many. The whole batch is published with one atomic store, which is where
// batching wins: the cross-core cost is per call, not per element.
// Producer only.
func (q *SPSC[T]) PushBatch(vs []T) int {
	t := q.tail.Load()
	size := q.mask + 1
	want := uint64(len(vs))
	free := size - (t - q.headCache)
	if free < want {
		q.headCache = q.head.Load()
		free = size - (t - q.headCache)
	}
	n := min(free, want)
	if n == 0 {
		return 0
	}
	i := t & q.mask
	c := copy(q.buf[i:], vs[:n]) // up to the end of the array ...
	copy(q.buf, vs[c:n])         // ... and the rest from the start
	q.tail.Store(t + n)
	return int(n)
}

// Pop removes and returns the oldest element; ok is false when the ring is
// empty. Consumer only.
func (q *SPSC[T]) Pop() (v T, ok bool) {
	h := q.head.Load()
	if h == q.tailCache {
		q.tailCache = q.tail.Load()
		if h == q.tailCache {
			return v, false
		}
	}
	i := h & q.mask
	v = q.buf[i]
	var zero T
	q.buf[i] = zero // drop the ring's reference before releasing the slot
	q.head.Store(h + 1)
	return v, true
}

// PopBatch moves up to len(dst) of the oldest elements into dst and returns
// how many; one atomic store releases them all. Consumer only.
func (q *SPSC[T]) PopBatch(dst []T) int {
	h := q.head.Load()
	want := uint64(len(dst))
	avail := q.tailCache - h
	if avail < want {
		q.tailCache = q.tail.Load()
		avail = q.tailCache - h
	}
	n := min(avail, want)
	if n == 0 {
		return 0
	}
	i := h & q.mask
	end := min(i+n, q.mask+1) // first segment stops at the end of the array
	c := copy(dst[:n], q.buf[i:end])
	clear(q.buf[i:end])
	copy(dst[c:n], q.buf[:n-uint64(c)])
	clear(q.buf[:n-uint64(c)])
	q.head.Store(h + n)
	return int(n)
}

// Len returns a snapshot of the number of queued elements. Any goroutine.
func (q *SPSC[T]) Len() int {
	h := q.head.Load() // head first: tail only grows, so tail-head >= 0
	return clampLen(q.tail.Load(), h, q.mask+1)
}

// Cap returns the ring's capacity (a power of two).
func (q *SPSC[T]) Cap() int { return int(q.mask + 1) }
