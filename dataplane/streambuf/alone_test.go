package streambuf

import (
	"encoding/binary"
	"runtime"
	"sync"
	"testing"

	"github.com/sttfast/sttfast/frame"
)

// TestAloneExcludes: a caller inside alone keeps every other application caller out (alone or
// holding), a holder keeps callers alone out, the transport side goes on under both, and
// nobody enters alone after Release.
func TestAloneExcludes(t *testing.T) {
	var b RecvBuffer
	b.Init(4 * ChunkSize)
	if !b.TryEnterAlone() {
		t.Fatal("an empty buffer refused a reader alone")
	}
	if b.TryEnterAlone() || b.g.tryHold() {
		t.Fatal("a second reader got in beside one inside alone")
	}
	if _, err := b.Insert(0, encodeMessages([][]byte{[]byte("one"), []byte("two")})); err != nil {
		t.Fatal(err)
	}
	m, used, ok := b.ReadMessageAlone(nil, 100, b.Frontier())
	if !ok || string(m) != "one" || used != 4 {
		t.Fatalf("ReadMessageAlone = %q, %d, %v", m, used, ok)
	}
	b.LeaveAlone()
	b.Hold()
	if b.TryEnterAlone() {
		t.Fatal("a reader alone got in while another held the buffer")
	}
	if m, _, ok := b.ReadMessage(nil, 100, b.Frontier()); !ok || string(m) != "two" {
		t.Fatalf("the holder's ReadMessage = %q, %v", m, ok)
	}
	if _, err := b.Insert(8, []byte{3, 'x', 'y', 'z'}); err != nil {
		t.Fatal(err)
	}
	b.Unhold()
	if !b.TryEnterAlone() {
		t.Fatal("a reader alone was refused after the hold ended")
	}
	b.LeaveAlone()
	b.Release()
	if b.TryEnterAlone() {
		t.Fatal("a reader alone got into a released buffer")
	}

	var s SendBuffer
	s.Init(ChunkSize)
	if !s.TryEnterAlone() {
		t.Fatal("an empty buffer refused a writer alone")
	}
	if s.TryEnterAlone() || s.TryHold() {
		t.Fatal("a second writer got in beside one inside alone")
	}
	if n := s.Write2Alone([]byte{3}, []byte("abc")); n != 4 || s.End() != 4 {
		t.Fatalf("Write2Alone wrote %d, end %d", n, s.End())
	}
	s.LeaveAlone()
	if !s.TryHold() || s.TryEnterAlone() {
		t.Fatal("a hold did not keep a writer alone out")
	}
	s.Unhold()
	s.Release()
	if s.TryEnterAlone() {
		t.Fatal("a writer alone got into a released buffer")
	}
}

// TestHoldIdleReclaimAndRelease: a hold is not a call inside the buffer, so the idle chunk is
// given back while someone holds it, and Release frees everything at once.
func TestHoldIdleReclaimAndRelease(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(4 * ChunkSize)
	b.Hold()
	b.Insert(0, make([]byte, 100))
	if b.Read(make([]byte, 100)) != 100 || b.held() != 0 {
		t.Fatalf("the holder read everything, yet the buffer holds %d chunks", b.held())
	}
	b.Insert(100, make([]byte, 10))
	b.Release()
	checkInUse(t, base, "receive buffer released while held")
	b.Unhold()

	var s SendBuffer
	s.Init(ChunkSize)
	s.Hold()
	s.Write(make([]byte, 100))
	s.Ack(0, 100) // the transport, while the producer holds the buffer between calls
	if s.held() != 0 {
		t.Fatalf("everything acknowledged under a hold, yet the buffer holds %d chunks", s.held())
	}
	s.Write(make([]byte, 10))
	s.Release()
	checkInUse(t, base, "send buffer released while held")
	s.Unhold()
}

// TestAloneAndHeldWriters: two producers, one writing each message alone and one under a lock
// of its own with Hold (as a stream's writeAlone and its locked writers do), against a
// transport that reads and acknowledges whatever is written. Every message arrives whole, each
// producer's in its order, none twice, and the race detector sees no unordered access.
func TestAloneAndHeldWriters(t *testing.T) {
	const perWriter = 20000
	n := perWriter
	if raceEnabled {
		n = perWriter / 4
	}
	base := inUse()
	var b SendBuffer
	b.Init(2 * ChunkSize)
	var mu sync.Mutex // the held writer's own lock
	var wg sync.WaitGroup
	msg := func(w, i int) []byte {
		var m [16]byte
		binary.LittleEndian.PutUint64(m[:], uint64(w))
		binary.LittleEndian.PutUint64(m[8:], uint64(i))
		return m[:]
	}
	wg.Add(2)
	go func() { // alone: enter, write if it fits, leave; otherwise try again
		defer wg.Done()
		hdr := []byte{16}
		for i := 0; i < n; {
			if b.TryEnterAlone() {
				if b.Space() >= 17 {
					b.Write2Alone(hdr, msg(0, i))
					i++
				}
				b.LeaveAlone()
			}
			runtime.Gosched()
		}
	}()
	go func() { // held: lock, hold, write whole messages while they fit
		defer wg.Done()
		hdr := []byte{16}
		for i := 0; i < n; {
			mu.Lock()
			b.Hold()
			for i < n && b.Space() >= 17 {
				b.Write2(hdr, msg(1, i))
				i++
			}
			b.Unhold()
			mu.Unlock()
			runtime.Gosched()
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	next := [2]uint64{}
	var pending []byte
	buf := make([]byte, ChunkSize)
	for total := 0; total < 2*n; {
		a, e := b.Acked(), b.End()
		if a == e {
			select {
			case <-done:
				if b.End() == a {
					t.Fatalf("writers finished after %d of %d messages", total, 2*n)
				}
			default:
			}
			runtime.Gosched()
			continue
		}
		k := b.ReadAt(buf[:min(uint64(len(buf)), e-a)], a)
		pending = append(pending, buf[:k]...)
		b.Ack(a, uint64(k))
		for len(pending) >= 17 {
			if v, _, err := frame.ReadVarint(pending); err != nil || v != 16 {
				t.Fatalf("message %d: length %d (%v), want 16", total, v, err)
			}
			w := binary.LittleEndian.Uint64(pending[1:])
			i := binary.LittleEndian.Uint64(pending[9:])
			if w > 1 || i != next[w] {
				t.Fatalf("message %d: writer %d's message %d, want its %d", total, w, i, next[min(w, 1)])
			}
			next[w]++
			pending = pending[17:]
			total++
		}
	}
	<-done
	if b.held() != 0 {
		t.Fatalf("everything acknowledged, yet the buffer holds %d chunks", b.held())
	}
	b.Release()
	checkInUse(t, base, "after Release")
}

// TestAloneAndHeldReaders is TestAloneAndHeldWriters for the receive side: a transport
// inserts numbered messages in pieces that cut them anywhere, one reader takes them alone and
// another under its lock with Hold; between them they read every message exactly once, each
// reader in increasing order.
func TestAloneAndHeldReaders(t *testing.T) {
	const count = 40000
	n := count
	if raceEnabled {
		n = count / 4
	}
	base := inUse()
	var msgs [][]byte
	for i := range n {
		m := make([]byte, 8+i%50)
		binary.LittleEndian.PutUint64(m, uint64(i))
		msgs = append(msgs, m)
	}
	data := encodeMessages(msgs)
	var b RecvBuffer
	b.Init(2 * ChunkSize)
	inserted := make(chan struct{})
	go func() {
		defer close(inserted)
		r := newRand(7)
		for off := 0; off < len(data); {
			k := min(r.IntN(300)+1, len(data)-off)
			for int(b.ReadOffset())+2*ChunkSize < off+k {
				runtime.Gosched()
			}
			if _, err := b.Insert(uint64(off), data[off:off+k]); err != nil {
				t.Error(err)
				return
			}
			off += k
		}
	}()
	var mu sync.Mutex // the held reader's own lock
	var got [2][]uint64
	var wg sync.WaitGroup
	wg.Add(2)
	finished := func() bool { return b.ReadOffset() == uint64(len(data)) }
	go func() {
		defer wg.Done()
		buf := make([]byte, 0, 64)
		for !finished() {
			if b.TryEnterAlone() {
				var ok bool
				if buf, _, ok = b.ReadMessageAlone(buf[:0], 64, b.Frontier()); ok {
					got[0] = append(got[0], binary.LittleEndian.Uint64(buf))
				}
				b.LeaveAlone()
			}
			runtime.Gosched()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 0, 64)
		for !finished() {
			mu.Lock()
			b.Hold()
			for {
				var ok bool
				if buf, _, ok = b.ReadMessage(buf[:0], 64, b.Frontier()); !ok {
					break
				}
				got[1] = append(got[1], binary.LittleEndian.Uint64(buf))
			}
			b.Unhold()
			mu.Unlock()
			runtime.Gosched()
		}
	}()
	wg.Wait()
	<-inserted // its last Insert may still be leaving, and giving the idle chunk back
	seen := make([]bool, n)
	for r := range got {
		for k, i := range got[r] {
			if k > 0 && i <= got[r][k-1] {
				t.Fatalf("reader %d read message %d after %d", r, i, got[r][k-1])
			}
			if seen[i] {
				t.Fatalf("message %d read twice", i)
			}
			seen[i] = true
		}
	}
	if len(got[0])+len(got[1]) != n {
		t.Fatalf("read %d + %d messages, want %d", len(got[0]), len(got[1]), n)
	}
	if b.held() != 0 {
		t.Fatalf("everything read, yet the buffer holds %d chunks", b.held())
	}
	b.Release()
	checkInUse(t, base, "after Release")
}
