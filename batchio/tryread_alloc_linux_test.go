//go:build !race && !batchio_portable

package batchio

import "testing"

// A poll that finds nothing and a poll that reads a datagram allocate nothing.
func TestZeroAllocTryReadBatch(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true}, Options{RecvBuffer: testRecvBuf})
	out := NewSlab(1, 100).Messages()
	out[0].N, out[0].Addr = 100, rx.LocalAddr()
	in := NewSlab(maxPollBatch, GROBufferSize).Messages()
	var failed error
	if a := testing.AllocsPerRun(200, func() {
		if _, err := rx.TryReadBatch(in); err != nil {
			failed = err
		}
	}); a != 0 || failed != nil {
		t.Fatalf("empty TryReadBatch: %v allocations, err %v", a, failed)
	}
	if a := testing.AllocsPerRun(200, func() {
		if _, err := tx.WriteBatch(out); err != nil {
			failed = err
			return
		}
		if n, err := rx.TryReadBatch(in); n != 1 || err != nil {
			t.Errorf("TryReadBatch = %d, %v; want the datagram just sent", n, err)
		}
	}); a != 0 || failed != nil {
		t.Fatalf("WriteBatch + TryReadBatch: %v allocations, err %v", a, failed)
	}
}

// Holding and releasing the socket's read wake-ups allocates nothing after the first hold.
func TestZeroAllocHoldReadWakes(t *testing.T) {
	_, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true}, Options{RecvBuffer: testRecvBuf})
	if !rx.HoldReadWakes() {
		t.Skip("the runtime's epoll registration of the socket was not found")
	}
	rx.ReleaseReadWakes()
	if a := testing.AllocsPerRun(200, func() {
		rx.HoldReadWakes()
		rx.ReleaseReadWakes()
	}); a != 0 {
		t.Fatalf("HoldReadWakes + ReleaseReadWakes: %v allocations", a)
	}
}
