package dataplane

import (
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// Windows that follow the path (docs/RELIABILITY.md, "Windows that follow the path's
// bandwidth-delay product"). A fixed receive window of W bytes lets a stream carry at most W per
// round trip, whatever the link: 4 MiB over 300 ms is 112 Mbit/s. So each receive window (one
// per stream, one per session) starts at its configured size and doubles, up to its cap,
// whenever the application consumed half of it within two round trips: the rule of
// quic-go's flow controller (internal/flowcontrol, maybeAdjustWindowSize), close in effect to
// Linux TCP's receive-buffer auto-tuning (DRS), which sizes the buffer to twice what the reader
// consumed in one round trip. A slow reader never triggers it, so a window grows only as far
// as the path and the reader together can use, and memory still follows the data buffered.

// sessionWindowFactor keeps the session window at least 1.5 times the largest stream window,
// as quic-go does, so the session's credit never holds back the stream that grew.
//
// The round trip the rules use is the minimum seen, not the smoothed one: the path's own delay,
// of which the bandwidth-delay product is made. The smoothed RTT also holds the queues the
// transfer builds itself (a bulk transfer on loopback with 4 MiB in flight measures 5-15 ms), and
// a window grown on it fills them further: on loopback the windows then grew to their caps and
// the bulk transfer took its extra chunks from the heap, with GC cycles, for no gain.
const sessionWindowFactor = 1.5

// queueFactor is how far above the minimum RTT the round trip may sit for a window or send
// buffer to grow. Each rule's rate is measured over a short epoch (half a window), and on a fast
// path bursts fake it: a reader draining a backlog after a stall, or one ACK covering what a
// stalled peer received, turns half of a 4 MiB buffer within two minimum round trips of
// loopback (tens of microseconds), a rate no link carries. What bursts cannot fake is a standing
// queue: once the bytes in flight fill the pipe, the surplus waits in a queue and the round trip
// rises above the path's own delay (a loopback bulk transfer: 0.5-1 ms smoothed against a 40-90
// us minimum), and a larger window or buffer would only lengthen that queue. So neither grows
// while the smoothed RTT or the latest sample is above twice the minimum. The latest sample
// counts because a receiver's samples are few (one per credit update) and the smoothed RTT
// follows them slowly: early in a transfer it still sits near the first, unqueued samples
// while the latest already waited behind the sender's queue. A long path whose window is the
// limit keeps its queue short (300 ms on a 300 ms path) and grows as before. On loopback the
// 4 MiB send buffer grew to 8 MiB in a third of the 10 s bulk windows and a stream window to 8
// MiB in half the warm-ups, each time chunks from the heap and, in the window, a GC cycle;
// neither does now (benchmarks/README.md, "Latest results").
const queueFactor = 2

// growSamples is how many RTT samples a window or send buffer waits for before it may grow.
// The rules read the minimum RTT as the path's own delay, and a minimum over the first samples
// is not that: on loopback a receiver's first samples (its FINAL's and its first credit
// updates', each riding behind the sender's opening burst) sat at 370-470 us against the 40-90
// us the transfer later measured, so the first half window, read in 0.8 ms, looked like two
// round trips and the stream window doubled to 8 MiB in a quarter of the bulk runs. Four
// samples take a receiver two round trips on a path its window limits (one per credit update,
// two per window), while slow start leaves the window unused for longer than that.
const growSamples = 4

// rttSettle is how long a session must have run before its round trip may grow anything. A
// process is slow in its first milliseconds (its start-up GC cycles, buffers touched for the
// first time), so a session's first samples can all sit far above the path, however many they
// are: on loopback a receiver's first six ran 0.4-6.4 ms, the sender's 0.3-2.9 ms, against the
// 40-90 us measured later, and with growSamples alone a stream window still doubled at a
// minimum of 290-700 us (4-17 samples) in 4 of 20 bulk runs, its chunks then crossing the heap
// goal in the measurement window. A tenth of a second is hundreds of loopback round trips, and
// at most one on the paths that need growth, whose slow start leaves the window unused for
// several round trips anyway.
const rttSettle = 100 * time.Millisecond

// queueStands reports whether rtt shows a standing queue: its smoothed RTT or its latest sample
// more than queueFactor times its minimum. Without a sample it has nothing to show: false.
func queueStands(rtt *recovery.RTT) bool {
	return rtt.HasSample() && max(rtt.Smoothed(), rtt.Latest()) > queueFactor*rtt.Min()
}

// pathKnown reports whether rtt, in a session age old, can stand for the path's delay (the
// session settled, rttSettle; enough samples, growSamples) and shows no standing queue
// (queueStands): the conditions every growth rule puts on the round trip.
func pathKnown(rtt *recovery.RTT, age time.Duration) bool {
	return age >= rttSettle && rtt.Samples() >= growSamples && !queueStands(rtt)
}

// windowTuner decides when one receive window doubles. Guarded by s.mu.
type windowTuner struct {
	size     uint64        // current window in bytes
	epochAt  recovery.Time // when the current measuring epoch began
	epochOff uint64        // consumed offset when it began
}

func (w *windowTuner) init(size uint64, now recovery.Time) {
	w.size, w.epochAt, w.epochOff = size, now, 0
}

// onCredit is called as the receiver is about to raise the peer's limit, with off the bytes the
// application has consumed so far. Once half the window has been consumed in the epoch, it
// doubles the window (up to maxSize) if that took less than two round trips (4 × fraction
// consumed × min RTT) and the round trip, in a session age old, stands for the path (pathKnown),
// starts a new epoch, and reports whether the window grew. Without an RTT sample it only starts
// epochs: the initial RTT guess would grow windows on any path.
func (w *windowTuner) onCredit(now recovery.Time, off uint64, rtt *recovery.RTT, age time.Duration, maxSize uint64) bool {
	read := off - w.epochOff
	if read < w.size/2 {
		return false
	}
	grew := false
	if w.size < maxSize && pathKnown(rtt, age) {
		fraction := float64(read) / float64(w.size)
		if now.Sub(w.epochAt) < time.Duration(4*fraction*float64(rtt.Min())) {
			w.size = min(2*w.size, maxSize)
			grew = true
		}
	}
	w.epochAt, w.epochOff = now, off
	return grew
}

// atLeast raises the window to size (capped by maxSize) and restarts the epoch, so the raise is
// not mistaken for fast consumption. Used for the session window when a stream window grew.
func (w *windowTuner) atLeast(size, maxSize uint64, now recovery.Time, off uint64) bool {
	size = min(size, maxSize)
	if size <= w.size {
		return false
	}
	w.size = size
	w.epochAt, w.epochOff = now, off
	return true
}

// sessionTuner is a session's window state once it has one (Session.rxTune).
type sessionTuner struct {
	window  atomic.Uint64 // tune.size, for the reader's lock-free credit check
	growths atomic.Uint64 // windows of the session doubled (SessionStats.WindowGrowths)
	tune    windowTuner   // s.mu
}

// recvWindow is the session's receive window now: SessionWindow until it first grew.
func (s *Session) recvWindow() uint64 {
	if tu := s.rxTune.Load(); tu != nil {
		return tu.window.Load()
	}
	return uint64(s.e.cfg.SessionWindow)
}

// tuner returns the session's window state, making it on first use. Its first epoch starts
// now: the session's first window's worth of data only creates it. s.mu held.
func (s *Session) tuner(now recovery.Time) *sessionTuner {
	if tu := s.rxTune.Load(); tu != nil {
		return tu
	}
	tu := &sessionTuner{}
	tu.tune.init(uint64(s.e.cfg.SessionWindow), now)
	tu.tune.epochOff = s.consumed.Load()
	tu.window.Store(tu.tune.size)
	s.rxTune.Store(tu)
	return tu
}

// streamCreditGrow runs the stream's tuner before its MAX_STREAM_DATA is built, grows the receive
// buffer first (the peer may use the new credit as soon as it hears of it), and lifts the session
// window along with it. s.mu held.
func (s *Session) streamCreditGrow(st *Stream, now recovery.Time) {
	cfg := &s.e.cfg
	if st.readDone || !st.rxTune.onCredit(now, st.recv.ReadOffset(), s.sender.RTT(), s.age(now), uint64(cfg.MaxStreamWindow)) {
		return
	}
	st.recv.Grow(int(st.rxTune.size))
	st.rxWindow.Store(st.rxTune.size)
	tu := s.tuner(now)
	tu.growths.Add(1)
	want := uint64(sessionWindowFactor * float64(st.rxTune.size))
	if tu.tune.atLeast(want, uint64(cfg.MaxSessionWindow), now, s.consumed.Load()) {
		tu.window.Store(tu.tune.size)
		s.needMaxData = true // the peer hears of it with this stream's credit
	}
}

// sessionCreditGrow runs the session's tuner before its MAX_DATA is built. s.mu held.
func (s *Session) sessionCreditGrow(now recovery.Time) {
	if s.rxTune.Load() == nil && s.consumed.Load() < uint64(s.e.cfg.SessionWindow)/2 {
		return // the opening MAX_DATA, or a resent one: nothing to measure yet
	}
	tu := s.tuner(now)
	if tu.tune.onCredit(now, s.consumed.Load(), s.sender.RTT(), s.age(now), uint64(s.e.cfg.MaxSessionWindow)) {
		tu.window.Store(tu.tune.size)
		tu.growths.Add(1)
	}
}

// maybeGrowSend doubles the stream's send buffer, up to MaxSendBuffer, when the buffer is what
// holds the writer back. Like a receive window, it measures epochs: once half the buffer has
// been acknowledged since the epoch began, it doubles if that took less than two round trips
// (4 × fraction × min RTT: a buffer-limited sender empties half its buffer in half a round
// trip, one limited elsewhere takes longer), the congestion window is above half the buffer and
// the peer's credit reaches beyond it (Linux TCP keeps a send buffer of about twice the
// congestion window). The session's send budget is raised to twice the new capacity (up to
// MaxSessionSendBuffer) so it does not become the limit instead. Writer side (it runs when a
// writer finds the buffer full), wmu held, outside any reservation.
func (st *Stream) maybeGrowSend() {
	cfg := &st.s.e.cfg
	c := st.send.Capacity()
	acked := st.send.Acked()
	if c >= cfg.MaxSendBuffer {
		return
	}
	now := recovery.Now()
	if st.sendEpochAt == 0 {
		st.sendEpochAt, st.sendEpochOff = now, acked
		return
	}
	// Most waits end here without the session lock: half the buffer not yet acknowledged in
	// this epoch, or the peer's credit (not the buffer) is what is full.
	if acked-st.sendEpochOff < uint64(c)/2 || st.peerMaxPub.Load() <= acked+uint64(c) {
		return
	}
	turned, elapsed := acked-st.sendEpochOff, now.Sub(st.sendEpochAt)
	st.sendEpochAt, st.sendEpochOff = now, acked
	s := st.s
	s.mu.Lock() // holds the transport off the buffer while its table is swapped
	limits := sendBufferLimits(c, turned, elapsed, s.sender.RTT(), s.age(now), s.sender.Window(), st.peerMax > acked+uint64(c))
	if limits && !st.sendGone {
		nc := min(2*c, cfg.MaxSendBuffer)
		st.send.Grow(nc)
		s.tuner(now).growths.Add(1)
		if b := s.budget.Load(); b != nil {
			b.raise(int64(min(2*nc, cfg.MaxSessionSendBuffer)))
		}
	}
	s.mu.Unlock()
}

// sendBufferLimits is maybeGrowSend's decision: a send buffer of c bytes, turned of which were
// acknowledged within elapsed, holds the sender back if that took less than 4 × (turned / c) ×
// min RTT (two round trips for half of it), the round trip, in a session age old, stands for the
// path (pathKnown), the congestion window is above half the buffer and the peer's credit reaches
// beyond it (creditBeyond). Without an RTT sample it never does.
func sendBufferLimits(c int, turned uint64, elapsed time.Duration, rtt *recovery.RTT, age time.Duration, cwnd int, creditBeyond bool) bool {
	fraction := float64(turned) / float64(c)
	return pathKnown(rtt, age) && elapsed < time.Duration(4*fraction*float64(rtt.Min())) &&
		cwnd > c/2 && creditBeyond
}
