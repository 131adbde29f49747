//go:build !race

package streambuf

import "testing"

// TestSendBufferZeroAlloc: writing, reading for packets and acknowledging a send buffer allocates
// nothing once warm.
// (Not under the race detector: it makes sync.Pool drop items on purpose, so counts would mean
// nothing; make test runs this file in its Alloc pass.)
func TestSendBufferZeroAlloc(t *testing.T) {
	var b SendBuffer
	b.Init(1 << 20)
	p := make([]byte, 1200)
	buf := make([]byte, 1200)
	// In order: write, build a frame, acknowledge it.
	inOrder := func() {
		off := b.End()
		b.Write(p)
		b.ReadAt(buf, off)
		b.Ack(off, 1200)
	}
	// Out of order with 64 frames in flight: acknowledge the newer of each pair first.
	reordered := func() {
		off := b.End()
		b.Write(p)
		b.Write(p)
		b.ReadAt(buf, off)
		b.ReadAt(buf, off+1200)
		if off >= 64*1200 {
			b.Ack(off-64*1200+1200, 1200)
			b.Ack(off-64*1200, 1200)
		}
	}
	for _, c := range []struct {
		name string
		f    func()
	}{{"in order", inOrder}, {"reordered", reordered}} {
		for i := 0; i < 1000; i++ { // warm the pool and the span set
			c.f()
		}
		if a := testing.AllocsPerRun(5000, c.f); a != 0 {
			t.Errorf("%s: %v allocations per Write+ReadAt+Ack, want 0", c.name, a)
		}
	}
	b.Release()
}
