package recovery

import "time"

// BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00) as the window
// and pacing side of a Sender: a model of the path — the bottleneck
// bandwidth BtlBw (windowed max of delivery-rate samples) and the round
// trip propagation time RTprop (windowed min of RTT samples) — and a state
// machine that probes it. Pacing at gain × BtlBw sets how fast data
// leaves; the window only caps what is in flight at a multiple of the
// bandwidth-delay product. Loss is not a signal here: random loss and
// reordering on a lossy or jittery path must not shrink the model.

// bbrMode is the state of the BBR state machine.
type bbrMode uint8

const (
	bbrStartup  bbrMode = iota // doubling the rate each round until BtlBw plateaus
	bbrDrain                   // draining the queue startup built
	bbrProbeBW                 // cruising at BtlBw, probing for more each 8 phases
	bbrProbeRTT                // cwnd at 4 packets to let RTprop be measured again
)

func (m bbrMode) String() string {
	switch m {
	case bbrStartup:
		return "startup"
	case bbrDrain:
		return "drain"
	case bbrProbeBW:
		return "probe_bw"
	case bbrProbeRTT:
		return "probe_rtt"
	}
	return "unknown"
}

const (
	bbrHighGain       = 2.885 // 2/ln2: the smallest gain that doubles delivery each round
	bbrDrainGain      = 1 / bbrHighGain
	bbrCwndGain       = 2.0
	bbrBtlBwRounds    = 10 // BtlBw filter window, in round trips
	bbrRTpropWindow   = 10 * time.Second
	bbrProbeRTTTime   = 200 * time.Millisecond
	bbrMinPipePackets = 4
	bbrQuantaPackets  = 3 // allowance for send and ACK batching in the cwnd
	bbrFullBwGrowth   = 1.25
	bbrFullBwRounds   = 3
	bbrCycleLen       = 8
)

// bbrPacingCycle is PROBE_BW's pacing-gain cycle: probe above BtlBw for a
// round, drain what the probe queued for a round, cruise for six.
var bbrPacingCycle = [bbrCycleLen]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

// bbr is the controller state. Sizes are bytes, rates bytes per
// nanosecond.
type bbr struct {
	rs     rateSampler
	btlBw  maxFilter
	rtProp time.Duration
	// rtPropStamp is when rtProp was last set or confirmed.
	rtPropStamp       Time
	cycleStamp        Time // start of the current PROBE_BW phase
	probeRTTDoneStamp Time // 0 until PROBE_RTT's inflight reached its floor

	nextRoundDelivered uint64
	roundCount         uint64
	fullBw             float64
	pacingGain         float64
	cwndGain           float64
	pacingRate         float64

	cwnd, priorCwnd       int
	mss, minCwnd, maxCwnd int
	initCwnd              int

	fullBwCount       uint8
	cycleIndex        uint8
	mode              bbrMode
	filledPipe        bool
	roundStart        bool
	rtPropExpired     bool
	idleRestart       bool
	probeRTTRoundDone bool
	lost              bool // packets were declared lost since the last ACK
}

func (b *bbr) init(cfg *Config) {
	*b = bbr{
		mss:        cfg.MaxDatagramSize,
		maxCwnd:    cfg.MaxWindow,
		minCwnd:    cfg.MinWindowPackets * cfg.MaxDatagramSize,
		rtProp:     hsInfinity,
		pacingGain: bbrHighGain,
		cwndGain:   bbrHighGain,
	}
	// BBR's floor is four packets, so that with delayed ACKs a full
	// window still yields an ACK clock; a larger configured floor wins.
	if f := bbrMinPipePackets * b.mss; b.minCwnd < f {
		b.minCwnd = f
	}
	if b.minCwnd > b.maxCwnd {
		b.minCwnd = b.maxCwnd
	}
	b.initCwnd = b.clamp(cfg.InitialWindowPackets * b.mss)
	b.cwnd = b.initCwnd
}

// clamp bounds a window to the configured floor and ceiling.
func (b *bbr) clamp(w int) int { return min(max(w, b.minCwnd), b.maxCwnd) }

// inSlowStart reports STARTUP, the counterpart of slow start.
func (b *bbr) inSlowStart() bool { return b.mode == bbrStartup }

// rate returns the pacing rate. Before the first bandwidth sample it is
// the startup gain times the initial window per RTT (srtt is the initial
// RTT until a sample is taken).
func (b *bbr) rate(srtt time.Duration) float64 {
	if b.pacingRate > 0 {
		return b.pacingRate
	}
	if srtt < time.Microsecond {
		srtt = time.Microsecond
	}
	return bbrHighGain * float64(b.initCwnd) / float64(srtt)
}

// onPacketSent stamps a packet entering flight; inFlight excludes it.
// Sending into an empty pipe while app-limited is a restart from idle:
// PROBE_BW then paces at BtlBw rather than at a probing or draining gain,
// and the idle time is not taken as a reason to probe RTT.
func (b *bbr) onPacketSent(now Time, sl *slot, inFlight int) {
	if inFlight == 0 && b.rs.appLimitedUntil != 0 {
		b.idleRestart = true
		if b.mode == bbrProbeBW {
			b.setPacingRate(1)
		}
	}
	b.rs.onSent(now, sl, inFlight)
}

// onAck updates the model and the controls after the ACK's packets went
// through rs.onDelivered. rtt is the ACK's RTT sample (0 if none), srtt
// the smoothed RTT, priorInFlight the bytes in flight before the ACK.
func (b *bbr) onAck(now Time, rtt, srtt, minRTT time.Duration, priorInFlight, inFlight int) {
	lost := b.lost
	b.lost = false
	s := b.rs.endAck(minRTT)
	b.updateBtlBw(s)
	b.checkCyclePhase(now, priorInFlight, lost)
	b.checkFullPipe(s)
	b.checkDrain(now, inFlight)
	b.updateRTprop(now, rtt)
	b.checkProbeRTT(now, inFlight)
	b.setPacingRate(b.pacingGain)
	b.setCwnd(int(s.deliveredNow), srtt)
}

// updateBtlBw counts round trips (a round ends when a packet sent after
// the previous round ended is acknowledged) and feeds the max filter.
// App-limited samples may raise BtlBw but not hold it up: they say the
// path carried at least that much.
func (b *bbr) updateBtlBw(s *rateSample) {
	b.roundStart = false
	if s.has && s.priorDelivered >= b.nextRoundDelivered {
		b.nextRoundDelivered = b.rs.delivered
		b.roundCount++
		b.roundStart = true
	}
	if s.ok && (s.rate >= b.btlBw.get() || !s.appLimited) {
		b.btlBw.update(s.rate, b.roundCount, bbrBtlBwRounds)
	}
}

// checkFullPipe ends STARTUP when BtlBw grew less than 25% in three
// rounds that were not app-limited: the pipe is full and further rate
// only builds a queue.
func (b *bbr) checkFullPipe(s *rateSample) {
	if b.filledPipe || !b.roundStart || s.appLimited {
		return
	}
	if bw := b.btlBw.get(); bw >= b.fullBw*bbrFullBwGrowth {
		b.fullBw = bw
		b.fullBwCount = 0
		return
	}
	b.fullBwCount++
	if b.fullBwCount >= bbrFullBwRounds {
		b.filledPipe = true
	}
}

func (b *bbr) checkDrain(now Time, inFlight int) {
	if b.mode == bbrStartup && b.filledPipe {
		b.mode = bbrDrain
		b.pacingGain = bbrDrainGain
		b.cwndGain = bbrHighGain
	}
	if b.mode == bbrDrain && inFlight <= b.inflight(1) {
		b.enterProbeBW(now)
	}
}

// enterProbeBW starts the gain cycle at a phase other than the 0.75 drain
// phase (nothing to drain yet). The draft picks it at random so flows
// sharing a bottleneck do not probe in lockstep; here it is derived from
// the delivered count and round count, which differ between flows but
// make every run of a test reproducible.
func (b *bbr) enterProbeBW(now Time) {
	b.mode = bbrProbeBW
	b.pacingGain = 1
	b.cwndGain = bbrCwndGain
	r := (b.rs.delivered/uint64(b.mss) + b.roundCount) % (bbrCycleLen - 1)
	b.cycleIndex = uint8(bbrCycleLen - 1 - r)
	b.advanceCyclePhase(now)
}

func (b *bbr) advanceCyclePhase(now Time) {
	b.cycleStamp = now
	b.cycleIndex = (b.cycleIndex + 1) % bbrCycleLen
	b.pacingGain = bbrPacingCycle[b.cycleIndex]
}

func (b *bbr) checkCyclePhase(now Time, priorInFlight int, lost bool) {
	if b.mode == bbrProbeBW && b.isNextCyclePhase(now, priorInFlight, lost) {
		b.advanceCyclePhase(now)
	}
}

// isNextCyclePhase: each phase lasts an RTprop; the probing phase longer
// if it has not yet put gain × BDP in flight (unless loss says the extra
// does not fit), the draining phase shorter once inflight is down to BDP.
func (b *bbr) isNextCyclePhase(now Time, priorInFlight int, lost bool) bool {
	fullLength := now.Sub(b.cycleStamp) > b.rtProp
	switch {
	case b.pacingGain > 1:
		return fullLength && (lost || priorInFlight >= b.inflight(b.pacingGain))
	case b.pacingGain < 1:
		return fullLength || priorInFlight <= b.inflight(1)
	}
	return fullLength
}

// updateRTprop keeps the minimum RTT of the last 10 s. Once it is that
// old the next sample replaces it whatever its value, and PROBE_RTT is
// due so that the replacement is a true minimum.
func (b *bbr) updateRTprop(now Time, rtt time.Duration) {
	b.rtPropExpired = b.rtProp != hsInfinity && now.Sub(b.rtPropStamp) > bbrRTpropWindow
	if rtt > 0 && (rtt <= b.rtProp || b.rtPropExpired) {
		b.rtProp = rtt
		b.rtPropStamp = now
	}
}

func (b *bbr) checkProbeRTT(now Time, inFlight int) {
	if b.mode != bbrProbeRTT && b.rtPropExpired && !b.idleRestart {
		b.priorCwnd = b.cwnd // restored when PROBE_RTT ends
		b.mode = bbrProbeRTT
		b.pacingGain = 1
		b.cwndGain = 1
		b.probeRTTDoneStamp = 0
	}
	if b.mode == bbrProbeRTT {
		b.handleProbeRTT(now, inFlight)
	}
	b.idleRestart = false
}

// handleProbeRTT holds inflight at the floor for max(200 ms, one round),
// then returns to the mode the pipe state calls for with the old cwnd.
func (b *bbr) handleProbeRTT(now Time, inFlight int) {
	// What is sent now is limited by the probe, not by the path.
	b.rs.setAppLimited(inFlight)
	if b.probeRTTDoneStamp == 0 {
		if inFlight <= b.minCwnd {
			b.probeRTTDoneStamp = now.Add(bbrProbeRTTTime)
			b.probeRTTRoundDone = false
			b.nextRoundDelivered = b.rs.delivered
		}
		return
	}
	if b.roundStart {
		b.probeRTTRoundDone = true
	}
	if b.probeRTTRoundDone && now > b.probeRTTDoneStamp {
		b.rtPropStamp = now
		if b.cwnd < b.priorCwnd {
			b.cwnd = b.priorCwnd
		}
		if b.filledPipe {
			b.enterProbeBW(now)
		} else {
			b.mode = bbrStartup
			b.pacingGain = bbrHighGain
			b.cwndGain = bbrHighGain
		}
	}
}

// inflight is gain × BDP with BDP = BtlBw × RTprop: what the pipe holds
// without a queue. It drives the phase changes, which are about queues.
func (b *bbr) inflight(gain float64) int {
	if b.rtProp == hsInfinity || b.btlBw.get() == 0 {
		return b.initCwnd
	}
	return int(gain * b.btlBw.get() * float64(b.rtProp))
}

// targetCwnd is cwnd_gain × BDP plus three datagrams for send and ACK
// batching. Unlike inflight, its BDP uses max(RTprop, srtt): on a path
// whose delay varies per packet, a byte occupies the window for the RTT
// it actually takes, which averages srtt, not the minimum. With RTprop
// alone a path with 10 ms minimum and 18 ms mean RTT would hold the flow
// below BtlBw, lowering the next samples and so BtlBw itself, a spiral
// down to the floor. srtt rather than a max over recent RTTs because it
// moves slowly and excludes reported ACK delay; srtt rather than Linux's
// extra_acked because it needs no per-epoch state and covers jitter,
// not only ACK aggregation. The queue stays bounded regardless: pacing
// at BtlBw, not the window, sets how fast data leaves.
//
// The RTT is at least Granularity (1 ms): on a path whose round trip is
// shorter than the host's scheduling jitter (loopback, a LAN: 50 µs),
// BtlBw × RTT is a few dozen kilobytes and one late wake-up of either
// side's loop drains the pipe; the window must hold what the bottleneck
// moves while a timer or a goroutine is late, and 1 ms is the resolution
// below which this package never trusts a timer. On loopback this took
// BBR from 4.5 to CUBIC's 6.7 Gbit/s.
func (b *bbr) targetCwnd(srtt time.Duration) int {
	bw := b.btlBw.get()
	if b.rtProp == hsInfinity || bw == 0 {
		return b.initCwnd
	}
	rtt := max(b.rtProp, srtt, Granularity)
	return int(b.cwndGain*bw*float64(rtt)) + bbrQuantaPackets*b.mss
}

// setPacingRate paces at gain × BtlBw. In STARTUP the rate only goes up,
// so a low early sample cannot slow the search for the bandwidth.
func (b *bbr) setPacingRate(gain float64) {
	bw := b.btlBw.get()
	if bw == 0 {
		return
	}
	if r := gain * bw; b.filledPipe || r > b.pacingRate {
		b.pacingRate = r
	}
}

// setCwnd moves the window toward the target by the bytes acknowledged:
// once the pipe is full it never exceeds the target; in STARTUP it keeps
// growing like slow start until the target catches up.
func (b *bbr) setCwnd(acked int, srtt time.Duration) {
	target := b.targetCwnd(srtt)
	switch {
	case b.filledPipe:
		if c := b.cwnd + acked; c < target {
			target = c
		}
		b.cwnd = target
	case b.cwnd < target || b.rs.delivered < uint64(b.initCwnd):
		b.cwnd += acked
	}
	b.cwnd = b.clamp(b.cwnd)
	if b.mode == bbrProbeRTT && b.cwnd > b.minCwnd {
		b.cwnd = b.minCwnd
	}
}

// onPersistentCongestion: the path delivered nothing for several PTOs.
// The window drops to the floor so the flow restarts with little in
// flight, but the model is kept: BtlBw and RTprop age out of their
// filters within 10 rounds / 10 s if the path really changed, and
// growing back by the acknowledged bytes refills the window within a few
// round trips when it did not (a blackout on a lossy radio link is not a
// smaller pipe). Startup is not restarted for the same reason.
func (b *bbr) onPersistentCongestion() {
	b.cwnd = b.minCwnd
}

// maxFilter is a windowed maximum over round counts: Kathleen Nichols'
// algorithm as in Linux's lib/minmax.c. It keeps the best, second-best
// and third-best values of the window with their rounds, so the maximum
// over the window is tracked in constant space.
type maxFilter struct{ s [3]maxSample }

type maxSample struct {
	t uint64
	v float64
}

func (f *maxFilter) get() float64 { return f.s[0].v }

// update adds sample v taken in round t to a window of win rounds.
func (f *maxFilter) update(v float64, t, win uint64) {
	val := maxSample{t, v}
	if v >= f.s[0].v || t-f.s[2].t > win {
		f.s = [3]maxSample{val, val, val} // new maximum, or window empty
		return
	}
	if v >= f.s[1].v {
		f.s[1], f.s[2] = val, val
	} else if v >= f.s[2].v {
		f.s[2] = val
	}
	f.expire(val, win)
}

// expire drops the best samples once they leave the window, promoting
// the next ones, and takes fresh second and third choices a quarter and
// half a window in, so a stale maximum is always replaced by a recent
// value rather than by nothing.
func (f *maxFilter) expire(val maxSample, win uint64) {
	dt := val.t - f.s[0].t
	switch {
	case dt > win:
		f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], val
		if val.t-f.s[0].t > win {
			f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], val
		}
	case f.s[1].t == f.s[0].t && dt > win/4:
		f.s[1], f.s[2] = val, val
	case f.s[2].t == f.s[1].t && dt > win/2:
		f.s[2] = val
	}
}
