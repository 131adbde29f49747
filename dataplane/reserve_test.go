package dataplane

import (
	"testing"
)

// writeSmall writes n 64-byte messages on st, one WriteMessage each, delivering between them so
// that acknowledgements come back while the stream keeps writing.
func writeSmall(t *testing.T, a, b *side, st *Stream, n int) {
	t.Helper()
	msg := make([]byte, 64)
	for i := 0; i < n; i++ {
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		if i%16 == 15 {
			stepDeliver(a, b)
			stepDeliver(b, a)
		}
	}
}

// TestMessageReserveGoesBack: a stream writing small messages takes a reserve of the session's
// budget while it has bytes unacknowledged, and once every byte is acknowledged the reserve is
// back in the budget: SendBuffered is 0, as it is without reserves.
func TestMessageReserveGoesBack(t *testing.T) {
	a, b := newPair(t, Config{AckEvery: 1})
	noInline(a, b)
	st, _ := a.s.OpenStream(t.Context())
	took := false
	msg := make([]byte, 64)
	for i := 0; i < 200; i++ {
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		st.lockWrite()
		took = took || st.reserve > 0
		st.unlockWrite()
		if i%16 == 15 {
			stepDeliver(a, b)
			stepDeliver(b, a)
		}
	}
	if !took {
		t.Fatal("a streaming writer of 64-byte messages never took a reserve")
	}
	pumpUntil(t, a, b, nil, func() bool { return st.send.Acked() == st.send.End() })
	if got := a.s.Stats().SendBuffered; got != 0 {
		t.Fatalf("%d bytes of budget held after every byte was acknowledged", got)
	}
	if st.reserve != 0 || st.holdsReserve.Load() {
		t.Fatalf("reserve %d (held %v) after every byte was acknowledged", st.reserve, st.holdsReserve.Load())
	}
}

// pairHoldingReserve returns a pair whose writer holds a message reserve on st: a run of 64-byte
// messages written, bytes unacknowledged, writes never inline.
func pairHoldingReserve(t *testing.T) (a, b *side, st *Stream) {
	t.Helper()
	a, b = newPair(t, Config{AckEvery: 1})
	noInline(a, b)
	st, _ = a.s.OpenStream(t.Context())
	writeSmall(t, a, b, st, 100)
	if err := st.WriteMessage(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if st.reserve == 0 {
		t.Fatal("no reserve after a run of 64-byte messages with bytes unacknowledged")
	}
	return a, b, st
}

// TestMessageReserveWriterInside: when the acknowledgement that empties the stream arrives
// while the writer holds the write lock, the reserve goes back as the writer leaves.
func TestMessageReserveWriterInside(t *testing.T) {
	a, b, st := pairHoldingReserve(t)
	st.wmu.Lock() // a writer inside
	pumpUntil(t, a, b, nil, func() bool { return st.send.Acked() == st.send.End() })
	if !st.reserveDue.Load() {
		t.Fatal("the acknowledgement neither took the reserve nor asked the writer for it")
	}
	st.wmu.Unlock()
	st.writerDone()
	if got := a.s.Stats().SendBuffered; got != 0 {
		t.Fatalf("%d bytes of budget held after the writer left", got)
	}
}

// TestMessageReserveWaiter: a writer that must wait for the budget does not wait on another
// stream's reserve: the reserve is taken only while half the budget stays free, and goes back
// with the acknowledgements, so the waiter gets the whole budget once the bytes are acknowledged.
func TestMessageReserveWaiter(t *testing.T) {
	cfg := Config{AckEvery: 1, StreamWindow: 64 << 10, SessionWindow: 256 << 10, SessionSendBuffer: 64 << 10, MaxSessionSendBuffer: 64 << 10, MaxSendBuffer: 64 << 10}
	a, b := newPair(t, cfg)
	noInline(a, b)
	s1, _ := a.s.OpenStream(t.Context())
	s2, _ := a.s.OpenStream(t.Context())
	writeSmall(t, a, b, s1, 300)
	done := make(chan error, 1)
	// The whole budget, prefix included: only possible once s1 holds nothing, reserve included.
	go func() { done <- s2.WriteMessage(make([]byte, 64<<10-4)) }()
	pumpUntilDone(t, a, b, done)
}

// TestMessageReserveCloseWrite: CloseWrite gives the reserve back at once.
func TestMessageReserveCloseWrite(t *testing.T) {
	a, b := newPair(t, Config{AckEvery: 1})
	noInline(a, b)
	st, _ := a.s.OpenStream(t.Context())
	writeSmall(t, a, b, st, 100)
	st.CloseWrite()
	if st.reserve != 0 {
		t.Fatalf("reserve %d after CloseWrite", st.reserve)
	}
	buffered := int64(st.send.End() - st.send.Acked())
	if got := a.s.Stats().SendBuffered; got != buffered {
		t.Fatalf("budget holds %d bytes after CloseWrite, the stream has %d unacknowledged", got, buffered)
	}
}

// TestMessageReserveWriterAlone: as TestMessageReserveWriterInside, with the writer inside the
// send buffer alone (writeAlone, no write lock): the acknowledgement cannot take the reserve,
// asks for it, and the writer gives it back as it leaves.
func TestMessageReserveWriterAlone(t *testing.T) {
	a, b, st := pairHoldingReserve(t)
	if !st.send.TryEnterAlone() { // a writer inside alone
		t.Fatal("nobody is inside, yet the writer could not enter alone")
	}
	pumpUntil(t, a, b, nil, func() bool { return st.send.Acked() == st.send.End() })
	if !st.reserveDue.Load() || st.reserve == 0 {
		t.Fatalf("reserve %d, asked %v: the acknowledgement should have asked the writer for it", st.reserve, st.reserveDue.Load())
	}
	st.send.LeaveAlone()
	st.writerDone()
	if got := a.s.Stats().SendBuffered; got != 0 {
		t.Fatalf("%d bytes of budget held after the writer left", got)
	}
}
