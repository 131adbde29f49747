package streambuf

import (
	"runtime"
	"sync"
	"testing"
)

// TestRecvBufferGrowKeepsBytes grows a window while bytes sit in the buffer, some out of order
// and some straddling the old ring's wrap, and checks that every byte reads back, that data up to
// the new window is accepted and beyond it refused, and that chunks still go back to the pool.
func TestRecvBufferGrowKeepsBytes(t *testing.T) {
	base := inUse()
	const w = 4 * ChunkSize
	data := streamBytes(1, 64*ChunkSize)
	var b RecvBuffer
	b.Init(w)
	// Move the read offset into the middle of the ring so live chunks wrap around it.
	mustInsert(t, &b, data, 0, 3*ChunkSize+100, true)
	mustRead(t, &b, data, 3*ChunkSize+100)
	off := 3*ChunkSize + 100
	mustInsert(t, &b, data, off, ChunkSize, true)
	mustInsert(t, &b, data, off+2*ChunkSize, ChunkSize, false) // a hole below it
	b.Grow(w / 2)                                              // smaller: ignored
	if b.Window() != w {
		t.Fatalf("Window after a smaller Grow = %d, want %d", b.Window(), w)
	}
	b.Grow(4 * w)
	if b.Window() != 4*w {
		t.Fatalf("Window = %d, want %d", b.Window(), 4*w)
	}
	if _, err := b.Insert(uint64(off+4*w), data[:1]); err != ErrBeyondWindow {
		t.Fatalf("insert at readOff+window: %v, want ErrBeyondWindow", err)
	}
	mustInsert(t, &b, data, off+ChunkSize, ChunkSize, true) // fills the hole
	mustInsert(t, &b, data, off+3*ChunkSize, 4*w-3*ChunkSize, true)
	for read := off; read < off+4*w; {
		n := min(5000, off+4*w-read)
		mustRead(t, &b, data, n)
		read += n
	}
	releaseIdle(t, &b, base)
}

// TestSendBufferGrowKeepsBytes grows a send buffer holding unacknowledged bytes across the old
// ring's wrap and checks they read back and that the new capacity is usable.
func TestSendBufferGrowKeepsBytes(t *testing.T) {
	base := inUse()
	const c = 4 * ChunkSize
	data := streamBytes(2, 64*ChunkSize)
	var b SendBuffer
	b.Init(c)
	if n := b.Write(data[:3*ChunkSize+7]); n != 3*ChunkSize+7 {
		t.Fatalf("Write = %d", n)
	}
	b.Ack(0, 3*ChunkSize)
	end := b.Write(data[3*ChunkSize+7 : 3*ChunkSize+7+2*ChunkSize])
	end += 3*ChunkSize + 7
	b.Grow(c / 2)
	if b.Capacity() != c {
		t.Fatalf("Capacity after a smaller Grow = %d", b.Capacity())
	}
	b.Grow(4 * c)
	if b.Capacity() != 4*c || b.Space() != 4*c-(end-3*ChunkSize) {
		t.Fatalf("Capacity %d Space %d after Grow", b.Capacity(), b.Space())
	}
	end += b.Write(data[end : end+b.Space()])
	if b.Space() != 0 {
		t.Fatalf("Space = %d after filling", b.Space())
	}
	got := make([]byte, end-3*ChunkSize)
	if n := b.ReadAt(got, 3*ChunkSize); n != len(got) || string(got) != string(data[3*ChunkSize:end]) {
		t.Fatalf("ReadAt after Grow: %d bytes, equal %v", n, string(got) == string(data[3*ChunkSize:end]))
	}
	b.Ack(0, uint64(end))
	releaseIdle(t, &b, base)
}

// TestRecvBufferGrowConcurrentReader grows the window from the transport side while a reader
// consumes, as the session does; run under -race it checks the table swap excludes the reader.
func TestRecvBufferGrowConcurrentReader(t *testing.T) {
	base := inUse()
	const total = 256 * ChunkSize
	data := streamBytes(3, total)
	var b RecvBuffer
	b.Init(ChunkSize)
	var wg sync.WaitGroup
	wg.Add(1)
	var bad int
	go func() {
		defer wg.Done()
		p := make([]byte, 3000)
		for read := 0; read < total; {
			n := b.Read(p)
			if string(p[:n]) != string(data[read:read+n]) {
				bad++
			}
			read += n
		}
	}()
	r := newRand(3)
	for off := 0; off < total; {
		if w := b.Window(); w < 64*ChunkSize && r.IntN(8) == 0 {
			b.Grow(2 * w)
		}
		room := int(b.ReadOffset()) + b.Window() - off
		n := min(room, 1+r.IntN(4000), total-off)
		if n <= 0 {
			runtime.Gosched() // the reader frees room
			continue
		}
		if _, err := b.Insert(uint64(off), data[off:off+n]); err != nil {
			t.Fatalf("Insert at %d: %v", off, err)
		}
		off += n
	}
	wg.Wait()
	if bad != 0 {
		t.Fatalf("%d reads returned wrong bytes", bad)
	}
	b.Release()
	checkInUse(t, base, "after Release")
}
