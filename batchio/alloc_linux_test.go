//go:build !batchio_portable

package batchio

import (
	"testing"
	"time"
)

// The data plane contract: a WriteBatch plus the ReadBatch calls that
// collect it allocate nothing, on every path (plain sendmmsg, GSO with
// grouping across Messages, GRO, IPv6, dual-stack with IPv4-mapped
// addresses).
func TestZeroAlloc(t *testing.T) {
	type tc struct {
		name, network, rxAddr, txAddr string
		txo, rxo                      Options
		seg                           int // >0: one GSO-style Message per batch
	}
	cases := []tc{
		{"mmsg", "udp4", "127.0.0.1:0", "127.0.0.1:0", Options{DisableGSO: true}, Options{DisableGRO: true}, 0},
		{"gso-grouped+gro", "udp4", "127.0.0.1:0", "127.0.0.1:0", Options{}, Options{}, 0},
		{"gso-seg+gro", "udp4", "127.0.0.1:0", "127.0.0.1:0", Options{}, Options{}, 1200},
		{"gso-seg-nogro", "udp4", "127.0.0.1:0", "127.0.0.1:0", Options{}, Options{DisableGRO: true}, 1200},
	}
	if haveIPv6() {
		cases = append(cases,
			tc{"ipv6", "udp6", "[::1]:0", "[::1]:0", Options{}, Options{}, 0},
			tc{"dual-stack", "udp", "[::]:0", "[::]:0", Options{}, Options{}, 1200})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rxo := c.rxo
			rxo.RecvBuffer = testRecvBuf
			rx := listen(t, c.network, c.rxAddr, rxo)
			tx := listen(t, c.network, c.txAddr, c.txo)
			dst := rx.LocalAddr()
			if c.network == "udp" { // send to the IPv4 loopback through the dual-stack socket
				dst = mustAddrPort("127.0.0.1", dst.Port())
			}
			const k = 16 // datagrams per iteration
			var txMsgs []Message
			if c.seg > 0 {
				txMsgs = NewSlab(1, k*c.seg).Messages()
				txMsgs[0].N, txMsgs[0].Seg, txMsgs[0].Addr = k*c.seg, c.seg, dst
			} else {
				txMsgs = NewSlab(k, 1200).Messages()
				for i := range txMsgs {
					txMsgs[i].N, txMsgs[i].Addr = 1200, dst
				}
			}
			rxMsgs := NewSlab(k, GROBufferSize).Messages()
			rx.SetReadDeadline(time.Now().Add(safety))
			var failed error
			round := func() {
				if _, err := tx.WriteBatch(txMsgs); err != nil {
					failed = err
					return
				}
				for got := 0; got < k; {
					n, err := rx.ReadBatch(rxMsgs)
					if err != nil {
						failed = err
						return
					}
					for i := range n {
						got += rxMsgs[i].NumDatagrams()
					}
				}
			}
			round() // warm up: first use of the poller, zone caches
			allocs := testing.AllocsPerRun(200, round)
			if failed != nil {
				t.Fatal(failed)
			}
			t.Logf("GSO=%v GRO=%v: %v allocs per write+read of %d datagrams", tx.GSO(), rx.GRO(), allocs, k)
			if allocs != 0 {
				t.Fatalf("%v allocations per batch, want 0", allocs)
			}
		})
	}
}
