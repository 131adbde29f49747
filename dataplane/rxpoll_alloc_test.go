//go:build !race

package dataplane

import "testing"

// The poll path allocates nothing: an empty poll, and a poll that reads a datagram and runs it
// through the RX code (the packet path itself is counted by the receive tests).
func TestAllocsPollRx(t *testing.T) {
	e, from := pollEngine(t)
	if a := testing.AllocsPerRun(200, func() { e.pollRx() }); a != 0 {
		t.Fatalf("empty poll: %v allocations", a)
	}
	if a := testing.AllocsPerRun(200, func() {
		sendJunk(t, from, e)
		if e.pollRx() == 0 {
			t.Error("the datagram just sent was not polled")
		}
	}); a != 0 {
		t.Fatalf("poll of a datagram: %v allocations", a)
	}
}
