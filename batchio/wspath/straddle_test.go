package wspath

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/sttfast/sttfast/batchio"
)

// readsConn is the heldBytes of a gnet.Conn as OnTraffic sees it, with gnet v2's semantics
// (connection_unix.go): what an earlier OnTraffic left unconsumed waits in the inbound ring, this
// read's bytes in the loop's buffer, and a Peek across both returns a joined copy. joined counts
// the bytes Peek copied to join them.
type readsConn struct {
	inbound []byte
	buffer  []byte
	joined  int
}

var _ heldBytes = gnet.Conn(nil)

func (r *readsConn) InboundBuffered() int { return len(r.inbound) + len(r.buffer) }

func (r *readsConn) Peek(n int) ([]byte, error) {
	total := len(r.inbound) + len(r.buffer)
	if n > total {
		return nil, io.ErrShortBuffer
	} else if n <= 0 {
		n = total
	}
	if len(r.inbound) == 0 {
		return r.buffer[:n], nil
	}
	if len(r.inbound) >= n {
		return r.inbound[:n], nil
	}
	r.joined += n
	return append(bytes.Clone(r.inbound), r.buffer[:n-len(r.inbound)]...), nil
}

func (r *readsConn) Discard(n int) (int, error) {
	total := len(r.inbound) + len(r.buffer)
	if n >= total || n <= 0 {
		r.inbound, r.buffer = r.inbound[:0], nil
		return total, nil
	}
	if n <= len(r.inbound) {
		r.inbound = r.inbound[n:]
		return n, nil
	}
	r.buffer = r.buffer[n-len(r.inbound):]
	r.inbound = r.inbound[:0]
	return n, nil
}

// read makes b this OnTraffic's read.
func (r *readsConn) read(b []byte) { r.buffer = b }

// endTraffic is what gnet does when OnTraffic returns: the read's unconsumed bytes join the ring.
func (r *readsConn) endTraffic() { r.inbound, r.buffer = append(r.inbound, r.buffer...), nil }

// TestParseFramesCopiesOnlyTheStraddlingFrame streams 16 KiB packets (the engine's size over a
// reliable path) through a server connection in gnet-sized reads and in reads of random sizes:
// every packet must come out whole and in order, and in 64 KiB reads, where nearly every read
// starts inside a frame the last one began, no more may be copied to join the two than that one
// frame per read. Peeking the ring and the whole read at once copies every byte again.
func TestParseFramesCopiesOnlyTheStraddlingFrame(t *testing.T) {
	const packets, size = 96, 16 << 10
	var stream []byte
	for i := range packets {
		p := make([]byte, size)
		binary.BigEndian.PutUint32(p, uint32(i))
		p[size-1] = byte(i)
		stream = append(stream, frameBytes(true, ws.OpBinary, p, true)...)
	}
	frameLen := len(stream) / packets
	rng := rand.New(rand.NewPCG(15, 4))
	for _, tc := range []struct {
		name string
		next func() int
	}{
		{"gnet's 64 KiB reads", func() int { return 64 << 10 }},
		{"random reads", func() int { return 1 + rng.IntN(3*frameLen) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config{}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			s := &server{conn: newConn(cfg), cfg: cfg}
			sc := &serverConn{s: s, parser: frameParser{max: cfg.MaxMessage, fromClient: true}}
			gc := &readsConn{}
			msgs := make([]batchio.Message, 8)
			for i := range msgs {
				msgs[i].Buf = make([]byte, cfg.MaxMessage)
			}
			got, reads := 0, 0
			for off := 0; off < len(stream); reads++ {
				n := min(tc.next(), len(stream)-off)
				gc.read(bytes.Clone(stream[off : off+n])) // parse unmasks in place
				off += n
				if err := parseHeld(gc, &sc.parser, sc); err != nil {
					t.Fatalf("read %d: %v", reads, err)
				}
				gc.endTraffic()
				for {
					k, _ := s.conn.q.take(msgs, nil, false)
					if k == 0 {
						break
					}
					for _, m := range msgs[:k] {
						if m.N != size || binary.BigEndian.Uint32(m.Buf) != uint32(got) || m.Buf[size-1] != byte(got) {
							t.Fatalf("packet %d: %d bytes, starts with %d", got, m.N, binary.BigEndian.Uint32(m.Buf))
						}
						got++
					}
				}
			}
			if got != packets || len(gc.inbound) != 0 {
				t.Fatalf("%d of %d packets out, %d bytes left", got, packets, len(gc.inbound))
			}
			if tc.name == "gnet's 64 KiB reads" && gc.joined > reads*frameLen {
				t.Fatalf("joined %d bytes in %d reads: more than one %d-byte frame per read", gc.joined, reads, frameLen)
			}
			t.Logf("%d reads, %d bytes joined of %d", reads, gc.joined, len(stream))
		})
	}
}
