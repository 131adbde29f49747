package ring

import "sync/atomic"

// slot pairs an element with the sequence number that says whose turn it is.
// For the slot serving position p (p & mask == index), seq is:
//
//	p          free: the producer that reserves p may write it
//	p+1        published: the consumer may read position p
//	p+capacity released: free for p+capacity, the same slot one lap later
//
// Those values are distinct modulo capacity when capacity >= 2, so one load
// tells a producer or the consumer exactly where the slot stands.
type slot[T any] struct {
	seq atomic.Uint64
	val T
}

// MPSC is a bounded many-producer, single-consumer ring: any number of
// goroutines may call Push/PushBatch concurrently, one goroutine may call
// Pop/PopBatch, and any goroutine may call Len and Cap. It carries a
// session's writes from application goroutines to the TX loop.
//
// The design is Dmitry Vyukov's bounded MPMC queue with the consumer side
// simplified for one consumer (no CAS on head). Producers claim a position
// with a CAS on tail and publish through the slot's own sequence number, so
// producers never wait for each other to finish writing: contention is one
// CAS on one line, and the consumer reads only the slot lines it consumes.
//
// One property to know: the consumer sees elements strictly in position
// order, so a producer preempted between claiming position p and publishing
// it holds back positions after p until it runs again. That is the usual
// price of a bounded array queue and is invisible to correctness; Blocking
// turns it into a wait, not a spin, because the late producer still notifies.
type MPSC[T any] struct {
	_ pad
	// Read-only after construction.
	slots []slot[T]
	mask  uint64
	_     pad
	tail  atomic.Uint64 // next position to claim; CAS by producers
	_     pad
	head  atomic.Uint64 // next position to read; written by the consumer only
	_     pad
}

// NewMPSC returns an empty MPSC ring holding at least capacity elements
// (rounded up to a power of two, minimum 2). It panics if capacity <= 0 or
// capacity > MaxCapacity.
func NewMPSC[T any](capacity int) *MPSC[T] {
	return newMPSCAt[T](capacity, 0)
}

// newMPSCAt starts the positions at start instead of 0, so tests can run the
// ring across the 2^64 wrap of its counters.
func newMPSCAt[T any](capacity int, start uint64) *MPSC[T] {
	n := roundCapacity(capacity)
	q := &MPSC[T]{slots: make([]slot[T], n), mask: uint64(n - 1)}
	for p := start; p != start+uint64(n); p++ {
		q.slots[p&q.mask].seq.Store(p)
	}
	q.tail.Store(start)
	q.head.Store(start)
	return q
}

// Push appends v and reports whether there was room. Safe for any number of
// concurrent producers; lock-free (a failed CAS means another producer won).
func (q *MPSC[T]) Push(v T) bool {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		dif := int64(s.seq.Load() - pos) // signed: wrap-safe comparison
		switch {
		case dif == 0: // free for pos: try to claim it
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // publish
				return true
			}
			pos = q.tail.Load()
		case dif < 0:
			// The slot still holds position pos-capacity, not yet consumed.
			// With one consumer, releases happen in order, so this is a real
			// "full" as of the load, not Vyukov's MPMC false negative.
			return false
		default:
			// Another producer already claimed pos; our tail is stale.
			pos = q.tail.Load()
		}
	}
}

// PushBatch appends as many leading elements of vs as fit, reserving their
// positions with a single CAS so the batch stays contiguous, and returns how
// many. Safe for concurrent producers.
//
// Why checking only the last slot suffices: the consumer releases positions
// strictly in order, and each release is an atomic store. Seeing the last
// slot released for pos+n-1 means positions pos-capacity .. pos+n-1-capacity
// were all consumed, so every slot in the range is free for this lap, unless
// another producer claimed some of it, in which case tail has moved past pos
// and the CAS fails.
func (q *MPSC[T]) PushBatch(vs []T) int {
	size := q.mask + 1
	full := min(uint64(len(vs)), size)
	if full == 0 {
		return 0
	}
	n := full
	pos := q.tail.Load()
	for {
		last := pos + n - 1
		dif := int64(q.slots[last&q.mask].seq.Load() - last)
		if dif == 0 {
			if q.tail.CompareAndSwap(pos, pos+n) {
				for i := range n {
					s := &q.slots[(pos+i)&q.mask]
					s.val = vs[i]
					s.seq.Store(pos + i + 1) // publish in order
				}
				return int(n)
			}
			pos, n = q.tail.Load(), full
			continue
		}
		if dif > 0 { // pos is stale
			pos, n = q.tail.Load(), full
			continue
		}
		// Not enough room for n. Size the batch to what the consumer has
		// released: it stores every slot's sequence before advancing head,
		// so all positions below head+capacity are free.
		h := q.head.Load()
		used := pos - h
		if int64(used) < 0 { // head passed our stale pos
			pos, n = q.tail.Load(), full
			continue
		}
		if used >= size {
			return 0 // tail >= pos, so the ring is at least this full
		}
		// head may have moved since the slot load, so the room can exceed
		// the previous n; it never exceeds what the caller asked for.
		n = min(full, size-used)
	}
}

// Pop removes and returns the oldest element; ok is false when the ring is
// empty or the oldest position is claimed but not yet published. Consumer
// only.
func (q *MPSC[T]) Pop() (v T, ok bool) {
	pos := q.head.Load()
	s := &q.slots[pos&q.mask]
	if s.seq.Load() != pos+1 {
		return v, false
	}
	v = s.val
	var zero T
	s.val = zero
	s.seq.Store(pos + q.mask + 1) // release for the next lap
	q.head.Store(pos + 1)
	return v, true
}

// PopBatch moves up to len(dst) of the oldest published elements into dst
// and returns how many. It stops at the first unpublished position, keeping
// per-producer order. Consumer only.
func (q *MPSC[T]) PopBatch(dst []T) int {
	pos := q.head.Load()
	size := q.mask + 1
	var zero T
	n := 0
	for n < len(dst) {
		p := pos + uint64(n)
		s := &q.slots[p&q.mask]
		if s.seq.Load() != p+1 {
			break
		}
		dst[n] = s.val
		s.val = zero
		s.seq.Store(p + size)
		n++
	}
	if n > 0 {
		q.head.Store(pos + uint64(n))
	}
	return n
}

// Len returns a snapshot of the number of queued elements, counting
// positions that are claimed but not yet published. Any goroutine.
func (q *MPSC[T]) Len() int {
	h := q.head.Load()
	return clampLen(q.tail.Load(), h, q.mask+1)
}

// Cap returns the ring's capacity (a power of two).
func (q *MPSC[T]) Cap() int { return int(q.mask + 1) }
