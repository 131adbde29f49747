package dataplane

import (
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// rttOf returns an RTT estimator that has seen one sample of d.
func rttOf(d time.Duration) *recovery.RTT {
	var r recovery.RTT
	r.Update(d, 0)
	return &r
}

// consumeAt feeds a tuner credit decisions as a reader consuming rate bytes per second would,
// one every step of consumption (as the receiver does when half a window has been read), for
// the given duration, and returns the largest window seen.
func consumeAt(w *windowTuner, rate float64, d time.Duration, rtt *recovery.RTT, maxSize uint64) uint64 {
	now := recovery.Time(1)
	var off uint64
	largest := w.size
	for elapsed := time.Duration(0); elapsed < d; {
		step := w.size / 2 // credit goes out when half the window has been consumed
		dt := time.Duration(float64(step) / rate * float64(time.Second))
		now, off, elapsed = now.Add(dt), off+step, elapsed+dt
		w.onCredit(now, off, rtt, maxSize)
		largest = max(largest, w.size)
	}
	return largest
}

// TestWindowGrowsOnLongFatPath: a reader consuming 50 MB/s (400 Mbit/s) behind a 300 ms round
// trip empties half of a 4 MiB window in 42 ms, far within two round trips, so the window
// doubles while that holds (half of 32 MiB still takes only 336 ms of the 600) and stops at the
// 64 MiB cap; with a lower cap, at that cap.
func TestWindowGrowsOnLongFatPath(t *testing.T) {
	var w windowTuner
	w.init(4<<20, 1)
	got := consumeAt(&w, 50e6, 20*time.Second, rttOf(300*time.Millisecond), 64<<20)
	if got != 64<<20 {
		t.Fatalf("window reached %d MiB, want the 64 MiB cap", got>>20)
	}
	// The same reader with a lower cap stops at the cap.
	w.init(4<<20, 1)
	if got := consumeAt(&w, 50e6, 20*time.Second, rttOf(300*time.Millisecond), 24<<20); got != 24<<20 {
		t.Fatalf("window reached %d MiB with a 24 MiB cap", got>>20)
	}
}

// TestWindowStopsAtBandwidthDelayProduct: the window grows only while half of it is consumed
// within two round trips, so it settles near twice the bandwidth-delay product whatever the
// cap: at 50 MB/s and 100 ms (5 MB), half of 16 MiB takes 168 ms (< 200: doubles to 32 MiB),
// half of 32 MiB 336 ms (stays).
func TestWindowStopsAtBandwidthDelayProduct(t *testing.T) {
	var w windowTuner
	w.init(4<<20, 1)
	got := consumeAt(&w, 50e6, 30*time.Second, rttOf(100*time.Millisecond), 1<<30)
	if got != 32<<20 {
		t.Fatalf("window reached %d MiB, want 32 MiB (the first size whose half outlasts two RTTs)", got>>20)
	}
}

// TestWindowDoesNotGrowForSlowReader: a reader consuming 1 MB/s takes 2 s for half of a 4 MiB
// window, far more than two 100 ms round trips: the window stays where it started, so a slow
// application never makes the node buffer more than its configured window.
func TestWindowDoesNotGrowForSlowReader(t *testing.T) {
	var w windowTuner
	w.init(4<<20, 1)
	if got := consumeAt(&w, 1e6, 60*time.Second, rttOf(100*time.Millisecond), 64<<20); got != 4<<20 {
		t.Fatalf("a slow reader grew the window to %d MiB", got>>20)
	}
	// Without an RTT sample nothing grows either (the initial guess is not a measurement).
	w.init(4<<20, 1)
	if got := consumeAt(&w, 50e9, time.Second, &recovery.RTT{}, 64<<20); got != 4<<20 {
		t.Fatalf("no RTT sample, yet the window grew to %d MiB", got>>20)
	}
}

// TestSendBufferGrowsWhenItLimits: the send buffer doubles, up to MaxSendBuffer, while the
// peer's credit and the congestion window would let more be in flight than it holds, and not
// when the peer's credit is what limits (a slow reader on the other side).
func TestSendBufferGrowsWhenItLimits(t *testing.T) {
	cases := []struct {
		name     string
		cfg      Config
		wantCaps []int
	}{
		// Initial congestion window 12 000 bytes > 16 KiB / 2 and the peer grants 4 MiB: it
		// doubles once, then the congestion window (below half of 32 KiB) is what limits.
		{"grows", Config{SendBuffer: 16 << 10, SessionSendBuffer: 16 << 10, MaxSendBuffer: 64 << 10}, []int{32 << 10, 32 << 10}},
		{"capped", Config{SendBuffer: 16 << 10, MaxSendBuffer: 16 << 10}, []int{16 << 10}},
		// The peer grants only 64 KiB: a 64 KiB buffer already holds all it may send.
		{"credit limits", Config{SendBuffer: 64 << 10, StreamWindow: 64 << 10, MaxStreamWindow: 64 << 10}, []int{64 << 10, 64 << 10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := newPair(t, c.cfg)
			st, err := a.s.OpenStream(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.WriteMessage([]byte("x")); err != nil {
				t.Fatal(err)
			}
			for range 4 { // the peer's MAX_STREAM_DATA for the new stream comes back
				a.step()
				deliver(a, b)
				b.step()
				deliver(b, a)
			}
			for i, want := range c.wantCaps {
				st.wmu.Lock()
				st.maybeGrowSend()
				st.wmu.Unlock()
				if got := st.send.Capacity(); got != want {
					t.Fatalf("after %d tries capacity %d KiB, want %d KiB", i+1, got>>10, want>>10)
				}
			}
			if bud := a.s.sendBudget().limit.Load(); c.name == "grows" && bud != 64<<10 {
				t.Fatalf("session send budget %d KiB did not follow the buffer (want 64 KiB)", bud>>10)
			}
		})
	}
}

// TestWindowCapsDefaults: the caps default as documented, never fall below the starting sizes,
// and a stream cap never exceeds its session's.
func TestWindowCapsDefaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.MaxStreamWindow != 64<<20 || c.MaxSessionWindow != 128<<20 || c.MaxSendBuffer != 64<<20 || c.MaxSessionSendBuffer != 128<<20 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.StreamWindow != 4<<20 || c.SessionWindow != 16<<20 || c.SendBuffer != 4<<20 {
		t.Fatalf("starting sizes changed: %d %d %d", c.StreamWindow, c.SessionWindow, c.SendBuffer)
	}
	c = Config{StreamWindow: 32 << 20, MaxStreamWindow: 1 << 20, MaxSessionWindow: 8 << 20, SendBuffer: 8 << 20, MaxSendBuffer: 1}
	c.setDefaults()
	if c.MaxStreamWindow != 32<<20 || c.MaxSessionWindow != 32<<20 || c.MaxSendBuffer != 8<<20 {
		t.Fatalf("caps below the starting sizes: %+v", c)
	}
}
