//go:build !race

package dataplane

import (
	"testing"
)

// The hot path must not allocate per packet once warmed up. Each test drives both ends by hand
// on the test goroutine and counts allocations with testing.AllocsPerRun. Not under the race
// detector: it makes sync.Pool drop items on purpose, so counts would mean nothing; make test
// runs these in its Alloc pass.

func TestAllocsDataPacketRoundTrip(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 1000)
	a.step()
	deliver(a, b)
	pst, err := b.s.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	var sent, recvd int
	round := func() {
		// write → pack → seal → send
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		a.step()
		sent += len(a.conn.out)
		// receive → open → deliver → read
		deliver(a, b)
		got, err := pst.ReadMessage(buf[:0])
		if err != nil || len(got) != len(msg) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		recvd++
		// ACK generation on b, ACK processing on a
		b.step()
		deliver(b, a)
	}
	warm(2000, round)
	if allocs := testing.AllocsPerRun(2000, round); allocs != 0 {
		t.Fatalf("write-seal-send / receive-open-deliver / ACK round: %v allocations, want 0", allocs)
	}
	if sent == 0 || recvd == 0 {
		t.Fatal("nothing went through")
	}
}

func TestAllocsAckOnly(t *testing.T) {
	a, b := newPair(t, Config{})
	st, _ := a.s.OpenStream(t.Context())
	msg := make([]byte, 64)
	// a sends two data packets (ack-eliciting; a lone one would wait for the delayed-ACK
	// timer); b must generate an ACK at once; a processes it.
	round := func() {
		st.WriteMessage(msg)
		a.step()
		st.WriteMessage(msg)
		a.step()
		deliver(a, b)
		b.step() // ACK generation
		if deliver(b, a) == 0 {
			t.Fatal("no ACK sent")
		}
	}
	pst := func() *Stream {
		round()
		p, _ := b.s.AcceptStream(t.Context())
		return p
	}()
	drain := make([]byte, 0, 1<<20)
	full := func() {
		round()
		for pst.recv.Readable() > 0 {
			drain, _ = pst.ReadMessage(drain[:0])
		}
	}
	warm(2000, full)
	if allocs := testing.AllocsPerRun(2000, full); allocs != 0 {
		t.Fatalf("ACK generation and processing: %v allocations, want 0", allocs)
	}
	if a.s.sender.Stats().PacketsAcked == 0 {
		t.Fatal("no packet was acknowledged")
	}
}

func TestAllocsBroadcastPerSession(t *testing.T) {
	// One hub engine with many sessions, each to its own peer engine.
	const n = 16
	hub := newHub(t, n)
	msg := make([]byte, 200)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 0, 1024)
	}
	round := func() {
		if sent, err := Broadcast(hub.sessions, msg); err != nil || sent != n {
			t.Fatalf("Broadcast = %d, %v", sent, err)
		}
		hub.a.step()
		hub.fanout()
		for i, p := range hub.peers {
			if p.bst == nil {
				p.bst, _ = p.s.AcceptStream(t.Context())
			}
			if _, err := p.bst.ReadMessage(bufs[i][:0]); err != nil {
				t.Fatal(err)
			}
			p.step()
		}
		hub.collect()
	}
	warm(500, round)
	allocs := testing.AllocsPerRun(500, round)
	if allocs != 0 {
		t.Fatalf("SendToAll to %d sessions: %v allocations per round, want 0", n, allocs)
	}
}
