//go:build !race

package dataplane

import "testing"

// TestAllocsCreditUpdates: a bulk transfer whose reader returns credit all the time (64 KiB
// messages: a MAX_STREAM_DATA every 2 MiB, a MAX_DATA every 8 MiB) allocates nothing per packet
// with the window tuners in place. Growth allocates (a larger chunk table) only when a window
// doubles, a few times in a stream's life, which a path with a microsecond round trip never
// asks for.
func TestAllocsCreditUpdates(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 64<<10)
	a.step()
	deliver(a, b)
	pst, err := b.s.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 128<<10)
	round := func() {
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		for {
			a.step()
			deliver(a, b)
			b.step()
			deliver(b, a)
			if pst.recv.Frontier() >= st.send.End() {
				break
			}
		}
		if got, err := pst.ReadMessage(buf[:0]); err != nil || len(got) != len(msg) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	}
	warm(300, round) // 19 MiB: past the first MAX_DATA, which makes the session's tuner
	if allocs := testing.AllocsPerRun(300, round); allocs != 0 {
		t.Fatalf("64 KiB messages with credit updates: %v allocations per message, want 0", allocs)
	}
	if a.s.Stats().StreamBytesSent < 36<<20 {
		t.Fatal("the transfer did not run")
	}
}
