package streambuf

import "sync/atomic"

// SendBuffer holds the bytes an application wrote to a stream until the peer acknowledges them,
// so DATA frames (first transmissions and retransmissions) can be built from it at any offset.
// Bytes live in pooled chunks; a chunk is taken when the producer first writes into it and
// given back as soon as every byte in it is acknowledged, and the partly used last chunk is given
// back too once everything written is acknowledged, so an idle stream holds no chunk.
//
// Producer calls (Write, Reserve, Commit, Space) and transport calls (ReadAt, Ack, IsAcked,
// Release) may run concurrently; see the package documentation for the contract. The zero value
// is not usable: call Init.
type SendBuffer struct {
	g      guard
	nslots uint32
	cap    uint64 // capacity: max unacknowledged bytes (multiple of ChunkSize)

	tab   atomic.Pointer[table]   // created by the producer's first write
	refs  atomic.Pointer[refRing] // instead of tab: created by the first WriteShared (shared.go)
	end   atomic.Uint64           // producer: first byte not yet written
	acked atomic.Uint64           // transport: every byte below it is acknowledged

	// acks holds the acknowledged spans above acked (all start > acked). It has no fixed cap,
	// because forgetting an acknowledgement is not safe here: once a packet is acknowledged the
	// loss detector forgets it, so nobody would ever send those bytes again and acked would
	// stall for good. It is bounded by the data in flight instead: spans are disjoint,
	// non-touching and inside [acked, end), one per hole, so there are at most (end-acked)/2 of
	// them, and in practice no more than the frames in flight that were acknowledged out of
	// order. The slice only grows, so its memory is allocated once per stream, not per ack.
	acks spanSet
	resv int // producer: bytes handed out by Reserve, awaiting Commit
	// claimedTo is the offset up to which the producer has written ahead into its current chunk
	// (claimAhead). Producer side; a hint, never trusted for correctness.
	claimedTo uint64
}

// Slot safety (why a chunk is never written by the producer while the transport frees it or
// reads it through an aliased slot). The table has capChunks+1 slots.
//
//  1. The producer writes only at offsets >= end and < a + cap, where a is an acked value it
//     loaded. The transport frees only chunks lying entirely below its current acked (>= a, and
//     <= end), so the producer never writes into a chunk that is being freed; the transport
//     reads only [acked, end), bytes the producer no longer touches.
//  2. The producer's chunks k satisfy k <= a/C + capChunks, and every chunk still installed has
//     index >= a/C, because the transport empties the slots of chunks below a new prefix before
//     it publishes the prefix (release store; the producer's load acquires it). So all live
//     chunks span at most capChunks+1 consecutive indexes: distinct slots. In particular a slot
//     the producer finds nil is truly free, and a non-nil slot holds exactly the chunk it wants.
//  3. The idle chunk (the one containing end once acked == end) has no owner by offsets alone;
//     it is reclaimed under the guard's gBusy, which excludes the producer (see guard.go).

// Init prepares the buffer for a new stream. capacity is the maximum number of written but
// unacknowledged bytes (the producer blocks beyond it); it is rounded up to whole chunks. No
// memory is allocated until the first Write. Init must not race with any other call; it may be
// called again after Release to reuse the buffer.
func (b *SendBuffer) Init(capacity int) {
	w := roundWindow(capacity)
	b.g.s.Store(0)
	b.cap = w
	b.nslots = slotsFor(w)
	b.tab.Store(nil)
	b.refs.Store(nil)
	b.end.Store(0)
	b.acked.Store(0)
	b.acks.reset()
	b.resv = 0
	b.claimedTo = 0
}

// InitAt is Init for a stream whose first base bytes are already acknowledged (a resumed
// stream: the device that wrote them is gone, the peer has them): offsets start at base.
func (b *SendBuffer) InitAt(capacity int, base uint64) {
	b.Init(capacity)
	b.end.Store(base)
	b.acked.Store(base)
}

// Capacity is the rounded capacity given to Init, or to Grow since. Producer side.
func (b *SendBuffer) Capacity() int { return int(b.cap) }

// Grow raises the capacity to capacity bytes (rounded up to whole chunks) so the producer can
// keep more unacknowledged bytes, as a long fat path needs; a capacity never shrinks, so a
// smaller value is ignored. Memory still follows the data in flight: only the chunk table (8 to 16
// bytes per 16 KiB of capacity) is replaced by a larger one, and only if the buffer has one.
// Producer side, outside a reservation, and the caller must hold off the transport (ReadAt,
// Ack, IsAcked, Release) for the call, as the session lock does; a no-op after Release.
func (b *SendBuffer) Grow(capacity int) {
	b.noReservation()
	w := roundWindow(capacity)
	if w <= b.cap || !b.g.lockOut() {
		return
	}
	if t := b.tab.Load(); t != nil {
		b.tab.Store(t.regrow(slotsFor(w), b.acked.Load()/ChunkSize))
	}
	b.cap, b.nslots = w, slotsFor(w)
	b.g.endBusy()
}

// Space returns how many bytes the producer may write now: capacity - (End - Acked). It only
// grows while the producer is not writing (acknowledgements free space), so a producer that
// finds it positive can write. It is 0 after Release, so a writer waiting for space falls
// through to its stream's error path instead of spinning.
func (b *SendBuffer) Space() int {
	if b.g.s.Load()&gReleased != 0 {
		return 0
	}
	return int(b.cap - (b.end.Load() - b.acked.Load()))
}

// Write copies as much of p as fits (Space) into the buffer, publishes the new end with an
// atomic store after the copy, and returns the number of bytes taken. Producer side.
func (b *SendBuffer) Write(p []byte) int { return b.Write2(p, nil) }

// Write2 writes p and then q as Write would write them one after the other, but publishes them
// with one store: the transport never sees p without the part of q that fit (a message's length
// prefix leaves with its body), and the pair costs one guard round trip. q is taken only once all
// of p fit. Producer side.
func (b *SendBuffer) Write2(p, q []byte) int {
	if len(p)+len(q) == 0 {
		return 0
	}
	b.noReservation()
	if !b.g.enter(gApp) {
		return 0
	}
	n := b.write2(p, q)
	b.leave()
	return n
}

// write2 is Write2 inside the buffer.
func (b *SendBuffer) write2(p, q []byte) int {
	e := b.end.Load()
	room := b.cap - (e - b.acked.Load())
	n := min(uint64(len(p)), room)
	m := min(uint64(len(q)), room-n)
	if n < uint64(len(p)) {
		m = 0
	}
	if n+m > 0 {
		t := b.table()
		if o := e % ChunkSize; o+n+m <= ChunkSize {
			// Both in one chunk (a small message's prefix and body, nearly always): one lookup.
			c := b.chunkAt(t, e)
			copy(c[o+uint64(copy(c[o:], p[:n])):], q[:m])
			if n+m <= claimMaxWrite && e+n+m+claimRefill > b.claimedTo {
				b.claimAhead(c, e-o, e+n+m)
			}
		} else {
			b.copyIn(t, b.copyIn(t, e, p[:n]), q[:m])
		}
		b.end.Store(e + n + m) // publish: the transport may read [.., e+n+m) from here on
	}
	return int(n + m)
}

// Claiming cache lines ahead of the producer. Every small write ends with the atomic store that
// publishes the new end, and on amd64 that store (XCHG) is a full fence: it waits until the
// message's own bytes are stored, which means until this core owns their cache line. The lines
// a chunk is written into were last touched by another core (the TX loop sealed the bytes they
// held before the chunk went back to the pool), so each line costs a request for ownership, and
// with 64-byte messages nearly every message starts a new line: the store waited one
// cross-core round trip per message, 35% of a sending process's time in the 64-byte workload
// (profiles/README.md, "Claiming lines ahead"). Storing a zero into each of the next lines
// before they are needed issues their requests together, so one fence waits for a batch of
// them instead of one per message.
//
// It is safe because those bytes are the producer's alone: they lie at or past end, which the
// transport never reads past, inside the chunk that holds end, which nobody frees while the
// producer is inside the buffer (the idle reclaim excludes it), and whatever they hold is
// overwritten before end moves over them (a buffer never exposes a byte it did not write).
//
// Only small writes claim. A write of a few lines or more issues its own lines' requests
// together as it copies, so its fence waits about one round trip for all of them, and claiming
// ahead would only store twice: 1200-byte writes cost 10% more with it (BenchmarkSendBuffer).
const (
	claimSpan     = 2048 // how far ahead of end the lines are claimed
	claimRefill   = 1024 // claim again once end comes this close to the claimed frontier
	claimMaxWrite = 256  // the largest write that claims
)

// claimAhead stores a zero into each cache line of chunk c (which starts at offset base) from
// end up to claimSpan bytes ahead, skipping what an earlier call claimed, and records the new
// frontier. Producer side, inside the buffer.
func (b *SendBuffer) claimAhead(c *chunk, base, end uint64) {
	to := min(end+claimSpan, base+ChunkSize)
	for x := (max(b.claimedTo, end) + 63) &^ 63; x < to; x += 64 {
		c[x-base] = 0
	}
	b.claimedTo = to
}

// TryEnterAlone enters the producer side for a caller that holds no producer lock of its own,
// as the only producer until LeaveAlone: it fails, and never waits, while another producer is
// inside or holds the buffer (Hold), while the idle chunk is reclaimed, and after Release. One
// compare-and-swap does what a producer lock and Write2's guard round did with two, which for a
// small message is a large part of the call (profiles/README.md). Inside, the caller may call
// Space, End, Acked and Write2Alone, and must leave soon: it must not block nor wait for anything
// (Hold waits for it). Producer side.
func (b *SendBuffer) TryEnterAlone() bool { return b.g.tryAlone() }

// Write2Alone is Write2 for a caller inside through TryEnterAlone. Producer side.
func (b *SendBuffer) Write2Alone(p, q []byte) int {
	b.noReservation()
	return b.write2(p, q)
}

// LeaveAlone ends what TryEnterAlone began (and frees the chunks if Release came meanwhile).
func (b *SendBuffer) LeaveAlone() { b.leave() }

// Hold makes the caller the buffer's producer across calls until Unhold, for producers that
// serialize themselves with a lock of their own and may block between calls (waiting for
// space): it waits for a producer inside through TryEnterAlone to leave, and keeps others from
// entering so. It is not a call inside the buffer: Release and the idle reclaim go on. The
// holder's own producer calls enter and leave as usual.
func (b *SendBuffer) Hold() { b.g.hold() }

// TryHold is Hold that gives up, reporting false, instead of waiting.
func (b *SendBuffer) TryHold() bool { return b.g.tryHold() }

// Unhold ends a Hold.
func (b *SendBuffer) Unhold() { b.g.unhold() }

// copyIn copies src into the buffer at offset off and returns the offset after it.
func (b *SendBuffer) copyIn(t *table, off uint64, src []byte) uint64 {
	for len(src) > 0 {
		c := b.chunkAt(t, off)
		k := copy(c[off%ChunkSize:], src)
		src = src[k:]
		off += uint64(k)
	}
	return off
}

// Reserve hands the producer up to n bytes of buffer space to fill in place (for example with a
// varint or straight from a reader), avoiding a copy. The slice is contiguous, so it may be
// shorter than n at a chunk boundary or when Space is smaller; it is nil when nothing can be
// written. A non-empty reservation must be followed by exactly one Commit before any other
// producer call. Producer side.
func (b *SendBuffer) Reserve(n int) []byte {
	b.noReservation()
	if n <= 0 || !b.g.enter(gApp) {
		return nil
	}
	e := b.end.Load()
	m := min(uint64(n), b.cap-(e-b.acked.Load()), ChunkSize-e%ChunkSize)
	if m == 0 {
		b.leave()
		return nil
	}
	c := b.chunkAt(b.table(), e)
	o := e % ChunkSize
	b.resv = int(m)
	return c[o : o+m : o+m]
}

// Commit publishes the first n bytes of the slice returned by the last Reserve (0 <= n <=
// len(slice)) and ends the reservation. Commit(0) with no reservation outstanding is a no-op,
// so callers may commit unconditionally. Producer side.
func (b *SendBuffer) Commit(n int) {
	if b.resv == 0 {
		if n != 0 {
			panic("streambuf: Commit without Reserve")
		}
		return
	}
	if n < 0 || n > b.resv {
		panic("streambuf: Commit beyond reservation")
	}
	b.resv = 0
	if n > 0 {
		b.end.Store(b.end.Load() + uint64(n))
	}
	b.leave()
}

func (b *SendBuffer) noReservation() {
	if b.resv != 0 {
		panic("streambuf: producer call during a reservation")
	}
}

// table returns the chunk table, creating it on the producer's first write: an idle stream
// that never wrote costs only the SendBuffer struct. Producer side; published before end.
func (b *SendBuffer) table() *table {
	t := b.tab.Load()
	if t == nil {
		if b.refs.Load() != nil {
			panic("streambuf: copying write on a buffer holding shared references")
		}
		t = newTable(int(b.nslots))
		b.tab.Store(t)
	}
	return t
}

// chunkAt returns the chunk holding offset off (>= end), taking one from the pool if its slot
// is empty. By the slot-safety argument an empty slot means the chunk does not exist yet.
func (b *SendBuffer) chunkAt(t *table, off uint64) *chunk {
	s := t.slot(off / ChunkSize)
	c := s.Load()
	if c == nil {
		c = getChunk()
		s.Store(c)
	}
	return c
}

// leave ends a producer call: frees everything if Release came meanwhile, else reclaims the
// idle chunk if the transport acknowledged everything while we were inside (see guard.go).
func (b *SendBuffer) leave() {
	if b.g.exit(gApp) {
		b.freeChunks()
		return
	}
	if b.acked.Load() == b.end.Load() {
		b.reclaim()
	}
}

// reclaim gives back the chunk containing end once every written byte is acknowledged. Its
// bytes are all below acked, so nobody will read them; the next Write at end finds the slot
// empty and takes a fresh chunk.
func (b *SendBuffer) reclaim() {
	if !b.g.tryBusy() {
		return
	}
	if e := b.end.Load(); b.acked.Load() == e {
		if t := b.tab.Load(); t != nil {
			putChunk(t.slot(e / ChunkSize).Swap(nil))
		}
	}
	b.g.endBusy()
}

func (b *SendBuffer) freeChunks() {
	if t := b.tab.Swap(nil); t != nil {
		t.freeAll()
	}
	if r := b.refs.Swap(nil); r != nil {
		r.releaseAll()
	}
}

// End returns the producer's published end offset: every byte below it has been written.
func (b *SendBuffer) End() uint64 { return b.end.Load() }

// Acked returns the acknowledged prefix: every byte below it is acknowledged and gone.
func (b *SendBuffer) Acked() uint64 { return b.acked.Load() }

// ReadAt copies the bytes at [off, off+len(dst)) ∩ [Acked, End) into dst and returns how many
// it copied; dst[:n] holds the bytes starting at off. It returns 0 when off is below Acked
// (those bytes are gone: clip retransmissions to Acked or check IsAcked first) or at or beyond
// End. Transport side.
func (b *SendBuffer) ReadAt(dst []byte, off uint64) int {
	e := b.end.Load() // acquire: the bytes below e and their chunks are visible
	if off < b.acked.Load() || off >= e || len(dst) == 0 {
		return 0
	}
	n := min(uint64(len(dst)), e-off)
	if t := b.tab.Load(); t != nil {
		copyOut(t, off, dst[:n])
		return int(n)
	}
	if r := b.refs.Load(); r != nil {
		r.copyOut(off, dst[:n])
		return int(n)
	}
	return 0 // released
}

// Ack marks [off, off+n) as acknowledged. Ranges above the acknowledged prefix are remembered
// (merged with touching ones); when the prefix becomes contiguous with them it advances over
// them, chunks entirely below the new prefix go back to the pool, and Ack returns true so the
// caller can wake a writer blocked on Space. Acknowledging bytes twice, below the prefix or
// beyond End is harmless (clipped). Transport side.
func (b *SendBuffer) Ack(off, n uint64) bool {
	a := b.acked.Load()
	e := b.end.Load()
	lo := max(off, a)
	hi := e
	if off < e && n < e-off {
		hi = off + n
	}
	if lo >= hi {
		return false
	}
	if lo > a {
		i, j := b.acks.touching(lo, hi)
		b.acks.replace(i, j, lo, hi)
		return false
	}
	na := b.acks.popPrefix(hi)
	// Free chunks entirely below the new prefix before publishing it (slot safety, point 2).
	if t := b.tab.Load(); t != nil {
		for k := a / ChunkSize; k < na/ChunkSize; k++ {
			putChunk(t.slot(k).Swap(nil))
		}
	} else if r := b.refs.Load(); r != nil {
		r.releaseBelow(na)
	}
	b.acked.Store(na)
	if na == e {
		b.reclaim()
	}
	return true
}

// IsAcked reports whether all of [off, off+n) is acknowledged, so a loss-recovery path can skip
// retransmitting a range acknowledged meanwhile by another packet. An empty range is
// acknowledged. Transport side.
func (b *SendBuffer) IsAcked(off, n uint64) bool {
	if n == 0 {
		return true
	}
	if off >= MaxOffset || n > MaxOffset-off {
		return false
	}
	hi := off + n
	a := b.acked.Load()
	if hi <= a {
		return true
	}
	return b.acks.covers(max(off, a), hi)
}

// Release ends the buffer's life: every chunk goes back to the pool, now if no producer call is
// in progress, else when it returns; later producer calls write nothing and Space is 0. It is a
// transport-side call (it must not run concurrently with ReadAt, Ack or IsAcked, and none may
// follow it) but it may run concurrently with the producer. Idempotent.
func (b *SendBuffer) Release() {
	b.acks.s = nil
	if b.g.release() {
		b.freeChunks()
	}
}

// copyOut copies the bytes at [off, off+len(dst)) from t into dst. The caller guarantees they
// were written and their chunks are installed.
func copyOut(t *table, off uint64, dst []byte) {
	for len(dst) > 0 {
		c := t.slot(off / ChunkSize).Load()
		k := copy(dst, c[off%ChunkSize:])
		dst = dst[k:]
		off += uint64(k)
	}
}

// heldChunks counts installed chunks (tests).
func heldChunks(t *table) int {
	if t == nil {
		return 0
	}
	n := 0
	for i := range t.slots {
		if t.slots[i].Load() != nil {
			n++
		}
	}
	return n
}
