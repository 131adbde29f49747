package recovery

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Algorithm selects the congestion controller of a Sender.
type Algorithm uint8

const (
	// Cubic is CUBIC (RFC 9438) with HyStart++ slow start (RFC 9406): the
	// default, because it scales to the long fat paths a bulk transport
	// meets while staying Reno-friendly on short ones.
	Cubic Algorithm = iota
	// NewReno is the RFC 9002 §7 controller (additive increase of one
	// datagram per window, halving on loss): simpler and more conservative,
	// useful as a reference and for paths shared with many Reno flows.
	NewReno
	// BBR is a model-based controller in the manner of BBR v1: it paces
	// at its estimate of the bottleneck bandwidth and bounds what is in
	// flight by a multiple of the bandwidth-delay product, so random loss
	// and reordering that say nothing about congestion do not shrink it.
	BBR
)

// ErrUnknownAlgorithm is returned by ParseAlgorithm for a name it does not
// know.
var ErrUnknownAlgorithm = errors.New("recovery: unknown congestion controller (want cubic, newreno or bbr)")

// String returns the algorithm's name, as ParseAlgorithm reads it.
func (a Algorithm) String() string {
	switch a {
	case Cubic:
		return "cubic"
	case NewReno:
		return "newreno"
	case BBR:
		return "bbr"
	}
	return "unknown"
}

// ParseAlgorithm returns the controller named name ("cubic", "newreno",
// "bbr"; case-insensitive), for flags and configuration files.
func ParseAlgorithm(name string) (Algorithm, error) {
	for _, a := range []Algorithm{Cubic, NewReno, BBR} {
		if strings.EqualFold(name, a.String()) {
			return a, nil
		}
	}
	return Cubic, fmt.Errorf("%w: %q", ErrUnknownAlgorithm, name)
}

const (
	cubicC    = 0.4 // RFC 9438 §5.1, in datagrams per second^3
	cubicBeta = 0.7 // RFC 9438 §4.6 multiplicative decrease
	// Reno-friendly additive increase (RFC 9438 §4.3): makes CUBIC as
	// aggressive as Reno would be with the same beta.
	cubicAlphaReno = 3 * (1 - cubicBeta) / (1 + cubicBeta)
	renoBeta       = 0.5

	// HyStart++ constants (RFC 9406 §4.3).
	hsMinRTTThresh    = 4 * time.Millisecond
	hsMaxRTTThresh    = 16 * time.Millisecond
	hsMinRTTDivisor   = 8
	hsNRTTSample      = 8
	hsCSSGrowthDiv    = 4
	hsCSSRounds       = 5
	hsInfinity        = time.Duration(math.MaxInt64)
	pacingGainSS      = 2.0  // pace slow start at twice the window per RTT
	pacingGainCA      = 1.25 // and congestion avoidance slightly above it
	minPacingDepthB   = 64 << 10
	minPacingDepthPkt = 10
	// A sender is taken as window-limited when less than this many
	// datagrams of window remain after a send (the last few bytes of a
	// window are rarely fillable exactly).
	cwndLimitedSlackPkts = 3
)

// congestion is the window side of the Sender: slow start, HyStart++,
// CUBIC or NewReno congestion avoidance, recovery periods and the
// window-validation (app-limited) latch. All sizes are in bytes.
type congestion struct {
	cwnd      int
	ssthresh  int
	minWindow int
	maxWindow int
	mss       int

	// Packets with numbers below recoveryStartPN were sent before the
	// current recovery period began: losing them does not start another
	// congestion event and acknowledging them does not grow the window
	// (RFC 9002 §7.3.2). Packet numbers are used instead of send times
	// because they are strictly monotonic, so equal timestamps cannot
	// blur the boundary.
	recoveryStartPN uint64

	// Window validation: limitedPN is the newest packet after whose
	// sending the window was (nearly) full. Acknowledging a packet at or
	// below it grows the window; a packet sent later was sent while the
	// application did not use the window, and growing on it would inflate
	// cwnd without evidence that the path can carry it (RFC 9438 §5.8).
	limitedPN uint64

	renoAcc int // bytes acknowledged toward the next NewReno increment

	// CUBIC state, in bytes and seconds (RFC 9438 §4).
	wMax       float64
	k          float64
	wEst       float64
	cubicAcc   float64 // fractional bytes of growth not yet applied
	epochStart Time
	epochValid bool
	// wMaxOvershoot says wMax was set by a loss that ended slow start:
	// it is where slow start's doubling stood when the loss was detected,
	// up to twice what the path holds, not a saturation point found by
	// congestion avoidance. (Beside epochValid, in the padding after it:
	// an 8-byte slot of its own pushed an idle session's heap past 4 KiB.)
	wMaxOvershoot bool

	hs hystart

	algo           Algorithm
	disableHyStart bool
	// undoOvershoot is wMaxOvershoot as it was before the current congestion event, the
	// part of reorderState's congestionUndo that fits here, in padding, where it costs a
	// session nothing (in congestionUndo it would cost 8 bytes).
	undoOvershoot bool
	// limitedValid says limitedPN holds a packet (see limitedPN). It sits here, in the padding
	// after the flags, and not beside limitedPN, where its 7 bytes of padding cost a Sender the
	// 8 bytes its ensemble pointer takes (Sender.ens).
	limitedValid bool
}

// hystart is the HyStart++ state machine (RFC 9406): it watches the
// minimum RTT of each round in slow start and, when delay rises, moves to
// Conservative Slow Start, which either proves the rise spurious (back to
// slow start) or leads to congestion avoidance without a loss.
type hystart struct {
	windowEnd    uint64 // the round ends when a packet >= windowEnd is acked
	lastRoundMin time.Duration
	curRoundMin  time.Duration
	cssBaseline  time.Duration
	// samples and cssRounds are 16 bits, so that the struct ends within 40 bytes: the 8 bytes
	// it saves a session hold its peer group (dataplane's Session.grp). Only whether samples
	// reached hsNRTTSample matters, so it saturates; cssRounds stops at hsCSSRounds.
	samples   uint16
	cssRounds uint16
	inCSS     bool
	started   bool
}

func (h *hystart) reset() {
	*h = hystart{lastRoundMin: hsInfinity, curRoundMin: hsInfinity, cssBaseline: hsInfinity}
}

func (c *congestion) init(cfg *Config) {
	*c = congestion{
		mss:            cfg.MaxDatagramSize,
		minWindow:      cfg.MinWindowPackets * cfg.MaxDatagramSize,
		maxWindow:      cfg.MaxWindow,
		cwnd:           cfg.InitialWindowPackets * cfg.MaxDatagramSize,
		ssthresh:       math.MaxInt,
		algo:           cfg.Algorithm,
		disableHyStart: cfg.DisableHyStart,
	}
	c.cwnd = c.clamp(c.cwnd)
	c.hs.reset()
}

// clamp bounds a window to the configured floor and ceiling.
func (c *congestion) clamp(w int) int { return min(max(w, c.minWindow), c.maxWindow) }

func (c *congestion) inSlowStart() bool { return c.cwnd < c.ssthresh }

// onPacketSent updates the window-validation latch after an in-flight
// packet was sent and bytesInFlight includes it.
func (c *congestion) onPacketSent(pn uint64, bytesInFlight int) {
	avail := c.cwnd - bytesInFlight
	limited := avail <= cwndLimitedSlackPkts*c.mss ||
		(c.inSlowStart() && bytesInFlight > c.cwnd/2)
	if limited {
		c.limitedPN = pn
		c.limitedValid = true
	}
}

// canGrow reports whether acknowledging in-flight packet pn may grow the
// window: it was sent outside recovery and the window was in use.
func (c *congestion) canGrow(pn uint64) bool {
	return pn >= c.recoveryStartPN && c.limitedValid && pn <= c.limitedPN
}

// onAck grows the window for acked bytes that canGrow admitted.
// appLimited tells that some acknowledged bytes were refused only because
// the window was not in use; CUBIC then restarts its epoch so that the
// idle time does not count as time spent probing (RFC 9438 §5.8).
func (c *congestion) onAck(now Time, acked int, appLimited bool, srtt time.Duration) {
	if acked <= 0 {
		if appLimited && !c.inSlowStart() {
			c.epochValid = false
		}
		return
	}
	if c.inSlowStart() {
		if c.hs.inCSS {
			acked /= hsCSSGrowthDiv
		}
		c.cwnd = c.clamp(c.cwnd + acked)
		return
	}
	switch c.algo {
	case NewReno:
		// One datagram per window of acknowledged bytes (RFC 9002 §7.3.3).
		c.renoAcc += acked
		if c.renoAcc >= c.cwnd {
			c.renoAcc -= c.cwnd
			c.cwnd = c.clamp(c.cwnd + c.mss)
		}
	default:
		c.cubicOnAck(now, acked, srtt)
	}
}

// cubicOnAck is RFC 9438 §4.2–§4.5 in byte units: the window follows
// W_cubic(t) = C*(t-K)^3 + W_max (converted to bytes with the datagram
// size), never less than the Reno-friendly estimate W_est.
func (c *congestion) cubicOnAck(now Time, acked int, srtt time.Duration) {
	mss := float64(c.mss)
	cwnd := float64(c.cwnd)
	if !c.epochValid {
		// Start of a congestion-avoidance epoch (after a loss, after
		// slow start, or after an app-limited pause).
		c.epochValid = true
		c.epochStart = now
		c.wEst = cwnd
		c.cubicAcc = 0
		if c.wMax <= cwnd {
			// No previous maximum above us (HyStart++ exit or growth past
			// it while app-limited): the curve starts at its plateau and
			// goes convex immediately (RFC 9438 §4.10).
			c.wMax = cwnd
			c.k = 0
		} else {
			c.k = math.Cbrt((c.wMax - cwnd) / (cubicC * mss))
		}
	}
	t := float64(now-c.epochStart) / 1e9
	if t < 0 {
		t = 0
	}
	rtt := float64(srtt) / 1e9
	target := c.wCubic(t + rtt)
	if target < cwnd {
		target = cwnd
	} else if target > 1.5*cwnd {
		target = 1.5 * cwnd
	}
	alpha := cubicAlphaReno
	if c.wEst >= c.wMax {
		alpha = 1
	}
	c.wEst += alpha * float64(acked) * mss / cwnd
	var inc float64
	if c.wCubic(t) < c.wEst {
		// Reno-friendly region: CUBIC would be slower than Reno here.
		inc = c.wEst - cwnd
	} else {
		// Concave or convex region.
		inc = (target - cwnd) / cwnd * float64(acked)
	}
	if inc > 0 {
		c.cubicAcc += inc
	}
	if c.cubicAcc >= 1 {
		n := math.Floor(c.cubicAcc)
		c.cubicAcc -= n
		c.cwnd = c.clamp(c.cwnd + int(n))
	}
}

func (c *congestion) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*float64(c.mss)*d*d*d + c.wMax
}

// onCongestionEvent reacts to the loss of in-flight packet lostPN. It
// reports whether a new recovery period started: a loss of a packet sent
// before the current recovery period began is part of the same event.
func (c *congestion) onCongestionEvent(lostPN, nextPN uint64) bool {
	if lostPN < c.recoveryStartPN {
		return false
	}
	c.recoveryStartPN = nextPN
	cwnd := float64(c.cwnd)
	var w float64
	switch c.algo {
	case NewReno:
		w = cwnd * renoBeta
		c.renoAcc = 0
	default:
		// Fast convergence (RFC 9438 §4.7): if we did not get back to the
		// previous maximum, another flow is probably taking bandwidth, so
		// release some more of it. Not below a maximum that slow start
		// overshot to: falling short of it says nothing about other
		// flows, and releasing 15% more there left the window at 70-85%
		// of a long fat path's product for seconds (the 100 and 300 ms
		// delay-line runs, TestSimLongFatPath).
		if cwnd < c.wMax && !c.wMaxOvershoot {
			c.wMax = cwnd * (1 + cubicBeta) / 2
		} else {
			c.wMax = cwnd
		}
		c.wMaxOvershoot = c.inSlowStart()
		w = cwnd * cubicBeta
		c.epochValid = false
		c.cubicAcc = 0
	}
	c.cwnd = c.clamp(int(w))
	c.ssthresh = c.cwnd
	c.hs.inCSS = false
	return true
}

// onPersistentCongestion collapses the window (RFC 9002 §7.6.2): the path
// lost everything for several PTOs, so nothing learnt about it still holds.
// As in RFC 9002 the recovery period is cleared, so the window slow-starts
// from the minimum as soon as acknowledgements come back.
func (c *congestion) onPersistentCongestion() {
	c.cwnd = c.minWindow
	c.recoveryStartPN = 0
	c.renoAcc = 0
	c.wMax = 0
	c.wMaxOvershoot = false
	c.epochValid = false
	c.cubicAcc = 0
	c.hs.reset()
}

// hystartOnAck runs HyStart++ for one ACK that advanced largestAcked.
// rtt is the new sample, if one was taken.
func (c *congestion) hystartOnAck(largestAcked uint64, sampled bool, rtt time.Duration, nextPN uint64) {
	if c.disableHyStart || !c.inSlowStart() {
		return
	}
	h := &c.hs
	if !h.started {
		h.started = true
		h.windowEnd = nextPN
	}
	if sampled {
		if rtt < h.curRoundMin {
			h.curRoundMin = rtt
		}
		if h.samples < math.MaxUint16 {
			h.samples++
		}
		if h.samples >= hsNRTTSample && h.curRoundMin != hsInfinity {
			if !h.inCSS {
				if h.lastRoundMin != hsInfinity {
					thresh := h.lastRoundMin / hsMinRTTDivisor
					if thresh < hsMinRTTThresh {
						thresh = hsMinRTTThresh
					} else if thresh > hsMaxRTTThresh {
						thresh = hsMaxRTTThresh
					}
					if h.curRoundMin >= h.lastRoundMin+thresh {
						h.inCSS = true
						h.cssBaseline = h.curRoundMin
						h.cssRounds = 0
					}
				}
			} else if h.curRoundMin < h.cssBaseline {
				// The delay increase was spurious: resume slow start.
				h.inCSS = false
				h.cssBaseline = hsInfinity
			}
		}
	}
	if largestAcked >= h.windowEnd {
		// The round is over: every packet sent at its start is acked.
		h.windowEnd = nextPN
		h.lastRoundMin = h.curRoundMin
		h.curRoundMin = hsInfinity
		h.samples = 0
		if h.inCSS {
			h.cssRounds++
			if h.cssRounds >= hsCSSRounds {
				// Delay stayed up for CSS_ROUNDS rounds: leave slow start
				// without waiting for a loss.
				c.ssthresh = c.cwnd
				c.wMax = float64(c.cwnd)
				c.wMaxOvershoot = false
				c.epochValid = false
				h.inCSS = false
			}
		}
	}
}

// pacer is a token bucket. Tokens are bytes; they accrue at the pacing
// rate up to the bucket's depth and are spent by in-flight packets. The
// bucket is full at start and after idle periods, so a window's worth of
// data (up to one 64 KiB GSO super-packet) can leave at once; after that
// packets leave at the rate the window and RTT justify.
//
// The depth is the larger of depth (64 KiB) and one Granularity (1 ms) of
// the rate, as Linux sizes a paced TSO burst to 1 ms of its pacing rate:
// above 512 Mbit/s a 64 KiB bucket fills in less than a timer's lateness,
// so every late wake-up of the TX loop would lose tokens and pace the flow
// below its rate (BBR, which paces at exactly its bandwidth estimate,
// then measures that lower rate and slows down further).
type pacer struct {
	tokens   float64
	last     Time
	depth    float64
	started  bool
	disabled bool
}

func (p *pacer) init(mss int, disabled bool) {
	d := minPacingDepthPkt * mss
	if d < minPacingDepthB {
		d = minPacingDepthB
	}
	*p = pacer{depth: float64(d), tokens: float64(d), disabled: disabled}
}

// depthAt returns the bucket's depth at rate (bytes per nanosecond).
func (p *pacer) depthAt(rate float64) float64 {
	return max(p.depth, rate*float64(Granularity))
}

// available returns the tokens at now, rate in bytes per nanosecond.
func (p *pacer) available(now Time, rate float64) float64 {
	if !p.started {
		return p.depth
	}
	t := p.tokens
	if dt := now - p.last; dt > 0 {
		t += rate * float64(dt)
	}
	return min(t, p.depthAt(rate))
}

func (p *pacer) consume(now Time, size int, rate float64) {
	t := p.available(now, rate) - float64(size)
	if t < 0 {
		t = 0
	}
	p.tokens = t
	if !p.started || now > p.last {
		p.last = now
	}
	p.started = true
}

// deadline returns 0 when size bytes may leave at now, else the time at
// which the bucket will hold them.
func (p *pacer) deadline(now Time, size int, rate float64) Time {
	if p.disabled || size <= 0 {
		return 0
	}
	need := min(float64(size), p.depthAt(rate))
	avail := p.available(now, rate)
	if avail >= need {
		return 0
	}
	wait := math.Ceil((need - avail) / rate)
	if wait < 1 {
		wait = 1
	}
	if wait > float64(math.MaxInt64/4) {
		wait = float64(math.MaxInt64 / 4)
	}
	return now + Time(wait)
}
