package dataplane

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// probExchange sends what a has queued; drop loses it on the way. b's acknowledgements always
// come back.
func probExchange(a, b *side, drop bool) {
	a.step()
	if drop {
		a.conn.take()
	} else {
		deliver(a, b)
	}
	b.step()
	deliver(b, a)
	a.step()
}

// TestProbAbandonedMessageSkipped: a message of a probabilistic stream whose packet is lost, on
// a path that has lost nothing else, is abandoned at once (its target needs no second copy at
// 1% loss), the receiver hears of it by STREAM_SKIP, its reader reports exactly that message
// lost and then reads the messages after it, and the sender's buffer and budget are free.
func TestProbAbandonedMessageSkipped(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStreamWith(context.Background(), OpenStreamOptions{Probabilistic: true})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Probabilistic() {
		t.Fatal("stream not probabilistic")
	}
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100) } // low entropy
	// Enough clean round trips that the measured loss rate rests on real samples.
	const warm = 60
	for i := 0; i < warm; i++ {
		if err := st.WriteMessage(msg(i)); err != nil {
			t.Fatal(err)
		}
		probExchange(a, b, false)
	}
	bst, err := b.s.AcceptStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bst.SetReadDeadline(time.Now().Add(10 * time.Second)) // guards a hang only
	for i := 0; i < warm; i++ {
		got, err := bst.ReadMessage(nil)
		if err != nil || !bytes.Equal(got, msg(i)) {
			t.Fatalf("warm-up message %d: %d bytes, %v", i, len(got), err)
		}
	}
	st.WriteMessage(msg(warm))
	probExchange(a, b, true) // lost
	for i := warm + 1; i <= warm+4; i++ {
		st.WriteMessage(msg(i))
		probExchange(a, b, false)
	}
	pumpUntil(t, a, b, nil, func() bool { return bst.skipsLive.Load() > 0 })

	if _, err := bst.ReadMessage(nil); !errors.Is(err, ErrMessagesLost) {
		t.Fatalf("read at the abandoned message: %v, want ErrMessagesLost", err)
	}
	if got := bst.LastLost(); got != (MessageRange{First: warm, Count: 1}) {
		t.Fatalf("LastLost = %+v, want message %d", got, warm)
	}
	for i := warm + 1; i <= warm+4; i++ {
		got, err := bst.ReadMessage(nil)
		if err != nil || !bytes.Equal(got, msg(i)) {
			t.Fatalf("message %d after the loss: %d bytes, %v", i, len(got), err)
		}
	}
	if n := bst.MessagesLost(); n != 1 {
		t.Fatalf("MessagesLost = %d", n)
	}
	ps := st.ProbStats()
	var abandoned, sent uint64
	for _, c := range ps.Classes {
		abandoned += c.Abandoned
		sent += c.Messages
	}
	if abandoned != 1 || sent != warm+5 {
		t.Fatalf("ProbStats: %d sent, %d abandoned; want %d, 1", sent, abandoned, warm+5)
	}
	pumpUntil(t, a, b, nil, func() bool {
		a.s.mu.Lock()
		defer a.s.mu.Unlock()
		return st.sendSettled() && len(st.prob.msgs) == 0
	})
	if c := st.charged.Load(); c != 0 {
		t.Fatalf("settled stream still holds %d bytes of budget", c)
	}
}
