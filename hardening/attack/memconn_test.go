package attack

import (
	"net"
	"net/netip"
	"sync"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane"
)

// memConn replaces a node's socket (through ctrl.Config.WrapConn) with two channels, so a fuzz
// target can hand the node datagrams and see what it sends without the kernel in between.
type memConn struct {
	inner dataplane.PacketConn // the real socket, only closed
	in    chan memDatagram
	out   chan memDatagram
	done  chan struct{}
	once  sync.Once
}

// memDatagram is one datagram and its peer address.
type memDatagram struct {
	b    []byte
	addr netip.AddrPort
}

func newMemConn(inner dataplane.PacketConn) *memConn {
	return &memConn{inner: inner, in: make(chan memDatagram, 64), out: make(chan memDatagram, 4096), done: make(chan struct{})}
}

// ReadBatch blocks for one datagram, then takes whatever else is waiting.
func (c *memConn) ReadBatch(msgs []batchio.Message) (int, error) {
	var d memDatagram
	select {
	case d = <-c.in:
	case <-c.done:
		return 0, net.ErrClosed
	}
	n := 0
	for {
		m := &msgs[n]
		m.N = copy(m.Buf, d.b)
		m.Addr, m.Seg = d.addr, 0
		n++
		if n == len(msgs) {
			return n, nil
		}
		select {
		case d = <-c.in:
		default:
			return n, nil
		}
	}
}

// WriteBatch records every datagram sent (GSO batches split); it drops them when nobody reads.
func (c *memConn) WriteBatch(msgs []batchio.Message) (int, error) {
	for i := range msgs {
		it := msgs[i].Datagrams()
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			select {
			case c.out <- memDatagram{b: append([]byte(nil), b...), addr: msgs[i].Addr}:
			default:
			}
		}
	}
	return len(msgs), nil
}

// LocalAddr is the real socket's address.
func (c *memConn) LocalAddr() netip.AddrPort { return c.inner.LocalAddr() }

// Close ends ReadBatch and closes the real socket.
func (c *memConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.inner.Close()
}
