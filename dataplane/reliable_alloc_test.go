//go:build !race

package dataplane

// Built without the race detector only: it drops sync.Pool items, so allocation counts under it
// mean nothing. make test runs this file in its allocation pass.

import "testing"

// TestAllocsReliablePath: write, pack, seal, send, receive, deliver and acknowledge over a
// reliable path with a budget small enough that the session is held back every round, without
// allocating.
func TestAllocsReliablePath(t *testing.T) {
	a, b := newReliablePair(t, Config{}, 64<<10)
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	msg := randomBytes(60000, 6)
	if err := st.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	a.step()
	deliver(a, b)
	pst, err := b.s.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 1<<20)
	var recvd int
	round := func() {
		if _, err := st.TryWriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		a.step()
		deliver(a, b)
		for pst.recv.Readable() >= len(msg)+4 {
			if buf, err = pst.ReadMessage(buf[:0]); err != nil {
				t.Fatal(err)
			}
			recvd++
		}
		b.step()
		deliver(b, a)
	}
	warm(1000, round)
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Fatalf("reliable path round: %v allocations, want 0", allocs)
	}
	if recvd == 0 || a.conn.drops != 0 || a.e.Stats().PathHeld == 0 {
		t.Fatalf("received %d messages, %d drops, %d holds", recvd, a.conn.drops, a.e.Stats().PathHeld)
	}
}
