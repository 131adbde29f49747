//go:build writeseeds

package streambuf

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzRecvBuffer, the hand-written scenarios the
// fuzzer starts from (in order, reverse order, MaxRanges holes, window edge, final size,
// overlaps with different content, Peek/Discard across a chunk, ring wrap). A tool, not a
// check, so it is built only with its tag: go test -tags writeseeds -run TestWriteFuzzSeeds
// ./dataplane/streambuf/
func TestWriteFuzzSeeds(t *testing.T) {
	seeds := map[string]fuzzOps{}
	var e fuzzOps
	const C = ChunkSize
	// In order, 1200-byte segments, read in odd sizes; crosses chunk boundaries, wraps the ring.
	for i := 0; i < 60; i++ {
		e.front(1200, 1)
		e.read(1000 + i*37)
	}
	e.read(65535)
	seeds["inorder"] = e

	e = nil
	// Reverse order inside the window, then the first segment, then read everything.
	for i := 9; i >= 1; i-- {
		e.large(i*3000, 3000, 2)
	}
	e.large(0, 3000, 2)
	e.read(20000)
	e.read(20000)
	seeds["reverse"] = e

	e = nil
	// MaxRanges holes, one too many, fill from the frontier.
	for k := 0; k <= 65; k++ {
		e.hole(k)
	}
	e.small(0, 1, 3)
	e.read(500)
	seeds["fragmented"] = e

	e = nil
	// Window edge: fill to exactly the window, one byte more, slide, retry.
	e.large(0, 2*C, 4)
	e.small(2*C, 1, 4)
	e.read(100)
	e.small(2*C-100, 100, 4)
	e.read(65535)
	seeds["window"] = e

	e = nil
	// Final size: below received data, beyond the window, set, repeat, change, data beyond it,
	// fill, read to EOF.
	e.large(0, 1000, 5)
	e.final(-600)
	e.final(40000)
	e.final(500)
	e.final(500)
	e.final(600)
	e.small(499, 10, 5)
	e.small(0, 200, 5)
	e.read(65535)
	e.large(0, 300, 5)
	e.read(65535)
	seeds["final"] = e

	e = nil
	// Duplicates and overlaps with different content, straddling the frontier.
	e.small(0, 100, 6)
	e.small(200, 100, 6)
	e.small(400, 100, 6)
	e.large(-50, 1000, 7)
	e.read(30)
	e.large(-2000, 3000, 8)
	e.small(-500, 100, 9)
	e.read(65535)
	seeds["overlap"] = e

	e = nil
	// Peek and discard across a chunk boundary.
	e.large(0, C+100, 9)
	e.discard(C - 3)
	e.peek(10)
	e.read(2)
	e.peek(5)
	e.discard(65535)
	e.front(10, 9)
	seeds["peek"] = e

	e = nil
	// Out-of-order far ahead while the reader drains: the idle chunk and ring wrap.
	for i := 0; i < 30; i++ {
		e.large(5000, 3000, byte(i))
		e.front(5000, byte(i))
		e.read(4000)
		e.discard(20000)
	}
	seeds["wrap"] = e

	dir := filepath.Join("testdata", "fuzz", "FuzzRecvBuffer")
	for name, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", string(s))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
