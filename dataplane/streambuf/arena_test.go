package streambuf

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

// heapRegion stands in for the mmap reservation: the arena's rules do not depend on where its
// region comes from, and a heap region keeps these tests under the race detector's eye.
func heapRegion(size int) ([]byte, error) { return make([]byte, size), nil }

// testArena returns an arena of n chunks over a heap region whose releases zero the bytes (as
// MADV_DONTNEED does) and are recorded as [first, last] chunk runs.
func testArena(t *testing.T, n uint32) (*chunkArena, *[][2]uint32) {
	t.Helper()
	var runs [][2]uint32
	var a *chunkArena
	a = newChunkArena(n, heapRegion, func(b []byte) {
		first, _ := a.index((*chunk)(b[:ChunkSize]))
		runs = append(runs, [2]uint32{first, first + uint32(len(b)/ChunkSize) - 1})
		clear(b)
	})
	if a == nil {
		t.Fatal("no arena over a heap region")
	}
	t.Cleanup(func() { a.timer.Stop() })
	return a, &runs
}

// TestArenaTakesOldestFreeFirst: every chunk of the region is handed out once before the region
// is used up, a free chunk is taken back in the order it was given (the one freed longest ago
// first), and memory outside the region is refused.
func TestArenaTakesOldestFreeFirst(t *testing.T) {
	a, _ := testArena(t, 8)
	seen := map[*chunk]bool{}
	var taken []*chunk
	for range 8 {
		c := a.take()
		if c == nil || seen[c] {
			t.Fatalf("take %d: %p (already handed out: %v)", len(taken), c, seen[c])
		}
		if _, ok := a.index(c); !ok {
			t.Fatalf("take %d: %p outside the region", len(taken), c)
		}
		seen[c] = true
		taken = append(taken, c)
	}
	if c := a.take(); c != nil {
		t.Fatalf("a ninth chunk from an arena of 8: %p", c)
	}
	for _, k := range []int{5, 2, 7} {
		if !a.give(taken[k]) {
			t.Fatalf("chunk %d refused", k)
		}
	}
	for _, k := range []int{5, 2, 7} {
		if c := a.take(); c != taken[k] {
			t.Fatalf("took %p, want chunk %d (%p), the oldest free", c, k, taken[k])
		}
	}
	if a.give(new(chunk)) {
		t.Fatal("the arena took a heap chunk")
	}
	if made, backed := a.stats(); made != 8 || backed != 8*ChunkSize {
		t.Fatalf("made %d, backed %d bytes; want 8 and %d", made, backed, 8*ChunkSize)
	}
}

// TestArenaTrimReleasesIdleChunks: a trim releases as many free chunks as stayed unused through
// the whole interval since the last one, the oldest, coalesced into runs; a released chunk is
// reused before new address space and counts as made again; a chunk taken meanwhile is never
// released.
func TestArenaTrimReleasesIdleChunks(t *testing.T) {
	a, runs := testArena(t, 16)
	var cs [6]*chunk
	for i := range cs {
		cs[i] = a.take()
		cs[i][100] = byte(i + 1)
	}
	a.give(cs[0]) // arms the trim: one chunk free from the interval's start
	a.give(cs[1])
	a.give(cs[2])
	a.trim() // only cs[0] was free the whole interval
	if len(*runs) != 1 || (*runs)[0] != [2]uint32{0, 0} {
		t.Fatalf("first trim released %v, want chunk 0 alone", *runs)
	}
	if cs[0][100] != 0 || cs[1][100] != 2 {
		t.Fatal("the release did not reach chunk 0, or reached chunk 1")
	}
	if c := a.take(); c != cs[1] { // the next interval dips to one free chunk
		t.Fatalf("took %p, want chunk 1, the oldest free", c)
	}
	a.trim() // cs[2] stayed free
	if len(*runs) != 2 || (*runs)[1] != [2]uint32{2, 2} {
		t.Fatalf("second trim released %v, want chunk 2 next", *runs)
	}
	if a.armed {
		t.Fatal("still armed with no backed free chunk")
	}
	a.give(cs[3])
	a.give(cs[4])
	a.give(cs[5])
	a.trim() // armed at cs[3]: only it counts
	a.trim() // cs[4] and cs[5], one run
	if got := (*runs)[2:]; len(got) != 2 || got[0] != [2]uint32{3, 3} || got[1] != [2]uint32{4, 5} {
		t.Fatalf("runs %v: want [3 3] [4 5] after the first two", *runs)
	}
	made0, backed0 := a.stats()
	if backed0 != ChunkSize { // of the 6 made, 5 released; cs[1] is still out
		t.Fatalf("%d bytes backed, want %d", backed0, ChunkSize)
	}
	c := a.take()
	if _, ok := a.index(c); !ok || c == cs[1] {
		t.Fatalf("took %p after the trims, want a released chunk", c)
	}
	if made, _ := a.stats(); made != made0+1 {
		t.Fatalf("made %d after reusing a released chunk, want %d", made, made0+1)
	}
	if i, _ := a.index(c); i > 5 {
		t.Fatalf("took chunk %d, new address space, while released chunks were free", i)
	}
}

// TestArenaRefusesWithoutReservation: a reservation that fails leaves no arena, and the pool
// then takes heap chunks (getChunk's fallback).
func TestArenaRefusesWithoutReservation(t *testing.T) {
	fail := func(int) ([]byte, error) { return nil, errors.New("ENOMEM") }
	if a := newChunkArena(8, fail, nil); a != nil {
		t.Fatal("an arena without a reservation")
	}
}

// TestArenaConcurrent: goroutines take, write, check and give chunks at random while trims run;
// a chunk handed out to two at once would show another goroutine's bytes.
func TestArenaConcurrent(t *testing.T) {
	a, _ := testArena(t, 64)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var held []*chunk
			for i := range 20000 {
				if len(held) > 0 && (len(held) >= 8 || rng.IntN(2) == 0) {
					k := rng.IntN(len(held))
					c := held[k]
					if c[9] != byte(g) || c[ChunkSize-1] != byte(g) {
						t.Errorf("goroutine %d: its chunk holds %d/%d", g, c[9], c[ChunkSize-1])
						return
					}
					held = append(held[:k], held[k+1:]...)
					a.give(c)
					continue
				}
				if c := a.take(); c != nil {
					c[9], c[ChunkSize-1] = byte(g), byte(g)
					held = append(held, c)
				}
				if g == 0 && i%1000 == 0 {
					a.trim()
				}
			}
			for _, c := range held {
				a.give(c)
			}
		}()
	}
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	if free := a.nFree + len(a.cold); uint32(free) != a.fresh {
		t.Fatalf("%d chunks free (%d backed, %d released) of %d handed out: some went missing", free, a.nFree, len(a.cold), a.fresh)
	}
}
