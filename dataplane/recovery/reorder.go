package recovery

import (
	"math"
	"time"
)

// Reordering tolerance: how the Sender tells a packet that is late from one that is lost, and
// takes back what it did when it guessed wrong.
//
// RFC 9002's fixed thresholds (3 packets, 9/8 of the RTT) assume a path that keeps order. On
// Wi-Fi, cellular, bonded or multipath links, and behind any element that delays each datagram
// by its own amount, packets overtake each other by milliseconds: at 40 000 packets a second a
// 1 ms overtake is 40 packet numbers. Every such packet was declared lost, each declaration cut
// the window, and the window never grew back (issue 10: 438 Mbit/s fell to 9 Mbit/s with ±1 ms of
// jitter). Three mechanisms, after Linux TCP and RFC 8985 (RACK-TLP), fix that:
//
//   - Spurious-loss detection: a packet declared lost stays in the history for lostRetention
//     after it was sent. An ACK that arrives for it in that time proves the loss spurious: its
//     frames are reported acknowledged (so the caller stops resending them), and the reordering
//     it revealed is learnt.
//   - Adaptive thresholds: the packet threshold grows to the reordering distance seen (Linux's
//     tcp_reordering, without its cap of 300: the time threshold is the backstop), and the time
//     threshold's reordering window grows to 5/4 of the largest lateness seen (RFC 8985 §6.2
//     grows it in steps of min_rtt/4; a measured lateness converges in one step instead of many),
//     capped at one smoothed RTT as RFC 8985 caps it. After reorderDecayEvents congestion events
//     with no spurious loss both return to RFC 9002's defaults (RFC 8985 §6.2 step 4 resets after
//     16 recoveries), so a path that stops reordering gets fast loss detection back.
//   - Undo: the window and state in force before a congestion event are kept; when every packet
//     declared lost during that event turns out to have arrived, the event is undone (Linux's
//     tcp_try_undo_recovery: restore cwnd and ssthresh, leave recovery).
//
// The cost is memory for the retained lost packets' slots (at most one retention period's worth)
// and nothing per packet on a path that loses nothing.

const (
	// reorderDecayEvents is how many congestion events without a spurious loss return the
	// reordering thresholds to their defaults (RFC 8985 §6.2: 16 recoveries).
	reorderDecayEvents = 16
	// A lost slot remembers in its flags, above episodeShift, the low bits of the number of the
	// congestion event during which it was declared lost: enough to tell the current event's
	// losses from older ones' (a packet is retained for about two round trips, an event lasts
	// at least one).
	episodeShift = 5
	episodeMask  = 0xff >> episodeShift
)

// reorderState is the Sender's knowledge of how far the path reorders, and the undo record of
// the current congestion event.
type reorderState struct {
	// window is the time a packet may arrive after max(smoothed, latest) RTT before it is
	// declared lost, beyond RFC 9002's 1/8 of that RTT; 0 until reordering was seen.
	window time.Duration
	prior  congestionUndo // the controller before the current event
	// pktThreshold is the packet threshold in force, >= PacketThreshold.
	pktThreshold uint32
	// lost and spurious count the packets declared lost during the current event and those of
	// them acknowledged afterwards. lost == spurious > 0 undoes the event.
	lost, spurious uint32
	spuriousTotal  uint32 // packets found spuriously lost, for Stats
	undoTotal      uint32 // congestion events undone, for Stats
	// quietEvents counts congestion events since the last spurious loss.
	quietEvents uint16
	// episode numbers congestion events; a lost slot keeps its low bits (episodeMask).
	episode uint8
	// undoValid says prior holds the controller as it was before the current event.
	undoValid bool
}

func (r *reorderState) init() {
	*r = reorderState{pktThreshold: PacketThreshold}
}

// threshold returns the packet threshold.
func (r *reorderState) threshold() uint64 { return uint64(r.pktThreshold) }

// lossDelay is RFC 9002 §6.1.2's time threshold, 9/8 of rtt (= max(smoothed, latest)), widened
// by the learnt reordering window, at least Granularity.
func (r *reorderState) lossDelay(rtt time.Duration) time.Duration {
	extra := rtt / 8
	if r.window > extra {
		extra = r.window
	}
	d := rtt + extra
	if d < Granularity {
		d = Granularity
	}
	return d
}

// onSpurious learns from a packet declared lost that was acknowledged after all: it was
// distance packet numbers behind the largest acknowledged and arrived lateness after the loss
// delay's base RTT. srtt caps the window.
func (r *reorderState) onSpurious(distance uint64, lateness, srtt time.Duration) {
	r.spuriousTotal++
	r.quietEvents = 0
	if t := min(distance+1, math.MaxUint32); t > uint64(r.pktThreshold) {
		r.pktThreshold = uint32(t)
	}
	if lateness > 0 {
		w := lateness + lateness/4
		if w > srtt {
			w = srtt
		}
		if w > r.window {
			r.window = w
		}
	}
}

// congestionUndo is what undoing a congestion event restores of the controller (CUBIC's K is
// recomputed from wMax when the undo restarts its epoch).
type congestionUndo struct {
	cwnd, ssthresh  int
	recoveryStartPN uint64
	wMax            float64
}

// onEvent notes a new congestion event, c being the controller before its reaction, and decays
// the thresholds after a quiet spell.
func (r *reorderState) onEvent(c *congestion) {
	r.episode++
	r.undoValid = true
	r.prior = congestionUndo{cwnd: c.cwnd, ssthresh: c.ssthresh, recoveryStartPN: c.recoveryStartPN, wMax: c.wMax}
	c.undoOvershoot = c.wMaxOvershoot
	r.lost, r.spurious = 0, 0
	r.quietEvents++
	if r.quietEvents >= reorderDecayEvents {
		r.quietEvents = 0
		r.pktThreshold = PacketThreshold
		r.window = 0
	}
}

// onLost tags an in-flight slot being declared lost with the current event, counting it.
func (r *reorderState) onLost(sl *slot) {
	sl.flags |= flagCounted | (r.episode&episodeMask)<<episodeShift
	if r.undoValid {
		r.lost++
	}
}

// inEpisode reports whether a lost slot was counted as lost during the current event.
func (r *reorderState) inEpisode(flags uint8) bool {
	return r.undoValid && flags&flagCounted != 0 && flags>>episodeShift == r.episode&episodeMask
}

// onSpuriousInEpisode counts a spurious loss of the current event and reports whether the event
// is now entirely spurious, so it must be undone.
func (r *reorderState) onSpuriousInEpisode() bool {
	r.spurious++
	if r.spurious < r.lost {
		return false
	}
	r.undoValid = false
	r.undoTotal++
	return true
}

// undo restores what a spurious congestion event took from the controller: the larger of the
// current and the prior window, the prior slow-start threshold and CUBIC state, and leaves the
// recovery period, as Linux's tcp_undo_cwnd_reduction does.
func (c *congestion) undo(prior *congestionUndo) {
	if prior.cwnd > c.cwnd {
		c.cwnd = prior.cwnd
	}
	c.ssthresh = prior.ssthresh
	c.recoveryStartPN = prior.recoveryStartPN
	c.wMax = prior.wMax
	c.wMaxOvershoot = c.undoOvershoot
	c.epochValid = false
	c.cubicAcc = 0
	c.renoAcc = 0
}
