package streambuf

import (
	"slices"
	"sync"
	"time"
	"unsafe"
)

// chunkArena keeps chunks outside the Go heap, in one region of address space reserved at
// once and backed by memory only where a chunk has been touched. Why: the garbage collector
// paces itself on the heap, and stream bytes are most of what a busy process holds. With
// chunks on the heap, a receiver whose buffered data reached a new high-water mark during a
// transfer grew the heap and started a GC cycle, and a process holding 1 GiB of stream data
// was allowed 2 GiB of heap before collecting anything (GOGC=100). In the arena, chunks cost
// the collector nothing, and memory goes back to the kernel by a rule of the arena's own
// (trim), not by collections that the chunks no longer cause.
//
// Free chunks wait in a FIFO ring of indexes, and a take gets the chunk freed longest ago,
// not the latest. On a receiver the reader frees the chunks its RX loop, on the other core,
// takes next: the latest is still in the freeing core's cache, and writing it from the other
// core costs a transfer of every line (a LIFO list made bulk transfers 3-5% slower than the
// heap pool, with the copies into and out of chunks up to 40% dearer per byte;
// profiles/README.md). The ring holds indexes, not links inside the chunks, so a take never
// touches a cold chunk to find the next one. Released chunks (MADV_DONTNEED: memory handed
// back, address space kept, zero pages on the next touch) wait in cold, reused before new
// address space.
//
// The arena never hands out one chunk twice: a chunk leaves the ring or cold in take and
// enters the ring in give, all under mu, and give refuses (returns false for) memory outside
// the region, which the heap fallback then owns. One mutex is enough: a chunk moves once per
// 16 KiB, about 110 000 times a second per direction at 15 Gbit/s.
type chunkArena struct {
	region  []byte       // the reservation; len is a multiple of ChunkSize; read-only after new
	release func([]byte) // gives a run of chunks' memory back (madvise; tests pass their own)
	timer   *time.Timer  // runs trim every trimEvery while free chunks are backed

	mu      sync.Mutex
	ring    []uint32 // free, backed chunks, oldest at head; len is 0 or a power of two
	head    int
	nFree   int
	lowFree int      // nFree's lowest value since the last trim: chunks no stream needed meanwhile
	armed   bool     // a trim is due
	fresh   uint32   // chunks below this index have been handed out at least once
	cold    []uint32 // free chunks whose memory was released
	made    uint64   // chunks given fresh memory: new address space or a released chunk refaulted
	idle    []uint32 // trim's list of the chunks it releases, kept to be reused
}

// trimEvery is how long a backed free chunk may stay unused before its memory goes back to the
// kernel: as many chunks as the ring never dipped into over an interval (its low-water mark)
// are released at the interval's end. sync.Pool, which held chunks before, dropped them after
// two GC cycles; a second is of that order on a busy process, and long against the
// milliseconds in which a transfer's buffers swing.
const trimEvery = time.Second

// newChunkArena reserves room for n chunks, or returns nil when the reservation fails (address
// space limits, strict overcommit): the caller falls back to heap chunks.
func newChunkArena(n uint32, reserve func(size int) ([]byte, error), release func([]byte)) *chunkArena {
	region, err := reserve(int(n) * ChunkSize)
	if err != nil || len(region) < ChunkSize {
		return nil
	}
	a := &chunkArena{region: region[:len(region)/ChunkSize*ChunkSize], release: release}
	a.timer = time.AfterFunc(time.Hour, a.trim)
	a.timer.Stop()
	return a
}

// at returns chunk i of the region.
func (a *chunkArena) at(i uint32) *chunk {
	off := int(i) * ChunkSize
	return (*chunk)(a.region[off : off+ChunkSize])
}

// index returns c's chunk index and whether c lies in the region.
func (a *chunkArena) index(c *chunk) (uint32, bool) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(a.region)))
	p := uintptr(unsafe.Pointer(c))
	if p < base || p-base >= uintptr(len(a.region)) {
		return 0, false
	}
	return uint32((p - base) / ChunkSize), true
}

// take returns a free chunk, or nil when the region is used up: the one freed longest ago,
// else one whose memory was released, else new address space.
func (a *chunkArena) take() *chunk {
	a.mu.Lock()
	i, ok := a.popFree()
	if !ok {
		switch {
		case len(a.cold) > 0:
			i = a.cold[len(a.cold)-1]
			a.cold = a.cold[:len(a.cold)-1]
		case int(a.fresh) < len(a.region)/ChunkSize:
			i = a.fresh
			a.fresh++
		default:
			a.mu.Unlock()
			return nil
		}
		a.made++
	}
	a.mu.Unlock()
	return a.at(i)
}

// popFree takes the ring's oldest chunk; mu held.
func (a *chunkArena) popFree() (uint32, bool) {
	if a.nFree == 0 {
		return 0, false
	}
	i := a.ring[a.head]
	a.head = (a.head + 1) & (len(a.ring) - 1)
	a.nFree--
	a.lowFree = min(a.lowFree, a.nFree)
	return i, true
}

// give puts c at the ring's tail and reports true, or reports false when c is not the arena's.
// The ring grows (doubling, 4 bytes per free chunk) only when the free chunks reach a new
// high-water mark.
func (a *chunkArena) give(c *chunk) bool {
	i, ok := a.index(c)
	if !ok {
		return false
	}
	a.mu.Lock()
	if a.nFree == len(a.ring) {
		a.growRing()
	}
	a.ring[(a.head+a.nFree)&(len(a.ring)-1)] = i
	a.nFree++
	if !a.armed {
		a.armed = true
		a.lowFree = a.nFree
		a.timer.Reset(trimEvery)
	}
	a.mu.Unlock()
	return true
}

// growRing doubles the ring (at least 1024 slots), oldest chunk first; mu held.
func (a *chunkArena) growRing() {
	ring := make([]uint32, max(1024, 2*len(a.ring)))
	for k := range a.nFree {
		ring[k] = a.ring[(a.head+k)&(len(a.ring)-1)]
	}
	a.ring, a.head = ring, 0
}

// trim releases the memory of as many free chunks as stayed unused through the whole interval,
// the oldest, and rearms while backed free chunks remain. The chunks leave the ring under mu;
// the system calls run outside it, so a large trim never holds up take and give.
func (a *chunkArena) trim() {
	a.mu.Lock()
	idle := a.idle[:0]
	a.idle = nil // a trim that overlaps this one (a release slower than trimEvery) gets its own
	for range a.lowFree {
		i, _ := a.popFree()
		idle = append(idle, i)
	}
	a.lowFree = a.nFree
	a.armed = a.nFree > 0
	if a.armed {
		a.timer.Reset(trimEvery)
	}
	a.mu.Unlock()
	if len(idle) == 0 {
		return
	}
	slices.Sort(idle)
	for start := 0; start < len(idle); {
		end := start + 1
		for end < len(idle) && idle[end] == idle[end-1]+1 {
			end++
		}
		lo, hi := int(idle[start])*ChunkSize, int(idle[end-1]+1)*ChunkSize
		a.release(a.region[lo:hi])
		start = end
	}
	a.mu.Lock()
	a.cold = append(a.cold, idle...)
	a.idle = idle
	a.mu.Unlock()
}

// stats reports the chunks the arena made (fresh or refaulted memory) and the bytes it holds
// backed: handed out at some point and not released since.
func (a *chunkArena) stats() (made uint64, backed int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.made, (int64(a.fresh) - int64(len(a.cold))) * ChunkSize
}
