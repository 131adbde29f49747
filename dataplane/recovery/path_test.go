package recovery

import (
	"testing"
	"time"
)

// TestChangePathResendsAndResets: moving to a new path reports every outstanding frame lost
// (once), keeps packet numbers increasing, and restarts the estimates unless asked to keep them.
func TestChangePathResendsAndResets(t *testing.T) {
	for _, keep := range []bool{false, true} {
		var s Sender
		s.Init(Config{})
		var h recHandler
		send(t, &s, t0, 20, 1200, 2)
		if _, err := s.OnAck(t0+30*ms, []Range{{Lo: 0, Hi: 9}}, 0, &h); err != nil {
			t.Fatal(err)
		}
		srtt, window := s.RTT().Smoothed(), s.Window()
		next := s.NextPacketNumber()
		h.reset()
		s.ChangePath(Config{Reliable: true}, keep, &h)
		if len(h.lost) != 20 { // packets 10..19, two frames each
			t.Fatalf("keep=%v: %d frames reported lost, want 20", keep, len(h.lost))
		}
		if s.BytesInFlight() != 0 || s.PTOCount() != 0 {
			t.Fatalf("keep=%v: %d bytes in flight, %d PTOs after the change", keep, s.BytesInFlight(), s.PTOCount())
		}
		if s.NextPacketNumber() != next {
			t.Fatalf("keep=%v: next packet number %d, want %d", keep, s.NextPacketNumber(), next)
		}
		if keep {
			if s.RTT().Smoothed() != srtt || s.Window() != window {
				t.Fatalf("kept estimates changed: srtt %v window %d", s.RTT().Smoothed(), s.Window())
			}
		} else if s.RTT().HasSample() || !s.CanSend() {
			t.Fatal("a new path kept the old RTT sample, or the reliable path has a window")
		}
		// A late ACK of a forgotten packet (the old path delivered it after all) changes nothing.
		h.reset()
		if _, err := s.OnAck(t0+40*ms, []Range{{Lo: 10, Hi: 19}}, 0, &h); err != nil {
			t.Fatal(err)
		}
		if len(h.acked) != 0 || (!keep && s.RTT().HasSample()) {
			t.Fatalf("keep=%v: late ACK of the old path acked %d frames", keep, len(h.acked))
		}
		// New packets continue the numbering.
		if pn := send(t, &s, t0+50*ms, 1, 1200, 1); pn != next {
			t.Fatalf("first packet on the new path numbered %d, want %d", pn, next)
		}
		if _, err := s.OnAck(t0+60*ms, []Range{{Lo: next, Hi: next}}, 0, &h); err != nil {
			t.Fatal(err)
		}
		if !keep && s.RTT().Smoothed() != 10*time.Millisecond {
			t.Fatalf("first RTT sample of the new path %v, want 10ms", s.RTT().Smoothed())
		}
	}
}

// TestRequestAck: after a move the receiver owes an ACK of everything it has, at once; with
// nothing received it owes none.
func TestRequestAck(t *testing.T) {
	var r Receiver
	r.Init(25*time.Millisecond, 16)
	r.RequestAck(t0)
	if r.AckPending() {
		t.Fatal("an ACK owed with nothing received")
	}
	r.OnPacket(t0, 0, true)
	r.OnPacket(t0, 1, true)
	r.OnAckSent(t0)
	r.RequestAck(t0 + ms)
	if !r.AckPending() || !r.AckNow() {
		t.Fatal("no ACK due at once after RequestAck")
	}
	if got := r.AppendRanges(nil); len(got) != 1 || got[0] != (Range{Lo: 0, Hi: 1}) {
		t.Fatalf("ranges %v", got)
	}
	r.SetAckRate(time.Millisecond, 2)
	r.OnAckSent(t0 + ms)
	r.OnPacket(t0+2*ms, 2, true)
	if r.AckNow() || r.AckDeadline() != t0+3*ms {
		t.Fatalf("ACK rate not changed: now %v, deadline %v", r.AckNow(), r.AckDeadline())
	}
	r.OnPacket(t0+2*ms, 3, true)
	if !r.AckNow() {
		t.Fatal("two packets with AckEvery 2 do not make an ACK due")
	}
}
