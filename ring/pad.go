package ring

// cacheLineSize is the coherence unit of amd64 and of most arm64 cores. Two
// fields that different cores write must not share one, or every write
// invalidates the other core's copy ("false sharing").
const cacheLineSize = 64

// padSize is two cache lines, not one, for two reasons:
//
//   - Intel's L2 spatial prefetcher (and similar logic on recent AMD cores)
//     pulls lines in 128-byte aligned pairs, so hot fields one line apart
//     still ping-pong through the prefetcher. rigtorp/SPSCQueue and Folly use
//     2*64 on x86 for this reason; Go's own internal/cpu uses 128 on arm64.
//   - The Go allocator does not align our structs to a cache line. Separating
//     two hot fields by a full 128 bytes guarantees they land in different
//     lines, and in different 128-byte pairs, whatever the start address.
//
// The cost is a few hundred bytes per ring, negligible next to the buffers.
const padSize = 2 * cacheLineSize

// pad separates fields written by different goroutines. It is used as a
// blank field (`_ pad`), so it is never read or written.
type pad [padSize]byte
