package streambuf

import (
	"math/rand/v2"
	"testing"
)

// streamBytes returns n pseudo-random bytes determined by seed: the content of a test stream.
func streamBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8 && i+k < n; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0xfeed)) }

// inUse returns the chunks currently held by all buffers.
func inUse() int64 {
	n, _ := PoolStats()
	return n
}

// checkInUse fails if the process-wide chunk count is not want (leak check).
func checkInUse(t testing.TB, want int64, what string) {
	t.Helper()
	if got := inUse(); got != want {
		t.Fatalf("%s: chunks in use = %d, want %d", what, got, want)
	}
}

// chunksOver counts the chunks overlapping [lo, hi).
func chunksOver(lo, hi uint64) int {
	if lo >= hi {
		return 0
	}
	return int((hi-1)/ChunkSize - lo/ChunkSize + 1)
}

func (b *SendBuffer) held() int { return heldChunks(b.tab.Load()) }

// releaseIdle checks that b, with nothing left to read or acknowledge, holds no chunk, releases
// it, and checks that the pool's count is back to base.
func releaseIdle(t testing.TB, b interface {
	held() int
	Release()
}, base int64) {
	t.Helper()
	if h := b.held(); h != 0 {
		t.Fatalf("idle buffer holds %d chunks", h)
	}
	b.Release()
	checkInUse(t, base, "after Release")
}
func (b *RecvBuffer) held() int { return heldChunks(b.tab.Load()) }
