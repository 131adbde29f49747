package streambuf

import (
	"math"
	"sync"
	"sync/atomic"
)

// Shared is one message's stream bytes (its varint length prefix and body, exactly what goes on
// the wire) held once for many send buffers: a broadcast to 1000 sessions writes a reference to
// one Shared into each session's buffer instead of 1000 copies, so the broadcaster touches one
// hot buffer and each session's small state rather than 1000 cold send-buffer chunks. It is
// reference counted: NewShared returns it with the caller's reference, each WriteShared takes
// one, and each buffer gives its reference back once every byte of it is acknowledged (or on
// Release); the last reference returns it to a pool. Its bytes are never written after
// NewShared, so any number of transports may read them concurrently.
type Shared struct {
	buf  []byte
	refs atomic.Int32
}

// maxPooledShared is the largest buffer a pooled Shared keeps: a rare huge broadcast should not
// pin its memory in the pool for the process's life.
const maxPooledShared = 256 << 10

var sharedPool = sync.Pool{New: func() any { return new(Shared) }}

// sharedLive counts Shareds handed out and not yet returned (SharedInUse), on its own cache line.
var sharedLive struct {
	_ [128]byte
	n atomic.Int64
	_ [120]byte
}

// NewShared returns a Shared holding hdr followed by body, with one reference, the caller's;
// nil when the two do not fit the 32-bit piece bounds a reference records (4 GiB). In steady
// state (pool warm, messages no larger than before) it does not allocate.
func NewShared(hdr, body []byte) *Shared {
	if uint64(len(hdr))+uint64(len(body)) > math.MaxUint32 {
		return nil
	}
	m := sharedPool.Get().(*Shared)
	m.buf = append(append(m.buf[:0], hdr...), body...)
	m.refs.Store(1)
	sharedLive.n.Add(1)
	return m
}

// Len is the number of stream bytes m holds.
func (m *Shared) Len() int { return len(m.buf) }

// Release gives back one reference; the last one returns m to the pool, so m must not be used
// by the caller afterwards.
func (m *Shared) Release() {
	if m.refs.Add(-1) != 0 {
		return
	}
	if cap(m.buf) > maxPooledShared {
		m.buf = nil
	}
	sharedLive.n.Add(-1)
	sharedPool.Put(m)
}

// SharedInUse reports how many Shareds are referenced by someone: the messages that a
// broadcaster or some send buffer still holds (leak and memory-bound tests, metrics).
func SharedInUse() int64 { return sharedLive.n.Load() }

// sharedRef is one piece of a Shared in a send buffer: stream bytes [start, start+to-from) are
// m.buf[from:to]. A message larger than the buffer's capacity goes in as several pieces.
type sharedRef struct {
	start    uint64
	m        *Shared
	from, to uint32
}

func (r *sharedRef) end() uint64 { return r.start + uint64(r.to-r.from) }

// Reference ring sizes: a buffer starts with minRefSlots references (24 bytes each) and doubles
// while the ring, not the byte capacity, is what is full, up to one reference per
// bytesPerRefSlot bytes of capacity. So the ring never costs more than 5% of what a copying
// buffer of the same capacity could hold, and messages shorter than bytesPerRefSlot are limited
// by the ring's count rather than by bytes.
const (
	minRefSlots     = 64
	bytesPerRefSlot = 512
)

// refRing holds a send buffer's references in stream order: slot i % len(slots) holds the i-th
// reference. The producer writes slot tail and then publishes tail and end; the transport clears
// the slots of wholly acknowledged references and then publishes head. The producer writes only
// slots below head + len(slots), so the two never touch the same slot (the argument of the
// chunk table's slot safety, with indexes of references in place of chunk indexes).
type refRing struct {
	slots []sharedRef
	head  atomic.Uint64 // transport: the first reference not wholly acknowledged
	tail  atomic.Uint64 // producer: the next reference to write
	hint  uint64        // transport: the reference the last ReadAt ended in
}

func newRefRing(n int, first uint64) *refRing {
	r := &refRing{slots: make([]sharedRef, n)}
	r.head.Store(first)
	r.tail.Store(first)
	r.hint = first
	return r
}

func (r *refRing) slot(i uint64) *sharedRef { return &r.slots[i&uint64(len(r.slots)-1)] }

// full reports whether every slot holds a live reference. Producer side.
func (r *refRing) full() bool { return r.tail.Load()-r.head.Load() >= uint64(len(r.slots)) }

// find returns the index of the reference holding offset off, which the caller guarantees lies
// in [acked, end): first transmissions read forward from where the last read ended, so the
// hint is almost always the answer or just before it; retransmissions binary-search. Transport.
func (r *refRing) find(off uint64) uint64 {
	lo, hi := r.head.Load(), r.tail.Load()
	if h := r.hint; h >= lo && h < hi && r.slot(h).start <= off {
		for i := h; i < hi && i < h+4; i++ {
			if off < r.slot(i).end() {
				return i
			}
		}
		lo = h
	}
	for hi-lo > 1 { // invariant: slot(lo).start <= off < slot(hi).start (or hi = tail)
		mid := lo + (hi-lo)/2
		if r.slot(mid).start <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// copyOut copies the stream bytes at [off, off+len(dst)) into dst; they must be written and not
// yet released. Transport side.
func (r *refRing) copyOut(off uint64, dst []byte) {
	i := r.find(off)
	for len(dst) > 0 {
		s := r.slot(i)
		k := copy(dst, s.m.buf[uint64(s.from)+(off-s.start):s.to])
		dst = dst[k:]
		off += uint64(k)
		if len(dst) > 0 {
			i++
		}
	}
	r.hint = i
}

// releaseBelow gives back the references lying wholly below acked and publishes the new head.
// Transport side; it must run before acked is published (the producer's slot check reads head).
func (r *refRing) releaseBelow(acked uint64) {
	h, t := r.head.Load(), r.tail.Load()
	for ; h < t; h++ {
		s := r.slot(h)
		if s.end() > acked {
			break
		}
		s.m.Release()
		*s = sharedRef{}
	}
	r.head.Store(h)
}

// releaseAll gives back every live reference (the buffer is released and nobody is inside).
func (r *refRing) releaseAll() {
	for h, t := r.head.Load(), r.tail.Load(); h < t; h++ {
		s := r.slot(h)
		s.m.Release()
		*s = sharedRef{}
	}
	r.head.Store(r.tail.Load())
}

// regrow returns a ring of n slots holding r's live references. The caller excludes both sides.
func (r *refRing) regrow(n int) *refRing {
	h, t := r.head.Load(), r.tail.Load()
	nr := newRefRing(n, h)
	for i := h; i < t; i++ {
		*nr.slot(i) = *r.slot(i)
	}
	nr.tail.Store(t)
	nr.hint = r.hint
	return nr
}

// maxRefSlots is the largest reference ring for a buffer of capacity c: a power of two, at least
// minRefSlots, about c/bytesPerRefSlot.
func maxRefSlots(c uint64) int {
	n := minRefSlots
	for uint64(n)*2*bytesPerRefSlot <= c {
		n *= 2
	}
	return n
}

// WriteShared appends m's bytes [from, from+n) to the stream, as much as fits (Space), as a reference to m
// rather than a copy, publishes the new end and returns the number of bytes taken: 0 when
// nothing fits or every reference slot is taken (GrowRefs). A buffer holds either copied bytes
// or references, never both: WriteShared on a buffer that copied bytes panics, as does a copying
// write on one that holds references (a programming error, not a network condition). Producer
// side.
func (b *SendBuffer) WriteShared(m *Shared, from, n int) int {
	b.noReservation()
	if from < 0 || n <= 0 || from >= len(m.buf) || !b.g.enter(gApp) {
		return 0
	}
	if b.tab.Load() != nil {
		b.leave()
		panic("streambuf: WriteShared on a buffer holding copied bytes")
	}
	r := b.refs.Load()
	e := b.end.Load()
	if r == nil {
		r = newRefRing(minRefSlots, 0)
		b.refs.Store(r) // published before end, like the chunk table
	}
	k := min(uint64(min(n, len(m.buf)-from)), b.cap-(e-b.acked.Load()))
	if k == 0 || r.full() {
		b.leave()
		return 0
	}
	m.refs.Add(1)
	t := r.tail.Load()
	*r.slot(t) = sharedRef{start: e, m: m, from: uint32(from), to: uint32(from) + uint32(k)}
	r.tail.Store(t + 1)
	b.end.Store(e + k) // publish: the transport may read the new reference from here on
	b.leave()
	return int(k)
}

// RefsNeedGrow reports whether every reference slot is taken but the ring may still grow
// (GrowRefs). Producer side.
func (b *SendBuffer) RefsNeedGrow() bool {
	r := b.refs.Load()
	return r != nil && r.full() && len(r.slots) < maxRefSlots(b.cap)
}

// GrowRefs doubles the reference ring, up to one slot per bytesPerRefSlot bytes of capacity.
// Like Grow it is a producer call outside a reservation, and the caller must hold off the
// transport (the session lock does); a no-op after Release.
func (b *SendBuffer) GrowRefs() {
	b.noReservation()
	r := b.refs.Load()
	if r == nil || len(r.slots) >= maxRefSlots(b.cap) || !b.g.lockOut() {
		return
	}
	b.refs.Store(r.regrow(2 * len(r.slots)))
	b.g.endBusy()
}

// RefRoom reports whether WriteShared has a free reference slot (always true before the first
// WriteShared). Producer side.
func (b *SendBuffer) RefRoom() bool {
	r := b.refs.Load()
	return r == nil || !r.full()
}
