package recovery

import (
	"testing"
	"time"
)

// steadySender returns a Sender with `window` packets in flight, the
// history warmed up to its steady-state capacity.
func steadySender(tb testing.TB, window int) (*Sender, *countHandler, Time) {
	s := newSender(Config{})
	h := &countHandler{}
	now := t0
	var fr [2]FrameRef
	for i := 0; i < window; i++ {
		pn := s.NextPacketNumber()
		fr[0], fr[1] = frameOf(pn, 0), frameOf(pn, 1)
		s.OnPacketSent(now, pn, 1200, true, fr[:])
	}
	return s, h, now
}

// cycle sends one packet and acknowledges the oldest outstanding one, with
// an ACK frame as a peer sends it: one range from 0 (or the last pruned
// point) to the newest acknowledged.
func cycle(s *Sender, h Handler, now Time, window uint64, fr []FrameRef, rs []Range) {
	pn := s.NextPacketNumber()
	fr[0].Handle, fr[1].Handle = uint32(pn), uint32(pn)
	s.OnPacketSent(now, pn, 1200, true, fr)
	rs[0] = Range{0, pn + 1 - window}
	if _, err := s.OnAck(now+Time(20*time.Millisecond), rs, 0, h); err != nil {
		panic(err)
	}
}

func TestAllocsSendAckCycle(t *testing.T) {
	const window = 64
	s, h, now := steadySender(t, window)
	fr := make([]FrameRef, 2)
	rs := make([]Range, 1)
	for i := 0; i < 1000; i++ { // warm-up
		cycle(s, h, now, window, fr, rs)
		now += Time(10 * time.Microsecond)
	}
	allocs := testing.AllocsPerRun(10000, func() {
		cycle(s, h, now, window, fr, rs)
		now += Time(10 * time.Microsecond)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per send+ack", allocs)
	}
	if s.InFlightPackets() != window-1 || h.acked == 0 || h.lost != 0 {
		t.Fatalf("in flight %d acked %d", s.InFlightPackets(), h.acked)
	}
}

// With losses: every 10th packet is never acknowledged, so each ACK has a
// hole, packet-threshold loss runs and FrameLost is reported.
func TestAllocsWithLoss(t *testing.T) {
	s, h, now := steadySender(t, 0)
	fr := make([]FrameRef, 2)
	rs := make([]Range, 0, 4)
	var hole uint64
	step := func() {
		pn := s.NextPacketNumber()
		s.OnPacketSent(now, pn, 1200, true, fr)
		if pn%10 == 0 {
			hole = pn
		}
		rs = rs[:0]
		if pn > hole {
			rs = append(rs, Range{hole + 1, pn})
		}
		if hole > 0 {
			rs = append(rs, Range{0, hole - 1})
		}
		if len(rs) > 0 {
			if _, err := s.OnAck(now+Time(5*time.Millisecond), rs, 0, h); err != nil {
				panic(err)
			}
		}
		now += Time(100 * time.Microsecond)
	}
	for i := 0; i < 1000; i++ {
		step()
	}
	if allocs := testing.AllocsPerRun(10000, step); allocs != 0 {
		t.Fatalf("%v allocs per step", allocs)
	}
	if h.lost == 0 {
		t.Fatal("no losses exercised")
	}
}

func TestAllocsTimers(t *testing.T) {
	s, h, now := steadySender(t, 8)
	fr := make([]FrameRef, 2)
	rs := make([]Range, 1)
	step := func() {
		// PTO: fire it, send a probe, get it acked (which declares the
		// old packets lost), then a time-threshold loss via OnTimeout.
		now = s.Deadline()
		if s.OnTimeout(now, h) != MaxProbes {
			panic("no PTO")
		}
		pn := s.NextPacketNumber()
		s.OnPacketSent(now, pn, 1200, true, fr)
		s.OnPacketSent(now, pn+1, 1200, true, fr)
		s.OnPacketSent(now, pn+2, 1200, true, fr)
		rs[0] = Range{pn + 2, pn + 2}
		now += Time(time.Millisecond)
		if _, err := s.OnAck(now, rs, 0, h); err != nil {
			panic(err)
		}
		if d := s.Deadline(); d != 0 {
			s.OnTimeout(d, h) // time-threshold loss of pn, pn+1
		}
		for i := 0; i < 8; i++ {
			s.OnPacketSent(now, s.NextPacketNumber(), 1200, true, fr)
		}
	}
	for i := 0; i < 100; i++ {
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Fatalf("%v allocs per timer cycle", allocs)
	}
	if allocs := testing.AllocsPerRun(1000, func() { _ = s.Deadline(); _ = s.PacingDeadline(now, 1200) }); allocs != 0 {
		t.Fatalf("%v allocs in Deadline", allocs)
	}
}

func TestAllocsReceiver(t *testing.T) {
	var r Receiver
	r.Init(0, 0)
	dst := make([]Range, 0, MaxRanges)
	pn := uint64(0)
	now := t0
	step := func() {
		r.OnPacket(now, pn, true)
		if pn%7 == 0 {
			pn++ // a gap now and then
		}
		if pn%13 == 5 {
			r.OnPacket(now, pn-3, true) // and a late one
		}
		pn++
		if r.AckNow() {
			dst = r.AppendRanges(dst[:0])
			_ = r.AckDelay(now)
			r.OnAckSent(now)
		}
		_ = r.AckDeadline()
		now += Time(time.Microsecond)
	}
	if allocs := testing.AllocsPerRun(10000, step); allocs != 0 {
		t.Fatalf("%v allocs per packet", allocs)
	}
}

func TestAllocsFirstUseOnly(t *testing.T) {
	// The zero Sender allocates nothing until a packet must be tracked;
	// ACK-only packets with nothing outstanding never allocate.
	var s Sender
	allocs := testing.AllocsPerRun(100, func() {
		s.Init(Config{})
		s.OnPacketSent(t0, s.NextPacketNumber(), 40, false, nil)
		_ = s.Deadline()
		_ = s.CanSend()
	})
	if allocs != 0 {
		t.Fatalf("%v allocs", allocs)
	}
}
