//go:build !race

package dataplane

import "testing"

// Discovery keeps the hot path free of allocations: probes sent and lost, sizes raised, and
// data packets of the discovered size, round after round.
func TestAllocsWithPathMTUDiscovery(t *testing.T) {
	a, b := newPair(t, Config{DisablePacing: true}) // rounds are not paced in time
	l := withProbes(a, 4000)
	l.sizes = make([]int, 0, 1<<16)
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 8000)
	a.step()
	deliver(a, b)
	pst, err := b.s.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 16<<10)
	round := func() {
		a.s.mu.Lock()
		if a.s.pmtu.phase == pmtuComplete {
			a.s.pmtu.timer = 0 // search again: probes in every stretch of rounds
		}
		a.s.mu.Unlock()
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		for range 3 { // a message of several packets, and the ACKs that let the next go
			a.step()
			deliver(a, b)
			b.step()
			deliver(b, a)
		}
		got, err := pst.ReadMessage(buf[:0])
		if err != nil || len(got) != len(msg) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	}
	warm(2000, round)
	probes := len(l.sizes)
	if allocs := testing.AllocsPerRun(2000, round); allocs != 0 {
		t.Fatalf("rounds with path MTU discovery: %v allocations, want 0", allocs)
	}
	if len(l.sizes) == probes {
		t.Fatal("no probe was sent during the measured rounds")
	}
	if p := a.s.payloadSize(); p <= 1200 || p > 4000 {
		t.Fatalf("payload size %d, want raised within the path's 4000", p)
	}
	t.Logf("%d probes during the measured rounds; payload size %d", len(l.sizes)-probes, a.s.payloadSize())
}
