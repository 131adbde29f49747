package streambuf

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
)

// writeSharedMsgs writes data to b as shared messages of random sizes (1 to maxLen bytes, each
// its own Shared, the caller's reference given back at once) until Space or the ring stops it,
// and returns the offset reached.
func writeSharedMsgs(b *SendBuffer, data []byte, off int, r interface{ IntN(int) int }, maxLen int) int {
	for off < len(data) {
		n := min(len(data)-off, r.IntN(maxLen)+1)
		m := NewShared(data[off:off+1], data[off+1:off+n])
		k := b.WriteShared(m, 0, m.Len())
		m.Release()
		if k == 0 {
			break
		}
		off += k
		if k < n { // the rest of the message did not fit: the stream must not skip it
			break
		}
	}
	return off
}

func TestSharedWriteReadAtAck(t *testing.T) {
	for _, maxLen := range []int{5000, 60} { // large messages split in pieces; small ones grow the ring
		testSharedWriteReadAtAck(t, maxLen)
	}
}

func testSharedWriteReadAtAck(t *testing.T, maxLen int) {
	base, baseShared := inUse(), SharedInUse()
	var b SendBuffer
	b.Init(4 * ChunkSize)
	data := streamBytes(31, 1<<20)
	r := newRand(31)
	buf := make([]byte, 3000)
	off, acked := 0, 0
	for acked < len(data) {
		off = writeSharedMsgs(&b, data, off, r, maxLen)
		if b.RefsNeedGrow() {
			b.GrowRefs()
			continue
		}
		if b.End() != uint64(off) {
			t.Fatalf("End %d, want %d", b.End(), off)
		}
		// Read a few random ranges of what is unacknowledged, across pieces and messages.
		for i := 0; i < 4 && off > acked; i++ {
			lo := acked + r.IntN(off-acked)
			n := b.ReadAt(buf[:r.IntN(len(buf))+1], uint64(lo))
			if n == 0 || !bytes.Equal(buf[:n], data[lo:lo+n]) {
				t.Fatalf("ReadAt(%d) = %d bytes, wrong", lo, n)
			}
		}
		// Acknowledge a random span above the prefix, then the prefix up to it.
		if off > acked {
			hi := acked + r.IntN(off-acked) + 1
			mid := acked + (hi-acked)/2
			b.Ack(uint64(mid), uint64(hi-mid))
			b.Ack(uint64(acked), uint64(mid-acked))
			if b.Acked() != uint64(hi) {
				t.Fatalf("Acked %d, want %d", b.Acked(), hi)
			}
			acked = hi
		}
	}
	if got := SharedInUse(); got != baseShared {
		t.Fatalf("after everything was acknowledged %d shared copies live, want %d", got, baseShared)
	}
	checkInUse(t, base, "shared buffer")
	if maxLen < 100 && b.refSlots() == minRefSlots {
		t.Fatal("small messages never grew the reference ring")
	}
	b.Release()
}

func TestSharedReleaseGivesBackReferences(t *testing.T) {
	baseShared := SharedInUse()
	var b SendBuffer
	b.Init(ChunkSize)
	m := NewShared([]byte{5}, []byte("hello"))
	for i := 0; i < 10; i++ {
		if k := b.WriteShared(m, 0, m.Len()); k != m.Len() {
			t.Fatalf("WriteShared = %d", k)
		}
	}
	b.Ack(6, 6) // the second copy: not a prefix, nothing released
	if got := m.refs.Load(); got != 11 {
		t.Fatalf("refs %d, want 11 (the caller's and ten buffer references)", got)
	}
	b.Ack(0, 6)
	if got := m.refs.Load(); got != 9 {
		t.Fatalf("refs %d after the first two were acknowledged, want 9", got)
	}
	b.Release()
	if got := m.refs.Load(); got != 1 {
		t.Fatalf("refs %d after Release, want 1", got)
	}
	if k := b.WriteShared(m, 0, m.Len()); k != 0 {
		t.Fatalf("WriteShared after Release = %d", k)
	}
	m.Release()
	if got := SharedInUse(); got != baseShared {
		t.Fatalf("%d shared copies live, want %d", got, baseShared)
	}
}

// TestSharedRingBound: a buffer whose peer never acknowledges holds at most maxRefSlots
// references however many messages are offered: that, with its byte capacity, bounds the
// shared copies a slow session can pin.
func TestSharedRingBound(t *testing.T) {
	baseShared := SharedInUse()
	var b SendBuffer
	b.Init(64 << 10)
	limit := maxRefSlots(64 << 10)
	taken := 0
	for i := 0; i < 10*limit; i++ {
		m := NewShared([]byte{1}, []byte{byte(i)})
		if b.RefsNeedGrow() {
			b.GrowRefs()
		}
		if b.WriteShared(m, 0, 2) == 2 {
			taken++
		}
		m.Release()
	}
	if taken != limit || b.RefRoom() || b.RefsNeedGrow() {
		t.Fatalf("took %d two-byte messages (want %d), room %v, may grow %v", taken, limit, b.RefRoom(), b.RefsNeedGrow())
	}
	if got := SharedInUse() - baseShared; got != int64(limit) {
		t.Fatalf("%d shared copies pinned, want %d", got, limit)
	}
	b.Ack(0, 2*8) // frees eight slots
	if !b.RefRoom() {
		t.Fatal("no room after acknowledgements")
	}
	b.Release()
	if got := SharedInUse(); got != baseShared {
		t.Fatalf("%d shared copies live after Release, want %d", got, baseShared)
	}
}

func TestSharedNoMixing(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	m := NewShared([]byte{3}, []byte("abc"))
	defer m.Release()
	var a SendBuffer
	a.Init(ChunkSize)
	a.Write([]byte("x"))
	mustPanic("WriteShared after Write", func() { a.WriteShared(m, 0, 4) })
	var b SendBuffer
	b.Init(ChunkSize)
	b.WriteShared(m, 0, 4)
	mustPanic("Write after WriteShared", func() { b.Write([]byte("x")) })
	b.Release()
}

// TestSharedConcurrent: one producer writes shared messages into two buffers (a broadcast to two
// sessions) while each buffer's transport, on its own goroutine, reads, loses, retransmits and
// acknowledges, as TestSendBufferConcurrent does for copied bytes; the race detector watches the
// shared copies and the reference rings.
func TestSharedConcurrent(t *testing.T) {
	baseShared := SharedInUse()
	total := 4 << 20
	if testing.Short() || raceEnabled {
		total = 1 << 20
	}
	data := streamBytes(41, total)
	var bufs [2]SendBuffer
	var mu [2]sync.Mutex // the session lock: held by the transport, and by GrowRefs
	var space [2]chan struct{}
	for i := range bufs {
		bufs[i].Init(64 << 10)
		space[i] = make(chan struct{}, 1)
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // producer: the broadcaster
		defer wg.Done()
		r := newRand(41)
		for off := 0; off < total; {
			n := min(total-off, r.IntN(3000)+1)
			if r.IntN(2) == 0 { // small messages too, so the reference rings must grow
				n = min(total-off, r.IntN(40)+2)
			}
			m := NewShared(data[off:off+1], data[off+1:off+n])
			for i := range bufs {
				for from := 0; from < n; {
					if bufs[i].RefsNeedGrow() {
						mu[i].Lock()
						bufs[i].GrowRefs()
						mu[i].Unlock()
					}
					k := bufs[i].WriteShared(m, from, n-from)
					from += k
					if k == 0 {
						<-space[i]
					}
				}
			}
			m.Release()
			off += n
		}
	}()
	for i := range bufs {
		go func() { // transport i
			defer wg.Done()
			b := &bufs[i]
			r := newRand(uint64(50 + i))
			type fr struct{ off, n uint64 }
			var inflight []fr
			buf := make([]byte, 1500)
			sent := uint64(0)
			for b.Acked() < uint64(total) {
				mu[i].Lock()
				if e := b.End(); sent < e && (len(inflight) < 64 || r.IntN(2) == 0) {
					n := b.ReadAt(buf[:r.IntN(1400)+1], sent)
					if n == 0 || !bytes.Equal(buf[:n], data[sent:sent+uint64(n)]) {
						mu[i].Unlock()
						t.Errorf("buffer %d: ReadAt(%d) = %d bytes, wrong", i, sent, n)
						return
					}
					inflight = append(inflight, fr{sent, uint64(n)})
					sent += uint64(n)
					mu[i].Unlock()
					continue
				}
				if len(inflight) == 0 {
					mu[i].Unlock()
					runtime.Gosched()
					continue
				}
				j := r.IntN(len(inflight))
				f := inflight[j]
				if r.IntN(8) == 0 { // lost: retransmit
					n := b.ReadAt(buf[:f.n], f.off)
					mu[i].Unlock()
					if n != int(f.n) || !bytes.Equal(buf[:n], data[f.off:f.off+f.n]) {
						t.Errorf("buffer %d: retransmission ReadAt(%d,%d) = %d, wrong", i, f.off, f.n, n)
						return
					}
					continue
				}
				inflight[j] = inflight[len(inflight)-1]
				inflight = inflight[:len(inflight)-1]
				adv := b.Ack(f.off, f.n)
				mu[i].Unlock()
				if adv {
					select {
					case space[i] <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	wg.Wait()
	for i := range bufs {
		if bufs[i].refSlots() == minRefSlots {
			t.Errorf("buffer %d: the reference ring never grew", i)
		}
		bufs[i].Release()
	}
	if got := SharedInUse(); got != baseShared {
		t.Fatalf("%d shared copies live after both buffers were acknowledged, want %d", got, baseShared)
	}
}

// refSlots is the size of the reference ring, 0 before the first WriteShared (tests).
func (b *SendBuffer) refSlots() int {
	if r := b.refs.Load(); r != nil {
		return len(r.slots)
	}
	return 0
}
