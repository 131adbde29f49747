package recovery

import "testing"

// Over a reliable path (Config.Reliable) the Sender neither times losses out nor resends on a
// PTO, and its window neither limits nor reacts (only ReliableInFlight bounds what is in flight);
// only a gap below an acknowledged packet, which an ordered path can never fill, is a loss.

func TestReliableNoTimeOrThresholdLoss(t *testing.T) {
	s := newSender(Config{Reliable: true, MaxDatagramSize: 16 << 10})
	h := &recHandler{}
	// Far more than the congestion window: the path's byte budget, not the window, limits the
	// sender, up to ReliableInFlight.
	const n = ReliableInFlight / (16 << 10)
	send(t, s, t0, n-1, 16<<10, 1)
	if !s.CanSend() || s.PacingDeadline(t0, 16<<10) != 0 {
		t.Fatalf("reliable sender held back with %d bytes in flight (window %d): can send %v, pacing %d",
			s.BytesInFlight(), s.Window(), s.CanSend(), s.PacingDeadline(t0, 16<<10))
	}
	send(t, s, t0, 1, 16<<10, 1)
	if s.CanSend() {
		t.Fatalf("reliable sender with %d bytes in flight may send more: ReliableInFlight is %d", s.BytesInFlight(), ReliableInFlight)
	}
	w := s.Window()
	// Acknowledge in order, very late (a deep TCP queue): nothing is lost, nothing reacts.
	for lo := uint64(0); lo < n; lo += 16 {
		ack(t, s, t0+Time(lo)*ms, h, Range{lo, lo + 15})
	}
	if st := s.Stats(); st.PacketsLost != 0 || st.CongestionEvents != 0 || len(h.lost) != 0 {
		t.Fatalf("lost %d, congestion events %d, frames lost %d", st.PacketsLost, st.CongestionEvents, len(h.lost))
	}
	if s.Window() != w {
		t.Fatalf("window moved from %d to %d", w, s.Window())
	}
}

func TestReliablePTOResendsNothing(t *testing.T) {
	s := newSender(Config{Reliable: true})
	h := &recHandler{}
	send(t, s, t0, 10, 1200, 1)
	d := s.Deadline()
	if d == 0 {
		t.Fatal("no PTO armed: a dead path would go unnoticed")
	}
	if p := s.OnTimeout(d, h); p != MaxProbes {
		t.Fatalf("probes %d, want %d", p, MaxProbes)
	}
	if len(h.lost) != 0 || s.Stats().PacketsLost != 0 {
		t.Fatalf("a PTO over a reliable path resent %d frames", len(h.lost))
	}
}

func TestReliableGapIsLoss(t *testing.T) {
	s := newSender(Config{Reliable: true})
	h := &recHandler{}
	send(t, s, t0, 10, 1200, 1)
	// Packet 4 never arrived although 5 did: on an ordered path it never will.
	ack(t, s, t0+ms, h, Range{5, 9}, Range{0, 3})
	if st := s.Stats(); st.PacketsLost != 1 || len(h.lost) != 1 || st.CongestionEvents != 0 {
		t.Fatalf("lost %d packets / %d frames, congestion events %d; want 1, 1, 0", st.PacketsLost, len(h.lost), st.CongestionEvents)
	}
}
