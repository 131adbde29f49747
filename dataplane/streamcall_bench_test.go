package dataplane

import (
	"testing"
)

// BenchmarkMessageCalls measures what one WriteMessage and one ReadMessage of a 64-byte message
// cost by themselves, without the packing, sealing and acknowledging that BenchmarkSmallMessages
// adds around them: "write" times only the writes of a round (the TX loop held off, the send
// buffer and the budget large enough for the round), "read" only the reads of messages that
// have all arrived. Between timed rounds the pair exchanges everything, untimed. ns/op is per
// message.
func BenchmarkMessageCalls(b *testing.B) {
	const perRound = 64 << 10 // messages, 4.1 MiB of stream bytes (66 bytes each)
	cfg := Config{
		AckEvery:      1,
		StreamWindow:  16 << 20,
		SessionWindow: 32 << 20, MaxSessionWindow: 32 << 20,
		SendBuffer: 16 << 20, MaxSendBuffer: 16 << 20,
		SessionSendBuffer: 64 << 20, MaxSessionSendBuffer: 64 << 20,
	}
	for _, side := range []string{"write", "read"} {
		b.Run(side, func(b *testing.B) {
			a, c, st, pst := batchPair(b, cfg)
			noInline(a, c)
			msg := make([]byte, 64)
			buf := make([]byte, 0, 64)
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(perRound, b.N-done)
				if side == "read" {
					b.StopTimer()
				}
				a.e.txMu.Lock() // no write sends inline: the writes alone are timed
				for range n {
					if err := st.WriteMessage(msg); err != nil {
						b.Fatal(err)
					}
				}
				a.e.txMu.Unlock()
				b.StopTimer()
				for pst.recv.Readable() < n*prefixed(msg) { // 66 bytes: 64 needs a 2-byte varint
					pump(a, c)
				}
				if side == "read" {
					b.StartTimer()
				}
				for range n {
					var err error
					if buf, err = pst.ReadMessage(buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
				if side == "read" {
					b.StopTimer()
				}
				pump(a, c) // the acknowledgements and credit the round released
				b.StartTimer()
				done += n
			}
		})
	}
}
