package ctrl

import (
	"context"
	"testing"
)

// BenchmarkPingPong measures the round trip of a 64-byte message on one stream between two nodes
// of this process over loopback (ns/op is the RTT).
func BenchmarkPingPong(b *testing.B) {
	srv := testNode(b, Config{})
	cli := testNode(b, Config{})
	ctx := context.Background()
	go func() {
		s, err := srv.Accept(ctx)
		if err != nil {
			return
		}
		st, err := s.AcceptStream(ctx)
		if err != nil {
			return
		}
		buf := make([]byte, 0, 128)
		for {
			buf, err = st.ReadMessage(buf[:0])
			if err != nil {
				return
			}
			if st.WriteMessage(buf) != nil {
				return
			}
		}
	}()
	s, err := cli.Dial(ctx, srv.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	st, err := s.OpenStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.WriteMessage(msg); err != nil {
			b.Fatal(err)
		}
		if buf, err = st.ReadMessage(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandshake measures complete handshakes (HELLO to FINAL) between two nodes of this
// process, 32 dials in flight; handshakes/s is reported.
func BenchmarkHandshake(b *testing.B) { benchmarkHandshake(b, false) }

// BenchmarkHandshakeForwardSecrecy is BenchmarkHandshake with Config.ForwardSecrecy on both
// nodes: two X25519 operations more per side (issue 16's goal: at least 40% of the seed-only
// rate; run both in one "go test -bench Handshake" to compare).
func BenchmarkHandshakeForwardSecrecy(b *testing.B) { benchmarkHandshake(b, true) }

func benchmarkHandshake(b *testing.B, fs bool) {
	srv := testNode(b, Config{DiscardAccepted: true, MaxSessions: 1 << 20, ForwardSecrecy: fs})
	cli := testNode(b, Config{MaxSessions: 1 << 20, ForwardSecrecy: fs})
	ctx := context.Background()
	addr := srv.Addr().String()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := cli.Dial(ctx, addr)
			if err != nil {
				b.Error(err)
				return
			}
			s.CloseWithError(0, "")
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}
