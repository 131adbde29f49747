//go:build !race

package streambuf

import "testing"

// TestSharedZeroAlloc: a broadcast of one 1200-byte message to 16 buffers (shared copy, one
// reference each, a packet's worth read back and acknowledged) allocates nothing in steady state.
func TestSharedZeroAlloc(t *testing.T) {
	var bufs [16]SendBuffer
	for i := range bufs {
		bufs[i].Init(1 << 20)
	}
	hdr, body := []byte{0x44, 0xb0}, make([]byte, 1200)
	pkt := make([]byte, 1202)
	round := func() {
		m := NewShared(hdr, body)
		for i := range bufs {
			off := bufs[i].End()
			bufs[i].WriteShared(m, 0, m.Len())
			bufs[i].ReadAt(pkt, off)
			bufs[i].Ack(off, uint64(m.Len()))
		}
		m.Release()
	}
	for i := 0; i < 1000; i++ {
		round()
	}
	if a := testing.AllocsPerRun(2000, round); a != 0 {
		t.Fatalf("%v allocations per shared broadcast to %d buffers, want 0", a, len(bufs))
	}
	for i := range bufs {
		bufs[i].Release()
	}
}
