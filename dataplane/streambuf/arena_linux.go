//go:build linux && !race

package streambuf

import (
	"sync"

	"golang.org/x/sys/unix"
)

// processArena is the arena every buffer of the process takes its chunks from, reserved on
// first use. It is not used under the race detector, which watches only memory the Go runtime
// allocated: there chunks stay on the heap, so that a race on stream bytes is still reported.
var processArena = sync.OnceValue(func() *chunkArena {
	// The largest reservation the process is allowed: 64 GiB of address space (4 Mi chunks) costs
	// nothing until touched; under an address-space limit or strict overcommit, smaller ones.
	for _, n := range []uint32{4 << 20, 512 << 10, 64 << 10} {
		if a := newChunkArena(n, reserveChunks, releaseChunks); a != nil {
			return a
		}
	}
	return nil
})

// reserveChunks maps size bytes of private anonymous memory without reserving swap for it
// (MAP_NORESERVE): pages are backed when first written.
func reserveChunks(size int) ([]byte, error) {
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}

// releaseChunks hands the memory of b back to the kernel; the range stays mapped and reads as
// zeros when touched again. A failure leaves the memory backed, which costs memory, not
// correctness, so it is ignored.
func releaseChunks(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }
