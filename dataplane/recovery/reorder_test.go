package recovery

import (
	"testing"
	"time"
)

// reorderedSender returns a Sender that sent 20 packets at t0 whose ACK at t0+10ms
// acknowledged 4..19, so that 0..3 were declared lost by the packet threshold: one congestion
// event, and the window it had before that event.
func reorderedSender(t *testing.T, h *recHandler) (s *Sender, before int) {
	t.Helper()
	s = newSender(noPace())
	send(t, s, t0, 20, 1000, 1)
	before = s.Window()
	ack(t, s, t0+10*ms, h, Range{4, 19})
	if got := handles(h.lost); !equalU32(got, []uint32{0, 10, 20, 30}) {
		t.Fatalf("lost %v", got)
	}
	if st := s.Stats(); st.CongestionEvents != 1 || s.Window() >= before {
		t.Fatalf("events %d window %d (before %d)", st.CongestionEvents, s.Window(), before)
	}
	return s, before
}

func TestSpuriousLossesUndoTheEvent(t *testing.T) {
	h := &recHandler{}
	s, before := reorderedSender(t, h)
	// The "lost" packets arrive after all: the event was reordering, not congestion.
	h.reset()
	ack(t, s, t0+11*ms, h, Range{0, 19})
	if got := handles(h.acked); !equalU32(got, []uint32{0, 10, 20, 30}) {
		t.Fatalf("late acks reported %v", got)
	}
	st := s.Stats()
	if st.SpuriousLosses != 4 || st.UndoneEvents != 1 || s.Window() < before {
		t.Fatalf("spurious %d undone %d window %d, want the %d of before the event", st.SpuriousLosses, st.UndoneEvents, s.Window(), before)
	}
	if s.InSlowStart() != true {
		t.Fatal("undo left slow start (ssthresh not restored)")
	}
	// The reordering distance (19 - 0) is the packet threshold now.
	if st.PacketThreshold != 20 {
		t.Fatalf("packet threshold %d, want 20", st.PacketThreshold)
	}
}

func TestRealLossIsNotUndone(t *testing.T) {
	h := &recHandler{}
	s, before := reorderedSender(t, h)
	reduced := s.Window()
	// Three of the four arrive late; packet 3 was really lost.
	ack(t, s, t0+11*ms, h, Range{4, 19}, Range{0, 2})
	st := s.Stats()
	if st.SpuriousLosses != 3 || st.UndoneEvents != 0 || s.Window() != reduced || s.Window() >= before {
		t.Fatalf("spurious %d undone %d window %d (reduced %d)", st.SpuriousLosses, st.UndoneEvents, s.Window(), reduced)
	}
}

func TestReorderWindowLearntAndCapped(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 1, 1000, 1)
	ack(t, s, t0+10*ms, h, Range{0, 0}) // RTT 10 ms
	base := s.lossDelay()
	if base != 10*time.Millisecond+10*time.Millisecond/8 {
		t.Fatalf("default loss delay %v", base)
	}
	// Packet 1 overtaken by 2..5; declared lost by time at 21.25 ms, it arrives 4 ms late.
	send(t, s, t0+10*ms, 5, 1000, 1)
	ack(t, s, t0+20*ms, h, Range{2, 5})
	if s.OnTimeout(s.Deadline(), h); s.Stats().PacketsLost != 1 {
		t.Fatalf("packet 1 not declared lost: %+v", s.Stats())
	}
	ack(t, s, t0+10*ms+24*ms, h, Range{1, 5})
	w := s.Stats().ReorderWindow
	if w < 4*time.Millisecond || w > 10*time.Millisecond {
		t.Fatalf("reorder window %v after a packet 4 ms late (RTT 10 ms)", w)
	}
	if d := s.lossDelay(); d <= base {
		t.Fatalf("loss delay %v did not grow from %v", d, base)
	}
	// However late a packet, the window stays within one smoothed RTT.
	s.reo.onSpurious(1, time.Second, s.rtt.Smoothed())
	if w := s.Stats().ReorderWindow; w > s.rtt.Smoothed() {
		t.Fatalf("reorder window %v above SRTT %v", w, s.rtt.Smoothed())
	}
}

func TestReorderThresholdsDecay(t *testing.T) {
	var r reorderState
	r.init()
	r.onSpurious(50, 5*time.Millisecond, 10*time.Millisecond)
	if r.threshold() != 51 || r.window == 0 {
		t.Fatalf("threshold %d window %v", r.threshold(), r.window)
	}
	var c congestion
	for i := 1; i < reorderDecayEvents; i++ {
		r.onEvent(&c)
	}
	if r.threshold() != 51 {
		t.Fatalf("decayed after %d events", reorderDecayEvents-1)
	}
	r.onEvent(&c)
	if r.threshold() != PacketThreshold || r.window != 0 {
		t.Fatalf("after %d quiet events: threshold %d window %v", reorderDecayEvents, r.threshold(), r.window)
	}
	// A spurious loss restarts the count.
	r.onSpurious(10, 0, 10*time.Millisecond)
	for i := 1; i < reorderDecayEvents; i++ {
		r.onEvent(&c)
	}
	if r.threshold() != 11 {
		t.Fatalf("threshold %d", r.threshold())
	}
}

// An event's losses are told apart from an older event's: a late ACK for a packet lost in an
// earlier event does not count toward undoing the current one.
func TestOlderEventLossDoesNotUndo(t *testing.T) {
	h := &recHandler{}
	s, _ := reorderedSender(t, h) // event 1: 0..3 lost
	// Event 2: packets sent after event 1 began, 20..29; 20 and 21 lost.
	send(t, s, t0+12*ms, 10, 1000, 1)
	ack(t, s, t0+22*ms, h, Range{22, 29}, Range{4, 19})
	if s.Stats().CongestionEvents != 2 {
		t.Fatalf("events %d", s.Stats().CongestionEvents)
	}
	reduced := s.Window()
	// Event 1's losses arrive late: they prove nothing about event 2.
	ack(t, s, t0+23*ms, h, Range{22, 29}, Range{0, 19})
	if st := s.Stats(); st.UndoneEvents != 0 || s.Window() != reduced {
		t.Fatalf("undone %d window %d (reduced %d)", st.UndoneEvents, s.Window(), reduced)
	}
	// Event 2's do.
	ack(t, s, t0+24*ms, h, Range{0, 29})
	if st := s.Stats(); st.UndoneEvents != 1 || s.Window() <= reduced {
		t.Fatalf("undone %d window %d (reduced %d)", st.UndoneEvents, s.Window(), reduced)
	}
}

// TestLateAckBeyondSmoothedRTTIsSpurious: on a jittery path the smoothed RTT follows the packets
// that came back early, so a loss delay plus a PTO built on it (13 ms here) forgot a lost packet
// before its late ACK (30 ms) arrived, and the loss was never proven spurious. The retention
// covers twice the largest recent round trip (20 ms once, decaying).
func TestLateAckBeyondSmoothedRTTIsSpurious(t *testing.T) {
	h := &recHandler{}
	s := newSender(noPace())
	now := t0
	for i := 0; i < 30; i++ {
		rtt := 5 * ms
		if i == 10 {
			rtt = 20 * ms // one slow round trip: jitter
		}
		pn := send(t, s, now, 1, 1000, 1)
		ack(t, s, now+rtt, h, Range{pn, pn})
		now += rtt
	}
	if srtt, peak := s.rtt.Smoothed(), s.rtt.Max(); srtt > 6*time.Millisecond || peak < 15*time.Millisecond {
		t.Fatalf("smoothed %v, max %v: want about 5 ms and above 15 ms", srtt, peak)
	}
	a := send(t, s, now, 6, 1000, 1)
	ack(t, s, now+5*ms, h, Range{a + 1, a + 5}) // a is 5 packets behind: declared lost
	if s.Stats().PacketsLost != 1 {
		t.Fatalf("lost %d, want packet %d", s.Stats().PacketsLost, a)
	}
	b := send(t, s, now+15*ms, 1, 1000, 1)
	ack(t, s, now+20*ms, h, Range{a + 1, b}) // an ACK after the old retention: a popFront
	ack(t, s, now+30*ms, h, Range{a, b})     // a's late ACK
	if st := s.Stats(); st.SpuriousLosses != 1 {
		t.Fatalf("spurious losses %d, want 1: the late ACK of packet %d came after it was forgotten (retention %v)",
			st.SpuriousLosses, a, s.lostRetention())
	}
}
