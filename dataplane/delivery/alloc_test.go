//go:build !race

package delivery

import "testing"

func TestEntropyAllocatesNothing(t *testing.T) {
	msg := make([]byte, 1200)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	var sink float64
	if n := testing.AllocsPerRun(100, func() {
		sink += Entropy(msg)
		sink += float64(Retransmissions(ClassOf(sink).Target(), 0.2, 3))
	}); n != 0 {
		t.Fatalf("Entropy and Retransmissions allocate %v times per message", n)
	}
}
