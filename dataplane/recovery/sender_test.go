package recovery

import (
	"errors"
	"testing"
	"time"
)

func noPace() Config { return Config{DisablePacing: true} }

func TestSenderAckEveryPacket(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 10, 1200, 2)
	if s.BytesInFlight() != 12000 || s.InFlightPackets() != 10 || s.CanSend() {
		t.Fatalf("in flight %d / %d, can send %v", s.BytesInFlight(), s.InFlightPackets(), s.CanSend())
	}
	for pn := uint64(0); pn < 10; pn++ {
		if n := ack(t, s, t0+100*ms, h, Range{pn, pn}); n != 1 {
			t.Fatalf("ack %d: newly %d", pn, n)
		}
	}
	var want []uint32
	for pn := uint64(0); pn < 10; pn++ {
		want = append(want, uint32(pn*10), uint32(pn*10+1))
	}
	if !equalU32(handles(h.acked), want) || len(h.lost) != 0 {
		t.Fatalf("acked %v lost %v", handles(h.acked), handles(h.lost))
	}
	if s.BytesInFlight() != 0 || s.InFlightPackets() != 0 || s.TrackedPackets() != 0 || s.Deadline() != 0 {
		t.Fatalf("after all acked: bif %d tracked %d deadline %d", s.BytesInFlight(), s.TrackedPackets(), s.Deadline())
	}
	if l, ok := s.LargestAcked(); !ok || l != 9 {
		t.Fatalf("largest acked %d %v", l, ok)
	}
	if st := s.Stats(); st.PacketsAcked != 10 || st.PacketsSent != 10 || st.BytesSent != 12000 || st.PacketsLost != 0 {
		t.Fatalf("stats %+v", st)
	}
	if s.RTT().Latest() != 100*time.Millisecond {
		t.Fatalf("rtt %v", s.RTT().Latest())
	}
}

func TestSenderOutOfOrderAcks(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 6, 1000, 1)
	// Two ranges at once, then the rest. Nothing is lost: the first ACK's
	// largest is 2 (no packet 3 below it), and the second ACK covers every
	// hole below its largest.
	if n := ack(t, s, t0+50*ms, h, Range{2, 2}, Range{0, 0}); n != 2 {
		t.Fatalf("newly %d", n)
	}
	if n := ack(t, s, t0+51*ms, h, Range{3, 5}, Range{0, 2}); n != 4 {
		t.Fatalf("newly %d", n)
	}
	if got := handles(h.acked); !equalU32(got, []uint32{0, 20, 10, 30, 40, 50}) {
		t.Fatalf("acked %v", got)
	}
	if len(h.lost) != 0 || s.BytesInFlight() != 0 || s.TrackedPackets() != 0 {
		t.Fatalf("lost %v bif %d", handles(h.lost), s.BytesInFlight())
	}
}

func TestSenderPacketThreshold(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 10, 1000, 1)
	// ACK 4..9: every unacked packet <= 9-3 is lost: 0..3.
	ack(t, s, t0+10*ms, h, Range{4, 9})
	if got := handles(h.lost); !equalU32(got, []uint32{0, 10, 20, 30}) {
		t.Fatalf("lost %v", got)
	}
	if s.BytesInFlight() != 0 || s.Stats().PacketsLost != 4 || s.Stats().BytesLost != 4000 {
		t.Fatalf("bif %d stats %+v", s.BytesInFlight(), s.Stats())
	}

	s = newSender(noPace())
	h.reset()
	send(t, s, t0, 10, 1000, 1)
	// ACK 3..4: 0 and 1 are 3 or more below 4; 2 is not (yet).
	ack(t, s, t0+10*ms, h, Range{3, 4})
	if got := handles(h.lost); !equalU32(got, []uint32{0, 10}) {
		t.Fatalf("lost %v", got)
	}
	ack(t, s, t0+11*ms, h, Range{5, 5})
	if got := handles(h.lost); !equalU32(got, []uint32{0, 10, 20}) {
		t.Fatalf("lost %v", got)
	}
	// A late ACK for packets already declared lost proves the losses spurious: their frames
	// are reported acknowledged (not newly: they left the flight when declared lost), and the
	// packet threshold grows past the reordering seen (5 - 0).
	h.reset()
	if n := ack(t, s, t0+12*ms, h, Range{0, 5}); n != 0 || !equalU32(handles(h.acked), []uint32{0, 10, 20}) {
		t.Fatalf("late ack of lost packets: newly %d acked %v", n, handles(h.acked))
	}
	if st := s.Stats(); st.SpuriousLosses != 3 || st.PacketThreshold != 6 || st.UndoneEvents != 1 {
		t.Fatalf("spurious %d threshold %d undone %d", st.SpuriousLosses, st.PacketThreshold, st.UndoneEvents)
	}
	// Acknowledged again: nothing more.
	h.reset()
	if ack(t, s, t0+13*ms, h, Range{0, 5}); len(h.acked) != 0 || s.Stats().SpuriousLosses != 3 {
		t.Fatalf("second late ack: acked %v", handles(h.acked))
	}
}

func TestSenderTimeThreshold(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 3, 1000, 1)
	// First sample 100 ms: loss delay 112.5 ms.
	ack(t, s, t0+100*ms, h, Range{2, 2})
	if len(h.lost) != 0 {
		t.Fatalf("early loss %v", handles(h.lost))
	}
	want := t0 + 112500*Time(time.Microsecond)
	if d := s.Deadline(); d != want {
		t.Fatalf("deadline %v, want loss time %v", d, want)
	}
	if p := s.OnTimeout(want-1, h); p != 0 || len(h.lost) != 0 {
		t.Fatal("timer fired early")
	}
	if p := s.OnTimeout(want, h); p != 0 {
		t.Fatalf("time-threshold loss returned %d probes", p)
	}
	if got := handles(h.lost); !equalU32(got, []uint32{0, 10}) {
		t.Fatalf("lost %v", got)
	}
	if s.Deadline() != 0 || s.BytesInFlight() != 0 {
		t.Fatalf("deadline %d bif %d", s.Deadline(), s.BytesInFlight())
	}
	// The lost packets (and the acknowledged one above them) stay tracked, to recognise a
	// late ACK, until Trim.
	if s.TrackedPackets() != 3 || !s.Trim() || s.TrackedPackets() != 0 {
		t.Fatalf("tracked %d after trim", s.TrackedPackets())
	}
}

func TestSenderPTOBackoffAndReset(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 1, 1000, 1)
	pto := s.PTO() // 100 + 4*50 + 1 ms before any sample
	if pto != 301*time.Millisecond {
		t.Fatalf("pto %v", pto)
	}
	if d := s.Deadline(); d != t0.Add(pto) {
		t.Fatalf("deadline %v", d)
	}
	if p := s.OnTimeout(t0.Add(pto)-1, h); p != 0 || s.PTOCount() != 0 {
		t.Fatal("PTO fired early")
	}
	now := t0.Add(pto)
	for i := 1; i <= 4; i++ {
		if p := s.OnTimeout(now, h); p != MaxProbes {
			t.Fatalf("PTO %d: %d probes", i, p)
		}
		if s.PTOCount() != i {
			t.Fatalf("pto count %d", s.PTOCount())
		}
		want := t0.Add(pto << i) // base: last ack-eliciting send
		if d := s.Deadline(); d != want {
			t.Fatalf("after PTO %d: deadline %v, want %v", i, d-t0, want-t0)
		}
		now = want
	}
	// A probe is sent; its ACK resets the backoff.
	pn := send(t, s, now, 1, 1000, 1)
	ack(t, s, now+100*ms, h, Range{pn, pn})
	if s.PTOCount() != 0 || s.Stats().PTOCount != 4 {
		t.Fatalf("pto count %d stats %d", s.PTOCount(), s.Stats().PTOCount)
	}
	// The first PTO reported packet 0's frame; the later ones had no
	// unprobed packet left to report. Packet 0 was sent long ago, so the
	// ACK declared it lost, without reporting its frame a second time.
	if got := handles(h.lost); !equalU32(got, []uint32{0}) {
		t.Fatalf("lost reports %v", got)
	}
	pn = send(t, s, now+200*ms, 1, 1000, 1)
	if d := s.Deadline(); d != (now + 200*ms).Add(s.PTO()) {
		t.Fatalf("deadline after reset %v", d)
	}
	_ = pn
}

func TestSenderProbeReportsOldest(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 5, 1000, 2)
	d := s.Deadline()
	if p := s.OnTimeout(d, h); p != 2 {
		t.Fatalf("probes %d", p)
	}
	if got := handles(h.lost); !equalU32(got, []uint32{0, 1}) {
		t.Fatalf("first probe reported %v, want packet 0's frames", got)
	}
	if s.InFlightPackets() != 5 || s.BytesInFlight() != 5000 {
		t.Fatal("probed packet left flight")
	}
	h.reset()
	if p := s.OnTimeout(s.Deadline(), h); p != 2 {
		t.Fatalf("probes %d", p)
	}
	if got := handles(h.lost); !equalU32(got, []uint32{10, 11}) {
		t.Fatalf("second probe reported %v, want packet 1's frames", got)
	}
	// The original packet 0 arrives after all: lost-then-acked.
	h.reset()
	ack(t, s, s.Deadline(), h, Range{0, 0})
	if got := handles(h.acked); !equalU32(got, []uint32{0, 1}) {
		t.Fatalf("acked %v", got)
	}
}

func TestSenderInvalidAck(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	if _, err := s.OnAck(t0, []Range{{0, 0}}, 0, h); !errors.Is(err, ErrInvalidAck) {
		t.Fatalf("ack before any packet: %v", err)
	}
	send(t, s, t0, 3, 1000, 1)
	for _, rs := range [][]Range{
		{{3, 3}},         // never sent
		{{0, 5}},         // beyond largest sent
		{{2, 1}},         // Lo > Hi
		{{0, 0}, {2, 2}}, // ascending
		{{1, 2}, {2, 2}}, // overlapping
	} {
		if _, err := s.OnAck(t0+ms, rs, 0, h); !errors.Is(err, ErrInvalidAck) {
			t.Fatalf("%v: err %v", rs, err)
		}
	}
	if len(h.acked) != 0 || s.BytesInFlight() != 3000 {
		t.Fatal("invalid ACK changed state")
	}
	// A deliberately skipped number.
	s.OnPacketSent(t0, 5, 1000, true, nil) // 3 and 4 skipped
	if _, err := s.OnAck(t0+ms, []Range{{4, 5}}, 0, h); !errors.Is(err, ErrInvalidAck) {
		t.Fatalf("ack of skipped pn: %v", err)
	}
}

func TestSenderPacketNumberReusePanics(t *testing.T) {
	s := newSender(noPace())
	send(t, s, t0, 2, 1000, 0)
	defer func() {
		if recover() == nil {
			t.Fatal("reuse did not panic")
		}
	}()
	s.OnPacketSent(t0, 1, 1000, true, nil)
}

func TestSenderDuplicateAckIdempotent(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 10, 1000, 1)
	rs := []Range{{7, 9}, {2, 5}}
	ack(t, s, t0+50*ms, h, rs...)
	st, w, acked, lost, dl := s.Stats(), s.Window(), len(h.acked), len(h.lost), s.Deadline()
	for i := 0; i < 3; i++ {
		if n := ack(t, s, t0+50*ms, h, rs...); n != 0 {
			t.Fatalf("duplicate newly %d", n)
		}
	}
	if s.Stats() != st || s.Window() != w || len(h.acked) != acked || len(h.lost) != lost || s.Deadline() != dl {
		t.Fatal("duplicate ACK changed state")
	}
}

func TestSenderNonAckEliciting(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	// ACK-only packets with nothing outstanding cost nothing.
	for i := 0; i < 100; i++ {
		s.OnPacketSent(t0, s.NextPacketNumber(), 50, false, nil)
	}
	if s.HistoryCap() != 0 || s.TrackedPackets() != 0 || s.BytesInFlight() != 0 || s.Deadline() != 0 {
		t.Fatalf("ack-only packets tracked: cap %d", s.HistoryCap())
	}
	// An ACK-only packet carrying a frame record is tracked, not in flight.
	ackFrame := []FrameRef{{Type: 0x11, Handle: 7}}
	pn := s.NextPacketNumber()
	s.OnPacketSent(t0, pn, 50, false, ackFrame)
	if s.BytesInFlight() != 0 || s.TrackedPackets() != 1 || s.Deadline() != 0 {
		t.Fatal("non-ack-eliciting packet in flight")
	}
	send(t, s, t0, 1, 1000, 1)
	ack(t, s, t0+10*ms, h, Range{pn, pn + 1})
	if got := handles(h.acked); !equalU32(got, []uint32{7, uint32(pn+1) * 10}) {
		t.Fatalf("acked %v", got)
	}
}

func TestSenderDropAndTrim(t *testing.T) {
	s := newSender(noPace())
	h := &recHandler{}
	send(t, s, t0, 5, 1000, 1)
	s.OnTimeout(s.Deadline(), h) // probes packet 0
	h.reset()
	s.Drop(h)
	if got := handles(h.lost); !equalU32(got, []uint32{10, 20, 30, 40}) {
		t.Fatalf("drop reported %v", got)
	}
	if s.HistoryCap() != 0 || s.BytesInFlight() != 0 || s.Deadline() != 0 || s.NextPacketNumber() != 5 {
		t.Fatal("drop kept state")
	}
	// Usable afterwards; an ACK of a dropped packet is ignored.
	send(t, s, t0+ms, 1, 1000, 1)
	h.reset()
	if n := ack(t, s, t0+10*ms, h, Range{0, 5}); n != 1 {
		t.Fatalf("newly %d", n)
	}
	if !s.Trim() || s.HistoryCap() != 0 {
		t.Fatal("trim of empty history")
	}
	send(t, s, t0+20*ms, 1, 1000, 1)
	if s.Trim() {
		t.Fatal("trim with packets outstanding")
	}
}

func TestSenderHandlerMaySend(t *testing.T) {
	// A Handler that retransmits from FrameLost (growing the rings) must
	// not corrupt the iteration.
	s := newSender(noPace())
	send(t, s, t0, 14, 1000, 2) // fills the 16-slot / 32-frame rings
	h := &resendHandler{s: s, now: t0 + 10*ms}
	ack(t, s, t0+10*ms, h, Range{13, 13})
	if s.HistoryCap() <= 16 {
		t.Fatal("the handler's sends did not grow the ring; test is void")
	}
	// Packets 0..10 are 3 or more below 13: 11 packets, 22 frames.
	if len(h.lost) != 22 {
		t.Fatalf("lost %d frames, want 22", len(h.lost))
	}
	for i, f := range h.lost {
		if want := frameOf(uint64(i/2), i%2); f != want {
			t.Fatalf("frame %d: %+v, want %+v", i, f, want)
		}
	}
}

type resendHandler struct {
	s    *Sender
	now  Time
	lost []FrameRef
}

func (h *resendHandler) FrameAcked(*FrameRef) {}
func (h *resendHandler) FrameLost(f *FrameRef) {
	h.lost = append(h.lost, *f)
	fs := [3]FrameRef{*f, *f, *f}
	h.s.OnPacketSent(h.now, h.s.NextPacketNumber(), 1000, true, fs[:])
}
