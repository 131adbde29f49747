//go:build !race

package objcodec

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
)

// A header that announces the cap and then sends nothing makes the decoder allocate for what
// arrived, not for what was announced.
func TestAllocFollowsReceivedBytes(t *testing.T) {
	wire := []byte{kindObject, 0, 0, 0, 0, 0x10, 0, 0, 0} // 256 MiB announced, cap 1 GiB
	var before, after runtimeMem
	before.read()
	_, _, err := NewDecoder(bytes.NewReader(wire), 1<<30, 0).ReadObject()
	after.read()
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("%v, want ErrTruncated", err)
	}
	if grew := after.totalAlloc - before.totalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes for an announced length with no content", grew)
	}
}

// runtimeMem is the part of runtime.MemStats the allocation checks read.
type runtimeMem struct{ totalAlloc uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.totalAlloc = s.TotalAlloc
}
