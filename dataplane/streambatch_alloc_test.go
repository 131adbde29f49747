//go:build !race

package dataplane

import "testing"

// TestAllocsMessageBatch: a batch of 64-byte messages written with WriteMessages, packed, sealed,
// sent, received, opened, delivered and read with ReadMessages, then acknowledged, allocates
// nothing once warm; the single-message calls' fast path neither.
func TestAllocsMessageBatch(t *testing.T) {
	a, b, st, pst := batchPair(t, Config{})
	msgs := make([][]byte, 32)
	for i := range msgs {
		msgs[i] = make([]byte, 64)
	}
	bufs := make([][]byte, 32)
	for i := range bufs {
		bufs[i] = make([]byte, 0, 64)
	}
	round := func() {
		if n, err := st.WriteMessages(msgs); n != len(msgs) || err != nil {
			t.Fatalf("WriteMessages: %d, %v", n, err)
		}
		a.step()
		deliver(a, b)
		for got := 0; got < len(msgs); {
			n, err := pst.ReadMessages(bufs)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		b.step()
		deliver(b, a)
	}
	warm(500, round)
	if allocs := testing.AllocsPerRun(500, round); allocs != 0 {
		t.Fatalf("WriteMessages/ReadMessages round of %d messages: %v allocations, want 0", len(msgs), allocs)
	}
	buf := make([]byte, 0, 64)
	single := func() {
		for _, m := range msgs {
			if err := st.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		}
		a.step()
		deliver(a, b)
		for range msgs {
			if _, err := pst.ReadMessage(buf[:0]); err != nil {
				t.Fatal(err)
			}
		}
		b.step()
		deliver(b, a)
	}
	warm(500, single)
	if allocs := testing.AllocsPerRun(500, single); allocs != 0 {
		t.Fatalf("WriteMessage/ReadMessage round: %v allocations, want 0", allocs)
	}
}
