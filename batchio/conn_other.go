//go:build !linux || batchio_portable

package batchio

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// sysConn is empty off Linux: the fallback needs no preallocated headers
// because it moves one datagram per system call through net.UDPConn,
// whose AddrPort methods do not allocate.
type sysConn struct{}

func reusePortControl() (func(network, address string, rc syscall.RawConn) error, error) {
	return nil, fmt.Errorf("batchio: SO_REUSEPORT: %w", errors.ErrUnsupported)
}

// init applies buffer sizes through the portable net API. It cannot read
// them back, so Buffers reports the requested values (0 = OS default).
// GSO and GRO stay off: there is no portable way to use them.
func (c *Conn) init(o Options) error {
	if o.RecvBuffer > 0 {
		if err := c.uc.SetReadBuffer(o.RecvBuffer); err != nil {
			return err
		}
		c.recvBuf = o.RecvBuffer
	}
	if o.SendBuffer > 0 {
		if err := c.uc.SetWriteBuffer(o.SendBuffer); err != nil {
			return err
		}
		c.sendBuf = o.SendBuffer
	}
	return nil
}

// readBatch returns exactly one datagram per call: blocking for a second
// one could stall the caller, and there is no portable non-blocking read.
func (c *Conn) readBatch(msgs []Message) (int, error) {
	m := &msgs[0]
	n, ap, err := c.uc.ReadFromUDPAddrPort(m.Buf)
	if err != nil {
		return 0, mapErr(err)
	}
	m.N, m.Seg = n, 0
	m.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	return 1, nil
}

// tryReadBatch finds nothing: without a non-blocking read every poll would block.
func (c *Conn) tryReadBatch([]Message) (int, error) { return 0, nil }

// writeBatch splits GSO-style messages in software, one datagram per
// system call.
func (c *Conn) writeBatch(msgs []Message) (int, error) {
	for i := range msgs {
		m := &msgs[i]
		it := m.Datagrams()
		for d, ok := it.Next(); ok; d, ok = it.Next() {
			if _, err := c.uc.WriteToUDPAddrPort(d, m.Addr); err != nil {
				if errors.Is(err, syscall.EMSGSIZE) {
					// The route's MTU is not portably readable: MTU 0 (unknown).
					return i, &SizeError{Index: i, Addr: m.Addr, Size: len(d), Err: err}
				}
				if h := c.peer.handler(); h != nil && perDestination(err) {
					h(&PeerError{Addr: m.Addr, Err: sendErrno(err), Packet: quote(d)})
					break // the rest of this Message goes to the same destination
				}
				return i, mapErr(err)
			}
		}
	}
	return len(msgs), nil
}

// enableRecvErr does nothing here: the portable path has no error queue, so only sends this
// host refuses are reported.
func (c *Conn) enableRecvErr() error { return nil }

// sendErrno digs the errno out of a net.OpError, or returns err.
func sendErrno(err error) error {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

// HoldReadWakes reports false off Linux: the runtime's poller registration is left as it is.
func (c *Conn) HoldReadWakes() bool { return false }

// ReleaseReadWakes does nothing off Linux.
func (c *Conn) ReleaseReadWakes() {}
