package wspath

import (
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

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
