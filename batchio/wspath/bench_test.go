package wspath

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/sttfast/sttfast/batchio"
)

// Bulk packets of 1200 bytes, 32 per WriteBatch, in each direction over loopback, written as
// fast as WriteBatch returns (no pacing, unlike the engine): MB/s counts what was written,
// delivered-MB/s what arrived, and the drops (outbound budget, read queue) are reported beside.
func BenchmarkBulk(b *testing.B) {
	for _, dir := range []string{"dialer-to-listener", "listener-to-dialer"} {
		b.Run(dir, func(b *testing.B) {
			srv := listenT(b, Config{})
			cli := dialT(b, srv, Config{})
			tx, rx := cli, srv
			if dir == "listener-to-dialer" {
				// The listener learns the dialer's address from a first packet.
				one := batchio.NewSlab(1, 1200).Messages()
				one[0].N, one[0].Addr = 1, cli.Peer()
				cli.WriteBatch(one)
				m := readOne(b, srv, make([]byte, 16))
				tx, rx = srv, cli
				benchBulk(b, tx, rx, m.Addr)
				return
			}
			benchBulk(b, tx, rx, cli.Peer())
		})
	}
}

func benchBulk(b *testing.B, tx, rx *Conn, dst netip.AddrPort) {
	msgs := batchio.NewSlab(32, 1200).Messages()
	for i := range msgs {
		msgs[i].N, msgs[i].Addr = 1200, dst
	}
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		in := batchio.NewSlab(64, 2048).Messages()
		for {
			n, err := rx.ReadBatch(in)
			if err != nil {
				return
			}
			got.Add(int64(n))
		}
	}()
	b.SetBytes(32 * 1200)
	b.ResetTimer()
	for range b.N {
		if _, err := tx.WriteBatch(msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	st := tx.Stats()
	b.ReportMetric(float64(st.DropBudget)/float64(b.N*32)*100, "%budget-drops")
	b.ReportMetric(float64(got.Load())*1200/1e6/elapsed.Seconds(), "delivered-MB/s")
	rx.Close()
	<-done
	b.ReportMetric(float64(rx.Stats().DropQueue)/float64(b.N*32)*100, "%queue-drops")
}
