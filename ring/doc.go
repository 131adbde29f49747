// Package ring provides the bounded, lock-free queues that carry buffers
// between sttfast's goroutines: the RX loop hands reassembled stream data to
// readers, writers hand pooled buffers to the TX loop, and the handshake path
// hands rare packets to the control plane (DESIGN.md §2).
//
// The data plane moves every packet through at least one ring, so the rings
// are built for that job rather than reusing channels: a buffered channel
// takes a lock on every send and receive and cannot move a batch in one
// operation, while the TX loop wants to drain dozens of buffers per wake-up.
//
// # Types
//
//   - [SPSC]: one producer, one consumer. The fastest: each side writes only
//     its own index and caches the other's.
//   - [MPSC]: many producers, one consumer (Vyukov's bounded queue with a
//     sequence number per slot), for a session's writers feeding one TX loop.
//   - [Blocking]: wraps either to let a consumer wait for data and producers
//     wait for room, with Close and cancellation.
//   - [Waker]: an edge-triggered, allocation-free wake-up that an event loop
//     can put in one select with timers and shutdown.
//
// # Invariants
//
//   - Bounded: capacity is fixed at construction; a full ring rejects Push
//     (returns false) instead of growing. Back-pressure is the caller's
//     decision (drop, retry, or wait via [Blocking]).
//   - Power-of-two capacity, at least 2 and at most [MaxCapacity]: a slot is
//     found with a mask instead of a division, and the free-running 64-bit
//     positions never need resetting (wrapping 2^64 would take centuries at
//     one element per nanosecond, and the arithmetic is wrap-safe anyway).
//   - FIFO per producer: elements from one producer come out in the order it
//     pushed them. For SPSC that is total order. For MPSC, elements of
//     different producers interleave in the order their positions were
//     reserved; a PushBatch is contiguous.
//   - No allocation after construction: the slot array is allocated once;
//     Push, Pop and their batch forms, Blocking's fast and parking paths and
//     Waker's methods allocate nothing (asserted by tests).
//   - Pop and PopBatch zero the slots they vacate, so a ring never keeps a
//     popped buffer (or anything it points to) alive for the GC.
//   - The concurrency contract is part of the type: calling SPSC's Push from
//     two goroutines, or either queue's Pop from two goroutines, is a data
//     race that the race detector reports, not a supported mode.
//
// # Memory ordering
//
// Go's sync/atomic operations are sequentially consistent, and the Go memory
// model says that when an atomic load observes an atomic store, everything
// sequenced before the store happens before everything sequenced after the
// load. The rings rely on exactly that, once in each direction:
//
//   - Publish: the producer writes the element into the slot with an
//     ordinary store, then stores the position (SPSC tail, MPSC slot
//     sequence). A consumer that loads that position and sees the new value
//     therefore sees the element.
//   - Release: the consumer reads the element and zeroes the slot with
//     ordinary stores, then stores its position (SPSC head, MPSC slot
//     sequence + capacity). A producer that sees the new value may overwrite
//     the slot without racing the consumer's read.
//
// No slot is ever touched by both sides without one of these edges in
// between, which is also what lets the race detector verify the stress
// tests. The parking protocol in [Waker] and [Blocking] needs the stronger,
// store-then-load (Dekker) ordering, which only sequential consistency gives;
// its argument is written next to the code.
//
// No unsafe is used: the element array is an ordinary slice, padding is
// explicit blank fields (see pad.go), and the cost of Go's seq-cst store (an
// XCHG on amd64, where C++ would use a plain release MOV) is paid once per
// operation, or once per batch for SPSC.
package ring
