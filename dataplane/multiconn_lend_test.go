package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/sttfast/sttfast/batchio"
)

// scriptConn is a member conn that returns the batches sent on it, copying each into the
// reader's buffers after filling those with poison, as a real conn overwrites them: a batch
// handed back to its reader while the engine still reads it is overwritten.
type scriptConn struct {
	local   netip.AddrPort
	batches chan [][]byte
	closed  chan struct{}
}

func (c *scriptConn) ReadBatch(msgs []batchio.Message) (int, error) {
	for i := range msgs {
		for j := range msgs[i].Buf {
			msgs[i].Buf[j] = 0xA5
		}
	}
	select {
	case b := <-c.batches:
		for i, p := range b {
			msgs[i].N = copy(msgs[i].Buf, p)
			msgs[i].Addr, msgs[i].Seg = netip.MustParseAddrPort("192.0.2.1:9000"), 0
		}
		return len(b), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *scriptConn) WriteBatch(msgs []batchio.Message) (int, error) { return len(msgs), nil }
func (c *scriptConn) LocalAddr() netip.AddrPort                      { return c.local }
func (c *scriptConn) Close() error                                   { close(c.closed); return nil }

// TestMultiConnLendsUntilTheNextRead reads a MultiConn with LendBatch, as the engine's RX loop
// does: the packets come out in order and whole, in the member reader's own buffers (no copy),
// and they stay whole until the next read, which alone gives the batch back to its reader (the
// reader poisons its buffers before each read; under -race an early hand-back is also a data
// race on them). ReadBatch, after a lend, still copies into the caller's buffers.
func TestMultiConnLendsUntilTheNextRead(t *testing.T) {
	c := &scriptConn{local: netip.MustParseAddrPort("10.0.0.1:1000"), batches: make(chan [][]byte), closed: make(chan struct{})}
	m := NewMultiConn(c)
	defer m.Close()
	pkt := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i) }
	go func() {
		for b := 0; b < 4; b++ {
			c.batches <- [][]byte{pkt(3 * b), pkt(3*b + 1), pkt(3*b + 2)}
		}
	}()
	out := make([]batchio.Message, 2) // batches of 3 come out as 2 and 1
	next := 0
	for next < 9 {
		n, err := m.LendBatch(out)
		if err != nil {
			t.Fatal(err)
		}
		for i, msg := range out[:n] {
			if !bytes.Equal(msg.Buf[:msg.N], pkt(next+i)) || cap(msg.Buf) != msg.N {
				t.Fatalf("packet %d: %d bytes, cap %d, or changed", next+i, msg.N, cap(msg.Buf))
			}
		}
		if n == 1 && m.lent == nil {
			t.Fatal("a finished batch went back to its reader before the caller's next read")
		}
		for i, msg := range out[:n] { // still whole just before the next read
			if !bytes.Equal(msg.Buf[:msg.N], pkt(next+i)) {
				t.Fatalf("packet %d changed before the next read", next+i)
			}
		}
		next += n
	}
	copyOut := batchio.NewSlab(4, 2048).Messages()
	n, err := m.ReadBatch(copyOut)
	if err != nil || n != 3 {
		t.Fatalf("ReadBatch after lends: %d, %v", n, err)
	}
	for i, msg := range copyOut[:n] {
		if !bytes.Equal(msg.Buf[:msg.N], pkt(9+i)) || cap(msg.Buf) != 2048 {
			t.Fatalf("copied packet %d wrong", 9+i)
		}
	}
}
