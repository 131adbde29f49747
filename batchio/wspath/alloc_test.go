package wspath

import (
	"errors"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sttfast/sttfast/batchio"
)

// Steady state over a live connection allocates nothing per packet, in either direction: the
// dialer's WriteBatch, the server's event loop parsing it into the read queue, the server's
// ReadBatch and WriteBatch back (through the loop waker and gnet's Write), the dialer's reader
// and ReadBatch. AllocsPerRun counts every goroutine's allocations, gnet's loop included.
func TestAllocsPerPacket(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector")
	}
	srv := listenT(t, Config{})
	cli := dialT(t, srv, Config{})
	watchdog(t, 20*time.Second, srv, cli)
	cw := batchio.NewSlab(1, 1200).Messages()
	cw[0].N, cw[0].Addr = 1200, cli.Peer()
	sr := batchio.NewSlab(4, 2048).Messages()
	cr := batchio.NewSlab(4, 2048).Messages()
	roundTrip := func() {
		if _, err := cli.WriteBatch(cw); err != nil {
			t.Fatal(err)
		}
		n, err := srv.ReadBatch(sr)
		if err != nil || n != 1 || sr[0].N != 1200 {
			t.Fatalf("server ReadBatch: %d %v", n, err)
		}
		if _, err := srv.WriteBatch(sr[:1]); err != nil {
			t.Fatal(err)
		}
		if n, err := cli.ReadBatch(cr); err != nil || n != 1 || cr[0].N != 1200 {
			t.Fatalf("client ReadBatch: %d %v", n, err)
		}
	}
	for range 100 { // warm up: buffers and pools reach their steady size
		roundTrip()
	}
	if a := testing.AllocsPerRun(500, roundTrip); a != 0 {
		t.Fatalf("%.2f allocations per round trip, want 0", a)
	}
}

// Refusing a frame that announces 2^63 or 2^62 bytes allocates nothing and waits for no payload.
func TestHugeFrameRefusedWithoutAllocating(t *testing.T) {
	huge := append([]byte{0x82, 0x80 | 127}, be64(1<<63)...)
	huge = append(huge, 1, 2, 3, 4)
	big := headerBytes(ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 62, Masked: true})
	p := &frameParser{max: DefaultMaxMessage, fromClient: true}
	var sink nopSink
	for _, c := range []struct {
		b    []byte
		want error
	}{{huge, ErrProtocol}, {big, ErrMessageTooBig}} {
		var err error
		if a := testing.AllocsPerRun(100, func() { _, err = p.parse(c.b, sink) }); a != 0 && !raceEnabled {
			t.Fatalf("%.0f allocations to refuse", a)
		}
		if !errors.Is(err, c.want) {
			t.Fatalf("parse: %v, want %v", err, c.want)
		}
	}
}

type nopSink struct{}

func (nopSink) message([]byte)   {}
func (nopSink) ping([]byte)      {}
func (nopSink) peerClose([]byte) {}
