package ring

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// popAll is the consumer side of the Blocking stress tests: it alternates
// PopWait and PopBatchWait until ErrClosed (or until want elements when
// want >= 0) and feeds everything to check.
func popAll(t *testing.T, b *Blocking[item], check *orderChecker, want int, onCount func(int)) {
	t.Helper()
	dst := make([]item, 8)
	rng := newRand(3)
	for want < 0 || check.got < want {
		if rng.IntN(2) == 0 {
			it, err := b.PopWait(nil)
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil {
				t.Fatalf("PopWait: %v", err)
			}
			check.see(it)
		} else {
			n, err := b.PopBatchWait(dst[:1+rng.IntN(len(dst))], nil)
			if errors.Is(err, ErrClosed) {
				if n != 0 {
					t.Fatalf("PopBatchWait returned %d elements with ErrClosed", n)
				}
				return
			}
			if err != nil || n == 0 {
				t.Fatalf("PopBatchWait = %d, %v", n, err)
			}
			for _, it := range dst[:n] {
				check.see(it)
			}
		}
		if onCount != nil {
			onCount(check.got)
		}
	}
}

var blockingRings = []struct {
	name      string
	producers int
	make      func(capacity int) Queue[item]
}{
	{"SPSC", 1, func(c int) Queue[item] { return NewSPSC[item](c) }},
	{"MPSC", 4, func(c int) Queue[item] { return NewMPSC[item](c) }},
}

// TestBlockingStress has producers wait for room with PushWait and the
// consumer wait for data with PopWait/PopBatchWait on a ring of 2 or 4, so
// both sides park constantly; every element must arrive once, in order per
// producer, and nobody may stay parked (the test would hang).
func TestBlockingStress(t *testing.T) {
	for _, r := range blockingRings {
		for _, capacity := range []int{2, 4} {
			t.Run(fmt.Sprintf("%s/cap%d", r.name, capacity), func(t *testing.T) {
				t.Parallel()
				b := NewBlocking(r.make(capacity))
				perProducer := stress(100_000) / r.producers
				var wg sync.WaitGroup
				for p := range r.producers {
					wg.Go(func() {
						for s := range perProducer {
							if err := b.PushWait(item{uint32(p), uint32(s)}, nil); err != nil {
								t.Errorf("PushWait: %v", err)
								return
							}
						}
					})
				}
				check := newOrderChecker(t, r.producers)
				popAll(t, b, check, r.producers*perProducer, nil)
				wg.Wait()
			})
		}
	}
}

// TestBlockingCloseMidway closes the ring while producers are pushing (and
// often parked on a full ring) and the consumer is draining. Each producer
// pushes an unbounded sequence until ErrClosed, so its accepted count is
// the last accepted seq + 1. The consumer must receive exactly the accepted
// elements, in order, and only then see ErrClosed: nothing accepted may be
// stranded, nothing rejected may appear.
func TestBlockingCloseMidway(t *testing.T) {
	for _, r := range blockingRings {
		for _, capacity := range []int{2, 64} {
			t.Run(fmt.Sprintf("%s/cap%d", r.name, capacity), func(t *testing.T) {
				t.Parallel()
				for round := range stress(60) {
					closeMidway(t, NewBlocking(r.make(capacity)), r.producers, 500+round*50)
				}
			})
		}
	}
}

func closeMidway(t *testing.T, b *Blocking[item], producers, closeAfter int) {
	accepted := make([]int, producers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for s := 0; ; s++ {
				it := item{uint32(p), uint32(s)}
				if s%3 == 2 && b.Push(it) { // the non-blocking path too
					continue
				}
				if err := b.PushWait(it, nil); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("PushWait: %v", err)
					}
					accepted[p] = s
					return
				}
			}
		})
	}
	half := make(chan struct{})
	closer := make(chan struct{})
	go func() {
		defer close(closer)
		<-half
		b.Close()
	}()
	check := newOrderChecker(t, producers)
	halfClosed := false
	popAll(t, b, check, -1, func(got int) {
		if got >= closeAfter && !halfClosed {
			halfClosed = true
			close(half)
		}
	})
	wg.Wait()
	<-closer
	for p := range producers {
		if int(check.next[p]) != accepted[p] {
			t.Fatalf("producer %d: %d accepted, %d delivered", p, accepted[p], check.next[p])
		}
	}
	if b.Push(item{}) || b.PushBatch([]item{{}}) != 0 || !b.Closed() {
		t.Fatal("push accepted after Close")
	}
	if _, err := b.PopWait(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("PopWait after drain = %v, want ErrClosed", err)
	}
	b.Close() // idempotent
}

// TestBlockingManyParkedProducers parks many producers on a ring of 2 so the
// space token has to be handed from producer to producer, while half of them
// wait with a done channel that is already closed: they return ErrCanceled
// at random points, including right after taking the token, which is where
// a token could be lost if passSpace were wrong.
func TestBlockingManyParkedProducers(t *testing.T) {
	const steady, flaky = 4, 4
	perProducer := stress(10_000)
	b := NewBlocking[item](NewMPSC[item](2))
	canceled := make(chan struct{})
	close(canceled)
	accepted := make([]int, steady+flaky)
	var wg sync.WaitGroup
	for p := range steady + flaky {
		wg.Go(func() {
			var done <-chan struct{}
			if p >= steady {
				done = canceled
			}
			s := 0
			for attempts := 0; s < perProducer && attempts < 4*perProducer; attempts++ {
				err := b.PushWait(item{uint32(p), uint32(s)}, done)
				switch {
				case err == nil:
					s++
				case errors.Is(err, ErrCanceled) && done != nil:
				default:
					t.Errorf("producer %d: %v", p, err)
					return
				}
			}
			accepted[p] = s
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	check := newOrderChecker(t, steady+flaky)
	dst := make([]item, 3)
	for {
		n, err := b.PopBatchWait(dst, finished)
		for _, it := range dst[:n] {
			check.see(it)
		}
		if errors.Is(err, ErrCanceled) { // all producers returned
			for { // collect what they left in the ring
				n := b.PopBatch(dst)
				if n == 0 {
					break
				}
				for _, it := range dst[:n] {
					check.see(it)
				}
			}
			break
		}
	}
	for p := range accepted {
		if int(check.next[p]) != accepted[p] {
			t.Fatalf("producer %d: %d accepted, %d delivered", p, accepted[p], check.next[p])
		}
		if p < steady && accepted[p] != perProducer {
			t.Fatalf("steady producer %d finished only %d", p, accepted[p])
		}
	}
}

// TestBlockingCancel cancels a PushWait parked on a full ring and a PopWait
// parked on an empty one. "Parked" is observed through the ring's own state
// (a producer counted in waiters, the consumer's Waker armed), never by
// sleeping; the cancellation is correct either way, this only makes sure the
// parked path is the one exercised.
func TestBlockingCancel(t *testing.T) {
	b := NewBlocking[uint64](NewSPSC[uint64](2))
	b.Push(1)
	b.Push(2)
	if b.Push(3) || b.Closed() {
		t.Fatal("Push on a full ring succeeded, or an open ring reports Closed")
	}
	done := make(chan struct{})
	errc := make(chan error)
	go func() { errc <- b.PushWait(3, done) }()
	for b.waiters.Load() == 0 {
		runtime.Gosched()
	}
	close(done)
	if err := <-errc; !errors.Is(err, ErrCanceled) {
		t.Fatalf("PushWait = %v, want ErrCanceled", err)
	}
	if b.Len() != 2 {
		t.Fatalf("Len = %d after canceled push", b.Len())
	}
	// The ring must still work normally after a cancellation.
	for want := uint64(1); want <= 2; want++ {
		if v, err := b.PopWait(nil); err != nil || v != want {
			t.Fatalf("PopWait = %d, %v; want %d", v, err, want)
		}
	}

	done = make(chan struct{})
	go func() {
		_, err := b.PopWait(done)
		errc <- err
	}()
	for b.notEmpty.state.Load() != wakerArmed {
		runtime.Gosched()
	}
	close(done)
	if err := <-errc; !errors.Is(err, ErrCanceled) {
		t.Fatalf("PopWait = %v, want ErrCanceled", err)
	}
	go func() {
		_, err := b.PopBatchWait(make([]uint64, 4), done) // done already closed
		errc <- err
	}()
	if err := <-errc; !errors.Is(err, ErrCanceled) {
		t.Fatalf("PopBatchWait = %v, want ErrCanceled", err)
	}
	if n, err := b.PopBatchWait(nil, nil); n != 0 || err != nil {
		t.Fatalf("PopBatchWait(empty dst) = %d, %v", n, err)
	}
	// A parked consumer is woken by a push from another goroutine.
	go func() {
		v, err := b.PopWait(nil)
		if err == nil && v != 42 {
			err = fmt.Errorf("got %d", v)
		}
		errc <- err
	}()
	for b.notEmpty.state.Load() != wakerArmed {
		runtime.Gosched()
	}
	b.Push(42)
	if err := <-errc; err != nil {
		t.Fatalf("PopWait after wake-up: %v", err)
	}
}

// TestBlockingCloseWakesParked closes a ring with a producer parked on it
// (full) and, separately, with the consumer parked on it (empty).
func TestBlockingCloseWakesParked(t *testing.T) {
	b := NewBlocking[uint64](NewMPSC[uint64](2))
	b.Push(1)
	b.Push(2)
	errc := make(chan error)
	go func() { errc <- b.PushWait(3, nil) }()
	for b.waiters.Load() == 0 {
		runtime.Gosched()
	}
	b.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("PushWait = %v, want ErrClosed", err)
	}
	for want := uint64(1); want <= 2; want++ { // accepted elements still drain
		if v, err := b.PopWait(nil); err != nil || v != want {
			t.Fatalf("PopWait = %d, %v; want %d", v, err, want)
		}
	}
	if _, err := b.PopWait(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("PopWait = %v, want ErrClosed", err)
	}
	if err := b.PushWait(4, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("PushWait after Close = %v", err)
	}

	b = NewBlocking[uint64](NewSPSC[uint64](2))
	go func() {
		_, err := b.PopBatchWait(make([]uint64, 2), nil)
		errc <- err
	}()
	for b.notEmpty.state.Load() != wakerArmed {
		runtime.Gosched()
	}
	b.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("PopBatchWait = %v, want ErrClosed", err)
	}
}
