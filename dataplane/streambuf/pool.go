package streambuf

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// ChunkSize is the unit in which stream bytes are buffered and pooled. 16 KiB holds about a
// dozen full-size DATA frames, so a chunk is taken from and returned to the pool once per ~13
// packets, not per packet, while an idle stream's worst-case waste (one partly used chunk
// between reclaims) stays small.
const ChunkSize = 16 << 10

// MaxOffset bounds every absolute stream offset (varint range of the wire format): offsets and
// ends of ranges are < MaxOffset, so offset arithmetic in this package cannot overflow.
const MaxOffset = 1 << 62

// chunk is one pooled block of stream bytes. Chunks are handed around as *chunk so that putting
// one into the sync.Pool (an interface conversion of a pointer) does not allocate.
type chunk = [ChunkSize]byte

// Chunks come from the process's arena (arena.go): memory outside the Go heap, mapped once,
// reused through a free list and given back to the kernel when it stays unused for a second.
// Where there is no arena (outside Linux, under the race detector, or once a reservation of up
// to 64 GiB is used up) they come from heapChunks, a sync.Pool, as they all did before:
// allocation-free in steady state (pointers go in and out of `any` without boxing), per-P
// caches, and trimmed by the GC (chunks idle for two cycles are dropped).
//
// Chunks are not zeroed on reuse: a buffer never exposes a byte it did not write itself (the
// send side reads only [acked, end), the receive side only below its frontier), so a recycled
// chunk's old contents are unreachable.
var heapChunks = sync.Pool{New: func() any {
	poolStats.allocated.Add(1)
	return new(chunk)
}}

// poolStats are process-wide counters. They are padded onto their own cache lines because every
// chunk Get/Put on every core updates them.
var poolStats struct {
	_         [128]byte
	inUse     atomic.Int64
	_         [120]byte
	allocated atomic.Int64 // heap chunks allocated; the arena counts its own
	_         [120]byte
}

func getChunk() *chunk {
	poolStats.inUse.Add(1)
	if a := processArena(); a != nil {
		if c := a.take(); c != nil {
			return c
		}
	}
	return heapChunks.Get().(*chunk)
}

// putChunk returns c to where it came from; nil is ignored so callers can pass the result of a
// Swap.
func putChunk(c *chunk) {
	if c == nil {
		return
	}
	poolStats.inUse.Add(-1)
	if a := processArena(); a != nil && a.give(c) {
		return
	}
	heapChunks.Put(c)
}

// PoolStats reports how many chunks are currently held by buffers (inUse) and how many chunks
// were ever given fresh memory (allocated: from the heap, or from the arena's address space
// or memory it had released). inUse returning to its earlier value proves that buffers give
// back what they take (leak tests); inUse*ChunkSize is the memory held by stream data, for
// metrics; allocated growing in steady state means the pool is not recycling.
func PoolStats() (inUse, allocated int64) {
	inUse, allocated = poolStats.inUse.Load(), poolStats.allocated.Load()
	if a := processArena(); a != nil {
		made, _ := a.stats()
		allocated += int64(made)
	}
	return inUse, allocated
}

// OffHeapBytes reports the memory the arena holds outside the Go heap: chunks in use and free
// chunks not yet given back to the kernel (0 where there is no arena). runtime.MemStats does
// not see it; a measure of the process's memory adds it.
func OffHeapBytes() int64 {
	if a := processArena(); a != nil {
		_, backed := a.stats()
		return backed
	}
	return 0
}

// table maps chunk indexes (absolute offset / ChunkSize) to chunks. It is a ring of slots: chunk k
// lives in slot k % len(slots). Each buffer sizes it (at least window/ChunkSize + 1 slots) so that
// all the chunks that may be live at once fall into distinct slots; see the proofs in send.go and
// recv.go. Slots are atomic because one side installs a chunk while the other side loads it.
type table struct {
	slots []atomic.Pointer[chunk]
	mask  uint64 // len(slots)-1: the count is a power of two, so k % len(slots) is k & mask
}

// newTable makes a table of n slots; n is a power of two (slotsFor).
func newTable(n int) *table {
	return &table{slots: make([]atomic.Pointer[chunk], n), mask: uint64(n - 1)}
}

// slot is the slot of chunk idx. Every copy in and out of a buffer looks a slot up, several times
// per small message on each side: a mask where a modulo would cost a division each time.
func (t *table) slot(idx uint64) *atomic.Pointer[chunk] {
	return &t.slots[idx&t.mask]
}

// regrow returns a table of n slots holding the chunks of t whose indexes lie in [lo, lo+len(t)),
// each in its slot of the new ring. By the slot-safety arguments every live chunk of a buffer
// lies in that range (lo is the lowest index still live: acked/ChunkSize or readOff/ChunkSize),
// so nothing is lost; the caller excludes both sides while it swaps the tables. A window grows by
// doubling, a few times in a stream's life, so the allocation is not on any per-packet path.
func (t *table) regrow(n uint32, lo uint64) *table {
	nt := newTable(int(n))
	for k := lo; k < lo+uint64(len(t.slots)); k++ {
		if c := t.slot(k).Load(); c != nil {
			nt.slot(k).Store(c)
		}
	}
	return nt
}

// freeAll returns every chunk of the table to the pool. Each slot is emptied with Swap, so a
// concurrent reclaim of one slot (see guard) and freeAll never return the same chunk twice.
func (t *table) freeAll() {
	for i := range t.slots {
		putChunk(t.slots[i].Swap(nil))
	}
}

// slotsFor returns the slot count for a buffer of w bytes (already a multiple of ChunkSize):
// [x, x+w) touches at most w/ChunkSize+1 chunks when x is not chunk-aligned, rounded up to a
// power of two for table.slot's mask (more slots than live chunks keeps them distinct).
func slotsFor(w uint64) uint32 { return uint32(1) << bits.Len64(w/ChunkSize) }

// roundWindow rounds a configured size up to whole chunks (at least one), capped so that the
// chunk table stays addressable by a uint32 and offsets cannot overflow.
func roundWindow(n int) uint64 {
	const maxWindow = 1 << 40 // 1 TiB: far beyond any sane flow-control window
	w := uint64(max(n, 1))
	w = min(w, maxWindow)
	return (w + ChunkSize - 1) / ChunkSize * ChunkSize
}
