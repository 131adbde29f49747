package recovery

import (
	"testing"
	"time"
)

// bbrSim is the path the BBR simulations share: 5 ms each way, a
// bottleneck with a 60 KB drop-tail queue, pacing on, ACK every second
// packet.
func bbrSim(algo Algorithm, rate, loss float64, jitter time.Duration, frames int) simParams {
	return simParams{
		seed: 11, algo: algo, frames: frames, loss: loss,
		delay: 5 * time.Millisecond, jitter: jitter, rate: rate,
		queue: 60000, pacing: true, ackEveryN: 2,
	}
}

func TestBBRStartupConvergesToLinkRate(t *testing.T) {
	const rate = 5e6
	p := bbrSim(BBR, rate, 0, 0, 30000)
	r := runSim(t, p)
	if r.stats.BBRState == "startup" || r.stats.BBRState == "" {
		t.Fatalf("still in %q after %v", r.stats.BBRState, r.elapsed)
	}
	if bw := r.stats.BtlBw; bw < 0.8*rate || bw > 1.2*rate {
		t.Fatalf("BtlBw %.0f B/s, link %.0f", bw, rate)
	}
	if r.minCwnd < bbrMinPipePackets*DefaultMaxDatagramSize {
		t.Fatalf("window fell to %d", r.minCwnd)
	}
	if g := r.goodput(p); g < 0.8*rate*simFrameLen/(simFrameLen+50.0/3) {
		t.Fatalf("goodput %.0f B/s on a %.0f B/s link", g, rate)
	}
}

// Random loss says nothing about congestion: BBR must keep its rate where
// CUBIC halves its window on every loss.
func TestBBRRandomLossVersusCubic(t *testing.T) {
	for _, loss := range []float64{0, 0.05, 0.2} {
		c := runSim(t, bbrSim(Cubic, 5e6, loss, 0, 10000))
		b := runSim(t, bbrSim(BBR, 5e6, loss, 0, 10000))
		t.Logf("loss %.2f: cubic %v (%.2f MB/s), bbr %v (%.2f MB/s)", loss,
			c.elapsed.Round(time.Millisecond), c.goodput(bbrSim(Cubic, 5e6, loss, 0, 10000))/1e6,
			b.elapsed.Round(time.Millisecond), b.goodput(bbrSim(BBR, 5e6, loss, 0, 10000))/1e6)
		if loss == 0.2 && b.elapsed >= c.elapsed/2 {
			t.Fatalf("20%% loss: BBR took %v, CUBIC %v", b.elapsed, c.elapsed)
		}
		if b.minCwnd < bbrMinPipePackets*DefaultMaxDatagramSize {
			t.Fatalf("loss %.2f: window fell to %d", loss, b.minCwnd)
		}
	}
}

// Per-packet jitter (here 0–4 ms each way on a 10 ms path, so the RTT
// ranges over 10–18 ms) must not starve BBR's window. The link is slow
// enough (one datagram per 1.1 ms) that RFC 9002's reordering threshold
// rarely misfires, so what is measured is the controller, not spurious
// losses.
func TestBBRJitterKeepsGoodput(t *testing.T) {
	const rate = 1e6
	p0 := bbrSim(BBR, rate, 0, 0, 10000)
	pj := bbrSim(BBR, rate, 0, 4*time.Millisecond, 10000)
	g0 := runSim(t, p0).goodput(p0)
	rj := runSim(t, pj)
	gj := rj.goodput(pj)
	pc := bbrSim(Cubic, rate, 0, 4*time.Millisecond, 10000)
	gc := runSim(t, pc).goodput(pc)
	t.Logf("bbr %.3f MB/s without jitter, %.3f with; cubic %.3f with", g0/1e6, gj/1e6, gc/1e6)
	if gj < 0.7*g0 {
		t.Fatalf("goodput %.0f B/s with jitter, %.0f without", gj, g0)
	}
	if rj.minCwnd < bbrMinPipePackets*DefaultMaxDatagramSize {
		t.Fatalf("window fell to %d", rj.minCwnd)
	}
}

// The window's BDP uses srtt when it exceeds RTprop: with a 2 ms minimum
// and a 10 ms average RTT, 2 × BtlBw × RTprop would hold a fifth of what
// the pipe carries.
func TestBBRTargetCwndCoversJitter(t *testing.T) {
	var b bbr
	cfg := (&Config{}).withDefaults()
	b.init(&cfg)
	b.btlBw.update(1e6/1e9, 1, bbrBtlBwRounds) // 1 MB/s
	b.rtProp = 2 * time.Millisecond
	b.cwndGain = bbrCwndGain
	quanta := bbrQuantaPackets * cfg.MaxDatagramSize
	if got, want := b.targetCwnd(time.Millisecond), 4000+quanta; got != want {
		t.Fatalf("srtt below RTprop: target %d, want %d", got, want)
	}
	if got, want := b.targetCwnd(10*time.Millisecond), 20000+quanta; got != want {
		t.Fatalf("srtt 10 ms: target %d, want %d", got, want)
	}
}

// bbrRound sends a window of 1200-byte packets at now and acknowledges
// them rtt later, two per ACK.
func bbrRound(t *testing.T, s *Sender, now Time, rtt time.Duration) Time {
	t.Helper()
	first := s.NextPacketNumber()
	for s.CanSend() {
		send(t, s, now, 1, 1200, 1)
	}
	last := s.NextPacketNumber()
	at := now.Add(rtt)
	for pn := first + 1; pn < last; pn += 2 {
		ack(t, s, at, nil, Range{first, pn})
	}
	ack(t, s, at, nil, Range{first, last - 1})
	return at
}

func TestBBRProbeRTT(t *testing.T) {
	s := newSender(Config{Algorithm: BBR, DisablePacing: true, MaxWindow: 100 * 1200})
	now := bbrRound(t, s, t0, 20*time.Millisecond)
	start := now
	// The RTT rises for good: RTprop stays 20 ms until it expires.
	for now.Sub(start) <= bbrRTpropWindow-100*time.Millisecond {
		now = bbrRound(t, s, now, 30*time.Millisecond)
		if st := s.Stats().BBRState; st == "probe_rtt" {
			t.Fatalf("PROBE_RTT after %v", now.Sub(start))
		}
	}
	if st := s.Stats(); st.BBRState != "probe_bw" || st.BtlBw <= 0 {
		t.Fatalf("state %q BtlBw %.0f before RTprop expired", st.BBRState, st.BtlBw)
	}
	before := s.Window()
	entered := Time(0)
	for i := 0; i < 20 && entered == 0; i++ {
		now = bbrRound(t, s, now, 30*time.Millisecond)
		if s.Stats().BBRState == "probe_rtt" {
			entered = now
		}
	}
	if entered == 0 || entered.Sub(start) < bbrRTpropWindow {
		t.Fatalf("PROBE_RTT not entered 10 s after the last new min RTT (at %v)", entered.Sub(start))
	}
	if w := s.Window(); w != bbrMinPipePackets*1200 {
		t.Fatalf("PROBE_RTT window %d", w)
	}
	// It lasts max(200 ms, a round), then PROBE_BW with the old window.
	for s.Stats().BBRState == "probe_rtt" {
		now = bbrRound(t, s, now, 30*time.Millisecond)
		if now.Sub(entered) > time.Second {
			t.Fatal("PROBE_RTT did not end")
		}
	}
	if d := now.Sub(entered); d < bbrProbeRTTTime {
		t.Fatalf("PROBE_RTT lasted %v", d)
	}
	if st := s.Stats().BBRState; st != "probe_bw" || s.Window() < before/2 {
		t.Fatalf("after PROBE_RTT: %q window %d (was %d)", st, s.Window(), before)
	}
}

func TestBBRLossKeepsWindow(t *testing.T) {
	s := newSender(Config{Algorithm: BBR, DisablePacing: true})
	now := t0
	for r := 0; r < 3; r++ {
		now = bbrRound(t, s, now, 50*time.Millisecond)
	}
	before, bw := s.Window(), s.Stats().BtlBw
	first := send(t, s, now, 10, 1200, 1)
	h := &recHandler{}
	ack(t, s, now.Add(50*time.Millisecond), h, Range{first + 4, first + 9})
	if len(h.lost) != 4 {
		t.Fatalf("lost %d", len(h.lost))
	}
	st := s.Stats()
	if s.Window() < before || st.BtlBw < bw || st.CongestionEvents != 0 {
		t.Fatalf("window %d -> %d, BtlBw %.0f -> %.0f, events %d", before, s.Window(), bw, st.BtlBw, st.CongestionEvents)
	}
}

func TestMaxFilterWindow(t *testing.T) {
	var f maxFilter
	f.update(10, 1, 10)
	f.update(5, 2, 10)
	f.update(7, 6, 10)
	if f.get() != 10 {
		t.Fatalf("max %v", f.get())
	}
	f.update(6, 12, 10) // round 1 has left the window
	if f.get() != 7 {
		t.Fatalf("after expiry %v, want 7", f.get())
	}
	f.update(20, 13, 10)
	if f.get() != 20 {
		t.Fatalf("new max %v", f.get())
	}
	f.update(1, 40, 10) // nothing left in the window
	if f.get() != 1 {
		t.Fatalf("empty window %v", f.get())
	}
}

func TestAllocsBBRSendAckCycle(t *testing.T) {
	const window = 64
	s := newSender(Config{Algorithm: BBR})
	h := &countHandler{}
	now := t0
	fr := make([]FrameRef, 2)
	for i := 0; i < window; i++ {
		s.OnPacketSent(now, s.NextPacketNumber(), 1200, true, fr)
	}
	rs := make([]Range, 1)
	step := func() {
		cycle(s, h, now, window, fr, rs)
		now += Time(10 * time.Microsecond)
	}
	for i := 0; i < 1000; i++ { // warm-up
		step()
	}
	if allocs := testing.AllocsPerRun(10000, step); allocs != 0 {
		t.Fatalf("%v allocs per send+ack with BBR", allocs)
	}
	if _ = s.PacingDeadline(now, 1200); testing.AllocsPerRun(100, func() { _ = s.PacingDeadline(now, 1200) }) != 0 {
		t.Fatal("PacingDeadline allocates with BBR")
	}
	if s.Stats().BBRState == "" {
		t.Fatal("BBR not selected")
	}
}
