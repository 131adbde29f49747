package streambuf

import (
	"runtime"
	"sync/atomic"
	"testing"
)

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

// BenchmarkSendBufferSmallCrossCore: the producer writes 64-byte messages (a 2-byte prefix and
// the body, Write2Alone as Stream.WriteMessage does) while a transport goroutine on another
// thread reads the bytes published, 8 KiB at a time (as the TX loop builds a packet once there is
// a packet's worth), and acknowledges what trails it by a 1 MiB window: the chunks a message lands in were last touched by the other core, as in a
// sender's process. A single-goroutine benchmark cannot show what that costs the producer (each
// publication waits for the line it wrote). ns/op is per message.
func BenchmarkSendBufferSmallCrossCore(b *testing.B) {
	var s SendBuffer
	s.Init(4 << 20)
	prefix, body := []byte{0x40, 64}, make([]byte, 64)
	var done atomic.Bool
	transport := make(chan struct{})
	go func() {
		defer close(transport)
		frame := make([]byte, 8192)
		var sent uint64
		for {
			stop := done.Load()
			if end := s.End(); end-sent < uint64(len(frame)) && !stop {
				runtime.Gosched() // less than a packet's worth: build none yet, as the TX loop
				continue
			}
			for end := s.End(); sent < end; {
				sent += uint64(s.ReadAt(frame[:min(uint64(len(frame)), end-sent)], sent))
			}
			if a := s.Acked(); sent-a > 1<<20 || stop && sent > a {
				s.Ack(a, sent-a)
			}
			if stop && s.Acked() == s.End() {
				return
			}
		}
	}()
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		for s.Space() < len(prefix)+len(body) || !s.TryEnterAlone() {
			runtime.Gosched() // the transport's acknowledgements make room
		}
		s.Write2Alone(prefix, body)
		s.LeaveAlone()
	}
	done.Store(true)
	<-transport
	s.Release()
}

// BenchmarkChunkTakeGive is one chunk taken and given back, the pool's cost per 16 KiB of
// stream data on each side.
func BenchmarkChunkTakeGive(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		putChunk(getChunk())
	}
}

// BenchmarkChunkHandoff: one goroutine takes chunks and hands them over a channel to another
// that gives them back, as an RX loop and a stream's reader do.
func BenchmarkChunkHandoff(b *testing.B) {
	ch := make(chan *chunk, 64)
	done := make(chan struct{})
	go func() {
		for c := range ch {
			putChunk(c)
		}
		close(done)
	}()
	for b.Loop() {
		ch <- getChunk()
	}
	close(ch)
	<-done
}
