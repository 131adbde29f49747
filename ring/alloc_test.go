package ring

import (
	"testing"
)

// The data plane's contract is zero allocations per packet, so every hot
// call is asserted at exactly 0 allocations per run, for a scalar element
// and for a pointer element (the real use: pooled buffers).

func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%s: %v allocs per run, want 0", name, n)
	}
}

type buffer struct{ b [64]byte }

func TestZeroAllocs(t *testing.T) {
	vals := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	dst := make([]uint64, 8)
	ptrs := []*buffer{new(buffer), new(buffer), new(buffer)}
	pdst := make([]*buffer, 3)

	for _, m := range queueMakers {
		q := m.make(16)
		assertNoAllocs(t, m.name+" Push/Pop", func() {
			q.Push(42)
			q.Pop()
		})
		assertNoAllocs(t, m.name+" PushBatch/PopBatch", func() {
			q.PushBatch(vals)
			q.PopBatch(dst)
		})
	}

	s, mp := NewSPSC[*buffer](4), NewMPSC[*buffer](4)
	assertNoAllocs(t, "SPSC[*buffer]", func() {
		s.Push(ptrs[0])
		s.Pop()
		s.PushBatch(ptrs)
		s.PopBatch(pdst)
	})
	assertNoAllocs(t, "MPSC[*buffer]", func() {
		mp.Push(ptrs[0])
		mp.Pop()
		mp.PushBatch(ptrs)
		mp.PopBatch(pdst)
	})

	b := NewBlocking[uint64](NewMPSC[uint64](16))
	done := make(chan struct{})
	assertNoAllocs(t, "Blocking PushWait/PopWait (ready)", func() {
		if err := b.PushWait(7, done); err != nil {
			t.Fatal(err)
		}
		if _, err := b.PopWait(done); err != nil {
			t.Fatal(err)
		}
	})
	assertNoAllocs(t, "Blocking PopBatchWait (ready)", func() {
		b.PushBatch(vals)
		if _, err := b.PopBatchWait(dst, nil); err != nil {
			t.Fatal(err)
		}
	})
	bp := NewBlocking[*buffer](NewSPSC[*buffer](4))
	assertNoAllocs(t, "Blocking[*buffer] Push/PopWait", func() {
		bp.Push(ptrs[1])
		if _, err := bp.PopWait(nil); err != nil {
			t.Fatal(err)
		}
	})

	// The parking path: the consumer arms and blocks, a helper goroutine
	// (started outside the measurement) pushes once it sees it armed.
	pk := NewBlocking[uint64](NewSPSC[uint64](4))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			for pk.notEmpty.state.Load() != wakerArmed {
				select {
				case <-stop:
					return
				default:
					backoff()
				}
			}
			pk.Push(1)
			for pk.Len() != 0 { // wait until consumed before arming-watch again
				backoff()
			}
		}
	}()
	assertNoAllocs(t, "Blocking PopWait (parks)", func() {
		if _, err := pk.PopWait(done); err != nil {
			t.Fatal(err)
		}
	})

	w := NewWaker()
	assertNoAllocs(t, "Waker Notify (idle)", func() { w.Notify() })
	assertNoAllocs(t, "Waker Arm/Notify/receive/Disarm", func() {
		w.Arm()
		w.Notify()
		<-w.C()
		w.Disarm()
	})
}
