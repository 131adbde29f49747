package recovery

import (
	"math"
	"time"
)

const (
	// DefaultInitialRTT is the RTT assumed before the first sample
	// (docs/PROTOCOL.md §7). It drives the first PTO and the first pacing
	// rate, so it errs on the long side of typical paths.
	DefaultInitialRTT = 100 * time.Millisecond

	// Granularity is the timer granularity of RFC 9002 (kGranularity): no
	// loss delay or PTO variance term is ever shorter, because OS timers
	// and scheduling cannot resolve finer intervals reliably.
	Granularity = time.Millisecond
)

// RTT is the round-trip estimator of RFC 9002 §5: the latest sample, an
// exponentially weighted smoothed RTT and mean deviation, and the minimum
// over the lifetime of the session.
//
// The zero value is ready to use: until the first sample, Smoothed reports
// the initial RTT (DefaultInitialRTT unless SetInitial was called) and Var
// half of it, exactly as RFC 9002 §5.3 prescribes.
type RTT struct {
	latest      time.Duration
	smoothed    time.Duration
	rttvar      time.Duration
	min         time.Duration
	initial     time.Duration // 0 means DefaultInitialRTT
	maxAckDelay time.Duration // 0 means "do not clamp"
	hasSample   bool
	// samples counts the samples taken, saturating at 255: a minimum over a handful of samples
	// is not yet the path's (see Samples). One byte of the padding after hasSample, so the
	// struct does not grow (an idle session's 4 KiB goal).
	samples uint8
	// maxMicros is the largest recent round trip in microseconds, decaying (see Max). 32 bits
	// (71 minutes) share the word hasSample pads: one more word in the Session grew an idle
	// session by 256 bytes, past its 4 KiB goal (dataplane's TestIdleSessionMemory).
	maxMicros uint32
}

// SetInitial sets the RTT assumed before the first sample (for instance a
// value remembered from an earlier session with the same peer). d <= 0
// restores DefaultInitialRTT. It has no effect once a sample was taken.
func (r *RTT) SetInitial(d time.Duration) {
	if d <= 0 {
		d = 0
	}
	r.initial = d
}

// SetMaxAckDelay sets the peer's max_ack_delay. Update clamps reported ACK
// delays to it (RFC 9002 §5.3) so that a peer cannot shrink our RTT
// estimate by claiming it held an ACK longer than it promised to. 0
// disables the clamp.
func (r *RTT) SetMaxAckDelay(d time.Duration) {
	if d < 0 {
		d = 0
	}
	r.maxAckDelay = d
}

// HasSample reports whether at least one RTT sample was taken.
func (r *RTT) HasSample() bool { return r.hasSample }

// Samples returns how many samples were taken, up to 255. A decision that trusts Min as the
// path's own delay waits for a few: the first samples of a transfer (those of its first burst)
// can all have waited in a queue, so their minimum overstates the path.
func (r *RTT) Samples() int { return int(r.samples) }

func (r *RTT) initialRTT() time.Duration {
	if r.initial > 0 {
		return r.initial
	}
	return DefaultInitialRTT
}

// Update feeds one RTT sample (time from sending the largest newly
// acknowledged packet to receiving its ACK) and the ACK delay the peer
// reported for it.
//
// Per RFC 9002 §5.3 the first sample initialises every estimate and ignores
// the ACK delay; later samples have the (clamped) ACK delay subtracted,
// but only when that does not take the sample below the minimum RTT, since
// min_rtt is the one estimate that must never be biased low. Negative
// samples (a clock going backwards) are ignored.
func (r *RTT) Update(sample, ackDelay time.Duration) {
	if sample < 0 {
		return
	}
	r.latest = sample
	r.noteMax(sample)
	if r.samples < math.MaxUint8 {
		r.samples++
	}
	if !r.hasSample {
		r.hasSample = true
		r.min = sample
		r.smoothed = sample
		r.rttvar = sample / 2
		return
	}
	if sample < r.min {
		r.min = sample
	}
	if ackDelay < 0 {
		ackDelay = 0
	}
	if r.maxAckDelay > 0 && ackDelay > r.maxAckDelay {
		ackDelay = r.maxAckDelay
	}
	adjusted := sample
	if sample >= r.min+ackDelay {
		adjusted = sample - ackDelay
	}
	diff := r.smoothed - adjusted
	if diff < 0 {
		diff = -diff
	}
	r.rttvar = (3*r.rttvar + diff) / 4
	r.smoothed = (7*r.smoothed + adjusted) / 8
}

// Latest returns the most recent sample, 0 before the first one.
func (r *RTT) Latest() time.Duration { return r.latest }

// Smoothed returns the smoothed RTT, or the initial RTT before any sample.
func (r *RTT) Smoothed() time.Duration {
	if !r.hasSample {
		return r.initialRTT()
	}
	return r.smoothed
}

// Var returns the RTT mean deviation, or half the initial RTT before any
// sample.
func (r *RTT) Var() time.Duration {
	if !r.hasSample {
		return r.initialRTT() / 2
	}
	return r.rttvar
}

// maxDecayShift sets how fast Max forgets a peak: each smaller sample takes 1/2^maxDecayShift
// of the distance to it, so a peak fades over a few hundred samples (a few round trips of a
// busy session), long enough to outlast the jitter that caused it, short enough that one stall
// does not hold the history large for good.
const maxDecayShift = 7

// noteMax folds an observed round trip (an RTT sample, or the age of a late ACK) into Max.
func (r *RTT) noteMax(d time.Duration) {
	us := uint32(min(max(d, 0)/time.Microsecond, math.MaxUint32))
	if us >= r.maxMicros {
		r.maxMicros = us
		return
	}
	r.maxMicros -= (r.maxMicros - us) >> maxDecayShift
}

// Max returns the largest recent round trip, 0 before the first sample. The smoothed RTT
// follows the largest acknowledged packet, which on a path that reorders is the one that
// arrived early, so it understates how late the slow ones come back; Max does not, and
// the Sender keeps a packet declared lost that long so a late ACK still proves it spurious.
func (r *RTT) Max() time.Duration { return time.Duration(r.maxMicros) * time.Microsecond }

// Min returns the minimum RTT seen, 0 before the first sample. It ignores
// ACK delay, so it is a lower bound of the path's true round trip.
func (r *RTT) Min() time.Duration { return r.min }

// PTO returns the probe timeout of RFC 9002 §6.2.1 without backoff:
// smoothed + max(4*var, Granularity) + maxAckDelay. maxAckDelay is the
// peer's: the time it may legitimately hold an ACK back.
func (r *RTT) PTO(maxAckDelay time.Duration) time.Duration {
	v := 4 * r.Var()
	if v < Granularity {
		v = Granularity
	}
	if maxAckDelay < 0 {
		maxAckDelay = 0
	}
	return r.Smoothed() + v + maxAckDelay
}
