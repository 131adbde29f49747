package ring_test

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/sttfast/sttfast/ring"
)

// A TX-loop-shaped consumer: writers push onto an MPSC ring and Notify; the
// loop drains in batches and, when the ring is empty, waits on the Waker,
// a timer and shutdown in one select.
func ExampleWaker() {
	q := ring.NewMPSC[int](64)
	w := ring.NewWaker()
	shutdown := make(chan struct{})

	var writers sync.WaitGroup
	for id := range 3 {
		writers.Go(func() {
			for i := range 10 {
				for !q.Push(id*100 + i) {
					runtime.Gosched() // full: a real writer would wait via Blocking
				}
				w.Notify() // after the push: one atomic load unless the loop is parked
			}
		})
	}
	go func() { writers.Wait(); close(shutdown) }()

	tick := time.NewTicker(time.Hour) // stands in for retransmit/pacing timers
	defer tick.Stop()
	batch := make([]int, 16)
	total := 0
	for {
		if n := q.PopBatch(batch); n > 0 {
			total += n
			continue
		}
		w.Arm()
		if q.Len() > 0 { // re-check after Arm, or a Notify could be missed
			w.Disarm()
			continue
		}
		select {
		case <-w.C():
		case <-tick.C:
		case <-shutdown:
			w.Disarm()
			for n := q.PopBatch(batch); n > 0; n = q.PopBatch(batch) {
				total += n // writers are done: take the rest
			}
			fmt.Println("sent", total)
			return
		}
		w.Disarm()
	}
	// Output: sent 30
}

// A stream-shaped pipe: the producer waits for room, the reader waits for
// data, and Close lets the reader drain what was accepted before ErrClosed.
func ExampleBlocking() {
	b := ring.NewBlocking[string](ring.NewSPSC[string](2))
	go func() {
		for _, s := range []string{"a", "b", "c", "d"} {
			if err := b.PushWait(s, nil); err != nil {
				return
			}
		}
		b.Close()
	}()
	for {
		s, err := b.PopWait(nil)
		if err == ring.ErrClosed {
			fmt.Println("closed")
			return
		}
		fmt.Print(s, " ")
	}
	// Output: a b c d closed
}
