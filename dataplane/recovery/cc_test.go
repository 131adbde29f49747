package recovery

import (
	"math"
	"testing"
	"time"
)

// round sends a full window of 1200-byte packets at now and acknowledges
// them all, one ACK per packet, rtt later. It returns the time of the
// last ACK.
func round(t *testing.T, s *Sender, now Time, rtt time.Duration) Time {
	t.Helper()
	first := s.NextPacketNumber()
	for s.CanSend() {
		send(t, s, now, 1, 1200, 1)
	}
	last := s.NextPacketNumber()
	at := now.Add(rtt)
	for pn := first; pn < last; pn++ {
		ack(t, s, at, nil, Range{first, pn})
	}
	return at
}

func TestSlowStartDoublesPerRTT(t *testing.T) {
	for _, algo := range []Algorithm{Cubic, NewReno} {
		s := newSender(Config{DisablePacing: true, Algorithm: algo})
		now := t0
		w := s.Window()
		if w != 12000 {
			t.Fatalf("initial window %d", w)
		}
		for r := 0; r < 5; r++ {
			now = round(t, s, now, 50*time.Millisecond)
			if s.Window() != 2*w {
				t.Fatalf("%v round %d: window %d, want %d", algo, r, s.Window(), 2*w)
			}
			w = s.Window()
		}
		if !s.InSlowStart() || !s.Stats().SlowStart {
			t.Fatal("left slow start without loss or delay increase")
		}
	}
}

// lossAfterSlowStart grows the window, then loses one packet.
func lossAfterSlowStart(t *testing.T, algo Algorithm) (*Sender, Time, int) {
	s := newSender(Config{DisablePacing: true, Algorithm: algo})
	now := t0
	for r := 0; r < 3; r++ {
		now = round(t, s, now, 50*time.Millisecond)
	}
	before := s.Window() // 96000
	first := send(t, s, now, 10, 1200, 1)
	h := &recHandler{}
	ack(t, s, now.Add(50*time.Millisecond), h, Range{first + 4, first + 9})
	if len(h.lost) != 4 {
		t.Fatalf("lost %d", len(h.lost))
	}
	return s, now.Add(50 * time.Millisecond), before
}

func TestLossReducesWindowByBeta(t *testing.T) {
	s, _, before := lossAfterSlowStart(t, Cubic)
	if want := int(float64(before) * 0.7); s.Window() != want {
		t.Fatalf("cubic: window %d after loss from %d, want %d", s.Window(), before, want)
	}
	if s.InSlowStart() || s.Stats().CongestionEvents != 1 {
		t.Fatalf("slow start %v events %d", s.InSlowStart(), s.Stats().CongestionEvents)
	}
	s, _, before = lossAfterSlowStart(t, NewReno)
	if s.Window() != before/2 {
		t.Fatalf("newreno: window %d, want %d", s.Window(), before/2)
	}
}

func TestOneReductionPerRecoveryPeriod(t *testing.T) {
	s := newSender(Config{DisablePacing: true})
	now := t0
	now = round(t, s, now, 50*time.Millisecond)
	w0 := s.Window()
	first := send(t, s, now, 20, 1200, 1)
	h := &recHandler{}
	at := now.Add(50 * time.Millisecond)
	ack(t, s, at, h, Range{first + 4, first + 4}) // loses first..first+1
	w1 := s.Window()
	if w1 != int(float64(w0)*0.7) {
		t.Fatalf("window %d, want %d", w1, int(float64(w0)*0.7))
	}
	// More losses of packets sent before the recovery period began.
	ack(t, s, at+ms, h, Range{first + 10, first + 10}, Range{first + 4, first + 4})
	ack(t, s, at+2*ms, h, Range{first + 19, first + 19}, Range{first + 10, first + 10}, Range{first + 4, first + 4})
	if s.Window() != w1 || s.Stats().CongestionEvents != 1 {
		t.Fatalf("second reduction: window %d (was %d), events %d", s.Window(), w1, s.Stats().CongestionEvents)
	}
	// Acks of pre-recovery packets do not grow the window either.
	ack(t, s, at+3*ms, h, Range{first + 18, first + 19}, Range{first + 10, first + 10}, Range{first + 4, first + 4})
	if s.Window() != w1 {
		t.Fatalf("window grew in recovery: %d", s.Window())
	}
	// A loss of a packet sent after the period began is a new event.
	p := send(t, s, at+4*ms, 5, 1200, 1)
	ack(t, s, at+60*ms, h, Range{p + 4, p + 4})
	if s.Stats().CongestionEvents != 2 || s.Window() != int(float64(w1)*0.7) {
		t.Fatalf("events %d window %d", s.Stats().CongestionEvents, s.Window())
	}
}

func TestPersistentCongestion(t *testing.T) {
	s := newSender(Config{DisablePacing: true})
	h := &recHandler{}
	send(t, s, t0, 1, 1200, 1)
	ack(t, s, t0+100*ms, h, Range{0, 0}) // first RTT sample: srtt 100, var 50
	pc := 3 * s.PTO()                    // 3 * 301 ms
	// Four packets spread over more than the persistent-congestion
	// duration, all lost; then one gets through.
	now := t0 + 200*ms
	for i := 0; i < 4; i++ {
		send(t, s, now, 1, 1200, 1)
		now = now.Add(pc / 3)
	}
	last := send(t, s, now, 1, 1200, 1)
	ack(t, s, now+100*ms, h, Range{last, last})
	if len(h.lost) != 4 {
		t.Fatalf("lost %d", len(h.lost))
	}
	if s.Window() != 2*1200 || s.Stats().PersistentCongestion != 1 {
		t.Fatalf("window %d, persistent %d", s.Window(), s.Stats().PersistentCongestion)
	}
	if !s.InSlowStart() {
		t.Fatal("not slow-starting after collapse")
	}

	// The same losses spread over less than the duration: an ordinary
	// congestion event.
	s = newSender(Config{DisablePacing: true})
	h.reset()
	send(t, s, t0, 1, 1200, 1)
	ack(t, s, t0+100*ms, h, Range{0, 0})
	w := s.Window()
	now = t0 + 200*ms
	for i := 0; i < 4; i++ {
		send(t, s, now, 1, 1200, 1)
		now = now.Add(pc / 6)
	}
	last = send(t, s, now, 1, 1200, 1)
	ack(t, s, now+100*ms, h, Range{last, last})
	if s.Stats().PersistentCongestion != 0 || s.Window() != int(float64(w)*0.7) {
		t.Fatalf("window %d persistent %d", s.Window(), s.Stats().PersistentCongestion)
	}

	// An acknowledged ack-eliciting packet in the middle breaks the run.
	s = newSender(Config{DisablePacing: true})
	h.reset()
	send(t, s, t0, 1, 1200, 1)
	ack(t, s, t0+100*ms, h, Range{0, 0})
	now = t0 + 200*ms
	for i := 0; i < 5; i++ {
		send(t, s, now, 1, 1200, 1)
		now = now.Add(pc / 4)
	}
	last = send(t, s, now, 1, 1200, 1)
	ack(t, s, now+100*ms, h, Range{last, last}, Range{3, 3})
	if s.Stats().PersistentCongestion != 0 {
		t.Fatal("persistent congestion across an acknowledged packet")
	}
}

func TestAppLimitedDoesNotGrow(t *testing.T) {
	for _, algo := range []Algorithm{Cubic, NewReno} {
		s := newSender(Config{DisablePacing: true, Algorithm: algo})
		now := t0
		w := s.Window()
		// Two packets per RTT with a ten-packet window: never using it.
		for r := 0; r < 50; r++ {
			p := send(t, s, now, 2, 1200, 1)
			now += 50 * ms
			ack(t, s, now, nil, Range{p, p + 1})
		}
		if s.Window() != w {
			t.Fatalf("%v: app-limited window grew %d -> %d", algo, w, s.Window())
		}
		// In congestion avoidance too.
		s = newSender(Config{DisablePacing: true, Algorithm: algo})
		now = round(t, s, t0, 50*time.Millisecond)
		now = round(t, s, now, 50*time.Millisecond)
		p := send(t, s, now, 10, 1200, 1)
		ack(t, s, now+50*ms, nil, Range{p + 4, p + 9}) // loss: leaves slow start
		now += 100 * ms
		w = s.Window()
		for r := 0; r < 200; r++ {
			p := send(t, s, now, 3, 1200, 1)
			now += 50 * ms
			ack(t, s, now, nil, Range{p, p + 2})
		}
		if s.Window() != w {
			t.Fatalf("%v: app-limited CA window grew %d -> %d", algo, w, s.Window())
		}
		// Using the window again resumes growth.
		for r := 0; r < 5; r++ {
			now = round(t, s, now, 50*time.Millisecond)
		}
		if s.Window() <= w {
			t.Fatalf("%v: window-limited CA did not grow: %d", algo, s.Window())
		}
	}
}

// CUBIC's window returns to W_max about K seconds after the reduction
// (RFC 9438 §4.2) and keeps growing beyond it (convex region).
func TestCubicRecoversToWmaxAfterK(t *testing.T) {
	s := newSender(Config{DisablePacing: true, DisableHyStart: true, InitialWindowPackets: 100})
	const rtt = 100 * time.Millisecond
	now := t0
	p := send(t, s, now, 10, 1200, 1)
	now = now.Add(rtt)
	ack(t, s, now, nil, Range{p + 4, p + 9}) // loss at W_max = 100 packets
	wmax := 100 * 1200.0
	if s.Window() != 84000 {
		t.Fatalf("window %d", s.Window())
	}
	k := math.Cbrt(100 * (1 - 0.7) / 0.4) // seconds, ~4.22
	start := now
	var atK int
	for now.Sub(start) < time.Duration((k+3)*1e9) {
		now = round(t, s, now, rtt)
		if atK == 0 && now.Sub(start).Seconds() >= k {
			atK = s.Window()
		}
	}
	if math.Abs(float64(atK)-wmax)/wmax > 0.06 {
		t.Fatalf("window at K=%.2fs: %d, want ~%.0f", k, atK, wmax)
	}
	// Convex region: the window follows W_cubic(t) = C*(t-K)^3 + W_max.
	el := now.Sub(start).Seconds()
	wc := (0.4*math.Pow(el-k, 3) + 100) * 1200
	if math.Abs(float64(s.Window())-wc)/wc > 0.06 || float64(s.Window()) < 1.05*wmax {
		t.Fatalf("window %d at t=%.2fs, W_cubic %.0f", s.Window(), el, wc)
	}
}

// Reno-friendly region: with a short RTT, Reno's linear growth beats the
// cubic curve early in the epoch and CUBIC follows W_est.
func TestCubicRenoFriendly(t *testing.T) {
	s := newSender(Config{DisablePacing: true, DisableHyStart: true, InitialWindowPackets: 100})
	const rtt = time.Millisecond
	now := t0
	p := send(t, s, now, 10, 1200, 1)
	now = now.Add(rtt)
	ack(t, s, now, nil, Range{p + 4, p + 9})
	w := s.Window()
	// 100 RTTs = 0.1 s: the cubic curve has barely moved from 70% of
	// W_max, while W_est grows by 3(1-b)/(1+b) ~ 0.53 datagram per RTT up
	// to W_max (57 RTTs for 30 datagrams), then by 1 per RTT (RFC 9438
	// §4.3): ~73 datagrams in all.
	for i := 0; i < 100; i++ {
		now = round(t, s, now, rtt)
	}
	grew := float64(s.Window()-w) / 1200
	if grew < 65 || grew > 80 {
		t.Fatalf("grew %.1f datagrams in 100 RTTs, want ~73", grew)
	}
}

func TestFastConvergence(t *testing.T) {
	s := newSender(Config{DisablePacing: true, DisableHyStart: true, InitialWindowPackets: 100})
	now := t0
	p := send(t, s, now, 10, 1200, 1)
	now += 100 * ms
	ack(t, s, now, nil, Range{p + 4, p + 9})
	// The loss that ended slow start set W_max where slow start stood;
	// falling short of that says nothing about other flows, so the next
	// loss takes the window itself as W_max.
	if !s.cc.wMaxOvershoot {
		t.Fatal("the loss that ended slow start did not mark W_max as an overshoot")
	}
	now = round(t, s, now, 100*time.Millisecond)
	w := s.Window()
	p = send(t, s, now, 10, 1200, 1)
	now += 100 * ms
	ack(t, s, now, nil, Range{p + 4, p + 9})
	if want := float64(w); math.Abs(s.cc.wMax-want) > 1 {
		t.Fatalf("W_max %.0f below a slow-start overshoot, want the window %.0f", s.cc.wMax, want)
	}
	if s.cc.wMaxOvershoot {
		t.Fatal("a loss in congestion avoidance marked W_max as an overshoot")
	}
	// Lose again before getting back to that W_max, found in congestion
	// avoidance: W_max shrinks further to cwnd*(1+beta)/2.
	now = round(t, s, now, 100*time.Millisecond)
	w = s.Window()
	p = send(t, s, now, 10, 1200, 1)
	now += 100 * ms
	ack(t, s, now, nil, Range{p + 4, p + 9})
	if want := float64(w) * 1.7 / 2; math.Abs(s.cc.wMax-want) > 1 {
		t.Fatalf("W_max %.0f, want %.0f", s.cc.wMax, want)
	}
}

func TestHyStartExitsOnDelayIncrease(t *testing.T) {
	s := newSender(Config{DisablePacing: true})
	now := t0
	rtt := 40 * time.Millisecond
	for r := 0; r < 4; r++ {
		now = round(t, s, now, rtt)
	}
	if !s.InSlowStart() || s.cc.hs.inCSS {
		t.Fatal("left slow start at constant RTT")
	}
	// Queue builds: RTT up by 10 ms (> max(4ms, 40/8=5ms)).
	rtt = 50 * time.Millisecond
	now = round(t, s, now, rtt)
	now = round(t, s, now, rtt)
	if !s.cc.hs.inCSS {
		t.Fatal("no Conservative Slow Start after delay increase")
	}
	w := s.Window()
	now = round(t, s, now, rtt)
	if g := float64(s.Window()) / float64(w); g > 1.3 {
		t.Fatalf("CSS grew by %.2fx per round, want ~1.25x", g)
	}
	for r := 0; r < 6 && s.InSlowStart(); r++ {
		now = round(t, s, now, rtt)
	}
	if s.InSlowStart() {
		t.Fatal("still in slow start after CSS rounds")
	}
	if s.Stats().CongestionEvents != 0 || s.Stats().PacketsLost != 0 {
		t.Fatal("exit needed a loss")
	}
}

func TestHyStartSpuriousCSS(t *testing.T) {
	s := newSender(Config{DisablePacing: true})
	now := t0
	for r := 0; r < 4; r++ {
		now = round(t, s, now, 40*time.Millisecond)
	}
	now = round(t, s, now, 50*time.Millisecond)
	now = round(t, s, now, 50*time.Millisecond)
	if !s.cc.hs.inCSS {
		t.Fatal("no CSS")
	}
	now = round(t, s, now, 40*time.Millisecond) // delay back down
	if s.cc.hs.inCSS || !s.InSlowStart() {
		t.Fatal("did not resume slow start")
	}
	_ = now
}

func TestWindowBounds(t *testing.T) {
	s := newSender(Config{DisablePacing: true, MaxWindow: 30000})
	now := t0
	for r := 0; r < 5; r++ {
		now = round(t, s, now, 10*time.Millisecond)
	}
	if s.Window() != 30000 {
		t.Fatalf("window %d above max", s.Window())
	}
	// Repeated losses never go below 2 datagrams.
	for i := 0; i < 20; i++ {
		p := send(t, s, now, 4, 1200, 1)
		now += 10 * ms
		ack(t, s, now, nil, Range{p + 3, p + 3})
		if s.Window() < 2400 {
			t.Fatalf("window %d below min", s.Window())
		}
	}
	if s.Window() != 2400 {
		t.Fatalf("window %d, want min", s.Window())
	}
}

func TestPacing(t *testing.T) {
	s := newSender(Config{InitialWindowPackets: 100})
	now := t0
	// A whole 64 KiB GSO burst may leave at once.
	if d := s.PacingDeadline(now, 64<<10); d != 0 {
		t.Fatalf("64 KiB burst deadline %v", d)
	}
	sent := 0
	for s.PacingDeadline(now, 1200) == 0 {
		send(t, s, now, 1, 1200, 1)
		sent += 1200
		if sent > 1<<20 {
			t.Fatal("pacing never engaged")
		}
	}
	if sent != 54*1200 { // 65536 / 1200
		t.Fatalf("burst of %d bytes, want %d", sent, 54*1200)
	}
	// Slow start: rate = 2 * cwnd / srtt = 2*120000 B / 100 ms.
	rate := 2 * 120000.0 / float64(100*time.Millisecond)
	if r := s.PacingRate(); math.Abs(r-rate*1e9) > 1 {
		t.Fatalf("rate %.0f B/s, want %.0f", r, rate*1e9)
	}
	d := s.PacingDeadline(now, 1200)
	want := now + Time(math.Ceil(float64(1200-(65536-54*1200))/rate))
	if d != want {
		t.Fatalf("deadline +%v, want +%v", d.Sub(now), want.Sub(now))
	}
	if s.PacingDeadline(d-1, 1200) == 0 || s.PacingDeadline(d, 1200) != 0 {
		t.Fatal("deadline not exact")
	}
	// Sending at every deadline holds the rate.
	now = d
	start := now
	for i := 0; i < 20; i++ {
		if dl := s.PacingDeadline(now, 1200); dl > now {
			now = dl
		}
		send(t, s, now, 1, 1200, 1)
	}
	got := float64(20*1200) / float64(now-start)
	if math.Abs(got-rate)/rate > 0.1 {
		t.Fatalf("paced rate %.4f B/ns, want %.4f", got, rate)
	}
	// Disabled pacing never delays.
	q := newSender(Config{DisablePacing: true})
	for i := 0; i < 100; i++ {
		if q.PacingDeadline(now, 1200) != 0 {
			t.Fatal("disabled pacing delayed")
		}
		send(t, q, now, 1, 1200, 0)
	}
}

func TestSenderSize(t *testing.T) {
	// Every session carries one, idle or not: BBR's model is behind a
	// pointer so that CUBIC sessions do not carry it too.
	if sz := sizeofSender(); sz >= 640 {
		t.Fatalf("Sender is %d bytes, want < 640", sz)
	}
	t.Logf("Sender %d bytes, Receiver %d bytes, FrameRef %d bytes, slot %d bytes",
		sizeofSender(), sizeofReceiver(), sizeofFrameRef(), sizeofSlot())
	var s Sender
	s.Init(Config{})
	if s.HistoryCap() != 0 || s.slots != nil || s.frames != nil {
		t.Fatal("Init allocated history")
	}
}
