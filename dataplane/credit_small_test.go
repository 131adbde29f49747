package dataplane

import (
	"testing"
)

// TestConsumedCreditSmallMessages: a reader taking 64-byte messages one call at a time counts
// every byte it read in the session's consumed count or in what it holds back (countAlone),
// holds back nothing once it has read everything received, never more than creditBatch, and
// several session windows' worth of small messages pass through the smallest session window
// the configuration allows. (A reader holding back its count regardless, as tried before, would
// hold back credit a peer may wait for when it returns with bytes unread and then blocks
// elsewhere, as an echo server blocks in its write: countAlone counts whenever the session's
// credit would be due with its bytes counted.)
func TestConsumedCreditSmallMessages(t *testing.T) {
	cfg := Config{AckEvery: 1, SessionWindow: InitialMaxData, MaxSessionWindow: InitialMaxData, StreamWindow: 1 << 20}
	a, b, st, pst := batchPair(t, cfg)
	noInline(a, b)
	const total = 4 * InitialMaxData / 65 // four session windows of 64-byte messages
	msg := make([]byte, 64)
	var buf []byte
	read, written := 0, 0
	for stalls := 0; read < total; {
		before := read + written
		for written < total && written-read < 512 {
			ok, err := st.TryWriteMessage(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			written++
		}
		pump(a, b)
		for read < written && pst.recv.Readable() > 0 {
			var err error
			if buf, err = pst.ReadMessage(buf[:0]); err != nil {
				t.Fatal(err)
			}
			read++
			c, held, off := b.s.consumed.Load(), pst.uncounted, pst.recv.ReadOffset()
			if c+held != off || held >= creditBatch || (held != 0 && pst.recv.Readable() == 0) {
				t.Fatalf("after %d messages: session consumed %d, held back %d, stream read %d (%d readable)",
					read, c, held, off, pst.recv.Readable())
			}
		}
		pump(a, b) // the credit the reads released
		if read+written == before {
			if stalls++; stalls > 100 {
				t.Fatalf("stalled after %d of %d messages (%d written)", read, total, written)
			}
		}
	}
}

// TestConsumedCreditTwoStreams: with a second stream in the session a reader holds nothing back:
// the other stream's reader could not see it in its due check.
func TestConsumedCreditTwoStreams(t *testing.T) {
	a, b, st, pst := batchPair(t, Config{AckEvery: 1})
	noInline(a, b)
	other, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.WriteMessage([]byte("second")); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 64)
	for range 100 {
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
	}
	pump(a, b)
	if !pst.crowded.Load() {
		t.Fatal("a stream of a session with two is not marked crowded")
	}
	var buf []byte
	for i := range 100 {
		if buf, err = pst.ReadMessage(buf[:0]); err != nil {
			t.Fatal(err)
		}
		if c, off := b.s.consumed.Load(), pst.recv.ReadOffset(); c != off || pst.uncounted != 0 {
			t.Fatalf("after %d messages: session consumed %d, held back %d, stream read %d", i+1, c, pst.uncounted, off)
		}
	}
}
