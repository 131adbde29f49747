package dataplane

import (
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// rttOf returns an RTT estimator that has seen growSamples samples of d: enough for the growth
// rules to trust its minimum.
func rttOf(d time.Duration) *recovery.RTT {
	var r recovery.RTT
	for range growSamples {
		r.Update(d, 0)
	}
	return &r
}

// fewSamples returns an RTT estimator that has seen one sample fewer than the growth rules wait
// for, each of d.
func fewSamples(d time.Duration) *recovery.RTT {
	var r recovery.RTT
	for range growSamples - 1 {
		r.Update(d, 0)
	}
	return &r
}

// queuedRTT returns an RTT estimator whose minimum is min and whose smoothed RTT has settled near
// smoothed: a path with a standing queue of smoothed-min.
func queuedRTT(min, smoothed time.Duration) *recovery.RTT {
	r := rttOf(min)
	for range 64 {
		r.Update(smoothed, 0)
	}
	return r
}

// latestRTT returns an RTT estimator whose minimum and smoothed RTT are min and whose one later
// sample, latest, waited in a queue: a receiver's estimator early in a transfer, its first
// samples smoothed, its latest credit update's sample behind the sender's queue.
func latestRTT(min, latest time.Duration) *recovery.RTT {
	r := rttOf(min)
	for range 64 {
		r.Update(min, 0)
	}
	r.Update(latest, 0)
	return r
}

// settled is a session age past rttSettle: the growth rules' tests judge the round trip alone.
const settled = time.Hour

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
		w.onCredit(now, off, rtt, settled, maxSize)
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

// TestWindowDoesNotGrowBehindStandingQueue: consumption that fast on a path whose smoothed RTT
// sits far above its minimum is a burst (a reader draining a backlog after a stall), not the
// path's rate: loopback's bulk transfer, 0.5-1 ms smoothed against a 40-90 us minimum, must not
// grow its windows however fast half of one is read. The same reader on a path without the
// queue (smoothed at the minimum, and at just under twice it) grows the window, so what stops it
// is the queue. A latest sample behind the queue stops it too, before the smoothed RTT shows it
// (one sample moves it by an eighth). Nor does anything grow before growSamples samples, or in
// a session younger than rttSettle: the first samples may all be start-up's.
func TestWindowDoesNotGrowBehindStandingQueue(t *testing.T) {
	const min = 60 * time.Microsecond
	cases := []struct {
		name string
		rtt  *recovery.RTT
		grow bool
	}{
		{"standing queue", queuedRTT(min, 800*time.Microsecond), false},
		{"queue just past twice the minimum", queuedRTT(min, 2*min+10*time.Microsecond), false},
		{"no queue", rttOf(min), true},
		{"queue under twice the minimum", queuedRTT(min, 2*min-10*time.Microsecond), true},
		{"latest sample behind a queue, smoothed not yet", latestRTT(min, 400*time.Microsecond), false},
		{"too few samples to know the path", fewSamples(min), false},
	}
	young := func(w *windowTuner, rtt *recovery.RTT) uint64 { // consumeAt in a session not yet settled
		now, largest := recovery.Time(1), w.size
		for off := uint64(0); off < 64<<20; {
			off += w.size / 2
			now = now.Add(10 * time.Microsecond)
			w.onCredit(now, off, rtt, rttSettle-time.Millisecond, 64<<20)
			largest = max(largest, w.size)
		}
		return largest
	}
	var w windowTuner
	w.init(4<<20, 1)
	if got := young(&w, rttOf(min)); got != 4<<20 {
		t.Errorf("a session younger than rttSettle grew its window to %d MiB", got>>20)
	}
	for _, c := range cases {
		var w windowTuner
		w.init(4<<20, 1)
		// 100 GB/s: half a 4 MiB window in 21 us, within two minimum round trips.
		if got := consumeAt(&w, 100e9, 10*time.Millisecond, c.rtt, 64<<20); (got > 4<<20) != c.grow {
			t.Errorf("%s (smoothed %v, min %v): window reached %d MiB from 4, want growth %v",
				c.name, c.rtt.Smoothed(), c.rtt.Min(), got>>20, c.grow)
		}
	}
}

// sendPair opens a stream on a hand-driven pair with cfg and lets the peer's MAX_STREAM_DATA
// arrive.
func sendPair(t *testing.T, cfg Config) (a, b *side, st *Stream) {
	a, b = newPair(t, cfg)
	a.s.born = recovery.Now().Add(-settled) // past rttSettle: the rules judge the round trip
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sendAndAck(t, a, b, st, 1)
	return a, b, st
}

// sendAndAck writes an n-byte message and exchanges packets until it is acknowledged.
func sendAndAck(t *testing.T, a, b *side, st *Stream, n int) {
	t.Helper()
	if err := st.WriteMessage(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	pumpUntil(t, a, b, nil, func() bool { return st.send.Acked() == st.send.End() })
}

// growSend is what a writer finding its buffer full does, on a path whose round trip is rtt:
// the sender's RTT estimator is set to it first (the in-process samples are microseconds).
func growSend(a *side, st *Stream, rtt time.Duration) int {
	a.s.mu.Lock()
	r := a.s.sender.RTT()
	*r = *rttOf(rtt)
	a.s.mu.Unlock()
	st.lockWrite()
	defer st.unlockWrite()
	st.maybeGrowSend()
	return st.send.Capacity()
}

// TestSendBufferGrowsWhenItLimits: with a 300 ms round trip, a send buffer whose halves are
// acknowledged within two round trips doubles, up to MaxSendBuffer, while the congestion window
// and the peer's credit allow more in flight, and the session's budget follows.
func TestSendBufferGrowsWhenItLimits(t *testing.T) {
	a, b, st := sendPair(t, Config{SendBuffer: 16 << 10, SessionSendBuffer: 16 << 10, MaxSendBuffer: 64 << 10})
	const rtt = 300 * time.Millisecond
	if got := growSend(a, st, rtt); got != 16<<10 { // starts the first epoch
		t.Fatalf("capacity %d KiB before any epoch", got>>10)
	}
	sendAndAck(t, a, b, st, 12<<10) // three quarters of the buffer acknowledged at once
	if got := growSend(a, st, rtt); got != 32<<10 {
		t.Fatalf("capacity %d KiB, want 32 KiB", got>>10)
	}
	if bud := a.s.sendBudget().limit.Load(); bud != 64<<10 {
		t.Fatalf("session send budget %d KiB did not follow the buffer (want 64 KiB)", bud>>10)
	}
	sendAndAck(t, a, b, st, 20<<10)
	if got := growSend(a, st, rtt); got != 64<<10 {
		t.Fatalf("capacity %d KiB, want the 64 KiB cap", got>>10)
	}
	sendAndAck(t, a, b, st, 40<<10)
	if got := growSend(a, st, rtt); got != 64<<10 {
		t.Fatalf("capacity %d KiB beyond the 64 KiB cap", got>>10)
	}
}

// TestSendBufferKeepsSizeWhenItDoesNotLimit: the buffer stays when the peer's credit, not the
// buffer, is full (a slow reader over there), however fast its halves are acknowledged. (The
// round-trip rule is TestSendGrowthRule's: in this hand-driven pair an epoch and a round trip are
// the same tens of microseconds, so the buffer really is the limit here.)
func TestSendBufferKeepsSizeWhenItDoesNotLimit(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		rtt    time.Duration
		rounds int
	}{
		// Nobody reads on the other side: one round uses the peer's 64 KiB of credit.
		{"credit limits", Config{SendBuffer: 64 << 10, StreamWindow: 64 << 10, MaxStreamWindow: 64 << 10, MaxSendBuffer: 256 << 10}, 300 * time.Millisecond, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b, st := sendPair(t, c.cfg)
			start := st.send.Capacity()
			growSend(a, st, c.rtt)
			for range c.rounds {
				sendAndAck(t, a, b, st, start*3/4)
				if got := growSend(a, st, c.rtt); got != start {
					a.s.mu.Lock()
					srtt := a.s.sender.RTT().Smoothed()
					a.s.mu.Unlock()
					t.Fatalf("capacity %d KiB, want it kept at %d KiB (SRTT %v)", got>>10, start>>10, srtt)
				}
			}
		})
	}
}

// TestSendGrowthRule: the send buffer's decision on its own. A 4 MiB buffer half acknowledged in
// 150 ms on a 300 ms path is the limit (a buffer-limited sender empties half of it in half a
// round trip); the same on a 1 ms path, or in 900 ms on the 300 ms one, is not (loopback, or a
// sender held by something else); nor is it with a small congestion window, with the peer's
// credit full, or without an RTT sample.
func TestSendGrowthRule(t *testing.T) {
	const c, half = 4 << 20, 2 << 20
	long, short := rttOf(300*time.Millisecond), rttOf(time.Millisecond)
	cases := []struct {
		name    string
		elapsed time.Duration
		rtt     *recovery.RTT
		cwnd    int
		credit  bool
		want    bool
	}{
		{"buffer-limited on a long path", 150 * time.Millisecond, long, 8 << 20, true, true},
		{"slow turnover", 900 * time.Millisecond, long, 8 << 20, true, false},
		{"short path", 5 * time.Millisecond, short, 8 << 20, true, false},
		{"congestion window small", 150 * time.Millisecond, long, 1 << 20, true, false},
		{"peer's credit full", 150 * time.Millisecond, long, 8 << 20, false, false},
		{"no RTT sample", 150 * time.Millisecond, &recovery.RTT{}, 8 << 20, true, false},
		// Loopback's bulk transfer: half the buffer acknowledged at once by an ACK that covered a
		// stalled peer's backlog, 50 us after the epoch began (two minimum round trips are 120 us),
		// with the smoothed RTT at 800 us in the transfer's own queue.
		{"burst behind a standing queue", 50 * time.Microsecond, queuedRTT(60*time.Microsecond, 800*time.Microsecond), 8 << 20, true, false},
		{"the same burst without the queue", 50 * time.Microsecond, rttOf(60 * time.Microsecond), 8 << 20, true, true},
		{"too few samples to know the path", 150 * time.Millisecond, fewSamples(300 * time.Millisecond), 8 << 20, true, false},
	}
	for _, k := range cases {
		if got := sendBufferLimits(c, half, k.elapsed, k.rtt, settled, k.cwnd, k.credit); got != k.want {
			t.Errorf("%s: %v, want %v", k.name, got, k.want)
		}
	}
	// The first case again in a session younger than rttSettle: its samples may all be start-up's.
	if sendBufferLimits(c, half, 150*time.Millisecond, long, rttSettle-time.Millisecond, 8<<20, true) {
		t.Error("a session younger than rttSettle grew its send buffer")
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
	if c.StreamWindow != 8<<20 || c.SessionWindow != 16<<20 || c.SendBuffer != 8<<20 {
		t.Fatalf("starting sizes changed: %d %d %d", c.StreamWindow, c.SessionWindow, c.SendBuffer)
	}
	c = Config{StreamWindow: 32 << 20, MaxStreamWindow: 1 << 20, MaxSessionWindow: 8 << 20, SendBuffer: 8 << 20, MaxSendBuffer: 1}
	c.setDefaults()
	if c.MaxStreamWindow != 32<<20 || c.MaxSessionWindow != 32<<20 || c.MaxSendBuffer != 8<<20 {
		t.Fatalf("caps below the starting sizes: %+v", c)
	}
}

// TestSessionAgeIsMonotonic: a session's age, which gates window growth (rttSettle), is read on
// the monotonic clock from its install, and Created is the wall-clock time that age points to:
// within the instants taken around newPair (a millisecond of slack for the two clocks' reads).
func TestSessionAgeIsMonotonic(t *testing.T) {
	before := time.Now()
	a, _ := newPair(t, Config{})
	after := time.Now()
	if age := a.s.age(recovery.Now()); age < 0 || age > time.Since(before)+time.Millisecond {
		t.Fatalf("age %v right after install (%v since before it)", age, time.Since(before))
	}
	if c := a.s.Created(); c.Before(before.Add(-time.Millisecond)) || c.After(after.Add(time.Millisecond)) {
		t.Fatalf("Created %v outside [%v, %v]", c, before, after)
	}
}
