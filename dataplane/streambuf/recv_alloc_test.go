//go:build !race

package streambuf

import "testing"

// TestRecvBufferZeroAlloc: inserting, reading and releasing a receive buffer allocates nothing once warm.
// (Not under the race detector: it makes sync.Pool drop items on purpose, so counts would mean
// nothing; make test runs this file in its Alloc pass.)
func TestRecvBufferZeroAlloc(t *testing.T) {
	var b RecvBuffer
	b.Init(1 << 20)
	seg := streamBytes(44, 1200)
	p := make([]byte, 16*1200)
	inOrder := func() {
		b.Insert(b.Frontier(), seg)
		b.Read(p[:1200])
	}
	// 16 segments in a shuffled order (holes open and close), then one read.
	order := [16]int{3, 0, 7, 1, 12, 5, 2, 15, 9, 4, 11, 6, 14, 8, 13, 10}
	reordered := func() {
		base := b.Frontier()
		for _, k := range order {
			b.Insert(base+uint64(k)*1200, seg)
		}
		b.Read(p)
	}
	for _, c := range []struct {
		name string
		f    func()
	}{{"in order", inOrder}, {"reordered", reordered}} {
		for i := 0; i < 1000; i++ {
			c.f()
		}
		if a := testing.AllocsPerRun(3000, c.f); a != 0 {
			t.Errorf("%s: %v allocations per Insert+Read, want 0", c.name, a)
		}
	}
	b.Release()
}
