package dataplane

import (
	"context"
	"testing"
)

// BenchmarkPacketPath measures the per-packet cost of the data path with both ends driven on one
// goroutine (no sockets, no scheduling): a 1000-byte message written, packed, sealed, "sent",
// received, opened, delivered and read, and the ACK generated and processed. b.SetBytes makes the
// MB/s column the data path's throughput on one core, crypto included.
func BenchmarkPacketPath(b *testing.B) {
	for _, size := range []int{64, 1000} {
		b.Run(sizeName(size), func(b *testing.B) {
			a, c := newPair(b, Config{})
			st, err := a.s.OpenStream(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, size)
			a.step()
			deliver(a, c)
			pst, err := c.s.AcceptStream(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st.WriteMessage(msg)
				a.step()
				deliver(a, c)
				if buf, err = pst.ReadMessage(buf[:0]); err != nil {
					b.Fatal(err)
				}
				if i&1 == 1 { // an ACK for every two packets, as the receiver sends them
					c.step()
					deliver(c, a)
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1000 {
		return "1000B"
	}
	return "64B"
}
