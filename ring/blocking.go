package ring

import (
	"errors"
	"runtime"
	"sync/atomic"
)

var (
	// ErrClosed is returned by the waiting calls once the Blocking ring is
	// closed: by producers at once, by the consumer after it has drained
	// every element that was accepted.
	ErrClosed = errors.New("ring: closed")
	// ErrCanceled is returned by a waiting call whose done channel closed
	// before it could complete. Nothing was pushed or popped by that call.
	ErrCanceled = errors.New("ring: wait canceled")
)

// spinIters is how many times a waiting call retries, yielding the processor
// in between, before it parks. Parking costs a channel operation on each side
// (a few hundred ns with a goroutine switch), so a short spin catches the
// common case of the other side being mid-operation. It is deliberately
// small: on a 2-core machine a spinning goroutine competes with the very
// goroutine it waits for, and Gosched lets that one run instead of burning
// the core.
const spinIters = 4

// state bits of Blocking.state: bit 0 is "closed", the rest count pushes in
// flight (each one adds pusherOne on entry and removes it on exit).
const (
	closedBit uint64 = 1
	pusherOne uint64 = 2
)

// Blocking wraps a Queue so that the consumer can wait for elements and
// producers can wait for room, without spinning forever and without
// allocating. It serves an application reading a stream (the consumer waits
// for data) and writers waiting for room in a full ring. An event loop that
// must also wait on timers and shutdown (the TX loop) uses the raw ring with
// a Waker in its own select instead, which is what Blocking does inside.
//
// Blocking adds no goroutine-safety of its own: the wrapped queue's contract
// still says who may push and pop (any number of producers for MPSC, one for
// SPSC; one consumer for both). PopWait and PopBatchWait are consumer calls.
//
// # Close
//
// After Close, producers get false / ErrClosed, and the consumer receives
// every element whose push succeeded and then ErrClosed. That guarantee
// needs to know when no push is half-done, so each push registers in state
// (two uncontended atomic adds for SPSC); without it a push racing Close
// could report success and leave its element stranded after the consumer
// has already seen ErrClosed, losing a pooled buffer.
//
// # Parking
//
// The consumer parks on notEmpty, a Waker; the argument that no wake-up is
// lost is on Waker. Producers may be many, so they park differently: each
// increments waiters, re-checks, and waits on space, a one-token channel the
// consumer signals after every pop while waiters is non-zero. The token
// wakes one producer; a woken producer passes it on when it leaves while
// others are parked (see passSpace), so k parked producers are woken in turn
// without a broadcast channel that would have to be reallocated each time.
type Blocking[T any] struct {
	_ pad
	// Read-only after construction.
	q        Queue[T]
	capacity int
	space    chan struct{} // one-token baton for parked producers
	closeCh  chan struct{} // closed by Close: wakes every parked producer
	_        pad
	state    atomic.Uint64 // closedBit | pushers*pusherOne; RMW by producers
	_        pad
	waiters  atomic.Int64 // producers parked or about to park for room
	_        pad
	notEmpty Waker // the consumer's parking spot; producers Notify it
	_        pad
}

// NewBlocking wraps q. q must not be used directly afterwards, or pushes
// would bypass the wake-ups and Close accounting.
func NewBlocking[T any](q Queue[T]) *Blocking[T] {
	b := &Blocking[T]{
		q:        q,
		capacity: q.Cap(),
		space:    make(chan struct{}, 1),
		closeCh:  make(chan struct{}),
	}
	b.notEmpty.init()
	return b
}

// enter registers a push in flight; it fails once the ring is closed.
func (b *Blocking[T]) enter() bool {
	if b.state.Add(pusherOne)&closedBit != 0 {
		b.leave()
		return false
	}
	return true
}

// leave ends a push. After Close the consumer may be parked waiting for the
// last pusher to finish, so the last ones must wake it; before Close it is
// woken by the push itself.
func (b *Blocking[T]) leave() {
	if b.state.Add(^(pusherOne-1))&closedBit != 0 { // Add(^(x-1)) subtracts x
		b.notEmpty.Notify()
	}
}

// pushResult is the outcome of one non-blocking attempt.
type pushResult uint8

const (
	pushFull pushResult = iota
	pushDone
	pushClosed
)

func (b *Blocking[T]) tryPush(v T) pushResult {
	if !b.enter() {
		return pushClosed
	}
	ok := b.q.Push(v)
	b.leave()
	if !ok {
		return pushFull
	}
	b.notEmpty.Notify() // after the publish: the Waker argument needs this order
	return pushDone
}

// Push appends v without waiting and wakes a parked consumer. It returns
// false if the ring is full or closed.
func (b *Blocking[T]) Push(v T) bool { return b.tryPush(v) == pushDone }

// PushBatch appends as many leading elements of vs as fit, without waiting,
// and wakes a parked consumer once. It returns 0 if the ring is full or
// closed.
func (b *Blocking[T]) PushBatch(vs []T) int {
	if !b.enter() {
		return 0
	}
	n := b.q.PushBatch(vs)
	b.leave()
	if n > 0 {
		b.notEmpty.Notify()
	}
	return n
}

// PushWait appends v, parking while the ring is full. It returns nil once v
// is in the ring, ErrClosed if the ring is or becomes closed first, and
// ErrCanceled if done closes first (a nil done never does).
//
// No wake-up is lost: a producer increments waiters and then re-tries the
// push; the consumer releases a slot and then loads waiters. By the same
// sequential-consistency argument as on Waker, either the consumer sees the
// producer counted and sends the token (or one is pending), or the
// producer's re-try sees the released slot.
func (b *Blocking[T]) PushWait(v T, done <-chan struct{}) error {
	woken := false // we consumed a space token and owe it onward if unused
	for spin := 0; ; spin++ {
		switch b.tryPush(v) {
		case pushDone:
			if woken {
				b.passSpace()
			}
			return nil
		case pushClosed:
			return ErrClosed // closeCh has woken every other producer
		}
		if spin < spinIters {
			runtime.Gosched()
			continue
		}
		b.waiters.Add(1)
		switch b.tryPush(v) {
		case pushDone:
			b.waiters.Add(-1)
			if woken {
				b.passSpace()
			}
			return nil
		case pushClosed:
			b.waiters.Add(-1)
			return ErrClosed
		}
		select {
		case <-b.space:
			b.waiters.Add(-1)
			woken = true
		case <-b.closeCh:
			b.waiters.Add(-1) // next tryPush reports pushClosed
		case <-done:
			b.waiters.Add(-1)
			if woken {
				b.passSpace()
			}
			return ErrCanceled
		}
	}
}

// passSpace hands the space token to the next parked producer. It is
// called by a producer that was woken by the token and is leaving, so one
// consumer signal reaches, in turn, every parked producer that can make
// progress. It deliberately does not look at Len: a stale "full" there would
// end the chain while room exists. If the ring is in fact full, the woken
// producer fails its push, re-parks without passing, and the chain ends
// safely: waiters is non-zero again, so the consumer's next pop signals.
func (b *Blocking[T]) passSpace() {
	if b.waiters.Load() > 0 {
		select {
		case b.space <- struct{}{}:
		default:
		}
	}
}

// signalSpace is the consumer's half of the producer protocol, called after
// every successful pop: one atomic load while no producer is parked.
func (b *Blocking[T]) signalSpace() {
	if b.waiters.Load() > 0 {
		select {
		case b.space <- struct{}{}:
		default: // a token is pending; its receiver will pass it on
		}
	}
}

// Pop removes the oldest element without waiting; ok is false if the ring
// is empty. It wakes a producer parked for room. Consumer only.
func (b *Blocking[T]) Pop() (v T, ok bool) {
	if v, ok = b.q.Pop(); ok {
		b.signalSpace()
	}
	return v, ok
}

// PopBatch moves up to len(dst) elements into dst without waiting and
// returns how many. Consumer only.
func (b *Blocking[T]) PopBatch(dst []T) int {
	n := b.q.PopBatch(dst)
	if n > 0 {
		b.signalSpace()
	}
	return n
}

// PopWait removes the oldest element, parking while the ring is empty. After
// Close it keeps returning elements until every accepted push has been
// drained, then returns ErrClosed. It returns ErrCanceled if done closes
// while the ring is empty (a nil done never does). Consumer only.
func (b *Blocking[T]) PopWait(done <-chan struct{}) (T, error) {
	for spin := 0; ; spin++ {
		if v, ok := b.q.Pop(); ok {
			b.signalSpace()
			return v, nil
		}
		if spin < spinIters {
			runtime.Gosched()
			continue
		}
		b.notEmpty.Arm()
		if v, ok := b.q.Pop(); ok { // the re-check the Waker protocol requires
			b.notEmpty.Disarm()
			b.signalSpace()
			return v, nil
		}
		if b.drained() {
			b.notEmpty.Disarm()
			// A push may have completed between the Pop above and the state
			// load in drained; drained proved none is still in flight, so
			// this Pop is the last word.
			if v, ok := b.q.Pop(); ok {
				b.signalSpace()
				return v, nil
			}
			var zero T
			return zero, ErrClosed
		}
		if !b.park(done) {
			var zero T
			return zero, ErrCanceled
		}
	}
}

// PopBatchWait moves up to len(dst) elements into dst, parking until at
// least one is available. Its Close and done behaviour is PopWait's; with an
// empty dst it returns 0, nil at once. Consumer only.
func (b *Blocking[T]) PopBatchWait(dst []T, done <-chan struct{}) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	for spin := 0; ; spin++ {
		if n := b.q.PopBatch(dst); n > 0 {
			b.signalSpace()
			return n, nil
		}
		if spin < spinIters {
			runtime.Gosched()
			continue
		}
		b.notEmpty.Arm()
		if n := b.q.PopBatch(dst); n > 0 {
			b.notEmpty.Disarm()
			b.signalSpace()
			return n, nil
		}
		if b.drained() {
			b.notEmpty.Disarm()
			if n := b.q.PopBatch(dst); n > 0 {
				b.signalSpace()
				return n, nil
			}
			return 0, ErrClosed
		}
		if !b.park(done) {
			return 0, ErrCanceled
		}
	}
}

// drained reports that the ring is closed and no push is in flight, so the
// set of elements the consumer will ever see is final. Pushers publish
// before they leave (an atomic add), so observing the count at zero makes
// every accepted element visible to the consumer's next Pop.
func (b *Blocking[T]) drained() bool {
	st := b.state.Load()
	return st&closedBit != 0 && st < pusherOne
}

// park waits on the consumer's Waker (armed by the caller) and reports false
// if done closed instead. Close needs no case here: it sets the closed bit
// and then Notifies, the same publish-then-notify order as a push.
func (b *Blocking[T]) park(done <-chan struct{}) bool {
	select {
	case <-b.notEmpty.C():
		b.notEmpty.Disarm()
		return true
	case <-done:
		b.notEmpty.Disarm()
		return false
	}
}

// Close marks the ring closed and wakes everyone parked on it. Producers
// then get false or ErrClosed; the consumer drains what was accepted, then
// gets ErrClosed. Close is idempotent and safe to call from any goroutine.
func (b *Blocking[T]) Close() {
	if b.state.Or(closedBit)&closedBit != 0 {
		return // already closed
	}
	close(b.closeCh)
	b.notEmpty.Notify()
}

// Closed reports whether Close has been called. It lets a producer whose
// Push returned false tell "closed, give up" from "full, retry or drop".
func (b *Blocking[T]) Closed() bool { return b.state.Load()&closedBit != 0 }

// Len returns a snapshot of the number of queued elements.
func (b *Blocking[T]) Len() int { return b.q.Len() }

// Cap returns the wrapped ring's capacity.
func (b *Blocking[T]) Cap() int { return b.capacity }
