package delayline

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// BenchmarkForward measures what one line carries on loopback: 1200-byte datagrams, no
// impairment, sent in sendmmsg batches with at most a window in flight (so the socket buffers,
// not the forwarder, are never what drops), received by a recvmmsg sink. Reported: forwarded
// datagrams per second and Mbit/s of UDP payload.
func BenchmarkForward(b *testing.B) {
	const size, window, batch = 1200, 2048, 32
	opts := batchio.Options{RecvBuffer: 8 << 20, SendBuffer: 8 << 20, DisableGSO: true, DisableGRO: true, BatchSize: batch}
	sink, err := batchio.Listen("udp4", "127.0.0.1:0", opts)
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	src, err := batchio.Listen("udp4", "127.0.0.1:0", opts)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	l, err := New("127.0.0.1:0", sink.LocalAddr().String(), Config{}, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var got atomic.Int64
	progress := make(chan struct{}, 1)
	go sinkLoop(sink, &got, progress)
	msgs := make([]batchio.Message, batch)
	for i := range msgs {
		msgs[i] = batchio.Message{Buf: make([]byte, size), N: size, Addr: l.Addr()}
	}
	b.SetBytes(size)
	b.ResetTimer()
	t0 := time.Now()
	sent := 0
	for sent < b.N {
		for sent-int(got.Load()) > window {
			select {
			case <-progress:
			case <-time.After(50 * time.Millisecond): // lost datagrams: stop waiting for them
				got.Add(int64(sent) - got.Load() - window)
			}
		}
		k := min(batch, b.N-sent)
		n, err := src.WriteBatch(msgs[:k])
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	el := time.Since(t0)
	fwd := l.Up().Forwarded
	b.ReportMetric(float64(fwd)/el.Seconds(), "datagrams/s")
	b.ReportMetric(float64(fwd)*size*8/el.Seconds()/1e6, "Mbit/s")
}

func sinkLoop(c *batchio.Conn, got *atomic.Int64, progress chan<- struct{}) {
	msgs := make([]batchio.Message, 32)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	for {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			return
		}
		got.Add(int64(n))
		select {
		case progress <- struct{}{}:
		default:
		}
	}
}
