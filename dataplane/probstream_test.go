package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sttfast/sttfast/frame"
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

// injectFrames applies frames to b as if they had arrived in one authentic packet.
func injectFrames(t *testing.T, b *side, fs ...frame.Frame) {
	t.Helper()
	if err := applyFrames(b, fs...); err != nil {
		t.Fatal(err)
	}
}

func applyFrames(b *side, fs ...frame.Frame) error {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	for i := range fs {
		if err := b.s.frame(b.rx, &fs[i], pairAddrA); err != nil {
			return fmt.Errorf("frame %v: %w", fs[i].Type, err)
		}
	}
	return nil
}

// TestSkipMergedAgain: a sender that lost a STREAM_SKIP may announce the same messages again
// merged with later ones; the receiver unites the ranges, its reader reports every lost message
// once and reads the message after them.
func TestSkipMergedAgain(t *testing.T) {
	_, b := newPair(t, Config{})
	msg := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	m2 := msg("third")
	injectFrames(t, b,
		frame.Frame{Type: frame.TypeData, StreamID: 0, Offset: 12, Data: m2},
		frame.Frame{Type: frame.TypeStreamSkip, StreamID: 0, Offset: 0, Value: 6, FirstMessage: 0, Messages: 1},
		frame.Frame{Type: frame.TypeStreamSkip, StreamID: 0, Offset: 0, Value: 12, FirstMessage: 0, Messages: 2},
		frame.Frame{Type: frame.TypeStreamSkip, StreamID: 0, Offset: 6, Value: 12, FirstMessage: 1, Messages: 1},
		frame.Frame{Type: frame.TypeStreamFin, StreamID: 0, Value: 12 + uint64(len(m2))},
	)
	bst, err := b.s.AcceptStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bst.SetReadDeadline(time.Now().Add(5 * time.Second)) // guards a hang only
	if _, err := bst.ReadMessage(nil); !errors.Is(err, ErrMessagesLost) || bst.LastLost() != (MessageRange{0, 2}) {
		t.Fatalf("first read: %v, lost %+v; want ErrMessagesLost of messages 0-1", err, bst.LastLost())
	}
	if got, err := bst.ReadMessage(nil); err != nil || string(got) != "third" {
		t.Fatalf("after the skip: %q, %v", got, err)
	}
	if _, err := bst.ReadMessage(nil); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	if n := bst.MessagesLost(); n != 2 {
		t.Fatalf("MessagesLost = %d, want 2", n)
	}
}

// TestSkipMidMessage: a skip that arrives while the reader waits inside a message (its first
// bytes arrived, the rest never will) ends that message as lost instead of handing the reader
// filler bytes; Read, which has no boundaries, passes over it.
func TestSkipMidMessage(t *testing.T) {
	for _, byteReader := range []bool{false, true} {
		_, b := newPair(t, Config{})
		first := append([]byte{10}, "01234"...) // 10 announced, 5 arrive
		injectFrames(t, b, frame.Frame{Type: frame.TypeData, StreamID: 0, Offset: 0, Data: first})
		bst, err := b.s.AcceptStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		bst.SetReadDeadline(time.Now().Add(5 * time.Second)) // guards a hang only
		next := append([]byte{4}, "next"...)
		injected := make(chan error, 1)
		go func() {
			injected <- applyFrames(b,
				frame.Frame{Type: frame.TypeData, StreamID: 0, Offset: 11, Data: next},
				frame.Frame{Type: frame.TypeStreamSkip, StreamID: 0, Offset: 0, Value: 11, FirstMessage: 0, Messages: 1},
			)
		}()
		defer func() {
			if err := <-injected; err != nil {
				t.Error(err)
			}
		}()
		if byteReader {
			buf := make([]byte, 64)
			n, err := bst.Read(buf) // may return the 5 bytes that arrived first
			if err == nil && string(buf[:n]) == "01234" {
				n, err = bst.Read(buf)
			}
			if err != nil || string(buf[:n]) != "next" {
				t.Fatalf("Read across a skip: %q, %v", buf[:n], err)
			}
			continue
		}
		if _, err := bst.ReadMessage(nil); !errors.Is(err, ErrMessagesLost) || bst.LastLost() != (MessageRange{0, 1}) {
			t.Fatalf("read of the cut message: %v, lost %+v", err, bst.LastLost())
		}
		if got, err := bst.ReadMessage(nil); err != nil || string(got) != "next" {
			t.Fatalf("after the skip: %q, %v", got, err)
		}
	}
}

// TestStreamKindAnnounced: a probabilistic stream's STREAM_KIND tells the receiver how it is
// sent, deadline included, so a relay can forward it the same way; a reliable stream says nothing.
func TestStreamKindAnnounced(t *testing.T) {
	a, b := newPair(t, Config{})
	opts := OpenStreamOptions{Probabilistic: true, Deadline: 250 * time.Millisecond}
	pst, _ := a.s.OpenStreamWith(context.Background(), opts)
	rst, _ := a.s.OpenStream(context.Background())
	pst.WriteMessage([]byte("p"))
	rst.WriteMessage([]byte("r"))
	pumpUntil(t, a, b, nil, func() bool {
		b.s.mu.Lock()
		defer b.s.mu.Unlock()
		return len(b.s.acceptq) == 2
	})
	first, _ := b.s.AcceptStream(context.Background())
	second, _ := b.s.AcceptStream(context.Background())
	if got := first.PeerOptions(); got != opts {
		t.Fatalf("probabilistic stream: peer options %+v, want %+v", got, opts)
	}
	if got := second.PeerOptions(); got != (OpenStreamOptions{}) {
		t.Fatalf("reliable stream: peer options %+v", got)
	}
}
