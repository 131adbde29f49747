package ring

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// guardTimeout only keeps a broken build from hanging the test run; no test
// relies on it for synchronisation or asserts anything about elapsed time.
// A lost wake-up shows up as the guard firing.
const guardTimeout = 20 * time.Second

// waitFor is the consumer side of the Waker protocol, exactly as documented
// on Waker: check, Arm, re-check, wait, Disarm. It returns how many times it
// actually blocked in the select.
func waitFor(t *testing.T, w *Waker, guard <-chan time.Time, ready func() bool) (parks int) {
	t.Helper()
	for !ready() {
		w.Arm()
		if ready() {
			w.Disarm()
			return parks
		}
		parks++
		select {
		case <-w.C():
		case <-guard:
			t.Fatal("lost wake-up: consumer still parked after the guard timeout")
		}
		w.Disarm()
	}
	return parks
}

// TestWakerPingPong bounces a counter between two goroutines, each waiting
// for the other through its own Waker, for many rounds. Each round leaves
// exactly one notification that can release the waiter, so a single lost
// wake-up deadlocks both sides and trips the guard.
func TestWakerPingPong(t *testing.T) {
	rounds := int64(stress(150_000))
	var ping, pong atomic.Int64
	wPing, wPong := NewWaker(), NewWaker()
	guard := time.After(guardTimeout)
	done := make(chan int)
	go func() {
		parks := 0
		for i := int64(1); i <= rounds; i++ {
			parks += waitFor(t, wPing, guard, func() bool { return ping.Load() >= i })
			pong.Store(i) // publish, then notify
			wPong.Notify()
		}
		done <- parks
	}()
	parks := 0
	for i := int64(1); i <= rounds; i++ {
		ping.Store(i)
		wPing.Notify()
		parks += waitFor(t, wPong, guard, func() bool { return pong.Load() >= i })
	}
	parks += <-done
	if parks == 0 {
		t.Log("no round ever parked; the race was not exercised this run")
	}
}

// TestWakerManyNotifiers has several producers feed an MPSC ring and Notify
// after every push while one consumer drains it the way the TX loop does:
// PopBatch until empty, then Arm, re-check, and wait on the Waker together
// with a shutdown channel in one select. The consumer must collect every
// element (the guard only stops a hang).
func TestWakerManyNotifiers(t *testing.T) {
	const producers = 4
	perProducer := stress(200_000) / producers
	q := NewMPSC[item](8)
	w := NewWaker()
	shutdown := make(chan struct{})
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for s := range perProducer {
				for !q.Push(item{uint32(p), uint32(s)}) {
					backoff()
				}
				w.Notify()
			}
		})
	}
	guard := time.After(guardTimeout)
	check := newOrderChecker(t, producers)
	dst := make([]item, 16)
	for check.got < producers*perProducer {
		if n := q.PopBatch(dst); n > 0 {
			for _, it := range dst[:n] {
				check.see(it)
			}
			continue
		}
		w.Arm()
		if q.Len() > 0 { // re-check after Arm
			w.Disarm()
			continue
		}
		select {
		case <-w.C():
		case <-shutdown:
		case <-guard:
			t.Fatalf("lost wake-up: %d of %d received", check.got, producers*perProducer)
		}
		w.Disarm()
	}
	wg.Wait()
}

// TestWakerSemantics pins the edge-triggered behaviour: Notify without Arm
// leaves nothing behind, Notify after Arm leaves exactly one token, and a
// Disarm'd Waker ignores Notify.
func TestWakerSemantics(t *testing.T) {
	w := NewWaker()
	w.Notify()
	select {
	case <-w.C():
		t.Fatal("Notify on an idle Waker produced a token")
	default:
	}
	w.Arm()
	w.Notify()
	w.Notify() // second Notify finds it idle: no second token, no blocking
	select {
	case <-w.C():
	default:
		t.Fatal("Notify on an armed Waker produced no token")
	}
	select {
	case <-w.C():
		t.Fatal("two tokens for one Arm")
	default:
	}
	w.Disarm()
	w.Arm()
	w.Disarm()
	w.Notify()
	select {
	case <-w.C():
		t.Fatal("Notify after Disarm produced a token")
	default:
	}
}
