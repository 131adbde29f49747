package wspath

import (
	"net/netip"
	"testing"

	"github.com/sttfast/sttfast/batchio"
)

// BenchmarkReadQueue moves 16 KiB packets (the engine's packet size over this path) through the
// read queue, 16 per read, as an event loop pushes them and the RX loop reads: "pop" copies
// each into the reader's buffer, "lend" hands it over in place. It measures the queue's own
// work; the reader's use of the bytes (opening them) is the same either way and not in it.
func BenchmarkReadQueue(b *testing.B) {
	for _, lend := range []bool{false, true} {
		b.Run(map[bool]string{false: "pop", true: "lend"}[lend], func(b *testing.B) {
			q := newReadQueue(DefaultReadQueueBytes)
			peer := netip.MustParseAddrPort("192.0.2.1:9080")
			p := make([]byte, 16<<10)
			msgs := batchio.NewSlab(16, 64<<10).Messages()
			b.SetBytes(int64(len(msgs) * len(p)))
			for range b.N {
				for range msgs {
					q.push(peer, p)
				}
				var n int
				if lend {
					n, _ = q.take(msgs, nil, true)
				} else {
					n, _ = q.take(msgs, nil, false)
				}
				if n != len(msgs) {
					b.Fatalf("read %d of %d packets", n, len(msgs))
				}
			}
		})
	}
}
