package batchio

import (
	"errors"
	"net"
	"testing"
	"time"
)

const (
	benchSize = 1200 // datagram payload, a typical QUIC-like MTU-safe size
	// The receiver gives up this long after the last datagram if every end
	// marker was dropped, so a lossy run ends instead of hanging.
	benchIdle = 500 * time.Millisecond
)

// BenchmarkLoopback measures datagrams actually received per second over
// loopback with one sender and one receiver goroutine. b.N is the number
// of datagrams sent; UDP may drop when the sender outpaces the receiver,
// so only the received rate is reported (plus the loss).
func BenchmarkLoopback(b *testing.B) {
	b.Run("plain WriteTo+ReadFrom", func(b *testing.B) { benchLoopback(b, modePlain) })
	b.Run("sendmmsg+recvmmsg", func(b *testing.B) { benchLoopback(b, modeMmsg) })
	b.Run("GSO+GRO", func(b *testing.B) { benchLoopback(b, modeGSO) })
}

const (
	modePlain = iota
	modeMmsg
	modeGSO
)

func benchLoopback(b *testing.B, mode int) {
	rx := listen(b, "udp4", "127.0.0.1:0", Options{RecvBuffer: 8 << 20, DisableGRO: mode != modeGSO})
	tx := listen(b, "udp4", "127.0.0.1:0", Options{SendBuffer: 8 << 20, DisableGSO: mode != modeGSO})
	if mode == modeGSO && (!tx.GSO() || !rx.GRO()) {
		b.Logf("GSO=%v GRO=%v: offload unavailable, measuring the fallback", tx.GSO(), rx.GRO())
	}
	dst := rx.LocalAddr()

	type result struct {
		n    int
		last time.Time
	}
	res := make(chan result, 1)
	go func() { // receiver: counts full-size datagrams until an end marker
		var r result
		defer func() { res <- r }()
		if mode == modePlain {
			buf := make([]byte, 2048)
			uc := rx.UDPConn()
			for {
				uc.SetReadDeadline(time.Now().Add(benchIdle))
				n, _, err := uc.ReadFromUDPAddrPort(buf)
				if err != nil || n != benchSize {
					return
				}
				r.n++
				r.last = time.Now()
			}
		}
		size := 2048
		if mode == modeGSO {
			size = GROBufferSize
		}
		msgs := NewSlab(DefaultBatchSize, size).Messages()
		for {
			rx.SetReadDeadline(time.Now().Add(benchIdle))
			n, err := rx.ReadBatch(msgs)
			if err != nil {
				return
			}
			now := time.Now()
			for i := range n {
				m := &msgs[i]
				if m.Seg == 0 && m.N != benchSize {
					return // end marker
				}
				if m.Seg != 0 && m.N%m.Seg != 0 {
					// A marker may arrive coalesced as the short tail of a
					// GRO message: look at the datagrams themselves.
					it := m.Datagrams()
					for d, ok := it.Next(); ok; d, ok = it.Next() {
						if len(d) != benchSize {
							return
						}
						r.n++
						r.last = now
					}
					continue
				}
				r.n += m.NumDatagrams()
				r.last = now
			}
		}
	}()

	payload := make([]byte, benchSize)
	uc := tx.UDPConn()
	var msgs []Message
	perMsg := 1
	switch mode {
	case modeMmsg:
		msgs = NewSlab(DefaultBatchSize, benchSize).Messages()
		for i := range msgs {
			msgs[i].N, msgs[i].Addr = benchSize, dst
		}
	case modeGSO:
		// As many datagrams per Message as one GSO send carries.
		perMsg = min(MaxSegments, maxPayload4/benchSize)
		msgs = NewSlab(8, perMsg*benchSize).Messages()
		for i := range msgs {
			msgs[i].N, msgs[i].Addr, msgs[i].Seg = perMsg*benchSize, dst, benchSize
		}
	}

	b.ReportAllocs()
	b.SetBytes(benchSize)
	b.ResetTimer()
	start := time.Now()
	var err error
	switch mode {
	case modePlain:
		for range b.N {
			if _, err = uc.WriteToUDPAddrPort(payload, dst); err != nil {
				break
			}
		}
	default:
		for left := b.N; left > 0 && err == nil; {
			k := 0
			for ; k < len(msgs) && left > 0; k++ {
				d := min(perMsg, left)
				msgs[k].N = d * benchSize
				left -= d
			}
			_, err = tx.WriteBatch(msgs[:k])
		}
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		b.Fatal(err)
	}
	// End markers until the receiver stops: one could be dropped.
	marker := []byte{0}
	var r result
markers:
	for {
		uc.WriteToUDPAddrPort(marker, dst)
		select {
		case r = <-res:
			break markers
		case <-time.After(time.Millisecond):
		}
	}
	b.StopTimer()
	elapsed := r.last.Sub(start).Seconds()
	if r.n == 0 || elapsed <= 0 {
		b.Fatalf("received %d datagrams", r.n)
	}
	pps := float64(r.n) / elapsed
	b.ReportMetric(pps, "pps")
	b.ReportMetric(pps*benchSize*8/1e9, "Gbit/s")
	b.ReportMetric(100*float64(b.N-r.n)/float64(b.N), "loss%")
}
