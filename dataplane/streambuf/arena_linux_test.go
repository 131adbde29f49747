//go:build linux && !race

package streambuf

import "testing"

// TestProcessArenaOffHeap: on Linux the buffers' chunks come from the process arena, outside
// the Go heap, and a trim gives their memory back to the kernel: a released chunk reads as
// zeros and the arena's backed bytes drop.
func TestProcessArenaOffHeap(t *testing.T) {
	a := processArena()
	if a == nil {
		t.Fatal("no process arena: the reservation failed")
	}
	c := getChunk()
	if _, ok := a.index(c); !ok {
		t.Fatalf("getChunk gave %p, outside the arena", c)
	}
	c[0], c[ChunkSize-1] = 0xAA, 0xBB
	putChunk(c)
	if OffHeapBytes() < ChunkSize {
		t.Fatalf("OffHeapBytes %d with a chunk touched", OffHeapBytes())
	}
	// Two passes with nothing taken between them: everything free is idle for a whole interval.
	a.trim()
	a.trim()
	if c[0] != 0 || c[ChunkSize-1] != 0 {
		t.Fatalf("the chunk still holds %x %x after the trims: its memory was not released", c[0], c[ChunkSize-1])
	}
	a.mu.Lock()
	nFree := a.nFree
	a.mu.Unlock()
	if _, backed := a.stats(); nFree != 0 || backed != OffHeapBytes() {
		t.Fatalf("%d chunks still free and backed after two trims (%d bytes backed)", nFree, backed)
	}
}
