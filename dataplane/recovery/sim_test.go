package recovery

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// The simulation drives a Sender and a Receiver over a model link: a
// bottleneck of fixed rate with a drop-tail queue, a propagation delay,
// random jitter (which reorders packets), random loss and optionally a
// blackout. The sender transfers a number of logical frames; every
// transmission of a frame is a distinct FrameRef (Handle = transmission
// id) so that "each record reported at most once" can be checked.

type simParams struct {
	seed      uint64
	algo      Algorithm
	frames    int           // logical frames to deliver
	loss      float64       // random loss, each direction
	delay     time.Duration // one-way propagation
	jitter    time.Duration // uniform extra delay [0, jitter)
	rate      float64       // bottleneck bytes per second
	queue     int           // bottleneck queue bytes
	blackout  [2]time.Duration
	deadAt    time.Duration // the receiver vanishes (stops receiving and acknowledging) at this time; 0: never
	pacing    bool
	ackEveryN int
	// maxHistory bounds the Sender's history capacity the run accepts; 0
	// means 8192, enough for the short paths of TestSimulation.
	maxHistory int
	quiet      bool // no per-run log line
	// framesPerPacket is how many frames a full packet carries (default
	// 3: 1100-byte packets); above 3 the Sender's datagram size is raised
	// to it once initialised, as path MTU discovery would.
	framesPerPacket int
}

type simEvent struct {
	at     Time
	seq    uint64
	toRecv bool // data packet to the receiver, else ACK to the sender
	pn     uint64
	elicit bool
	txs    []uint32
	ranges []Range
	delay  time.Duration
}

type eventQueue []*simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type link struct {
	p        *simParams
	rng      *rand.Rand
	busyTill Time
}

// transit returns the arrival time of a packet of size bytes sent at now,
// or 0 if it is dropped.
func (l *link) transit(now Time, size int) Time {
	if now >= t0.Add(l.p.blackout[0]) && now < t0.Add(l.p.blackout[1]) {
		return 0
	}
	if l.p.deadAt > 0 && now >= t0.Add(l.p.deadAt) {
		return 0
	}
	if l.rng.Float64() < l.p.loss {
		return 0
	}
	start := now
	if l.busyTill > start {
		start = l.busyTill
	}
	queued := float64(start-now) / 1e9 * l.p.rate
	if int(queued)+size > l.p.queue {
		return 0 // drop-tail
	}
	l.busyTill = start + Time(float64(size)/l.p.rate*1e9)
	j := time.Duration(0)
	if l.p.jitter > 0 {
		j = time.Duration(l.rng.Int64N(int64(l.p.jitter)))
	}
	return l.busyTill.Add(l.p.delay + j)
}

type simSender struct {
	t        *testing.T
	s        *Sender
	txLog    []int // transmission id -> logical frame
	acked    []int // per transmission
	lost     []int // per transmission
	done     []bool
	queued   []bool
	retx     []int
	nextNew  int
	nDone    int
	lostThen int // transmissions reported lost and later acknowledged
}

func (ss *simSender) FrameAcked(f *FrameRef) {
	tx := f.Handle
	ss.acked[tx]++
	if ss.acked[tx] > 1 {
		ss.t.Fatalf("transmission %d acknowledged twice", tx)
	}
	if ss.lost[tx] > 0 {
		ss.lostThen++
	}
	if lg := ss.txLog[tx]; !ss.done[lg] {
		ss.done[lg] = true
		ss.nDone++
	}
}

func (ss *simSender) FrameLost(f *FrameRef) {
	tx := f.Handle
	ss.lost[tx]++
	if ss.lost[tx] > 1 {
		ss.t.Fatalf("transmission %d reported lost twice", tx)
	}
	if ss.acked[tx] > 0 {
		ss.t.Fatalf("transmission %d lost after being acknowledged", tx)
	}
	if lg := ss.txLog[tx]; !ss.done[lg] && !ss.queued[lg] {
		ss.queued[lg] = true
		ss.retx = append(ss.retx, lg)
	}
}

// nextFrame returns the next logical frame to send, or -1.
func (ss *simSender) nextFrame() int {
	for len(ss.retx) > 0 {
		lg := ss.retx[0]
		ss.retx = ss.retx[1:]
		ss.queued[lg] = false
		if !ss.done[lg] {
			return lg
		}
	}
	if ss.nextNew < len(ss.done) {
		ss.nextNew++
		return ss.nextNew - 1
	}
	return -1
}

func (ss *simSender) hasData() bool {
	for _, lg := range ss.retx {
		if !ss.done[lg] {
			return true
		}
	}
	return ss.nextNew < len(ss.done)
}

// simResult is what a run reports: the simulated time the transfer took
// and the Sender's final counters.
type simResult struct {
	elapsed  time.Duration
	stats    SenderStats
	minCwnd  int // smallest window seen after the first RTT sample
	lostThen int // transmissions declared lost and acknowledged later (spurious losses)
	// maxPTOs is the longest run of consecutive PTOs; unresponsive is when the Sender first
	// declared the peer gone (UnresponsiveAt passed), 0 if never. A run with deadAt ends there.
	maxPTOs      int
	unresponsive Time
}

// goodput returns the frame bytes delivered per simulated second.
func (r simResult) goodput(p simParams) float64 {
	return float64(p.frames*simFrameLen) / r.elapsed.Seconds()
}

const simFrameLen = 350

func runSim(t *testing.T, p simParams) simResult {
	rng := rand.New(rand.NewPCG(p.seed, p.seed^0x9e3779b97f4a7c15))
	fwd := &link{p: &p, rng: rng}
	rev := &link{p: &p, rng: rng}
	s := newSender(Config{Algorithm: p.algo, DisablePacing: !p.pacing, MaxAckDelay: 5 * time.Millisecond})
	var rx Receiver
	rx.Init(5*time.Millisecond, p.ackEveryN)
	ss := &simSender{t: t, s: s, done: make([]bool, p.frames), queued: make([]bool, p.frames)}
	var q eventQueue
	var seq uint64
	push := func(e *simEvent) { seq++; e.seq = seq; heap.Push(&q, e) }
	delivered := make([]bool, p.frames)
	nDelivered := 0
	const frameLen, overhead = simFrameLen, 50
	perPacket := max(p.framesPerPacket, 3)
	if perPacket > 3 {
		s.RaiseMaxDatagramSize(overhead + perPacket*frameLen)
	}
	refs := make([]FrameRef, perPacket)

	sendPacket := func(now Time, probe bool) bool {
		var txs []uint32
		n := 0
		for n < perPacket {
			lg := ss.nextFrame()
			if lg < 0 {
				break
			}
			tx := uint32(len(ss.txLog))
			ss.txLog = append(ss.txLog, lg)
			ss.acked = append(ss.acked, 0)
			ss.lost = append(ss.lost, 0)
			refs[n] = FrameRef{Type: 0x10, Offset: uint64(lg) * frameLen, Length: frameLen, Handle: tx}
			txs = append(txs, tx)
			n++
		}
		if n == 0 && !probe {
			return false
		}
		// n == 0 on a probe: a PING, ack-eliciting without frame records.
		size := overhead + n*frameLen
		pn := s.NextPacketNumber()
		s.OnPacketSent(now, pn, size, true, refs[:n])
		if at := fwd.transit(now, size); at != 0 {
			push(&simEvent{at: at, toRecv: true, pn: pn, elicit: true, txs: txs})
		}
		return true
	}
	var paceWake Time
	trySend := func(now Time) {
		paceWake = 0
		for s.CanSend() && ss.hasData() {
			size := overhead + perPacket*frameLen
			if d := s.PacingDeadline(now, size); d > now {
				paceWake = d
				return
			}
			sendPacket(now, false)
		}
		if s.CanSend() && !ss.hasData() {
			s.OnAppLimited()
		}
	}
	var ackBuf [MaxRanges]Range
	sendAck := func(now Time) {
		rs := rx.AppendRanges(ackBuf[:0])
		if len(rs) > MaxRanges {
			t.Fatalf("%d ranges", len(rs))
		}
		d := rx.AckDelay(now)
		rx.OnAckSent(now)
		if at := rev.transit(now, 40); at != 0 {
			push(&simEvent{at: at, ranges: append([]Range(nil), rs...), delay: d})
		}
	}

	now := t0
	trySend(now)
	maxCap := 0
	res := simResult{minCwnd: s.Window()}
	limit := t0.Add(10 * time.Minute)
	lastHeard := t0 // when the last ACK reached the sender: all the sender hears of the peer
	for steps := 0; ; steps++ {
		if ss.nDone == p.frames && s.BytesInFlight() == 0 {
			break
		}
		if res.unresponsive != 0 && p.deadAt > 0 {
			break
		}
		if steps > 5_000_000+10*p.frames || now > limit {
			t.Fatalf("%+v: no progress: done %d/%d, in flight %d, t=%v", p, ss.nDone, p.frames, s.BytesInFlight(), now.Sub(t0))
		}
		next := Time(0)
		consider := func(x Time) {
			if x != 0 && (next == 0 || x < next) {
				next = x
			}
		}
		if len(q) > 0 {
			consider(q[0].at)
		}
		consider(s.Deadline())
		if d := s.UnresponsiveAt(lastHeard); d > now {
			consider(d)
		}
		consider(paceWake)
		consider(rx.AckDeadline())
		if next == 0 {
			t.Fatalf("%+v: deadlock: nothing scheduled, done %d/%d, in flight %d", p, ss.nDone, p.frames, s.BytesInFlight())
		}
		if next > now {
			now = next
		}
		for len(q) > 0 && q[0].at <= now {
			e := heap.Pop(&q).(*simEvent)
			if e.toRecv {
				rx.OnPacket(now, e.pn, e.elicit)
				for _, tx := range e.txs {
					if lg := ss.txLog[tx]; !delivered[lg] {
						delivered[lg] = true
						nDelivered++
					}
				}
				if rx.AckNow() {
					sendAck(now)
				}
			} else {
				lastHeard = now
				if _, err := s.OnAck(now, e.ranges, e.delay, ss); err != nil {
					t.Fatalf("OnAck: %v", err)
				}
			}
		}
		if d := rx.AckDeadline(); d != 0 && d <= now {
			sendAck(now)
		}
		if d := s.Deadline(); d != 0 && d <= now {
			if probes := s.OnTimeout(now, ss); probes > 0 {
				for i := 0; i < probes; i++ {
					sendPacket(now, true)
				}
			}
		}
		trySend(now)
		res.maxPTOs = max(res.maxPTOs, s.PTOCount())
		if d := s.UnresponsiveAt(lastHeard); d != 0 && now >= d && res.unresponsive == 0 {
			res.unresponsive = now
		}

		// Invariants.
		if w := s.Window(); w < 2*DefaultMaxDatagramSize || w > DefaultMaxWindow {
			t.Fatalf("window %d out of bounds", w)
		}
		if s.BytesInFlight() < 0 || s.InFlightPackets() < 0 || s.TrackedPackets() > s.HistoryCap() {
			t.Fatalf("bif %d packets %d tracked %d cap %d", s.BytesInFlight(), s.InFlightPackets(), s.TrackedPackets(), s.HistoryCap())
		}
		if w := s.Window(); s.RTT().HasSample() && w < res.minCwnd {
			res.minCwnd = w
		}
		if s.HistoryCap() > maxCap {
			maxCap = s.HistoryCap()
		}
	}
	if p.deadAt > 0 {
		res.elapsed, res.stats = now.Sub(t0), s.Stats()
		return res
	}
	if nDelivered != p.frames {
		t.Fatalf("delivered %d/%d", nDelivered, p.frames)
	}
	for tx := range ss.txLog {
		if ss.acked[tx] == 0 && ss.lost[tx] == 0 {
			t.Fatalf("transmission %d neither acked nor lost at the end", tx)
		}
	}
	// Packets declared lost stay tracked a little while for late ACKs; Trim lets them go.
	if s.Trim(); s.TrackedPackets() != 0 {
		t.Fatalf("%d packets still tracked with nothing in flight", s.TrackedPackets())
	}
	// The history never needs more than the largest window's worth of
	// packets (plus probes and reordering slack); 64 MiB would be 55k.
	peak := s.Stats().PacketsSent
	// Lost packets are kept about two round trips for late ACKs, so a short lossy transfer may
	// span up to twice the packets it sent, rounded up to a power of two.
	maxHistory := p.maxHistory
	if maxHistory == 0 {
		maxHistory = 8192
	}
	if uint64(maxCap) > 2*peak || maxCap > maxHistory {
		t.Fatalf("history capacity %d for %d packets sent", maxCap, peak)
	}
	st := s.Stats()
	if !p.quiet {
		t.Logf("%v loss %.2f: %v, sent %d lost %d (%d lost-then-acked tx) events %d pto %d pc %d, window %d, srtt %v, history cap %d%s",
			p.algo, p.loss, now.Sub(t0).Round(time.Millisecond), st.PacketsSent, st.PacketsLost, ss.lostThen,
			st.CongestionEvents, st.PTOCount, st.PersistentCongestion, st.Window, st.SRTT.Round(time.Microsecond), maxCap, bbrSummary(st))
	}
	res.elapsed, res.stats, res.lostThen = now.Sub(t0), st, ss.lostThen
	if res.unresponsive != 0 {
		t.Errorf("%+v: a live peer was declared unresponsive at %v (%d consecutive PTOs)", p, res.unresponsive.Sub(t0), res.maxPTOs)
	}
	return res
}

func bbrSummary(st SenderStats) string {
	if st.BBRState == "" {
		return ""
	}
	return fmt.Sprintf(", bbr %s btlbw %.2f MB/s", st.BBRState, st.BtlBw/1e6)
}

func TestSimulation(t *testing.T) {
	base := simParams{
		frames:    3000,
		delay:     20 * time.Millisecond,
		jitter:    2 * time.Millisecond,
		rate:      5e6,
		queue:     60000,
		pacing:    true,
		ackEveryN: 2,
	}
	var cases []simParams
	for seed := uint64(1); seed <= 3; seed++ {
		for _, loss := range []float64{0, 0.01, 0.05, 0.2} {
			for _, algo := range []Algorithm{Cubic, NewReno, BBR} {
				p := base
				p.seed, p.loss, p.algo = seed, loss, algo
				p.pacing = seed != 2
				p.ackEveryN = int(seed)
				cases = append(cases, p)
			}
		}
	}
	// A blackout long enough for PTO backoff and persistent congestion.
	bo := base
	bo.seed, bo.blackout = 7, [2]time.Duration{300 * time.Millisecond, 3 * time.Second}
	cases = append(cases, bo)
	// Heavy reordering: jitter several times the packet spacing.
	ro := base
	ro.seed, ro.jitter, ro.loss = 8, 15*time.Millisecond, 0.02
	cases = append(cases, ro)
	// The same two for BBR, whose persistent-congestion and reordering
	// paths differ from CUBIC's.
	bo.algo, ro.algo = BBR, BBR
	cases = append(cases, bo, ro)
	for _, p := range cases {
		t.Run(fmt.Sprintf("seed%d_%v_loss%.2f", p.seed, p.algo, p.loss), func(t *testing.T) {
			runSim(t, p)
		})
	}
}
