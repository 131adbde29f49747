package recovery

import (
	"testing"
	"time"
)

// BenchmarkSendAckCycle: one packet (two frames) sent and one ACK frame
// processed per op, 64 packets in flight.
func BenchmarkSendAckCycle(b *testing.B) {
	const window = 64
	s, h, now := steadySender(b, window)
	fr := make([]FrameRef, 2)
	rs := make([]Range, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cycle(s, h, now, window, fr, rs)
		now += Time(10 * time.Microsecond)
	}
}

// BenchmarkSendAckCycleLossy: as above with a hole every 10 packets, so
// every ACK has two ranges and packet-threshold loss detection fires.
func BenchmarkSendAckCycleLossy(b *testing.B) {
	s, h, now := steadySender(b, 0)
	fr := make([]FrameRef, 2)
	rs := make([]Range, 0, 4)
	var hole uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
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
				b.Fatal(err)
			}
		}
		now += Time(10 * time.Microsecond)
	}
}

func BenchmarkReceiverOnPacket(b *testing.B) {
	var r Receiver
	r.Init(0, 0)
	now := t0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.OnPacket(now, uint64(i), true)
		if r.AckNow() {
			r.OnAckSent(now)
		}
	}
}

// BenchmarkReceiverOnPacketReordered: every 8th packet arrives 4 late.
func BenchmarkReceiverOnPacketReordered(b *testing.B) {
	var r Receiver
	r.Init(0, 0)
	now := t0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		pn := uint64(i)
		switch {
		case i%8 == 3:
			pn = uint64(i) + 4
		case i%8 == 7:
			pn = uint64(i) - 4
		}
		r.OnPacket(now, pn, true)
		if r.AckNow() {
			r.OnAckSent(now)
		}
	}
}

func BenchmarkReceiverAppendRanges(b *testing.B) {
	var r Receiver
	r.Init(0, 0)
	for i := uint64(0); i < 2*MaxRanges; i++ {
		r.OnPacket(t0, 2*i, true)
	}
	dst := make([]Range, 0, MaxRanges)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst = r.AppendRanges(dst[:0])
	}
}
