package dataplane

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
)

// TestKeyUpdateReordered runs a transfer on the hand-driven pair with a key update every few
// packets and every batch delivered in a shuffled order (seeded), so packets of the previous key
// generation keep arriving after the first packets of the next. Each packet is opened with exactly
// one key (docs/PROTOCOL.md §4): none may fail authentication, and the data arrives byte-exact.
func TestKeyUpdateReordered(t *testing.T) {
	a, b := newPair(t, Config{KeyUpdatePackets: 8, DisablePacing: true})
	rng := rand.New(rand.NewPCG(5, 6))
	shuffle := func(dgs []capturedDG) []capturedDG {
		rng.Shuffle(len(dgs), func(i, j int) { dgs[i], dgs[j] = dgs[j], dgs[i] })
		return dgs
	}
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const msgs = 120
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 700+i) }
	var bst *Stream
	step := func() {
		a.step()
		out, _ := takeCopies(a)
		inject(b, shuffle(out)...)
		b.step()
		back, _ := takeCopies(b)
		inject(a, shuffle(back)...)
	}
	for i := 0; i < msgs; i++ {
		if err := st.WriteMessage(msg(i)); err != nil {
			t.Fatal(err)
		}
		if i%4 == 3 {
			step()
		}
	}
	st.CloseWrite()
	pumpUntil(t, a, b, nil, func() bool {
		step()
		b.s.mu.Lock()
		if len(b.s.acceptq) > 0 {
			bst = b.s.acceptq[0]
		}
		done := bst != nil && bst.peerFin && bst.recv.Frontier() == bst.peerFinal
		b.s.mu.Unlock()
		return done
	})
	for i := 0; i < msgs; i++ {
		m, err := bst.ReadMessage(nil)
		if err != nil || !bytes.Equal(m, msg(i)) {
			t.Fatalf("message %d: %d bytes, %v", i, len(m), err)
		}
	}
	if _, err := bst.ReadMessage(nil); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	as, bs := a.s.Stats(), b.s.Stats()
	if as.KeyUpdates < 4 || bs.KeyUpdates < 4 {
		t.Fatalf("key updates: a %d, b %d", as.KeyUpdates, bs.KeyUpdates)
	}
	for name, e := range map[string]*Engine{"a": a.e, "b": b.e} {
		if d := dropsOf(e); d[DropAuth] != 0 {
			t.Fatalf("%s: %d packets failed authentication (drops %v)", name, d[DropAuth], d)
		}
	}
	t.Logf("key updates a %d b %d, generations a tx %d, b rx %d", as.KeyUpdates, bs.KeyUpdates,
		a.s.txKeys.Generation(), b.s.rxKeys.Generation())
}

// TestEveryPacketCountsAgainstTheKey: each sealed packet, including the single-frame ones
// (SESSION_CLOSE, path probes) packed outside packOne, is counted in the send key's usage, so
// the key limits of DESIGN §4 see every packet the key sealed.
func TestEveryPacketCountsAgainstTheKey(t *testing.T) {
	a, b := newPair(t, Config{})
	b.s.CloseWithError(CodeNoError, "done")
	b.step()
	if deliver(b, a) == 0 {
		t.Fatal("no SESSION_CLOSE left")
	}
	b.s.mu.Lock()
	sealed, _, _ := b.s.txKeys.Usage()
	sent := b.s.sender.Stats().PacketsSent
	b.s.mu.Unlock()
	if sealed != sent || sent < 2 {
		t.Fatalf("send key counted %d packets, %d were sent (FINAL and SESSION_CLOSE at least)", sealed, sent)
	}
}
