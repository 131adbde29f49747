package dataplane

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/sttfast/sttfast/frame"
)

// TestReplayCapturedTransfer records every datagram of a real transfer (stream data, FIN,
// application frames) and replays all of them into the receiver afterwards, in order and
// shuffled: not one byte or frame is delivered again, and every replay is counted as a replay
// (docs/PROTOCOL.md §4 Replay), or as a drop for a closed session once the peer closed it.
func TestReplayCapturedTransfer(t *testing.T) {
	a, b := newPair(t, Config{DisablePacing: true})
	var appFrames atomic.Int64
	if err := b.e.HandleFrame(0x99, func(_ *Session, _ frame.Type, _ []byte) { appFrames.Add(1) }); err != nil {
		t.Fatal(err)
	}
	var captured []capturedDG
	tap := func(d capturedDG) { captured = append(captured, d) }

	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const msgs, size, frames = 150, 1000, 40
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	for i := 0; i < msgs; i++ {
		if err := st.WriteMessage(msg(i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			// Keep the harness's outbox small: deliver as we go.
			exchangeRound(a, b, tap)
		}
	}
	for i := 0; i < frames; i++ {
		if err := a.s.SendFrame(0x99, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	st.CloseWrite()
	var bst *Stream
	pumpUntil(t, a, b, tap, func() bool {
		b.s.mu.Lock()
		if len(b.s.acceptq) > 0 {
			bst = b.s.acceptq[0]
		}
		b.s.mu.Unlock()
		a.s.mu.Lock()
		settled := st.sendSettled() && a.s.sender.InFlightPackets() == 0 && (a.s.app == nil || a.s.app.pending == 0)
		a.s.mu.Unlock()
		return bst != nil && settled && appFrames.Load() == frames
	})
	for i := 0; i < msgs; i++ {
		m, err := bst.ReadMessage(nil)
		if err != nil || !bytes.Equal(m, msg(i)) {
			t.Fatalf("message %d: %d bytes, %v", i, len(m), err)
		}
	}
	if _, err := bst.ReadMessage(nil); err != io.EOF {
		t.Fatalf("after the last message: %v, want EOF", err)
	}
	t.Logf("captured %d datagrams", len(captured))

	statsNow := func() SessionStats { return b.s.Stats() }
	base := statsNow()
	baseFrames := appFrames.Load()
	b.s.mu.Lock()
	baseStreams := len(b.s.streams) + len(b.s.acceptq) + int(b.s.peerOpened)
	b.s.mu.Unlock()

	replay := func(name string, dgs []capturedDG, reason DropReason) {
		t.Helper()
		d0 := dropsOf(b.e)
		// One datagram per batch and all of them in one batch: the lock is kept across a batch.
		half := len(dgs) / 2
		for _, d := range dgs[:half] {
			inject(b, d)
		}
		inject(b, dgs[half:]...)
		d1 := dropsOf(b.e)
		if got := d1[reason] - d0[reason]; got != uint64(len(dgs)) {
			t.Fatalf("%s: %d of %d replays counted as %v (drops before %v after %v)", name, got, len(dgs), reason, d0, d1)
		}
		now := statsNow()
		if now.PacketsRecv != base.PacketsRecv || now.StreamBytesRecv != base.StreamBytesRecv || now.BytesRecv != base.BytesRecv {
			t.Fatalf("%s: replays were accepted: %+v -> %+v", name, base, now)
		}
		if f := appFrames.Load(); f != baseFrames {
			t.Fatalf("%s: %d application frames delivered again", name, f-baseFrames)
		}
		b.s.mu.Lock()
		streams := len(b.s.streams) + len(b.s.acceptq) + int(b.s.peerOpened)
		b.s.mu.Unlock()
		if streams != baseStreams {
			t.Fatalf("%s: replays changed the stream tables", name)
		}
	}
	replay("in order", captured, DropReplay)
	shuffled := append([]capturedDG(nil), captured...)
	rng := rand.New(rand.NewPCG(12, 34))
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	replay("shuffled", shuffled, DropReplay)
	if b.s.Err() != nil {
		t.Fatalf("replays closed the session: %v", b.s.Err())
	}
	if _, err := bst.ReadMessage(nil); err != io.EOF {
		t.Fatalf("reader after the replays: %v, want EOF", err)
	}

	// The peer closes: b drains, and every replay is now dropped as for a closed session.
	a.s.CloseWithError(CodeApplicationMin, "bye")
	a.step()
	closing, _ := takeCopies(a)
	inject(b, closing...)
	if st := sessState(b.s.state.Load()); st != stateDraining {
		t.Fatalf("b not draining after SESSION_CLOSE (state %d)", st)
	}
	base = statsNow()
	replay("after close", shuffled, DropClosed)
}

// exchangeRound runs one exchange: a sends (tapped), b receives and sends, a receives. It
// returns how many datagrams moved.
func exchangeRound(a, b *side, tap func(capturedDG)) int {
	a.step()
	dgs, _ := takeCopies(a)
	if tap != nil {
		for _, d := range dgs {
			tap(d)
		}
	}
	inject(b, dgs...)
	b.step()
	back, _ := takeCopies(b)
	inject(a, back...)
	return len(dgs) + len(back)
}
