package ring

import "sync/atomic"

// Waker states.
const (
	wakerIdle  uint32 = 0 // nobody parked (or the waiter was already woken)
	wakerArmed uint32 = 1 // a waiter has announced it may park
)

// Waker is an edge-triggered, allocation-free wake-up signal for one waiting
// goroutine, typically an event loop that waits on several sources at once
// (rings, timers, shutdown) in a single select. Producers call Notify after
// making work available; the waiter follows the Arm / re-check / wait /
// Disarm protocol:
//
//	for {
//		if drain() { continue }   // work first
//		w.Arm()
//		if haveWork() {           // re-check after Arm: this closes the race
//			w.Disarm()
//			continue
//		}
//		select {
//		case <-w.C():
//		case <-timer.C:
//		case <-shutdown:
//		}
//		w.Disarm()
//	}
//
// # Why no wake-up is lost
//
// The producer does "publish work (atomic store); Notify (atomic load of
// state)". The waiter does "Arm (atomic store of state); re-check work
// (atomic load)". Go's atomics are sequentially consistent, so the four
// operations fall in one total order, and in it either:
//
//   - the producer's state load comes after Arm: it sees armed, and the CAS
//     winner puts a token in the channel (or one is already there), so the
//     waiter's receive returns; or
//   - the state load comes before Arm: then the producer's publish, earlier
//     in its program order, precedes Arm and hence the waiter's re-check,
//     which sees the work and does not wait.
//
// The channel has capacity 1 and Notify sends without blocking, so a token
// that arrives after the waiter stopped waiting stays for the next wait: a
// Waker may wake spuriously, never miss a wake-up. The waiter must therefore
// treat a wake-up as "look again", which the loop above does anyway.
//
// Only one goroutine may wait on a Waker at a time (that is what makes one
// token enough); any number may Notify. A Waker must be made by NewWaker.
type Waker struct {
	state atomic.Uint32
	ch    chan struct{}
}

// NewWaker returns an idle Waker. Its channel is made here, once, so that no
// later call allocates.
func NewWaker() *Waker {
	w := &Waker{}
	w.init()
	return w
}

func (w *Waker) init() { w.ch = make(chan struct{}, 1) }

// Notify wakes the waiter if it is armed. When nobody is armed it costs one
// atomic load of a line the waiter rarely writes, so producers can call it
// after every push. It never blocks. Among concurrent Notify calls only the
// one that moves the state from armed to idle touches the channel.
func (w *Waker) Notify() {
	if w.state.Load() != wakerArmed {
		return
	}
	if w.state.CompareAndSwap(wakerArmed, wakerIdle) {
		select {
		case w.ch <- struct{}{}:
		default: // a token is already pending; the waiter will see it
		}
	}
}

// Arm announces that the waiter is about to wait. The waiter MUST re-check
// its sources after Arm and before receiving from C; see the type comment.
func (w *Waker) Arm() { w.state.Store(wakerArmed) }

// C returns the channel to receive from in a select. A receive means "look
// again", not "there is work": wake-ups may be spurious.
func (w *Waker) C() <-chan struct{} { return w.ch }

// Disarm withdraws the announcement after the waiter found work or woke up,
// so later Notify calls take the one-load fast path again. It skips the
// store when a Notify already disarmed it, keeping the common wake-up path
// free of a second atomic write.
func (w *Waker) Disarm() {
	if w.state.Load() != wakerIdle {
		w.state.Store(wakerIdle)
	}
}
