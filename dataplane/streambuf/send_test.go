package streambuf

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

func TestSendBufferIdleFootprint(t *testing.T) {
	base := inUse()
	if s := unsafe.Sizeof(SendBuffer{}); s > 256 {
		t.Fatalf("unsafe.Sizeof(SendBuffer{}) = %d, want <= 256", s)
	}
	var b SendBuffer
	if a := testing.AllocsPerRun(10, func() { b.Init(1 << 20) }); a != 0 {
		t.Fatalf("Init allocates %v times, want 0", a)
	}
	if b.tab.Load() != nil || inUse() != base {
		t.Fatal("Init took memory before the first Write")
	}
	if b.Capacity() != 1<<20 || b.Space() != 1<<20 {
		t.Fatalf("Capacity %d Space %d, want %d", b.Capacity(), b.Space(), 1<<20)
	}
	b.Init(1)
	if b.Capacity() != ChunkSize {
		t.Fatalf("Init(1): capacity %d, want one chunk", b.Capacity())
	}
	t.Logf("unsafe.Sizeof(SendBuffer{}) = %d", unsafe.Sizeof(SendBuffer{}))
}

func TestSendBufferWriteReadAtAcrossChunks(t *testing.T) {
	base := inUse()
	var b SendBuffer
	b.Init(3*ChunkSize + 100) // rounds to 4 chunks
	if b.Capacity() != 4*ChunkSize {
		t.Fatalf("capacity %d", b.Capacity())
	}
	data := streamBytes(1, 5*ChunkSize)
	var end int
	for _, n := range []int{1, ChunkSize - 2, 1, 2, ChunkSize + 5, 3000, 2*ChunkSize + 10} {
		k := b.Write(data[end : end+n])
		want := min(n, 4*ChunkSize-end)
		if k != want {
			t.Fatalf("Write(%d) at %d = %d, want %d", n, end, k, want)
		}
		end += k
		if b.End() != uint64(end) {
			t.Fatalf("End %d, want %d", b.End(), end)
		}
	}
	if end != 4*ChunkSize || b.Space() != 0 || b.held() != 4 {
		t.Fatalf("end %d space %d held %d", end, b.Space(), b.held())
	}
	buf := make([]byte, 3*ChunkSize)
	for _, c := range []struct{ off, n int }{
		{0, 1}, {0, ChunkSize}, {ChunkSize - 1, 2}, {ChunkSize - 7, ChunkSize + 14},
		{100, 3 * ChunkSize}, {end - 5, 100}, {2*ChunkSize + 3, 1200},
	} {
		n := b.ReadAt(buf[:c.n], uint64(c.off))
		want := min(c.n, end-c.off)
		if n != want || !bytes.Equal(buf[:n], data[c.off:c.off+n]) {
			t.Fatalf("ReadAt(%d, %d) = %d bytes (want %d) or wrong content", c.n, c.off, n, want)
		}
	}
	if n := b.ReadAt(buf[:10], uint64(end)); n != 0 {
		t.Fatalf("ReadAt at End = %d", n)
	}
	b.Ack(0, ChunkSize+10)
	if n := b.ReadAt(buf[:10], 5); n != 0 {
		t.Fatalf("ReadAt below Acked = %d, want 0", n)
	}
	if n := b.ReadAt(buf[:10], ChunkSize+10); n != 10 || !bytes.Equal(buf[:10], data[ChunkSize+10:ChunkSize+20]) {
		t.Fatal("ReadAt at Acked")
	}
	if b.held() != 3 || inUse() != base+3 {
		t.Fatalf("after acking past chunk 0: held %d, in use %d", b.held(), inUse()-base)
	}
	b.Release()
	checkInUse(t, base, "after Release")
}

// ackModel is the reference for acknowledgement tracking: one bool per byte.
type ackModel struct{ acked []bool }

func (m *ackModel) ack(off, n uint64, end uint64) {
	for i := off; i < off+n && i < end; i++ {
		m.acked[i] = true
	}
}

func (m *ackModel) prefix() uint64 {
	p := uint64(0)
	for p < uint64(len(m.acked)) && m.acked[p] {
		p++
	}
	return p
}

func (m *ackModel) all(off, n uint64) bool {
	for i := off; i < off+n; i++ {
		if i >= uint64(len(m.acked)) || !m.acked[i] {
			return false
		}
	}
	return true
}

// TestSendBufferWrite2 checks that a prefix and a body are published together, that the body is
// taken only after the whole prefix fit, and that the bytes land in order across chunks.
func TestSendBufferWrite2(t *testing.T) {
	var b SendBuffer
	b.Init(2 * ChunkSize)
	data := streamBytes(7, 2*ChunkSize)
	if k := b.Write2(data[:3], data[3:ChunkSize+10]); k != ChunkSize+10 || b.End() != ChunkSize+10 {
		t.Fatalf("Write2 = %d, end %d; want both %d", k, b.End(), ChunkSize+10)
	}
	room := 2*ChunkSize - (ChunkSize + 10)
	// The prefix fits, the body only in part: the part that fits is taken.
	if k := b.Write2(data[ChunkSize+10:ChunkSize+12], data[ChunkSize+12:]); k != room {
		t.Fatalf("Write2 into %d bytes of room = %d", room, k)
	}
	got := make([]byte, 2*ChunkSize)
	if n := b.ReadAt(got, 0); n != len(got) || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt = %d bytes, equal %v", n, bytes.Equal(got, data))
	}
	// A prefix that does not fit whole takes the body with it: nothing of q.
	var c SendBuffer
	c.Init(ChunkSize)
	c.Write(data[:ChunkSize-1])
	if k := c.Write2(data[:2], data[:5]); k != 1 || c.End() != ChunkSize {
		t.Fatalf("Write2 with 1 byte of room = %d, end %d; want 1 and %d", k, c.End(), ChunkSize)
	}
}

func TestSendBufferAckInOrder(t *testing.T) {
	base := inUse()
	var b SendBuffer
	b.Init(1 << 20)
	const total = 5*ChunkSize + 777 // ends mid-chunk
	data := streamBytes(2, total)
	if n := b.Write(data); n != total {
		t.Fatalf("Write = %d", n)
	}
	for off := uint64(0); off < total; off += 1200 {
		n := min(1200, total-off)
		if !b.Ack(off, n) {
			t.Fatalf("Ack(%d,%d) did not advance", off, n)
		}
		if b.Ack(off, n) {
			t.Fatalf("duplicate Ack(%d,%d) advanced", off, n)
		}
		a := off + n
		if b.Acked() != a {
			t.Fatalf("Acked %d, want %d", b.Acked(), a)
		}
		if want := chunksOver(a, total); b.held() != want || inUse() != base+int64(want) {
			t.Fatalf("acked %d: held %d (in use %d), want %d", a, b.held(), inUse()-base, want)
		}
	}
	// Everything acknowledged with end mid-chunk: the idle stream holds nothing.
	checkInUse(t, base, "after full ack")
	if b.Space() != b.Capacity() {
		t.Fatalf("Space %d after full ack", b.Space())
	}
	// The next write continues mid-chunk in a fresh chunk.
	more := streamBytes(3, 50)
	b.Write(more)
	buf := make([]byte, 50)
	if n := b.ReadAt(buf, total); n != 50 || !bytes.Equal(buf, more) {
		t.Fatal("ReadAt after idle reclaim")
	}
	b.Release()
	checkInUse(t, base, "after Release")
}

func TestSendBufferAckOutOfOrder(t *testing.T) {
	base := inUse()
	for seed := uint64(1); seed <= 30; seed++ {
		r := newRand(seed)
		var b SendBuffer
		b.Init(8 * ChunkSize)
		total := uint64(r.IntN(8*ChunkSize) + 1)
		data := streamBytes(seed, int(total))
		b.Write(data)
		m := ackModel{acked: make([]bool, total)}
		// Frames of random size, acknowledged in random order, plus random extra ranges
		// (duplicates, overlaps, beyond End).
		type fr struct{ off, n uint64 }
		var frames []fr
		for off := uint64(0); off < total; {
			n := min(uint64(r.IntN(3000)+1), total-off)
			frames = append(frames, fr{off, n})
			off += n
		}
		r.Shuffle(len(frames), func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })
		var acks []fr
		for _, f := range frames {
			acks = append(acks, f)
			if r.IntN(4) == 0 { // a random extra range: duplicate, overlap or beyond End
				acks = append(acks, fr{uint64(r.IntN(int(total) + 100)), uint64(r.IntN(5000))})
			}
		}
		for _, f := range acks {
			before := m.prefix()
			m.ack(f.off, f.n, total)
			after := m.prefix()
			adv := b.Ack(f.off, f.n)
			if b.Acked() != after {
				t.Fatalf("seed %d: Ack(%d,%d): Acked %d, want %d", seed, f.off, f.n, b.Acked(), after)
			}
			if adv != (after > before) {
				t.Fatalf("seed %d: Ack(%d,%d) returned %v, prefix %d -> %d", seed, f.off, f.n, adv, before, after)
			}
			if want := chunksOver(after, total); b.held() != want {
				t.Fatalf("seed %d: held %d chunks, want %d", seed, b.held(), want)
			}
			for k := 0; k < 5; k++ {
				off, n := uint64(r.IntN(int(total))), uint64(r.IntN(2000))
				if got, want := b.IsAcked(off, n), n == 0 || m.all(off, n); got != want {
					t.Fatalf("seed %d: IsAcked(%d,%d) = %v, want %v", seed, off, n, got, want)
				}
			}
			// Unacknowledged bytes are still readable.
			if after < total {
				buf := make([]byte, 64)
				n := b.ReadAt(buf, after)
				if n == 0 || !bytes.Equal(buf[:n], data[after:after+uint64(n)]) {
					t.Fatalf("seed %d: ReadAt(%d) after acks", seed, after)
				}
			}
		}
		if b.Acked() != total {
			t.Fatalf("seed %d: Acked %d after every frame, want %d", seed, b.Acked(), total)
		}
		checkInUse(t, base, "after every frame acknowledged")
		b.Release()
	}
}

func TestSendBufferSpace(t *testing.T) {
	base := inUse()
	var b SendBuffer
	b.Init(2 * ChunkSize)
	data := streamBytes(4, 3*ChunkSize)
	if n := b.Write(data); n != 2*ChunkSize {
		t.Fatalf("Write into empty buffer = %d, want %d", n, 2*ChunkSize)
	}
	if b.Space() != 0 || b.Write(data[:1]) != 0 {
		t.Fatal("a full buffer accepts bytes")
	}
	if !b.Ack(0, 100) || b.Space() != 100 {
		t.Fatalf("Space %d after acking 100", b.Space())
	}
	if b.Ack(200, 50) || b.Space() != 100 {
		t.Fatal("an out-of-order ack freed space")
	}
	if n := b.Write(data[2*ChunkSize : 2*ChunkSize+300]); n != 100 {
		t.Fatalf("Write = %d, want 100", n)
	}
	if b.End() != 2*ChunkSize+100 || b.Space() != 0 {
		t.Fatalf("End %d Space %d", b.End(), b.Space())
	}
	// The writer wrapped into chunk 2, which shares slot 2 % 3 with nobody alive.
	if b.held() != 3 {
		t.Fatalf("held %d", b.held())
	}
	b.Ack(0, b.End())
	if b.Space() != 2*ChunkSize {
		t.Fatalf("Space %d after full ack", b.Space())
	}
	checkInUse(t, base, "after full ack")
	b.Release()
	if b.Space() != 0 || b.Write(data[:10]) != 0 {
		t.Fatal("released buffer accepts bytes")
	}
}

// TestSendBufferManyAckRanges: every other frame acknowledged first, hundreds of holes. No
// acknowledgement may be forgotten (a forgotten one would never be retransmitted), and once the
// span set has grown the same pattern allocates nothing.
func TestSendBufferManyAckRanges(t *testing.T) {
	base := inUse()
	var b SendBuffer
	b.Init(1 << 20)
	const frame, frames = 100, 600
	data := streamBytes(5, frame*frames)
	for round := 0; round < 3; round++ {
		start := b.End()
		b.Write(data)
		for i := 1; i < frames; i += 2 {
			if b.Ack(start+uint64(i*frame), frame) {
				t.Fatal("out-of-order ack advanced the prefix")
			}
		}
		if len(b.acks.s) != frames/2 {
			t.Fatalf("%d spans remembered, want %d", len(b.acks.s), frames/2)
		}
		for i := 1; i < frames; i += 2 {
			if !b.IsAcked(start+uint64(i*frame), frame) || b.IsAcked(start+uint64(i*frame-1), 2) {
				t.Fatalf("IsAcked wrong around frame %d", i)
			}
		}
		// Fill the holes from the top down: the prefix moves only with the last (lowest) one.
		for i := frames - 2; i >= 0; i -= 2 {
			adv := b.Ack(start+uint64(i*frame), frame)
			if adv != (i == 0) {
				t.Fatalf("Ack of hole %d returned %v", i, adv)
			}
		}
		if b.Acked() != start+frame*frames || len(b.acks.s) != 0 {
			t.Fatalf("Acked %d, %d spans left", b.Acked(), len(b.acks.s))
		}
		checkInUse(t, base, "after full ack")
	}
	if !raceEnabled {
		if a := testing.AllocsPerRun(3, func() {
			start := b.End()
			b.Write(data)
			for i := 1; i < frames; i += 2 {
				b.Ack(start+uint64(i*frame), frame)
			}
			b.Ack(start, frame*frames)
		}); a != 0 {
			t.Fatalf("%v allocations once the span set has grown", a)
		}
	}
	b.Release()
	checkInUse(t, base, "after Release")
}

func TestSendBufferReserveCommit(t *testing.T) {
	base := inUse()
	var b SendBuffer
	b.Init(2 * ChunkSize)
	b.Write(make([]byte, ChunkSize-3))
	p := b.Reserve(10)
	if len(p) != 3 { // stops at the chunk boundary
		t.Fatalf("Reserve at chunk end = %d bytes", len(p))
	}
	copy(p, "abc")
	b.Commit(2)
	if b.End() != ChunkSize-1 {
		t.Fatalf("End %d", b.End())
	}
	p = b.Reserve(100)
	copy(p, "xyz")
	b.Commit(1)
	b.Commit(0) // no reservation: no-op
	buf := make([]byte, 3)
	if n := b.ReadAt(buf, ChunkSize-3); n != 3 || string(buf) != "abx" {
		t.Fatalf("ReadAt = %q", buf[:n])
	}
	b.Write(make([]byte, b.Space()))
	if p := b.Reserve(10); p != nil {
		t.Fatal("Reserve on a full buffer")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Commit beyond the reservation did not panic")
			}
		}()
		b.Ack(0, b.End())
		p := b.Reserve(5)
		defer b.Commit(len(p))
		b.Commit(len(p) + 1)
	}()
	b.Release()
	checkInUse(t, base, "after Release")
}

func TestSendBufferReleaseReinit(t *testing.T) {
	base := inUse()
	var b SendBuffer
	b.Init(4 * ChunkSize)
	b.Write(make([]byte, 3*ChunkSize+5))
	b.Ack(0, 10)
	b.Release()
	b.Release()
	checkInUse(t, base, "after Release")
	b.Init(ChunkSize)
	if b.Write([]byte("hello")) != 5 || b.End() != 5 {
		t.Fatal("reused buffer")
	}
	b.Release()
	checkInUse(t, base, "after second Release")
}

// TestSendBufferReleaseDuringWrite releases while the producer keeps writing (and the transport
// acknowledging): the producer call in progress, if any, frees the chunks on its way out and
// later writes are refused.
func TestSendBufferReleaseDuringWrite(t *testing.T) {
	base := inUse()
	for i := 0; i < 300; i++ {
		var b SendBuffer
		b.Init(4 * ChunkSize)
		var released atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 3000)
			for b.Write(p) > 0 || !released.Load() {
			}
			if b.Space() != 0 || b.Write(p) != 0 {
				t.Error("released buffer accepts bytes")
			}
		}()
		for b.End() < uint64(i%11)*5000 {
			b.Ack(b.Acked(), 1000)
		}
		b.Release()
		released.Store(true)
		wg.Wait()
		checkInUse(t, base, "after Release during writes")
	}
}

// TestSendBufferConcurrent runs a producer writing a seeded random stream in random pieces
// against a transport goroutine that builds frames with ReadAt, "loses" some (reads them again)
// and acknowledges them in random order, sometimes twice. Every byte read must be the byte
// written at that offset, and all chunks must come back.
func TestSendBufferConcurrent(t *testing.T) {
	base := inUse()
	total := 8 << 20
	if testing.Short() || raceEnabled {
		total = 2 << 20
	}
	for _, seed := range []uint64{11, 12} {
		data := streamBytes(seed, total)
		var b SendBuffer
		b.Init(256 << 10)
		space := make(chan struct{}, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // producer
			defer wg.Done()
			r := newRand(seed)
			for off := 0; off < total; {
				n := b.Write(data[off:min(total, off+r.IntN(5000)+1)])
				off += n
				if n == 0 && b.Space() == 0 {
					<-space
				}
			}
		}()
		// Transport (this goroutine).
		r := newRand(seed + 100)
		type fr struct{ off, n uint64 }
		var inflight []fr
		buf := make([]byte, 1500)
		sent := uint64(0)
		for b.Acked() < uint64(total) {
			if e := b.End(); sent < e && (len(inflight) < 64 || r.IntN(2) == 0) {
				n := b.ReadAt(buf[:r.IntN(1400)+1], sent)
				if n == 0 || !bytes.Equal(buf[:n], data[sent:sent+uint64(n)]) {
					t.Fatalf("ReadAt(%d) = %d bytes, wrong", sent, n)
				}
				inflight = append(inflight, fr{sent, uint64(n)})
				sent += uint64(n)
				continue
			}
			if len(inflight) == 0 {
				runtime.Gosched()
				continue
			}
			i := r.IntN(len(inflight))
			f := inflight[i]
			switch r.IntN(8) {
			case 0: // lost: retransmit unless acknowledged meanwhile
				if !b.IsAcked(f.off, f.n) {
					n := b.ReadAt(buf[:f.n], f.off)
					if n != int(f.n) || !bytes.Equal(buf[:n], data[f.off:f.off+f.n]) {
						t.Fatalf("retransmission ReadAt(%d,%d) = %d, wrong", f.off, f.n, n)
					}
				}
				continue
			}
			inflight[i] = inflight[len(inflight)-1]
			inflight = inflight[:len(inflight)-1]
			adv := b.Ack(f.off, f.n)
			if r.IntN(8) == 0 { // acknowledged twice (another packet carried it too)
				if b.Ack(f.off, f.n) {
					t.Fatal("repeated Ack advanced the prefix")
				}
			}
			if adv { // wake the writer, who may be waiting for space
				select {
				case space <- struct{}{}:
				default:
				}
			}
		}
		wg.Wait()
		if b.End() != uint64(total) {
			t.Fatalf("End %d", b.End())
		}
		checkInUse(t, base, "after full ack")
		b.Release()
		checkInUse(t, base, "after Release")
	}
}

// TestSendBufferIdleReclaimRace hammers the hand-over of the idle chunk: small writes each
// acknowledged at once, so the buffer goes idle mid-chunk over and over while the producer
// writes again. After the last ack nothing may be held, without Release.
func TestSendBufferIdleReclaimRace(t *testing.T) {
	base := inUse()
	rounds := 200000
	if raceEnabled {
		rounds = 50000
	}
	var b SendBuffer
	b.Init(4 * ChunkSize)
	data := streamBytes(21, 64)
	done := make(chan struct{})
	var total uint64
	go func() {
		defer close(done)
		r := newRand(21)
		for i := 0; i < rounds; i++ {
			p := data[:r.IntN(63)+1]
			for len(p) > 0 {
				n := b.Write(p)
				p = p[n:]
				total += uint64(n)
				if n == 0 {
					runtime.Gosched()
				}
			}
		}
	}()
	buf := make([]byte, 64)
	for {
		a, e := b.Acked(), b.End()
		if a < e {
			n := b.ReadAt(buf, a)
			b.Ack(a, uint64(n))
			continue
		}
		select {
		case <-done:
			if b.Acked() == b.End() && b.End() == total {
				if b.held() != 0 {
					t.Fatalf("idle buffer holds %d chunks", b.held())
				}
				checkInUse(t, base, "idle after full ack")
				b.Release()
				return
			}
		default:
			runtime.Gosched()
		}
	}
}

func TestSendBufferEdgeCases(t *testing.T) {
	base := inUse()
	var b SendBuffer
	b.Init(ChunkSize)
	if b.Write(nil) != 0 || b.Reserve(0) != nil || b.tab.Load() != nil {
		t.Fatal("empty write or reservation took memory")
	}
	if b.IsAcked(MaxOffset-1, 2) || b.IsAcked(5, 1) || !b.IsAcked(5, 0) {
		t.Fatal("IsAcked out of range")
	}
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s did not panic", what)
			}
		}()
		f()
	}
	mustPanic("Commit without Reserve", func() { b.Commit(1) })
	p := b.Reserve(10)
	mustPanic("Write during a reservation", func() { b.Write(p) })
	b.Commit(0)
	b.Write([]byte("abc"))
	b.Release()
	if b.ReadAt(make([]byte, 3), 0) != 0 {
		t.Fatal("ReadAt after Release")
	}
	checkInUse(t, base, "after Release")
	var r RecvBuffer
	r.Init(ChunkSize)
	if r.SetFinalSize(MaxOffset) != ErrFinalSize {
		t.Fatal("final size out of range")
	}
}

// TestSendBufferClaimAheadKeepsBytes: the zeros the producer stores ahead of end never land on
// a byte it wrote. Writes of seeded random sizes (a prefix and a body, as a message) are read
// back in full after each one, and some end exactly on a chunk boundary, where the chunk of the
// write and the chunk of its end differ (claiming from the latter's start would zero the first
// bytes of the former). A Reserve/Commit and a reuse after Release are in the sequence too.
func TestSendBufferClaimAheadKeepsBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	var s SendBuffer
	s.Init(4 * ChunkSize)
	var want []byte
	var acked uint64
	check := func(step int) {
		t.Helper()
		got := make([]byte, s.End()-acked)
		if n := s.ReadAt(got, acked); n != len(got) || !bytes.Equal(got, want[acked:]) {
			t.Fatalf("step %d: bytes [%d, %d) differ from what was written", step, acked, s.End())
		}
	}
	write := func(p, q []byte) {
		if n := s.Write2(p, q); n != len(p)+len(q) {
			t.Fatalf("Write2 took %d of %d bytes", n, len(p)+len(q))
		}
		want = append(append(want, p...), q...)
	}
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32()) | 1 // never 0: a claimed byte shows
		}
		return b
	}
	for step := range 2000 {
		if room := ChunkSize - int(s.End()%ChunkSize); step%50 == 0 && room > 2 && s.Space() >= room {
			if room > 100 {
				write(fill(room-100), nil)
			}
			room = ChunkSize - int(s.End()%ChunkSize)
			write(fill(2), fill(room-2)) // a small write ending exactly on the chunk boundary
		} else if step%97 == 0 {
			r := s.Reserve(10)
			copy(r, fill(len(r)))
			want = append(want, r...)
			s.Commit(len(r))
		} else {
			body := fill(1 + rng.IntN(300))
			if s.Space() < len(body)+2 {
				s.Ack(acked, s.End()-acked)
				acked = s.End()
			}
			write(fill(2), body)
		}
		check(step)
	}
	s.Release()
	s.Init(4 * ChunkSize) // offsets start over under a frontier left high
	want, acked = want[:0], 0
	for step := range 100 {
		write(fill(2), fill(1+rng.IntN(64)))
		check(step)
	}
	s.Release()
}
