package recovery

import (
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"
)

// FuzzSenderOnAck feeds arbitrary ACK ranges (peer-controlled input) to a
// Sender with packets in flight, interleaved with sends and timeouts. It
// must never panic, must reject exactly the ACKs of unsent numbers or
// malformed ranges, and must keep its accounting consistent.
func FuzzSenderOnAck(f *testing.F) {
	f.Add([]byte{0, 5, 0, 3, 1, 9, 2, 2})
	f.Add([]byte{1, 200, 3, 4, 0, 0, 0, 1, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSender(Config{})
		h := &fuzzHandler{acked: map[uint32]bool{}, lost: map[uint32]bool{}}
		now := t0
		var frames [2]FrameRef
		var rs []Range
		sendOne := func() {
			pn := s.NextPacketNumber()
			frames[0].Handle, frames[1].Handle = uint32(2*pn), uint32(2*pn+1)
			s.OnPacketSent(now, pn, 1000, pn%5 != 4, frames[:pn%3])
		}
		for i := 0; i < 20; i++ {
			sendOne()
		}
		for len(data) >= 2 {
			op, a := data[0], uint64(data[1])
			data = data[2:]
			now += Time(a) * Time(time.Millisecond)
			switch op % 4 {
			case 0: // start a new ACK: largest = a below next
				rs = rs[:0]
				next := s.NextPacketNumber()
				hi := next - 1 - a%next
				if op&0x80 != 0 {
					hi = next + a // beyond what was sent
				}
				rs = append(rs, Range{hi - a%4, hi})
				if rs[0].Lo > rs[0].Hi {
					rs[0].Lo = 0
				}
			case 1: // add a lower range
				if len(rs) > 0 && rs[len(rs)-1].Lo > a%8+1 {
					lo := rs[len(rs)-1].Lo
					hi := lo - 1 - a%8
					if op&0x80 != 0 {
						hi = lo + a%3 // overlapping: malformed
					}
					rs = append(rs, Range{hi - min(hi, a%5), hi})
				}
				_, err := s.OnAck(now, rs, time.Duration(a)*time.Millisecond, h)
				check(t, s, rs, err)
			case 2:
				for i := uint64(0); i < a%8; i++ {
					sendOne()
				}
			case 3:
				if d := s.Deadline(); d != 0 && op&1 == 0 {
					now = max(now, d)
				}
				s.OnTimeout(now, h)
			}
			if len(rs) > 0 && op%4 == 0 {
				_, err := s.OnAck(now, rs, 0, h)
				check(t, s, rs, err)
			}
			if s.BytesInFlight() < 0 || s.InFlightPackets() < 0 || s.BytesInFlight() != 1000*s.InFlightPackets() {
				t.Fatalf("bif %d packets %d", s.BytesInFlight(), s.InFlightPackets())
			}
			if s.Window() < 2400 || s.Window() > DefaultMaxWindow {
				t.Fatalf("window %d", s.Window())
			}
			// In flight: the PTO is armed. Nothing tracked: no timer. (With
			// only non-ack-eliciting packets tracked, a loss timer may run.)
			if (s.InFlightPackets() > 0 && s.Deadline() == 0) || (s.TrackedPackets() == 0 && s.Deadline() != 0) {
				t.Fatalf("deadline %d with %d in flight, %d tracked", s.Deadline(), s.InFlightPackets(), s.TrackedPackets())
			}
		}
	})
}

func check(t *testing.T, s *Sender, rs []Range, err error) {
	t.Helper()
	bad := false
	for i := range rs {
		if rs[i].Lo > rs[i].Hi || rs[i].Hi >= s.NextPacketNumber() || (i > 0 && rs[i].Hi >= rs[i-1].Lo) {
			bad = true
		}
	}
	if bad != errors.Is(err, ErrInvalidAck) {
		t.Fatalf("ranges %v: err %v", rs, err)
	}
}

type fuzzHandler struct{ acked, lost map[uint32]bool }

func (h *fuzzHandler) FrameAcked(f *FrameRef) {
	if h.acked[f.Handle] {
		panic("frame acked twice")
	}
	h.acked[f.Handle] = true
}

func (h *fuzzHandler) FrameLost(f *FrameRef) {
	if h.lost[f.Handle] {
		panic("frame lost twice")
	}
	if h.acked[f.Handle] {
		panic("frame lost after acked")
	}
	h.lost[f.Handle] = true
}

// FuzzReceiver checks the Receiver against a model: after each packet the
// ranges are exactly the previous ranges plus the packet, merged; when that
// would need more than MaxRanges, the oldest range is forgotten, or the
// packet itself if it is older than everything kept.
func FuzzReceiver(f *testing.F) {
	f.Add([]byte{0, 1, 2, 5, 3, 200, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Receiver
		r.Init(0, 0)
		var cur uint64 = 1000
		var prev []Range // ascending
		for len(data) >= 2 {
			d := binary.BigEndian.Uint16(data)
			data = data[2:]
			// Mostly forward, sometimes back a little.
			if d&0x8000 != 0 {
				cur -= min(cur, uint64(d&0xff))
			} else {
				cur += uint64(d & 0x3f)
			}
			r.OnPacket(t0, cur, d&0x4000 == 0)
			desc := r.AppendRanges(nil)
			got := make([]Range, len(desc))
			for i := range desc {
				got[len(desc)-1-i] = desc[i]
			}
			want := normalize(append(append([]Range(nil), prev...), Range{cur, cur}))
			if len(want) > MaxRanges {
				if cur < prev[0].Lo {
					want = prev
				} else {
					want = normalize(append(append([]Range(nil), prev[1:]...), Range{cur, cur}))
				}
			}
			if !equalRanges(got, want) {
				t.Fatalf("after %d: got %v, want %v", cur, got, want)
			}
			if l, _ := r.Largest(); l != got[len(got)-1].Hi {
				t.Fatal("largest")
			}
			prev = got
		}
	})
}

// normalize sorts and merges ranges (ascending, non-adjacent).
func normalize(rs []Range) []Range {
	slices.SortFunc(rs, func(a, b Range) int { return cmp.Compare(a.Lo, b.Lo) })
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.Lo <= out[n-1].Hi+1 {
			out[n-1].Hi = max(out[n-1].Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

func equalRanges(a, b []Range) bool { return slices.Equal(a, b) }
