package dataplane

import (
	"context"
	"testing"
)

// BenchmarkSmallMessages measures the per-message cost of 64-byte messages through the whole
// data path, both ends on one goroutine (no sockets, no scheduling): 32 messages written, packed,
// sealed, received, opened, read and acknowledged per round. "single" uses WriteMessage and
// ReadMessage per message (what exists on main, so the same benchmark compares before and after
// a change to them); "batch" uses WriteMessages and ReadMessages once per round. ns/op is per
// message. The benchmark holds the sender's TX baton, so no write sends inline and both modes
// pack the same packets: the difference is the per-message API cost alone.
func BenchmarkSmallMessages(b *testing.B) {
	const perRound = 32
	for _, mode := range []string{"single", "batch"} {
		b.Run(mode, func(b *testing.B) {
			// An ACK for every packet: no round may leave the sender waiting on a delayed ACK
			// that only a timer would send.
			a, c := newPair(b, Config{AckEvery: 1})
			st, err := a.s.OpenStream(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			a.step()
			deliver(a, c)
			pst, err := c.s.AcceptStream(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			msgs := make([][]byte, perRound)
			bufs := make([][]byte, perRound)
			for i := range msgs {
				msgs[i] = make([]byte, 64)
				bufs[i] = make([]byte, 0, 64)
			}
			a.e.txMu.Lock() // the TX work runs in a.step only
			defer a.e.txMu.Unlock()
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += perRound {
				if mode == "single" {
					for _, m := range msgs {
						st.WriteMessage(m)
					}
				} else {
					st.WriteMessages(msgs)
				}
				// Everything written must have arrived before the reads, which would block this
				// one goroutine: pacing, the congestion window or a slow ACK may hold some back.
				for pst.recv.Readable() < perRound*prefixed(msgs[0]) { // 66 bytes each: 64 needs a 2-byte varint
					a.step()
					deliver(a, c)
					c.step()
					deliver(c, a)
				}
				for got := 0; got < perRound; {
					if mode == "single" {
						if bufs[0], err = pst.ReadMessage(bufs[0][:0]); err != nil {
							b.Fatal(err)
						}
						got++
						continue
					}
					n, err := pst.ReadMessages(bufs)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
				c.step()
				deliver(c, a)
			}
		})
	}
}
