package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/streambuf"
)

// TestBroadcastSlowSessionBound: with TryBroadcast, a session whose peer never acknowledges
// (every packet to it is dropped) pins at most its send buffer's worth of shared copies, while the
// other session receives every message; when the slow session ends its references go back, and
// once everything is acknowledged no shared copy is left.
func TestBroadcastSlowSessionBound(t *testing.T) {
	base := streambuf.SharedInUse()
	h := newHub(t, 2)
	fast := h.peers[0] // h.peers[1] is the slow one
	msg := make([]byte, 1200)
	got := make([]byte, 0, 2048)
	need := len(msg) + 2 // with its 2-byte length prefix
	maxPinned := int64(h.a.e.cfg.SendBuffer/need + 1)
	rounds := int(maxPinned) * 3 / 2
	var slowTook int
	for i := 0; i < rounds; i++ {
		binary.LittleEndian.PutUint64(msg, uint64(i))
		sent, skipped := TryBroadcast(h.sessions, msg)
		if sent+skipped != 2 || sent == 0 {
			t.Fatalf("round %d: TryBroadcast sent %d skipped %d", i, sent, skipped)
		}
		slowTook += sent - 1
		h.a.step()
		h.fanoutTo(fast) // nothing reaches the slow peer: it never acknowledges
		if fast.bst == nil {
			fast.bst, _ = fast.s.AcceptStream(t.Context())
		}
		m, err := fast.bst.ReadMessage(got[:0])
		if err != nil || !bytes.Equal(m, msg) {
			t.Fatalf("round %d: fast peer read %d bytes, %v", i, len(m), err)
		}
		fast.step()
		h.collectFrom(fast)
		if pinned := streambuf.SharedInUse() - base; pinned > maxPinned {
			t.Fatalf("round %d: %d shared copies pinned, want <= %d (the slow session's send buffer)", i, pinned, maxPinned)
		}
	}
	if slowTook >= rounds || slowTook == 0 {
		t.Fatalf("the slow session took %d of %d messages: its buffer never filled, or never took any", slowTook, rounds)
	}
	// terminate is what the TX loop does once a closed session has drained (3 PTOs of wall
	// clock later): called here directly so the test does not wait for time to pass.
	h.sessions[1].terminate(&CloseError{Code: CodeNoError})
	if pinned := streambuf.SharedInUse() - base; pinned > 64 { // what the fast session has not yet had acknowledged
		t.Fatalf("%d shared copies still pinned after the slow session ended", pinned)
	}
	h.sessions[0].terminate(&CloseError{Code: CodeNoError})
	if pinned := streambuf.SharedInUse() - base; pinned != 0 {
		t.Fatalf("%d shared copies leaked after both sessions ended", pinned)
	}
}

// fanoutTo routes the packets the hub addressed to p into p's RX loop and drops the rest.
func (h *hub) fanoutTo(p *hubPeer) {
	c := h.a.conn
	p.in = p.in[:0]
	for i := range c.out {
		if h.byAddr[c.to[i]] == p {
			p.in = append(p.in, c.out[i])
		}
	}
	if len(p.in) > 0 {
		p.rx.batch(p.in)
	}
	c.take()
}

// collectFrom hands what p wrote back to the hub's RX loop.
func (h *hub) collectFrom(p *hubPeer) {
	if msgs := p.conn.take(); len(msgs) > 0 {
		h.a.rx.batch(msgs)
	}
}

// TestBroadcastLargeAndSmall: over live engines on loopback, messages smaller than the send
// buffer (whole references) and larger than it (several references to pieces of one shared
// copy) arrive intact and in order, and every shared copy is given back once acknowledged.
func TestBroadcastLargeAndSmall(t *testing.T) {
	base := streambuf.SharedInUse()
	cfg := Config{SendBuffer: 32 << 10, SessionSendBuffer: 64 << 10}
	cc, sc := listenUDP(t), listenUDP(t)
	_, _, cs, ss := startPairConfig(t, cfg, cc, sc, sc.LocalAddr(), cc.LocalAddr())
	r := rand.New(rand.NewPCG(61, 0))
	msgs := make([][]byte, 40)
	for i := range msgs {
		n := r.IntN(3000)
		if i%8 == 3 {
			n = 100<<10 + r.IntN(50<<10) // three to five buffers' worth
		}
		msgs[i] = make([]byte, n)
		for j := range msgs[i] {
			msgs[i][j] = byte(r.Uint32())
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if _, err := Broadcast([]*Session{cs}, m); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	st, err := ss.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 160<<10)
	for i, want := range msgs {
		got, err := st.ReadMessage(buf[:0])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, want %d, or different", i, len(got), len(want))
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := cs.Close(ctx); err != nil { // waits until everything is acknowledged
		t.Fatal(err)
	}
	if pinned := streambuf.SharedInUse() - base; pinned != 0 {
		t.Fatalf("%d shared copies left after everything was acknowledged", pinned)
	}
}
