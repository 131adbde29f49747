//go:build !race

package dataplane

import (
	"math"
	"runtime"
	"testing"
)

// TestAllocsCreditUpdates: a bulk transfer whose reader returns credit all the time (64 KiB
// messages: a MAX_STREAM_DATA every 2 MiB, a MAX_DATA every 8 MiB) allocates nothing per packet
// with the window tuners in place. Growth allocates (a larger chunk table) only when a window
// doubles, a few times in a stream's life, which a path with a microsecond round trip never
// asks for.
func TestAllocsCreditUpdates(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 64<<10)
	a.step()
	deliver(a, b)
	pst, err := b.s.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 128<<10)
	round := func() {
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		for {
			a.step()
			deliver(a, b)
			b.step()
			deliver(b, a)
			if pst.recv.Frontier() >= st.send.End() {
				break
			}
		}
		if got, err := pst.ReadMessage(buf[:0]); err != nil || len(got) != len(msg) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	}
	warm(300, round) // 19 MiB: past the first MAX_DATA, which makes the session's tuner
	if allocs := testing.AllocsPerRun(300, round); allocs != 0 {
		t.Fatalf("64 KiB messages with credit updates: %v allocations per message, want 0", allocs)
	}
	// AllocsPerRun divides in integers: one allocation per credit update (every 32 messages)
	// rounds to 0 there. Count every allocation of 300 more rounds instead.
	if n := fewestAllocs(3, 300, round); n != 0 {
		t.Fatalf("64 KiB messages with credit updates: %d allocations in 300 messages, want 0", n)
	}
	if a.s.Stats().StreamBytesSent < 36<<20 {
		t.Fatal("the transfer did not run")
	}
}

// fewestAllocs counts every heap allocation of runs calls of f, measured as testing.AllocsPerRun
// does (one P, one call before counting) but not divided, and returns the fewest of attempts
// counts. The count is the process's: a background goroutine that allocates now and then (gnet's
// worker pool ticker, the runtime's scavenger and mark workers, a sync.Pool refilled after a
// collection) lands in one count in a few, while an allocation on the measured path lands in all.
func fewestAllocs(attempts, runs int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	fewest := uint64(math.MaxUint64)
	for range attempts {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			f()
		}
		runtime.ReadMemStats(&after)
		fewest = min(fewest, after.Mallocs-before.Mallocs)
	}
	return fewest
}
