//go:build !batchio_portable

package batchio

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Control buffer space per message. Receive leaves room beyond the 4-byte
// UDP_GRO int for other ancillary data a caller might enable on the
// socket, so a GRO size is not lost to MSG_CTRUNC; send only ever writes
// one UDP_SEGMENT (uint16).
const (
	rxCtrlSpace = 64
	txCtrlSpace = unix.SizeofCmsghdr + 8 // CMSG_SPACE(2)
)

// Why recvmmsg and sendmmsg are raw system calls. The socket is non-blocking (the runtime set
// O_NONBLOCK), so neither call ever waits: a full buffer or an empty queue is EAGAIN, and the
// RawConn callback then parks the goroutine in the netpoller. syscall.Syscall6 would still tell
// the scheduler that the thread may block (entersyscall): a call that runs longer than sysmon's
// 20 µs tick (a 64 KiB GSO train copied into the receiving socket on loopback, a batch of GRO
// buffers copied out) has its P handed to another thread, which must be woken for it, and the
// caller, on return, finds its P gone and parks its goroutine for a third thread to pick up.
// On a 2-core machine those hand-offs cost more than the copies: bulk moved 7.2 Gbit/s with
// Syscall6 and 8.0 with RawSyscall6 side by side (profiles/README.md, "Raw system calls"), and
// a polling reader, whose loop is nothing but these calls and sched_yield, moved between
// threads at every hand-off (round-trip p50 19 -> 15 µs). A raw call keeps the P for its
// length; the kernel work is the goroutine's own CPU time, as it is for any computation. The
// rare calls (the error queue's recvmsg, socket options) keep Syscall.

// sysConn is the Linux state of a Conn: the RawConn and two independent
// preallocated header sets, so ReadBatch and WriteBatch can run at the
// same time without sharing anything mutable.
type sysConn struct {
	rc     syscall.RawConn
	family int // AF_INET or AF_INET6, from SO_DOMAIN
	rx     rxState
	poll   rxState // TryReadBatch's own header set, so a poller never touches ReadBatch's
	tx     txState
	df     dfState  // WriteUnfragmented's socket option switch (unfrag_linux.go)
	wakes  epollReg // the socket's registration in the runtime's epoll set (wakes_linux.go)
}

// rxState is everything recvmmsg needs, allocated once. hdr i always
// points at iovs[i], names[i] and control slot i; only the iovec base and
// the lengths the kernel overwrites are refreshed per call.
type rxState struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for sockaddr_in too
	ctrl  []byte                  // rxCtrlSpace per message, 8-byte aligned
	cnt   int                     // headers offered to the kernel
	n     int                     // headers filled by the kernel
	errno unix.Errno
	fn    func(fd uintptr) bool // r.recv, bound once so rc.Read does not allocate
	tryFn func(fd uintptr)      // r.tryRecv, bound once so rc.Control does not allocate
	zone  zoneCache
	peer  *peerHook
	errq  errQueue
	// drained counts error-queue entries read during the last recvmmsg failure: the failure
	// was their pending error, now delivered, and the read goes on.
	drained int
}

// txState is everything sendmmsg needs, allocated once. plan fills
// hdrs[:cnt]; send advances off as the kernel accepts headers, so after
// an error off is the header that failed.
type txState struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec // 2 per header: a group may span Message boundaries
	names []unix.RawSockaddrInet6
	ctrl  []byte // txCtrlSpace per header, 8-byte aligned
	// Where each header starts (Message index, byte offset), so a failure
	// can be mapped back to Messages and resent from exactly there.
	startMsg []int32
	startOff []int32
	gsoHdr   []bool // header carries UDP_SEGMENT
	cnt, off int
	errno    unix.Errno
	fn       func(fd uintptr) bool // t.send, bound once
	zone     zoneCache
	family   int
	// injectEIO makes the next GSO header fail with EIO without a system
	// call, so tests can exercise the fallback on hardware that never
	// refuses GSO (loopback).
	injectEIO bool
	// injectErr, when set, is the errno injectEIO makes the GSO header fail
	// with instead of EIO.
	injectErr unix.Errno
	peer      *peerHook
	errq      errQueue
	pe        PeerError // the report of a refused send being handed out, reused
	wakes     *epollReg // EPOLLOUT back before parking on a full buffer (wakes_linux.go)
}

// alignedBytes returns n zeroed bytes backed by uint64s, so cmsghdr
// pointers into it are properly aligned (checkptr verifies this).
func alignedBytes(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

func (c *Conn) init(o Options) error {
	rc, err := c.uc.SyscallConn()
	if err != nil {
		return err
	}
	s := &c.sys
	s.rc = rc
	var ierr error
	err = rc.Control(func(fd uintptr) {
		s.family, ierr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if ierr != nil {
			ierr = os.NewSyscallError("getsockopt SO_DOMAIN", ierr)
			return
		}
		if c.recvBuf, c.sendBuf, ierr = applyBuffers(int(fd), o); ierr != nil {
			return
		}
		c.gso.Store(!o.DisableGSO && probeGSO(int(fd)))
		c.gro.Store(!o.DisableGRO && enableGRO(int(fd)))
	})
	if err != nil {
		return err
	}
	if ierr != nil {
		return ierr
	}
	if s.family != unix.AF_INET && s.family != unix.AF_INET6 {
		return os.NewSyscallError("socket family", unix.EAFNOSUPPORT)
	}
	s.rx.init(c.batch)
	s.poll.init(min(c.batch, maxPollBatch))
	s.tx.init(c.batch, s.family)
	s.rx.peer, s.poll.peer, s.tx.peer = &c.peer, &c.peer, &c.peer
	s.tx.wakes = &s.wakes
	c.initDF()
	return nil
}

func (r *rxState) init(b int) {
	r.hdrs = make([]unix.Mmsghdr, b)
	r.iovs = make([]unix.Iovec, b)
	r.names = make([]unix.RawSockaddrInet6, b)
	r.ctrl = alignedBytes(b * rxCtrlSpace)
	for i := range r.hdrs {
		h := &r.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.ctrl[i*rxCtrlSpace]
	}
	r.fn = r.recv
	r.tryFn = r.tryRecv
	r.errq.init()
}

func (t *txState) init(b, family int) {
	t.family = family
	t.hdrs = make([]unix.Mmsghdr, b)
	t.iovs = make([]unix.Iovec, 2*b)
	t.names = make([]unix.RawSockaddrInet6, b)
	t.ctrl = alignedBytes(b * txCtrlSpace)
	t.startMsg = make([]int32, b)
	t.startOff = make([]int32, b)
	t.gsoHdr = make([]bool, b)
	for i := range t.hdrs {
		t.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&t.names[i]))
	}
	t.fn = t.send
	t.errq.init()
}

// recv is the RawConn read callback. Returning false means EAGAIN: the
// netpoller parks the goroutine until the socket is readable and calls it
// again.
func (r *rxState) recv(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, // raw: never blocks (see above)
			uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(r.cnt), 0, 0, 0)
		switch e {
		case 0:
			r.n, r.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.n, r.errno = 0, e
			if r.peer.on.Load() {
				// With IP_RECVERR an ICMP error for a datagram we sent surfaces here as its
				// errno (ECONNREFUSED for a port unreachable); the details are in the error
				// queue, which must be read anyway: its entries hold receive buffer space.
				r.drained, _ = r.errq.drain(fd, r.peer.handler(), e)
			}
			return true
		}
	}
}

// tryRecv is TryReadBatch's RawConn control callback: one recvmmsg that never waits. EAGAIN
// leaves n at 0 and errno at 0.
func (r *rxState) tryRecv(fd uintptr) {
	r.n, r.errno = 0, 0
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, // raw: never blocks (see above)
			uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(r.cnt), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r.n = int(n)
			return
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return
		default:
			r.errno = e
			if r.peer.on.Load() {
				r.drained, _ = r.errq.drain(fd, r.peer.handler(), e)
			}
			return
		}
	}
}

// send is the RawConn write callback: it pushes hdrs[off:cnt] until all
// are accepted (true), the socket buffer is full (false: park, then
// resume from off) or the kernel reports an error for hdrs[off] (true with
// errno set; sendmmsg reports an error only when no header was sent).
func (t *txState) send(fd uintptr) bool {
	retries := 0
	for t.off < t.cnt {
		end := t.cnt
		if t.injectEIO {
			if end = t.injectUntil(); end == t.off {
				t.injectEIO = false
				t.errno = unix.EIO
				if t.injectErr != 0 {
					t.errno, t.injectErr = t.injectErr, 0
				}
				return true
			}
		}
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, // raw: never blocks (see above)
			uintptr(unsafe.Pointer(&t.hdrs[t.off])), uintptr(end-t.off), 0, 0, 0)
		switch e {
		case 0:
			t.off += int(n)
			retries = 0
		case unix.EINTR:
		case unix.EAGAIN:
			t.wakes.wantWriteWakes(fd)
			return false
		case unix.ENOBUFS:
			if t.peer.on.Load() {
				// A full device queue dropped this datagram; without IP_RECVERR the kernel
				// says nothing and sendmmsg goes on with the next one, so do the same.
				t.off++
				continue
			}
			t.errno = e
			return true
		default:
			if t.peer.on.Load() {
				// An ICMP error pending on the socket fails the next send with its errno (the
				// datagram did not go out): deliver it, then send the datagram again.
				// ECONNREFUSED is never a send's own error on an unconnected socket.
				_, icmp := t.errq.drain(fd, t.peer.handler(), e)
				if (icmp || e == unix.ECONNREFUSED) && retries < 4 {
					retries++
					continue
				}
			}
			t.errno = e
			return true
		}
	}
	return true
}

// injectUntil returns the first GSO header at or after off (where the
// injected EIO will hit), so headers before it really go out first.
func (t *txState) injectUntil() int {
	for k := t.off; k < t.cnt; k++ {
		if t.gsoHdr[k] {
			return k
		}
	}
	return t.cnt
}

func (c *Conn) readBatch(msgs []Message) (int, error) {
	r := &c.sys.rx
	c.prepareRead(r, msgs)
	cnt := r.cnt
	for {
		r.drained = 0
		if err := c.sys.rc.Read(r.fn); err != nil {
			return 0, mapErr(err)
		}
		if r.errno == 0 {
			break
		}
		if r.drained == 0 {
			return 0, os.NewSyscallError("recvmmsg", r.errno)
		}
		// The error was an ICMP report, now read from the error queue: read the data again.
		for i := range cnt {
			h := &r.hdrs[i]
			h.Hdr.Namelen = unix.SizeofSockaddrInet6
			h.Hdr.SetControllen(rxCtrlSpace)
			h.Hdr.Flags = 0
			h.Len = 0
		}
	}
	r.fill(msgs)
	return r.n, nil
}

// tryReadBatch is TryReadBatch on Linux: one recvmmsg with MSG_DONTWAIT on the poll header set,
// through RawConn.Control, which holds a reference on the fd (it cannot be closed and reused
// under the call) but not the read lock that a ReadBatch parked in the netpoller holds.
func (c *Conn) tryReadBatch(msgs []Message) (int, error) {
	r := &c.sys.poll
	c.prepareRead(r, msgs)
	r.drained = 0
	if err := c.sys.rc.Control(r.tryFn); err != nil {
		return 0, mapErr(err)
	}
	if r.errno != 0 {
		if r.drained > 0 {
			return 0, nil // an ICMP report, now handed to the handler; the data is still queued
		}
		return 0, os.NewSyscallError("recvmmsg", r.errno)
	}
	r.fill(msgs)
	return r.n, nil
}

// prepareRead points r's headers at msgs' buffers and resets what the kernel overwrites.
func (c *Conn) prepareRead(r *rxState, msgs []Message) {
	cnt := min(len(msgs), len(r.hdrs))
	if c.gro.Load() {
		for i := range cnt {
			if len(msgs[i].Buf) < GROBufferSize {
				c.disableGRO()
				break
			}
		}
	}
	for i := range cnt {
		b := msgs[i].Buf
		r.iovs[i].Base = unsafe.SliceData(b)
		r.iovs[i].SetLen(len(b))
		h := &r.hdrs[i]
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.SetControllen(rxCtrlSpace)
		h.Hdr.Flags = 0
		h.Len = 0
	}
	r.cnt = cnt
}

// fill copies what the kernel reported for the first r.n headers into msgs.
func (r *rxState) fill(msgs []Message) {
	for i := range r.n {
		m := &msgs[i]
		h := &r.hdrs[i]
		m.N = int(h.Len)
		m.Addr = r.addr(&r.names[i])
		m.Seg = 0
		if h.Hdr.Controllen > 0 {
			off := i * rxCtrlSpace
			if s := groSize(r.ctrl[off : off+int(h.Hdr.Controllen)]); s > 0 && s < m.N {
				m.Seg = s
			}
		}
	}
}

func (c *Conn) writeBatch(msgs []Message) (int, error) {
	t := &c.sys.tx
	if t.family == unix.AF_INET {
		for i := range msgs {
			if a := msgs[i].Addr.Addr(); !a.Is4() && !a.Is4In6() {
				h := c.peer.handler()
				if h == nil {
					return 0, errFamily
				}
				// With a handler the datagram is reported and skipped, the rest goes out.
				if n, err := c.writeBatch(msgs[:i]); err != nil {
					return n, err
				}
				t.pe = PeerError{Addr: msgs[i].Addr, Err: errFamily, Packet: quote(msgs[i].Buf[:msgs[i].N])}
				h(&t.pe)
				t.pe = PeerError{}
				n, err := c.writeBatch(msgs[i+1:])
				return i + 1 + n, err
			}
		}
	}
	mi, off := 0, 0
	split := false // kernel refused GSO with EINVAL: send the rest of this batch split
	for mi < len(msgs) {
		nmi, noff := t.plan(msgs, mi, off, c.gso.Load() && !split)
		t.off, t.errno = 0, 0
		if err := c.sys.rc.Write(t.fn); err != nil {
			if t.off < t.cnt {
				nmi = int(t.startMsg[t.off])
			}
			return nmi, mapErr(err)
		}
		if t.errno != 0 {
			k := t.off
			mi, off = int(t.startMsg[k]), int(t.startOff[k])
			if t.errno == unix.EMSGSIZE {
				return mi, c.sizeError(msgs, mi, t.errno)
			}
			if t.gsoHdr[k] {
				switch t.errno {
				case unix.EIO:
					// The route's device cannot segment: it will not get better.
					c.gso.Store(false)
					continue
				case unix.EINVAL:
					// Kernels before 6.x say EINVAL, not EMSGSIZE, for segments larger
					// than the route's MTU: resending them split would have the kernel
					// fragment every one, so report them as too large instead.
					if se := c.sizeError(msgs, mi, t.errno); se.MTU > 0 && se.Size > se.MaxPayload() {
						return mi, se
					}
					split = true
					continue
				}
			}
			if h := c.peer.handler(); h != nil && perDestination(t.errno) {
				// Reported, and the batch goes on after the refused header.
				m := &msgs[mi]
				t.pe = PeerError{Addr: m.Addr, Err: t.errno, Packet: quote(m.Buf[off:m.N])}
				h(&t.pe)
				t.pe = PeerError{}
				if k+1 < t.cnt {
					mi, off = int(t.startMsg[k+1]), int(t.startOff[k+1])
				} else {
					mi, off = nmi, noff
				}
				continue
			}
			return mi, os.NewSyscallError("sendmmsg", t.errno)
		}
		mi, off = nmi, noff
	}
	return len(msgs), nil
}

// putAddr writes a as the socket's sockaddr type into header h's name slot.
// IPv4 destinations on an IPv6 (dual-stack) socket become IPv4-mapped, as
// the kernel expects.
func (t *txState) putAddr(h int, a netip.AddrPort) {
	slot := &t.names[h]
	ip := a.Addr()
	if t.family == unix.AF_INET {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(slot))
		sa.Family = unix.AF_INET
		putPort(&sa.Port, a.Port())
		sa.Addr = ip.Unmap().As4()
		sa.Zero = [8]uint8{}
		t.hdrs[h].Hdr.Namelen = unix.SizeofSockaddrInet4
		return
	}
	slot.Family = unix.AF_INET6
	putPort(&slot.Port, a.Port())
	slot.Flowinfo = 0
	slot.Addr = ip.As16()
	slot.Scope_id = 0
	if z := ip.Zone(); z != "" {
		slot.Scope_id = t.zone.index(z)
	}
	t.hdrs[h].Hdr.Namelen = unix.SizeofSockaddrInet6
}

// addr converts a received sockaddr to netip.AddrPort without allocating
// (zoned link-local sources go through a one-entry cache).
func (r *rxState) addr(slot *unix.RawSockaddrInet6) netip.AddrPort {
	return sockaddrAddrPort(slot, &r.zone)
}

// sockaddrAddrPort converts a sockaddr_in or sockaddr_in6 (IPv4-mapped addresses unmapped) to
// netip.AddrPort; z caches the zone of link-local addresses.
func sockaddrAddrPort(slot *unix.RawSockaddrInet6, z *zoneCache) netip.AddrPort {
	switch slot.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(slot))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port))
	case unix.AF_INET6:
		ip := netip.AddrFrom16(slot.Addr)
		if ip.Is4In6() {
			ip = ip.Unmap()
		} else if slot.Scope_id != 0 {
			ip = ip.WithZone(z.name(slot.Scope_id))
		}
		return netip.AddrPortFrom(ip, getPort(&slot.Port))
	}
	return netip.AddrPort{}
}

// Ports are stored in network byte order whatever the host's.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// zoneCache remembers the last IPv6 zone <-> interface index conversion:
// resolving it walks the interface list and allocates, while a flow to a
// link-local peer keeps using the same zone.
type zoneCache struct {
	idx uint32
	nam string
}

func (z *zoneCache) index(name string) uint32 {
	if name == z.nam && z.nam != "" {
		return z.idx
	}
	var idx uint32
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		idx = uint32(n)
	} else if ifi, err := net.InterfaceByName(name); err == nil {
		idx = uint32(ifi.Index)
	}
	z.idx, z.nam = idx, name
	return idx
}

func (z *zoneCache) name(idx uint32) string {
	if idx == z.idx && z.nam != "" {
		return z.nam
	}
	nam := strconv.FormatUint(uint64(idx), 10)
	if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
		nam = ifi.Name
	}
	z.idx, z.nam = idx, nam
	return nam
}
