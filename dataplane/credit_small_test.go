package dataplane

import (
	"testing"
)

// TestConsumedCreditSmallMessages: a reader taking 64-byte messages one call at a time keeps the
// session's consumed count exact after every call, and several session windows' worth of small
// messages pass through the smallest session window the configuration allows. (Adding to the
// session's count in batches was tried and dropped: a reader that returns with bytes still
// unread and then blocks elsewhere, as an echo server blocks in its write, would hold back
// credit the peer may be waiting for.)
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
			if got, want := b.s.consumed.Load(), pst.recv.ReadOffset(); got != want {
				t.Fatalf("after %d messages: session consumed %d, stream read %d", read, got, want)
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
