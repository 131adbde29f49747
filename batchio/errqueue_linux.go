//go:build !batchio_portable

package batchio

import (
	"encoding/binary"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errqCtrlSpace holds the IP_RECVERR/IPV6_RECVERR control message (a 16-byte sock_extended_err
// and the offender's sockaddr) with room to spare for any other ancillary data.
const errqCtrlSpace = 256

// sizeofSockExtendedErr is sizeof(struct sock_extended_err).
const sizeofSockExtendedErr = int(unsafe.Sizeof(unix.SockExtendedErr{}))

// maxDrain bounds one drain of the error queue; what is left is read on the next error.
const maxDrain = 256

// errQueue reads a socket's error queue (recvmsg with MSG_ERRQUEUE) without allocating: one
// preallocated msghdr, a buffer for the start of the datagram concerned and one for the control
// message. The RX and TX sides each own one, so both may drain at the same time.
type errQueue struct {
	hdr  unix.Msghdr
	iov  unix.Iovec
	name unix.RawSockaddrInet6
	buf  [PeerQuote]byte
	ctrl []byte
	zone zoneCache
	pe   PeerError // the report being handed out, reused
}

func (q *errQueue) init() { q.ctrl = alignedBytes(errqCtrlSpace) }

// drain reads the error queue until it is empty (at most maxDrain entries) and passes each entry
// to h (nil: the entries are dropped, which still frees the socket buffer space they hold). It
// returns how many entries it read, and whether one of them was an ICMP error of errno e: then
// the e a system call just returned was that error, pending on the socket, not its own.
func (q *errQueue) drain(fd uintptr, h PeerErrorHandler, e unix.Errno) (n int, icmp bool) {
	for n < maxDrain {
		q.iov.Base = &q.buf[0]
		q.iov.SetLen(len(q.buf))
		q.hdr.Name = (*byte)(unsafe.Pointer(&q.name))
		q.hdr.Namelen = unix.SizeofSockaddrInet6
		q.hdr.Iov = &q.iov
		q.hdr.SetIovlen(1)
		q.hdr.Control = &q.ctrl[0]
		q.hdr.SetControllen(len(q.ctrl))
		q.hdr.Flags = 0
		r, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&q.hdr)),
			unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return n, icmp // EAGAIN: the queue is empty
		}
		n++
		ee, offender, ok := extendedErr(q.ctrl[:min(int(q.hdr.Controllen), len(q.ctrl))])
		if !ok {
			continue
		}
		remote := ee.Origin == unix.SO_EE_ORIGIN_ICMP || ee.Origin == unix.SO_EE_ORIGIN_ICMP6
		if remote && unix.Errno(ee.Errno) == e {
			icmp = true
		}
		if h == nil {
			continue
		}
		q.pe = PeerError{
			Addr:     sockaddrAddrPort(&q.name, &q.zone),
			Err:      unix.Errno(ee.Errno),
			Remote:   remote,
			Offender: offender,
			Packet:   q.buf[:min(int(r), len(q.buf))],
		}
		h(&q.pe)
		q.pe = PeerError{}
	}
	return n, icmp
}

// extendedErr finds the IP_RECVERR or IPV6_RECVERR control message in b and returns its
// sock_extended_err and the offender's address (SO_EE_OFFENDER: the sockaddr that follows it).
func extendedErr(b []byte) (ee unix.SockExtendedErr, offender netip.Addr, ok bool) {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return ee, offender, false
		}
		if (h.Level == unix.SOL_IP && h.Type == unix.IP_RECVERR) ||
			(h.Level == unix.SOL_IPV6 && h.Type == unix.IPV6_RECVERR) {
			d := b[unix.SizeofCmsghdr:l]
			if len(d) < sizeofSockExtendedErr {
				return ee, offender, false
			}
			ee = *(*unix.SockExtendedErr)(unsafe.Pointer(&d[0]))
			sa := d[sizeofSockExtendedErr:]
			if len(sa) >= 2 {
				switch binary.NativeEndian.Uint16(sa) {
				case unix.AF_INET:
					if len(sa) >= 8 {
						offender = netip.AddrFrom4([4]byte(sa[4:8]))
					}
				case unix.AF_INET6:
					if len(sa) >= 24 {
						offender = netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
					}
				}
			}
			return ee, offender, true
		}
		next := (l + 7) &^ 7 // CMSG_ALIGN
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return ee, offender, false
}

// enableRecvErr turns the error queue on: ICMP errors for datagrams this socket sent are queued
// there (an unconnected UDP socket otherwise never hears of them). A dual-stack IPv6 socket needs
// IP_RECVERR as well for its IPv4 peers.
func (c *Conn) enableRecvErr() error {
	if c.peer.on.Load() {
		return nil
	}
	var serr error
	err := c.sys.rc.Control(func(fd uintptr) {
		e4 := unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_RECVERR, 1)
		if c.sys.family == unix.AF_INET {
			serr = os.NewSyscallError("setsockopt IP_RECVERR", e4)
			return
		}
		// IP_RECVERR fails on an IPv6-only socket, which has no IPv4 peers anyway.
		serr = os.NewSyscallError("setsockopt IPV6_RECVERR", unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_RECVERR, 1))
	})
	if err != nil {
		return mapErr(err)
	}
	if serr != nil {
		return serr
	}
	c.peer.on.Store(true)
	return nil
}
