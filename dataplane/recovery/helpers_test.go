package recovery

import (
	"testing"
	"time"
)

const ms = Time(time.Millisecond)

// t0 is the fake clock's origin in tests; away from 0, which means "unset".
const t0 = Time(time.Second)

// recHandler records every callback.
type recHandler struct {
	acked []FrameRef
	lost  []FrameRef
}

func (h *recHandler) FrameAcked(f *FrameRef) { h.acked = append(h.acked, *f) }
func (h *recHandler) FrameLost(f *FrameRef)  { h.lost = append(h.lost, *f) }
func (h *recHandler) reset()                 { h.acked, h.lost = h.acked[:0], h.lost[:0] }

// countHandler counts callbacks without allocating.
type countHandler struct{ acked, lost int }

func (h *countHandler) FrameAcked(*FrameRef) { h.acked++ }
func (h *countHandler) FrameLost(*FrameRef)  { h.lost++ }

func handles(fs []FrameRef) []uint32 {
	out := make([]uint32, len(fs))
	for i := range fs {
		out[i] = fs[i].Handle
	}
	return out
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// frameOf returns the i-th frame of packet pn in tests: Handle pn*10+i.
func frameOf(pn uint64, i int) FrameRef {
	return FrameRef{Type: 0x10, StreamID: 4, Offset: pn * 1000, Length: 1000, Handle: uint32(pn*10) + uint32(i)}
}

// send sends n ack-eliciting packets of size bytes at now, each carrying
// nf frames, and returns the first packet number.
func send(t testing.TB, s *Sender, now Time, n, size, nf int) uint64 {
	t.Helper()
	first := s.NextPacketNumber()
	var buf [8]FrameRef
	for k := 0; k < n; k++ {
		pn := s.NextPacketNumber()
		for i := 0; i < nf; i++ {
			buf[i] = frameOf(pn, i)
		}
		s.OnPacketSent(now, pn, size, true, buf[:nf])
	}
	return first
}

func ack(t testing.TB, s *Sender, now Time, h Handler, rs ...Range) int {
	t.Helper()
	n, err := s.OnAck(now, rs, 0, h)
	if err != nil {
		t.Fatalf("OnAck(%v): %v", rs, err)
	}
	return n
}

func newSender(cfg Config) *Sender {
	s := new(Sender)
	s.Init(cfg)
	return s
}

func TestNow(t *testing.T) {
	a := Now()
	b := Now()
	if a == 0 || b < a {
		t.Fatalf("Now %d then %d", a, b)
	}
	if d := b.Add(time.Second).Sub(a); d < time.Second {
		t.Fatalf("Add/Sub %v", d)
	}
}

func TestInitReuse(t *testing.T) {
	s := newSender(Config{DisablePacing: true})
	send(t, s, t0, 40, 1200, 3)
	c := s.HistoryCap()
	s.Init(Config{DisablePacing: true})
	if s.HistoryCap() != c || s.NextPacketNumber() != 0 || s.BytesInFlight() != 0 || s.TrackedPackets() != 0 || s.Deadline() != 0 {
		t.Fatal("Init did not reset state or dropped the buffers")
	}
	h := &recHandler{}
	send(t, s, t0, 3, 1200, 1)
	ack(t, s, t0+ms, h, Range{0, 2})
	if got := handles(h.acked); !equalU32(got, []uint32{0, 10, 20}) {
		t.Fatalf("acked %v after reuse", got)
	}
}
