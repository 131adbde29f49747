//go:build !linux || race

package streambuf

// processArena: outside Linux, and under the race detector (which watches only memory the Go
// runtime allocated, so a race on stream bytes stays visible), chunks live on the heap.
func processArena() *chunkArena { return nil }
