package recovery

import (
	"sync/atomic"
	"time"
)

// Ensemble is congestion state shared by the Senders of several sessions whose packets end at
// the same receiver (RFC 9040 §5, "ensemble sharing"; RFC 3124's congestion manager): their
// packets meet in one receive queue, so their windows add up there. Each member keeps its own
// loss recovery, PTO, pacing and window; on top of that a member may send an ack-eliciting
// packet only while the ensemble's bytes in flight, the sum of every member's, are below the
// ensemble's window (CanSend). Every member's acknowledgements and losses feed that one window,
// an AIMD controller of its own: it grows by the bytes acknowledged in slow start and by one
// datagram per window in congestion avoidance, and shrinks to 0.7 of itself once per loss event,
// a loss of a packet sent after the previous decrease (whichever member sent it). So a thousand
// sessions to one receiver keep about what one session would keep in flight, not a thousand
// minimum windows.
//
// An Ensemble is the one type of this package that is safe for concurrent use: its members are
// locked separately by the caller (one session lock each), so it keeps its state in atomics. It
// takes no lock and allocates nothing per packet. The zero value is not usable: NewEnsemble.
type Ensemble struct {
	flight    atomic.Int64 // sum of the members' BytesInFlight
	window    atomic.Int64 // bytes
	ssthresh  atomic.Int64 // bytes; the window slow-starts below it
	reducedAt atomic.Int64 // Time of the last decrease: losses of packets sent before it are part of it
	limitedAt atomic.Int64 // Time of the latest send that left the window (nearly) full
	maxWindow int64

	// Slow start's delay exit (HyStart++'s, RFC 9406, over the members' samples): the smallest
	// RTT any member measured, and the smallest of the current round of hsNRTTSample samples.
	minRTT, roundMin atomic.Int64 // nanoseconds; 0: none yet
	roundN           atomic.Int32
}

// NewEnsemble returns an empty ensemble whose window may grow up to maxWindow bytes (0:
// DefaultMaxWindow). Its window starts at the largest window of the Senders that join it.
func NewEnsemble(maxWindow int) *Ensemble {
	if maxWindow <= 0 {
		maxWindow = DefaultMaxWindow
	}
	e := &Ensemble{maxWindow: int64(maxWindow)}
	e.ssthresh.Store(int64(maxWindow))
	return e
}

// BytesInFlight returns the sum of the members' bytes in flight.
func (e *Ensemble) BytesInFlight() int { return int(e.flight.Load()) }

// Window returns the ensemble's congestion window in bytes.
func (e *Ensemble) Window() int { return int(e.window.Load()) }

// Room reports whether the ensemble's window admits another packet. Like a Sender's own window,
// the packet may overshoot it by up to one datagram.
func (e *Ensemble) Room() bool { return e.flight.Load() < e.window.Load() }

// onSent counts a packet of size bytes put in flight at now by a member whose datagrams are up
// to mss bytes, and notes whether it left the window in use (canGrow).
func (e *Ensemble) onSent(now Time, size, mss int) {
	f := e.flight.Add(int64(size))
	w := e.window.Load()
	if f >= w-cwndLimitedSlackPkts*int64(mss) || (w < e.ssthresh.Load() && f > w/2) {
		e.limitedAt.Store(int64(now))
	}
}

// canGrow reports whether an acknowledged packet sent at sent may grow the window: it was sent
// after the last decrease and at or before the window was last in use (the window validation of
// RFC 9438 §5.8, by send time rather than packet number, since members number separately).
func (e *Ensemble) canGrow(sent Time) bool {
	return int64(sent) > e.reducedAt.Load() && int64(sent) <= e.limitedAt.Load()
}

// onAck grows the window for acked bytes that canGrow admitted, acknowledged to a member whose
// datagrams are up to mss bytes.
func (e *Ensemble) onAck(acked, mss int) {
	for {
		w := e.window.Load()
		n := w + int64(acked)
		if w >= e.ssthresh.Load() {
			n = w + int64(mss)*int64(acked)/max(w, 1)
		}
		n = min(n, e.maxWindow)
		if n == w || e.window.CompareAndSwap(w, n) {
			return
		}
	}
}

// onLoss reacts to a member's loss, detected at now, of in-flight packets the newest of which was
// sent at sent: a new loss event, unless the packet left before the last decrease.
func (e *Ensemble) onLoss(now, sent Time, mss int) {
	for {
		r := e.reducedAt.Load()
		if int64(sent) <= r {
			return
		}
		if e.reducedAt.CompareAndSwap(r, max(int64(now), int64(sent))) {
			break
		}
	}
	floor := int64(DefaultMinWindowPackets * mss)
	for {
		w := e.window.Load()
		n := max(w*7/10, floor)
		if e.window.CompareAndSwap(w, n) {
			e.ssthresh.Store(n)
			return
		}
	}
}

// onRTT takes a member's RTT sample. In slow start, once a round of hsNRTTSample samples all
// exceed the smallest RTT seen by HyStart++'s threshold (an eighth of it, within 4 to 16 ms),
// the queue at the receiver is growing: the window stops doubling and grows by congestion
// avoidance from there. Without it the members' aggregate ACK clock keeps slow start going
// until the receiver's socket buffer overflows, which on a receiver limited by its CPU is many
// megabytes later, and every member then loses at once.
func (e *Ensemble) onRTT(rtt time.Duration) {
	if rtt <= 0 || e.window.Load() >= e.ssthresh.Load() {
		return
	}
	if m := e.minRTT.Load(); m == 0 || int64(rtt) < m {
		e.minRTT.Store(int64(rtt))
	}
	if r := e.roundMin.Load(); r == 0 || int64(rtt) < r {
		e.roundMin.Store(int64(rtt))
	}
	if e.roundN.Add(1) < hsNRTTSample {
		return
	}
	base := time.Duration(e.minRTT.Load())
	thresh := min(max(base/hsMinRTTDivisor, hsMinRTTThresh), hsMaxRTTThresh)
	if time.Duration(e.roundMin.Load()) >= base+thresh {
		e.ssthresh.Store(e.window.Load())
	}
	e.roundN.Store(0)
	e.roundMin.Store(0)
}

// raiseWindow makes the window at least w (a joining member's own window).
func (e *Ensemble) raiseWindow(w int) {
	for {
		cur := e.window.Load()
		n := min(max(cur, int64(w)), e.maxWindow)
		if n == cur || e.window.CompareAndSwap(cur, n) {
			return
		}
	}
}

// JoinEnsemble makes the Sender a member of e (nil: of none), leaving the ensemble it was in:
// its bytes in flight move with it, and e's window becomes at least the Sender's own, so that a
// session already sending when others to its receiver appear keeps its pace. A Sender over a
// reliable path (Config.Reliable) has no window to share and joins nothing.
func (s *Sender) JoinEnsemble(e *Ensemble) {
	if s.ens == e {
		return
	}
	s.LeaveEnsemble()
	if e == nil || s.reliable {
		return
	}
	s.ens = e
	e.flight.Add(int64(s.bytesInFlight))
	e.raiseWindow(s.Window())
}

// LeaveEnsemble takes the Sender out of its ensemble, with its bytes in flight.
func (s *Sender) LeaveEnsemble() {
	if s.ens == nil {
		return
	}
	s.ens.flight.Add(-int64(s.bytesInFlight))
	s.ens = nil
}

// Ensemble returns the ensemble the Sender is a member of, or nil.
func (s *Sender) Ensemble() *Ensemble { return s.ens }
