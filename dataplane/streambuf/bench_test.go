package streambuf

import "testing"

const benchFrame = 1200 // a full DATA frame's payload

// BenchmarkSendBuffer: the producer writes a 1200-byte message, the transport builds the frame
// with ReadAt and later acknowledges it. The ack trails the write by 64 frames, as with a real
// window in flight, so chunks are taken and returned through the pool as in steady state.
func BenchmarkSendBuffer(b *testing.B) {
	var s SendBuffer
	s.Init(1 << 20)
	p := make([]byte, benchFrame)
	frame := make([]byte, benchFrame)
	const lag = 64 * benchFrame
	b.SetBytes(benchFrame)
	b.ReportAllocs()
	for b.Loop() {
		off := s.End()
		s.Write(p)
		s.ReadAt(frame, off)
		if off >= lag {
			s.Ack(off-lag, benchFrame)
		}
	}
	s.Release()
}

// BenchmarkSendBufferReordered: as BenchmarkSendBuffer, but the acknowledgements of each pair
// of frames arrive newer first, so every other Ack goes through the out-of-order span set.
func BenchmarkSendBufferReordered(b *testing.B) {
	var s SendBuffer
	s.Init(1 << 20)
	p := make([]byte, benchFrame)
	frame := make([]byte, benchFrame)
	const lag = 64 * benchFrame
	b.SetBytes(2 * benchFrame)
	b.ReportAllocs()
	for b.Loop() {
		off := s.End()
		s.Write(p)
		s.Write(p)
		s.ReadAt(frame, off)
		s.ReadAt(frame, off+benchFrame)
		if off >= lag {
			s.Ack(off-lag+benchFrame, benchFrame)
			s.Ack(off-lag, benchFrame)
		}
	}
	s.Release()
}

// BenchmarkRecvBufferInOrder: a 1200-byte frame arrives at the frontier and the reader reads it.
func BenchmarkRecvBufferInOrder(b *testing.B) {
	var r RecvBuffer
	r.Init(1 << 20)
	seg := streamBytes(61, benchFrame)
	p := make([]byte, benchFrame)
	b.SetBytes(benchFrame)
	b.ReportAllocs()
	for b.Loop() {
		r.Insert(r.Frontier(), seg)
		r.Read(p)
	}
	r.Release()
}

// BenchmarkRecvBufferReordered: 16 frames arrive in a shuffled order (holes open, merge and
// close; up to 5 spans at once), then the reader reads all 16.
func BenchmarkRecvBufferReordered(b *testing.B) {
	var r RecvBuffer
	r.Init(1 << 20)
	seg := streamBytes(62, benchFrame)
	order := [16]int{3, 0, 7, 1, 12, 5, 2, 15, 9, 4, 11, 6, 14, 8, 13, 10}
	p := make([]byte, 16*benchFrame)
	b.SetBytes(16 * benchFrame)
	b.ReportAllocs()
	for b.Loop() {
		base := r.Frontier()
		for _, k := range order {
			r.Insert(base+uint64(k)*benchFrame, seg)
		}
		r.Read(p)
	}
	r.Release()
}
