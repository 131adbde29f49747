package streambuf

import (
	"errors"
	"sync/atomic"
)

// MaxRanges bounds the disjoint received ranges a RecvBuffer keeps above its contiguous
// frontier. Each hole costs a 16-byte span (the slice grows only as far as a stream's
// reordering takes it) and a binary-search step on every Insert, plus a copy of the spans above
// an insertion point, so it bounds the work an authenticated peer can make the receiver do per
// packet. A DATA frame that would open one hole more is refused with ErrTooFragmented and the
// sender retransmits it later, when the holes below have filled.
//
// It was 64, which a reordering path exceeds: with every datagram delayed by its own ±1 ms at
// 50 000 packets a second, a hundred packets are in flux at once, and one stream's data then
// has as many holes as packets overtaken. Each refused packet was authentic and had arrived,
// yet the sender had to count it lost and send it again: a 64 MiB transfer through such a path
// was refused 26 846 packets (issue 10). 1024 holes cover a reordering depth of about 1.2 MB
// per stream, as many as the ACK ranges a receiver keeps (recovery.MaxRanges).
const MaxRanges = 1024

// holeLimit is MaxRanges, lowered by the fuzz test so that its short inputs reach the limit.
var holeLimit = MaxRanges

// Sentinel errors. They are package-level values, so returning one allocates nothing.
var (
	// ErrBeyondWindow: data (or a final size) lies beyond ReadOffset + window, more than the
	// receiver ever allowed the peer to send: a flow-control violation. Nothing was written.
	ErrBeyondWindow = errors.New("streambuf: data beyond the flow-control window")
	// ErrTooFragmented: the data would open more than MaxRanges holes. Nothing was written;
	// drop the packet without acknowledging it so the peer retransmits.
	ErrTooFragmented = errors.New("streambuf: too many out-of-order ranges")
	// ErrFinalSize: data beyond the stream's final size, a final size below data already
	// received, or a final size that changed: a protocol violation.
	ErrFinalSize = errors.New("streambuf: final size violated")
)

// RecvBuffer reassembles one stream's incoming bytes: DATA arrives at absolute offsets in any
// order, possibly duplicated or overlapping, and the application reads the contiguous prefix.
// Bytes live in pooled chunks; a chunk is taken on the transport's first write into it and
// given back as soon as the reader has consumed all of it, and the partly used chunk at the read
// position is given back too once the reader has consumed everything received, so an idle
// stream holds no chunk.
//
// The transport side (Insert, SetFinalSize) and the consumer side (Readable, Read, Peek,
// Discard) may run concurrently; see the package documentation. The zero value is not usable:
// call Init.
type RecvBuffer struct {
	g      guard
	nslots uint32
	window uint64 // max bytes buffered beyond readOff (multiple of ChunkSize)

	tab      atomic.Pointer[table] // created by the first Insert that writes
	frontier atomic.Uint64         // transport: every byte below it was received
	readOff  atomic.Uint64         // reader: every byte below it was consumed
	high     atomic.Uint64         // transport: end of the highest byte received
	final    atomic.Uint64         // transport: final size + 1, or 0 while unknown

	ranges spanSet // transport: received spans above the frontier (all start > frontier)
}

// Slot safety. The table has windowChunks+1 slots.
//
//  1. Insert writes only at offsets >= frontier and < r + window, where r is a readOff value it
//     loaded; it publishes the frontier with a release store after writing. The reader reads
//     only below the frontier it loaded, so the two never touch the same byte, and the reader
//     frees only chunks entirely below its read offset, which Insert will never write again.
//  2. The reader empties the slots of fully consumed chunks before it publishes the new read
//     offset, so every chunk still installed when Insert loads r has index >= r/C, and Insert's
//     chunks have index <= (r+window-1)/C <= r/C + windowChunks. All live chunks thus span at
//     most windowChunks+1 consecutive indexes: the reader's chunk and the farthest writable
//     chunk never share a slot, an empty slot means "not yet allocated" and a non-empty one
//     holds exactly the chunk its user wants.
//  3. The partly used chunk at the read position, once readOff == frontier == high, is owned by
//     nobody by offsets alone; it is reclaimed under the guard's gBusy, which excludes Insert
//     (see guard.go).

// Init prepares the buffer for a new stream. window is the maximum number of bytes buffered
// beyond the read offset (the flow-control window the receiver grants); it is rounded up to
// whole chunks. No memory is allocated until the first Insert. Init must not race with any other
// call; it may be called again after Release to reuse the buffer.
func (b *RecvBuffer) Init(window int) {
	w := roundWindow(window)
	b.g.s.Store(0)
	b.window = w
	b.nslots = slotsFor(w)
	b.tab.Store(nil)
	b.frontier.Store(0)
	b.readOff.Store(0)
	b.high.Store(0)
	b.final.Store(0)
	b.ranges.reset()
}

// Window is the rounded window given to Init, or to Grow since. Transport side.
func (b *RecvBuffer) Window() int { return int(b.window) }

// Grow raises the window to window bytes (rounded up to whole chunks), so the receiver can grant
// the peer more credit; a window never shrinks, so a smaller value is ignored. Memory still
// follows the data buffered: only the chunk table (8 to 16 bytes per 16 KiB of window) is replaced by
// a larger one, and only if the buffer has one. The reader is held out for the few
// microseconds of the swap. Transport side (never concurrent with Insert or SetFinalSize); a
// no-op after Release.
func (b *RecvBuffer) Grow(window int) {
	w := roundWindow(window)
	if w <= b.window || !b.g.lockOut() {
		return
	}
	if t := b.tab.Load(); t != nil {
		b.tab.Store(t.regrow(slotsFor(w), b.readOff.Load()/ChunkSize))
	}
	b.window, b.nslots = w, slotsFor(w)
	b.g.endBusy()
}

// Insert stores data received at stream offset off. Only the part inside [Frontier,
// ReadOffset+window) that is not yet present is written; bytes below the frontier and bytes
// already held are duplicates and are ignored without error (the first copy received wins).
// advanced reports that the contiguous frontier moved, i.e. the reader has new bytes.
//
// Errors (nothing written in either case): ErrBeyondWindow if any byte lies at or beyond
// ReadOffset+window (flow-control violation); ErrFinalSize if any byte lies beyond a known
// final size; ErrTooFragmented if the data would open more than MaxRanges disjoint ranges.
// After Release, Insert drops everything and returns (false, nil). Transport side.
func (b *RecvBuffer) Insert(off uint64, data []byte) (advanced bool, err error) {
	if len(data) == 0 {
		return false, nil
	}
	// Enter before touching transport state: Release may come from the reader's goroutine and
	// frees the range set too once nobody is inside.
	if !b.g.enter(gNet) {
		return false, nil
	}
	advanced, err = b.insert(off, data)
	b.leaveNet()
	return advanced, err
}

func (b *RecvBuffer) insert(off uint64, data []byte) (bool, error) {
	n := uint64(len(data))
	if off >= MaxOffset || n > MaxOffset-off {
		return false, ErrBeyondWindow
	}
	hi := off + n
	if fs := b.final.Load(); fs != 0 && hi > fs-1 {
		return false, ErrFinalSize
	}
	if hi > b.readOff.Load()+b.window {
		return false, ErrBeyondWindow
	}
	f := b.frontier.Load()
	lo := max(off, f)
	if lo >= hi {
		return false, nil // entirely below the frontier
	}
	i, j := b.ranges.touching(lo, hi)
	if i == j && lo != f && len(b.ranges.s) >= holeLimit {
		return false, ErrTooFragmented
	}

	t := b.tab.Load()
	if t == nil {
		t = newTable(int(b.nslots))
		b.tab.Store(t)
	}
	// Write only the gaps between the spans already held, so a retransmission that overlaps
	// received data copies just what is new.
	cur := lo
	for k := i; k < j; k++ {
		sp := b.ranges.s[k]
		if sp.lo > cur {
			b.write(t, cur, data[cur-off:sp.lo-off])
		}
		cur = max(cur, sp.hi)
	}
	if cur < hi {
		b.write(t, cur, data[cur-off:])
	}
	if hi > b.high.Load() {
		b.high.Store(hi)
	}
	if lo != f {
		b.ranges.replace(i, j, lo, hi)
		return false, nil
	}
	// The data starts at the frontier (spans all start above it, so i == 0): the frontier
	// moves over it and every span it now touches. Publish after the bytes are written.
	b.frontier.Store(b.ranges.popPrefix(hi))
	return true, nil
}

// write copies src to offset off (>= frontier), taking chunks from the pool for empty slots.
func (b *RecvBuffer) write(t *table, off uint64, src []byte) {
	for len(src) > 0 {
		s := t.slot(off / ChunkSize)
		c := s.Load()
		if c == nil {
			c = getChunk()
			s.Store(c)
		}
		k := copy(c[off%ChunkSize:], src)
		src = src[k:]
		off += uint64(k)
	}
}

// leaveNet ends an Insert: frees everything if Release came meanwhile, else reclaims the idle
// chunk if the reader caught up with everything while we were inside (see guard.go).
func (b *RecvBuffer) leaveNet() {
	if b.g.exit(gNet) {
		b.freeAll()
		return
	}
	b.maybeReclaim()
}

// TryEnterAlone enters the consumer side for a reader that holds no lock of its own, as the
// only reader until LeaveAlone: it fails, and never waits, while another reader is inside or
// holds the buffer (Hold), while the idle chunk is reclaimed, and after Release. The transport
// may insert meanwhile. One compare-and-swap does what a reader's lock and the guard's enter did
// with two (SendBuffer.TryEnterAlone says why that matters). Inside, the caller may call
// Frontier, ReadOffset, Readable and ReadMessageAlone, and must leave soon: it must not block
// nor wait for anything (Hold and Grow wait for it). Consumer side.
func (b *RecvBuffer) TryEnterAlone() bool { return b.g.tryAlone() }

// LeaveAlone ends what TryEnterAlone began: it frees the chunks if Release came meanwhile, else
// gives back the idle chunk if the read caught up with everything received.
func (b *RecvBuffer) LeaveAlone() { b.leaveApp() }

// Hold makes the caller the buffer's reader across calls until Unhold, for readers that
// serialize themselves with a lock of their own and may block between calls (waiting for
// data): it waits for a reader inside through TryEnterAlone to leave and keeps others from
// entering so. It is not a call inside the buffer: Insert, Release and the idle reclaim go on.
// The holder's own consumer calls enter and leave as usual.
func (b *RecvBuffer) Hold() { b.g.hold() }

// Unhold ends a Hold.
func (b *RecvBuffer) Unhold() { b.g.unhold() }

// leaveApp ends a reader call, symmetric to leaveNet.
func (b *RecvBuffer) leaveApp() {
	if b.g.exit(gApp) {
		b.freeAll()
		return
	}
	b.maybeReclaim()
}

func (b *RecvBuffer) maybeReclaim() {
	if r := b.readOff.Load(); b.frontier.Load() == r && b.high.Load() == r {
		b.reclaim()
	}
}

// reclaim gives back the chunk at the read position once everything received is consumed
// (readOff == frontier == high): its bytes below readOff are consumed and nothing was received
// above it, so its contents are dead; the next Insert finds the slot empty and takes a fresh
// chunk.
func (b *RecvBuffer) reclaim() {
	if !b.g.tryBusy() {
		return
	}
	if r := b.readOff.Load(); b.frontier.Load() == r && b.high.Load() == r {
		if t := b.tab.Load(); t != nil {
			putChunk(t.slot(r / ChunkSize).Swap(nil))
		}
	}
	b.g.endBusy()
}

// freeAll runs exactly once after Release, when nobody is inside and nobody can enter again,
// so it may touch the transport's range set as well.
func (b *RecvBuffer) freeAll() {
	if t := b.tab.Swap(nil); t != nil {
		t.freeAll()
	}
	b.ranges.s = nil
}

// SetFinalSize records the final size announced by STREAM_FIN. It fails with ErrFinalSize if
// the size differs from one already set, is below data already received or is out of range, and
// with ErrBeyondWindow if it exceeds what flow control allows. Setting the same size again is
// fine (a retransmitted FIN). Transport side.
func (b *RecvBuffer) SetFinalSize(size uint64) error {
	if size >= MaxOffset {
		return ErrFinalSize
	}
	if fs := b.final.Load(); fs != 0 {
		if fs-1 != size {
			return ErrFinalSize
		}
		return nil
	}
	if size < b.high.Load() {
		return ErrFinalSize
	}
	if size > b.readOff.Load()+b.window {
		return ErrBeyondWindow
	}
	b.final.Store(size + 1)
	return nil
}

// FinalSize returns the final size once SetFinalSize has recorded it.
func (b *RecvBuffer) FinalSize() (size uint64, ok bool) {
	fs := b.final.Load()
	return fs - 1, fs != 0
}

// EOF reports that the final size is known and the reader has consumed every byte before it.
func (b *RecvBuffer) EOF() bool {
	fs := b.final.Load()
	return fs != 0 && b.readOff.Load() == fs-1
}

// Frontier returns the contiguous received prefix: every byte below it has arrived.
func (b *RecvBuffer) Frontier() uint64 { return b.frontier.Load() }

// ReadOffset returns how many bytes the reader has consumed; flow-control credit is computed
// from it (the peer may send up to ReadOffset + window).
func (b *RecvBuffer) ReadOffset() uint64 { return b.readOff.Load() }

// Readable returns Frontier - ReadOffset, the bytes Read can return now without waiting. It is
// 0 after Release, so a reader waiting for data falls through to its stream's error path.
func (b *RecvBuffer) Readable() int {
	if b.g.s.Load()&gReleased != 0 {
		return 0
	}
	// readOff first: both only grow and frontier >= readOff always, so a frontier loaded later
	// is >= the readOff loaded earlier and the difference cannot underflow.
	r := b.readOff.Load()
	return int(b.frontier.Load() - r)
}

// Read copies up to len(p) contiguous bytes from the read offset into p, consumes them, and
// returns each chunk it has finished to the pool. It never waits: it returns 0 when nothing is
// readable. Consumer side.
func (b *RecvBuffer) Read(p []byte) int { return b.consume(p, len(p), true) }

// Peek copies up to len(p) readable bytes into p without consuming them, across chunk
// boundaries (a message's varint length prefix may straddle two chunks). Consumer side.
func (b *RecvBuffer) Peek(p []byte) int { return b.consume(p, len(p), false) }

// Discard consumes up to n readable bytes without copying them and returns how many it skipped.
// Consumer side.
func (b *RecvBuffer) Discard(n int) int { return b.consume(nil, n, true) }

// consume is Read (p != nil, advance), Peek (p != nil, !advance) and Discard (p == nil).
func (b *RecvBuffer) consume(p []byte, want int, advance bool) int {
	if want <= 0 || !b.g.enter(gApp) {
		return 0
	}
	r := b.readOff.Load()
	f := b.frontier.Load() // acquire: bytes below f and their chunks are visible
	n := min(uint64(want), f-r)
	if n > 0 {
		t := b.tab.Load()
		if p != nil {
			copyOut(t, r, p[:n])
		}
		if advance {
			nr := r + n
			// Empty the slots of finished chunks before publishing nr (slot safety, point 2).
			for k := r / ChunkSize; k < nr/ChunkSize; k++ {
				putChunk(t.slot(k).Swap(nil))
			}
			b.readOff.Store(nr)
		}
	}
	b.leaveApp()
	return int(n)
}

// Release ends the buffer's life: every chunk goes back to the pool, now if nobody is inside,
// else when the last Insert or reader call in progress returns; later Inserts are dropped,
// reader calls return 0 and Readable is 0. It may be called from any goroutine, at any time,
// any number of times.
func (b *RecvBuffer) Release() {
	if b.g.release() {
		b.freeAll()
	}
}
