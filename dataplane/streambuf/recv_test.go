package streambuf

import (
	"bytes"
	"errors"
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

func TestRecvBufferIdleFootprint(t *testing.T) {
	base := inUse()
	if s := unsafe.Sizeof(RecvBuffer{}); s > 256 {
		t.Fatalf("unsafe.Sizeof(RecvBuffer{}) = %d, want <= 256", s)
	}
	var b RecvBuffer
	if a := testing.AllocsPerRun(10, func() { b.Init(1 << 20) }); a != 0 {
		t.Fatalf("Init allocates %v times, want 0", a)
	}
	if b.tab.Load() != nil || inUse() != base || b.Window() != 1<<20 {
		t.Fatal("Init took memory before the first Insert")
	}
	// Data entirely below the frontier (none here: empty) or empty data allocates nothing.
	if adv, err := b.Insert(5, nil); adv || err != nil || b.tab.Load() != nil {
		t.Fatal("empty Insert")
	}
	t.Logf("unsafe.Sizeof(RecvBuffer{}) = %d", unsafe.Sizeof(RecvBuffer{}))
}

// mustInsert inserts data[off:off+n] and checks the outcome.
func mustInsert(t *testing.T, b *RecvBuffer, data []byte, off, n int, wantAdv bool) {
	t.Helper()
	adv, err := b.Insert(uint64(off), data[off:off+n])
	if err != nil || adv != wantAdv {
		t.Fatalf("Insert(%d,%d) = %v, %v; want %v, nil", off, n, adv, err, wantAdv)
	}
}

func mustRead(t *testing.T, b *RecvBuffer, data []byte, n int) {
	t.Helper()
	r := int(b.ReadOffset())
	p := make([]byte, n)
	got := b.Read(p)
	want := min(n, int(b.Frontier())-r)
	if got != want || !bytes.Equal(p[:got], data[r:r+got]) {
		t.Fatalf("Read(%d) at %d = %d bytes (want %d) or wrong content", n, r, got, want)
	}
}

func TestRecvBufferInOrder(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(1 << 20)
	const total = 4*ChunkSize + 321
	data := streamBytes(31, total)
	for off := 0; off < total; off += 1200 {
		n := min(1200, total-off)
		mustInsert(t, &b, data, off, n, true)
		if b.Frontier() != uint64(off+n) || b.Readable() != off+n {
			t.Fatalf("Frontier %d Readable %d, want %d", b.Frontier(), b.Readable(), off+n)
		}
	}
	if b.held() != 5 {
		t.Fatalf("held %d chunks, want 5", b.held())
	}
	r := newRand(31)
	for b.Readable() > 0 {
		mustRead(t, &b, data, r.IntN(5000)+1)
		ro := b.ReadOffset()
		// Fully consumed chunks are gone; once everything is read nothing is held.
		want := chunksOver(ro/ChunkSize*ChunkSize, total)
		if ro == total {
			want = 0
		}
		if b.held() != want {
			t.Fatalf("read offset %d: held %d chunks, want %d", ro, b.held(), want)
		}
	}
	checkInUse(t, base, "idle after reading everything")
	if b.Read(make([]byte, 10)) != 0 {
		t.Fatal("Read past the frontier")
	}
	// Writing resumes mid-chunk into a fresh chunk.
	more := streamBytes(32, 10)
	if adv, err := b.Insert(total, more); !adv || err != nil {
		t.Fatal(adv, err)
	}
	p := make([]byte, 10)
	if b.Read(p) != 10 || !bytes.Equal(p, more) {
		t.Fatal("Read after idle reclaim")
	}
	b.Release()
	checkInUse(t, base, "after Release")
}

func TestRecvBufferOutOfOrder(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(1 << 20)
	data := streamBytes(33, 10*1200)
	// Reverse order: nothing readable until the first segment arrives.
	for i := 9; i >= 1; i-- {
		mustInsert(t, &b, data, i*1200, 1200, false)
		if b.Frontier() != 0 || b.Readable() != 0 {
			t.Fatal("frontier moved over a hole")
		}
	}
	if len(b.ranges.s) != 1 || b.high.Load() != 12000 {
		t.Fatalf("spans %v high %d", b.ranges.s, b.high.Load())
	}
	mustInsert(t, &b, data, 0, 1200, true)
	if b.Frontier() != 12000 || len(b.ranges.s) != 0 {
		t.Fatalf("Frontier %d spans %v", b.Frontier(), b.ranges.s)
	}
	mustRead(t, &b, data, 12000)
	// Holes far apart: only chunks that hold data are taken.
	far := streamBytes(34, 12*ChunkSize)
	var c RecvBuffer
	c.Init(12 * ChunkSize)
	mustInsert(t, &c, far, 10*ChunkSize+5, 100, false)
	mustInsert(t, &c, far, 3*ChunkSize-50, 100, false) // straddles chunks 2 and 3
	if c.held() != 3 {
		t.Fatalf("held %d chunks, want 3", c.held())
	}
	b.Release()
	c.Release()
	checkInUse(t, base, "after Release")
}

func TestRecvBufferDuplicatesAndOverlaps(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(1 << 20)
	a := streamBytes(35, 8000) // the first copy of every byte
	z := streamBytes(36, 8000) // a later, different copy: must never be seen
	mustInsert(t, &b, a, 0, 1000, true)
	mustRead(t, &b, a, 400)
	// Entirely below the read offset, then below the frontier: ignored.
	mustInsert(t, &b, z, 0, 300, false)
	mustInsert(t, &b, z, 500, 500, false)
	// Straddling the frontier: only [1000, 1500) is new, and it advances the frontier.
	mustInsert(t, &b, a, 600, 900, true)
	if b.Frontier() != 1500 {
		t.Fatalf("Frontier %d", b.Frontier())
	}
	// Two spans above the frontier, then one insert covering the gap, both spans, and beyond.
	mustInsert(t, &b, a, 2000, 100, false)
	mustInsert(t, &b, a, 2200, 100, false)
	ins := append([]byte(nil), z[1900:2400]...)
	copy(ins[100:200], a[2000:2100]) // what the gaps must contain after the merge:
	copy(ins[300:400], a[2200:2300]) // the spans keep their first copy
	if adv, err := b.Insert(1900, z[1900:2400]); adv || err != nil {
		t.Fatal(adv, err)
	}
	if len(b.ranges.s) != 1 || b.ranges.s[0] != (span{1900, 2400}) {
		t.Fatalf("spans %v", b.ranges.s)
	}
	// Exact duplicate of a held span: nothing changes.
	if adv, err := b.Insert(2000, z[2000:2100]); adv || err != nil || len(b.ranges.s) != 1 {
		t.Fatal("duplicate")
	}
	// Fill [1500, 1900): the frontier runs to 2400. Touching spans merge: [2400, 2500) next.
	mustInsert(t, &b, a, 2400, 100, false)
	if len(b.ranges.s) != 1 || b.ranges.s[0] != (span{1900, 2500}) {
		t.Fatalf("touching spans not merged: %v", b.ranges.s)
	}
	mustInsert(t, &b, a, 1500, 400, true)
	if b.Frontier() != 2500 || len(b.ranges.s) != 0 {
		t.Fatalf("Frontier %d spans %v", b.Frontier(), b.ranges.s)
	}
	want := append(append(append([]byte(nil), a[400:1900]...), ins...), a[2400:2500]...)
	p := make([]byte, 3000)
	if n := b.Read(p); n != 2100 || !bytes.Equal(p[:n], want) {
		t.Fatalf("Read %d bytes, content equal: %v", n, bytes.Equal(p[:min(n, len(want))], want[:min(n, len(want))]))
	}
	b.Release()
	checkInUse(t, base, "after Release")
}

func TestRecvBufferBeyondWindow(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(2 * ChunkSize)
	data := streamBytes(37, 4*ChunkSize)
	mustInsert(t, &b, data, 0, 100, true)
	mustInsert(t, &b, data, 2*ChunkSize-10, 10, false) // last byte of the window
	held, high := b.held(), b.high.Load()
	for _, c := range []struct{ off, n uint64 }{
		{2*ChunkSize - 10, 11}, {2 * ChunkSize, 1}, {50, 2 * ChunkSize}, {MaxOffset - 1, 2}, {1 << 63, 1},
	} {
		buf := make([]byte, c.n)
		if adv, err := b.Insert(c.off, buf); adv || !errors.Is(err, ErrBeyondWindow) {
			t.Fatalf("Insert(%d,%d) = %v, %v; want ErrBeyondWindow", c.off, c.n, adv, err)
		}
	}
	if b.held() != held || b.high.Load() != high || b.Frontier() != 100 || len(b.ranges.s) != 1 {
		t.Fatal("a refused Insert wrote something")
	}
	// Reading slides the window.
	mustRead(t, &b, data, 60)
	mustInsert(t, &b, data, 2*ChunkSize, 60, false)
	if _, err := b.Insert(2*ChunkSize+60, data[:1]); !errors.Is(err, ErrBeyondWindow) {
		t.Fatal("window slid too far")
	}
	b.Release()
	checkInUse(t, base, "after Release")
}

func TestRecvBufferTooFragmented(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(1 << 20)
	data := streamBytes(38, 2*MaxRanges+16)
	for i := 0; i < MaxRanges; i++ { // spans at 1, 3, 5, ...: MaxRanges holes
		mustInsert(t, &b, data, 2*i+1, 1, false)
	}
	held, high := b.held(), b.high.Load()
	if adv, err := b.Insert(2*MaxRanges+11, data[:5]); adv || !errors.Is(err, ErrTooFragmented) {
		t.Fatalf("one range too many: %v, %v", adv, err)
	}
	if b.held() != held || b.high.Load() != high || len(b.ranges.s) != MaxRanges {
		t.Fatal("a refused Insert wrote something")
	}
	// Extending, bridging or duplicating spans does not open a hole and is accepted.
	mustInsert(t, &b, data, 2*MaxRanges-1, 3, false) // extends the last span
	mustInsert(t, &b, data, 2, 3, false)             // bridges spans at 1, 3, 5
	if len(b.ranges.s) != MaxRanges-2 {
		t.Fatalf("%d spans", len(b.ranges.s))
	}
	mustInsert(t, &b, data, 2*MaxRanges+11, 5, false) // now fits
	mustInsert(t, &b, data, 0, 1, true)               // at the frontier: never refused
	if b.Frontier() != 6 {
		t.Fatalf("Frontier %d", b.Frontier())
	}
	b.Release()
	checkInUse(t, base, "after Release")
}

func TestRecvBufferPeekAndDiscardAcrossChunks(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(4 * ChunkSize)
	data := streamBytes(39, 3*ChunkSize)
	mustInsert(t, &b, data, 0, 3*ChunkSize, true)
	mustRead(t, &b, data, ChunkSize-2)
	p := make([]byte, 5)
	if n := b.Peek(p); n != 5 || !bytes.Equal(p, data[ChunkSize-2:ChunkSize+3]) {
		t.Fatalf("Peek across the chunk boundary = %d %v", n, p)
	}
	if b.ReadOffset() != ChunkSize-2 || b.Readable() != 2*ChunkSize+2 || b.held() != 3 {
		t.Fatal("Peek consumed")
	}
	if n := b.Discard(5); n != 5 || b.held() != 2 {
		t.Fatalf("Discard = %d, held %d", n, b.held())
	}
	mustRead(t, &b, data, 10)
	if n := b.Discard(1 << 30); n != 2*ChunkSize-13 || b.Readable() != 0 {
		t.Fatalf("Discard(all) = %d", n)
	}
	if n := b.Peek(p); n != 0 {
		t.Fatal("Peek past the frontier")
	}
	checkInUse(t, base, "idle after Discard")
	b.Release()
}

func TestRecvBufferFinalSize(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(4 * ChunkSize)
	data := streamBytes(40, 2000)
	mustInsert(t, &b, data, 500, 500, false)
	if err := b.SetFinalSize(900); !errors.Is(err, ErrFinalSize) {
		t.Fatalf("final size below received data: %v", err)
	}
	if err := b.SetFinalSize(5 * ChunkSize); !errors.Is(err, ErrBeyondWindow) {
		t.Fatalf("final size beyond the window: %v", err)
	}
	if err := b.SetFinalSize(1500); err != nil {
		t.Fatal(err)
	}
	if err := b.SetFinalSize(1500); err != nil {
		t.Fatal("repeated FIN:", err)
	}
	if err := b.SetFinalSize(1600); !errors.Is(err, ErrFinalSize) {
		t.Fatal("changed final size accepted")
	}
	if _, err := b.Insert(1400, data[:101]); !errors.Is(err, ErrFinalSize) {
		t.Fatalf("data beyond final size: %v", err)
	}
	if fs, ok := b.FinalSize(); !ok || fs != 1500 {
		t.Fatal("FinalSize")
	}
	mustInsert(t, &b, data, 1000, 500, false)
	mustInsert(t, &b, data, 0, 500, true)
	mustRead(t, &b, data, 1499)
	if b.EOF() {
		t.Fatal("EOF before the last byte")
	}
	mustRead(t, &b, data, 10)
	if !b.EOF() {
		t.Fatal("no EOF")
	}
	checkInUse(t, base, "idle at EOF")
	b.Release()
}

func TestRecvBufferRelease(t *testing.T) {
	base := inUse()
	var b RecvBuffer
	b.Init(4 * ChunkSize)
	data := streamBytes(41, 3*ChunkSize)
	mustInsert(t, &b, data, 0, 2*ChunkSize, true)
	mustInsert(t, &b, data, 2*ChunkSize+5, 100, false)
	b.Release()
	b.Release()
	checkInUse(t, base, "after Release")
	if b.Readable() != 0 || b.Read(make([]byte, 10)) != 0 || b.Peek(make([]byte, 1)) != 0 || b.Discard(5) != 0 {
		t.Fatal("released buffer readable")
	}
	if adv, err := b.Insert(2*ChunkSize, data[:5]); adv || err != nil || b.held() != 0 {
		t.Fatal("released buffer accepts data")
	}
	b.Init(ChunkSize)
	mustInsert(t, &b, data, 0, 10, true)
	b.Release()
	checkInUse(t, base, "after reuse and Release")
}

// TestRecvBufferReleaseConcurrent releases from the reader's goroutine while the transport is
// inserting and from the transport while the reader is reading: whoever leaves last frees.
func TestRecvBufferReleaseConcurrent(t *testing.T) {
	base := inUse()
	data := streamBytes(42, 1<<20)
	for i := 0; i < 100; i++ {
		var b RecvBuffer
		b.Init(4 * ChunkSize)
		var wg sync.WaitGroup
		wg.Add(2)
		stop := make(chan struct{})
		go func() { // transport
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				off := int(b.Frontier()) + k%3*1500 // mostly in order, some ahead
				if off+1000 > int(b.ReadOffset())+4*ChunkSize {
					runtime.Gosched()
					continue
				}
				src := data[off%(len(data)-1000):]
				b.Insert(uint64(off), src[:1000])
			}
		}()
		go func() { // reader
			defer wg.Done()
			p := make([]byte, 700)
			for k := 0; ; k++ {
				if b.Read(p) == 0 {
					select {
					case <-stop:
						return
					default:
						runtime.Gosched()
					}
				}
				if i%2 == 0 && k == i {
					b.Release() // the reader releases
				}
			}
		}()
		for b.ReadOffset() < uint64(i%20*3000) && b.g.s.Load()&gReleased == 0 {
			runtime.Gosched()
		}
		b.Release() // the transport side releases (or repeats it)
		close(stop)
		wg.Wait()
		checkInUse(t, base, "after concurrent Release")
	}
}

// TestRecvBufferConcurrent: the transport inserts a seeded permutation of the segments of a
// random stream (only those within the flow-control credit, with duplicates and overlapping
// retransmissions) while the reader reads with Read, Peek and Discard. The reader must see the
// stream exactly, and every chunk must come back.
func TestRecvBufferConcurrent(t *testing.T) {
	base := inUse()
	total := 8 << 20
	if testing.Short() || raceEnabled {
		total = 2 << 20
	}
	for _, seed := range []uint64{51, 52} {
		data := streamBytes(seed, total)
		const window = 256 << 10
		var b RecvBuffer
		b.Init(window)
		readable := make(chan struct{}, 1)
		credit := make(chan struct{}, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // transport
			defer wg.Done()
			r := newRand(seed)
			type seg struct{ off, n int }
			var segs []seg
			for off := 0; off < total; {
				n := min(r.IntN(1400)+1, total-off)
				segs = append(segs, seg{off, n})
				off += n
			}
			next := 0        // segments before next were made eligible
			var ready []seg  // eligible, not yet delivered, in random order
			var sentSegs int // for occasional duplicates of old segments
			for next < len(segs) || len(ready) > 0 {
				limit := int(b.ReadOffset()) + window
				for next < len(segs) && segs[next].off+segs[next].n <= limit && len(ready) < 200 {
					ready = append(ready, segs[next])
					next++
				}
				if len(ready) == 0 {
					<-credit
					continue
				}
				i := r.IntN(len(ready))
				s := ready[i]
				adv, err := b.Insert(uint64(s.off), data[s.off:s.off+s.n])
				switch {
				case errors.Is(err, ErrTooFragmented):
					continue // dropped: retransmitted later
				case err != nil:
					t.Errorf("Insert(%d,%d): %v", s.off, s.n, err)
					return
				}
				ready[i] = ready[len(ready)-1]
				ready = ready[:len(ready)-1]
				sentSegs++
				if r.IntN(10) == 0 { // duplicate or overlapping retransmission
					lo := max(0, s.off-r.IntN(2000))
					hi := min(s.off+s.n+r.IntN(2000), int(b.ReadOffset())+window, total)
					if lo < hi {
						if a2, err := b.Insert(uint64(lo), data[lo:hi]); err != nil && !errors.Is(err, ErrTooFragmented) {
							t.Errorf("overlap Insert(%d,%d): %v", lo, hi-lo, err)
							return
						} else {
							adv = adv || a2
						}
					}
				}
				if adv {
					select {
					case readable <- struct{}{}:
					default:
					}
				}
			}
		}()
		// Reader (this goroutine).
		r := newRand(seed + 7)
		p := make([]byte, 8000)
		for off := 0; off < total; {
			if b.Readable() == 0 {
				<-readable
				continue
			}
			n := r.IntN(len(p)) + 1
			var got int
			switch r.IntN(3) {
			case 0:
				got = b.Read(p[:n])
			case 1:
				got = b.Peek(p[:n])
				if b.Discard(got) != got {
					t.Fatal("Discard after Peek")
				}
			case 2:
				got = b.Peek(p[:min(n, 9)]) // a varint prefix, maybe straddling chunks
				if k := b.Read(p[:got]); k != got {
					t.Fatal("Read after Peek")
				}
			}
			if !bytes.Equal(p[:got], data[off:off+got]) {
				t.Fatalf("seed %d: wrong bytes at %d", seed, off)
			}
			off += got
			select {
			case credit <- struct{}{}:
			default:
			}
		}
		wg.Wait()
		if b.Frontier() != uint64(total) || b.ReadOffset() != uint64(total) {
			t.Fatalf("Frontier %d ReadOffset %d", b.Frontier(), b.ReadOffset())
		}
		checkInUse(t, base, "idle after reading everything")
		b.Release()
		checkInUse(t, base, "after Release")
	}
}

// TestRecvBufferIdleReclaimRace hammers the hand-over of the idle chunk: tiny in-order inserts
// read at once, plus duplicates, so the buffer goes idle mid-chunk over and over while the
// transport inserts again. After the reader catches up nothing may be held.
func TestRecvBufferIdleReclaimRace(t *testing.T) {
	base := inUse()
	rounds := 200000
	if raceEnabled {
		rounds = 50000
	}
	data := streamBytes(43, rounds*40)
	var b RecvBuffer
	b.Init(4 * ChunkSize)
	done := make(chan struct{})
	var total int
	go func() {
		defer close(done)
		r := newRand(43)
		for i := 0; i < rounds; i++ {
			n := r.IntN(39) + 1
			for int(b.ReadOffset())+4*ChunkSize < total+n {
				runtime.Gosched()
			}
			if _, err := b.Insert(uint64(total), data[total:total+n]); err != nil {
				t.Error(err)
				return
			}
			total += n
			if r.IntN(2) == 0 { // a duplicate, often arriving while the reader is idle
				b.Insert(uint64(max(0, total-50)), data[max(0, total-50):total])
			}
		}
	}()
	p := make([]byte, 64)
	for {
		if b.Read(p) > 0 {
			continue
		}
		select {
		case <-done:
			if b.Read(p) > 0 {
				continue
			}
			if b.ReadOffset() != uint64(total) {
				t.Fatalf("ReadOffset %d, want %d", b.ReadOffset(), total)
			}
			if b.held() != 0 {
				t.Fatalf("idle buffer holds %d chunks", b.held())
			}
			checkInUse(t, base, "idle after reading everything")
			b.Release()
			return
		default:
			runtime.Gosched()
		}
	}
}
