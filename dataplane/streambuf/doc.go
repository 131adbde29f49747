// Package streambuf holds the bytes behind one stream (PROTOCOL.md §5): a SendBuffer keeps what
// the application wrote until the peer acknowledges it, so DATA frames can be built and rebuilt
// at any offset; a RecvBuffer reassembles DATA that arrives out of order at absolute stream
// offsets and lets the application read the contiguous prefix. Message framing (varint length
// prefixes) and flow-control credit live above this package, with one exception: the
// whole-message calls (messages.go: RecvBuffer.ReadMessage and ReadMessages,
// SendBuffer.WriteMessages) copy whole length-prefixed messages, many per call, because for
// small messages one guard round per message cost as much as the copy itself.
//
// # Memory
//
// Both buffers are made of fixed-size chunks (ChunkSize, 16 KiB) from one process-wide pool: on
// Linux an arena outside the Go heap (arena.go says why, and why the oldest free chunk is reused
// first), elsewhere and under the race detector a sync.Pool (pool.go), indexed through a small ring of
// chunk slots (window/ChunkSize + 1 of them, rounded up to a power of two so that a slot is
// found with a mask, not a division) created on the first byte. A chunk is taken when the first
// byte is written into it and given back as soon as no byte in it can be read again:
// on the send side when the acknowledged prefix passes it, on the receive side when the reader
// has consumed it. The partly used chunk at the edge is given back as well once the buffer is
// idle (everything written acknowledged, everything received consumed). So memory follows the
// data in flight, not the configured window, an idle stream holds no chunk, and a stream that
// never carried a byte holds nothing but its struct. In steady state (pool warm) nothing
// allocates: chunks and the grow-only range sets are reused.
//
// A window (RecvBuffer) or capacity (SendBuffer) can grow, never shrink (Grow): the session
// doubles it when a long fat path needs more in flight. Growing replaces only the slot ring by a
// larger one (8 to 16 bytes per 16 KiB of window), moving each live chunk to its slot in the new ring
// while the other side is held out under the guard's gBusy (receive side) or the session lock
// (send side); the chunks themselves stay where they are, so memory still follows the data.
//
// A SendBuffer may instead hold references to shared copies (shared.go: Shared, WriteShared),
// for broadcasts: one copy of a message, reference counted, read by every buffer it was written
// to, each reference given back when its bytes are acknowledged or the buffer is released. A
// buffer holds copied bytes or references, never both. The references live in a ring (one slot
// per 512 bytes of capacity at most) that follows the same slot-safety argument as the chunk
// table, with reference indexes in place of chunk indexes.
//
// Offsets are absolute uint64 stream offsets below MaxOffset (2^62, the varint range).
//
// # Concurrency contract
//
// Each buffer has two sides that run concurrently without a lock between them:
//
//	SendBuffer  producer  (the application writer; one at a time, callers serialize writers):
//	                      Write, Write2, WriteMessages, Reserve, Commit, Space, WriteShared,
//	                      RefRoom, RefsNeedGrow (GrowRefs, like Grow, with the transport held off)
//	            transport (with the session lock held, so serialized among themselves):
//	                      ReadAt, Ack, IsAcked, Release
//	RecvBuffer  transport (session lock held): Insert, SetFinalSize
//	            consumer  (the application reader; one at a time, callers serialize readers):
//	                      Readable, Read, Peek, Discard, ReadMessage, ReadMessages, EOF
//	            Release may be called from either side, at any time.
//
// Callers serialize their producers (readers) in one of two ways, and may mix them: a caller
// with a lock of its own takes it and then Hold, and calls freely until Unhold; a caller without
// one calls TryEnterAlone, and if it got in, the ...Alone calls and the position loads, then
// LeaveAlone, never blocking in between. Each way keeps the other out (Hold waits for a caller
// inside alone to leave; TryEnterAlone fails under a hold), so a small message pays one
// compare-and-swap for what a lock and the guard's enter cost together.
//
// End, Acked, Frontier, ReadOffset, FinalSize and PoolStats are atomic loads, safe anywhere.
// Init must happen before either side starts (it is not synchronized).
//
// The sides share only atomic positions, each written by exactly one side:
//
//   - SendBuffer: the producer copies bytes at [end, ...) and then publishes end with an atomic
//     store; the transport reads only [acked, end) and publishes acked with an atomic store.
//     The producer allocates chunks; the transport frees a chunk once it lies entirely below
//     acked, emptying its slot before publishing the new acked.
//   - RecvBuffer: Insert writes only at or above the contiguous frontier (the reader may be
//     reading below it) and publishes the frontier after writing; the reader reads only below
//     the frontier it loaded and publishes its read offset after consuming. Insert allocates
//     chunks; the reader frees a chunk once it has consumed all of it, emptying the slot before
//     publishing the new read offset.
//
// Go atomics are sequentially consistent, so a store of a position "publishes" everything the
// storing side wrote before it to the side that loads it.
//
// # Invariants
//
//	SendBuffer: acked <= end, end - acked <= capacity; the ack set's spans are disjoint, not
//	touching, inside (acked, end], so there are at most (end-acked)/2 of them; no
//	acknowledgement is ever forgotten (nothing would resend it); installed chunks cover at
//	most capacity/ChunkSize + 1 consecutive chunk indexes, all >= acked/ChunkSize, hence
//	distinct slots (send.go proves it).
//	RecvBuffer: readOff <= frontier <= high <= readOff + window (as of the insert), high <=
//	final size; every received span starts above frontier and there are at most MaxRanges;
//	installed chunks cover at most window/ChunkSize + 1 consecutive indexes, all >=
//	readOff/ChunkSize: the reader's chunk and the farthest writable chunk never share a slot
//	(recv.go proves it).
//
// A one-word guard (guard.go) adds the two things the positions cannot express: reclaiming the
// shared edge chunk of an idle buffer (a few instructions under a "busy" bit that the other side
// waits out) and Release while a side is inside a call (the last one out frees the chunks).
package streambuf
