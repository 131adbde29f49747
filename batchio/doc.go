// Package batchio moves UDP datagrams between the kernel and caller-owned
// buffers in batches, so that the sttfast data plane pays one system call
// for many packets and allocates nothing per packet.
//
// # Model
//
// A [Message] describes one buffer: on read the kernel fills it, on write
// its first N bytes are sent. A Message can carry several datagrams of
// equal size (Seg bytes each, the last may be shorter): on write this is a
// GSO (generic segmentation offload) request, on read it is what GRO
// (generic receive offload) coalesced. [Message.Datagrams] walks them as
// views into the buffer. A [Slab] preallocates many buffers in a single
// allocation so that a receive loop never touches the heap.
//
// [Conn] wraps a *net.UDPConn. On Linux, [Conn.ReadBatch] and
// [Conn.WriteBatch] use recvmmsg(2) and sendmmsg(2) through the socket's
// syscall.RawConn, so a goroutine that would block (EAGAIN) is parked by
// the Go netpoller like any other net.Conn user, deadlines work, and Close
// wakes it with [net.ErrClosed]. Elsewhere a portable fallback moves one
// datagram per system call with the same API and semantics, splitting
// multi-datagram Messages in software; building with the tag
// batchio_portable selects it on Linux too, so it can be tested there.
//
// # Invariants
//
//   - No per-packet allocation: every mmsghdr, iovec, sockaddr and control
//     message buffer is preallocated once per Conn (one set for reading,
//     one for writing), the RawConn callbacks are method values created at
//     construction, and addresses are converted between netip.AddrPort and
//     sockaddr_in/sockaddr_in6 in place. Tests assert exactly zero
//     allocations per batch.
//   - Buffers belong to the caller (usually a Slab). batchio touches them
//     only during the call that was given them, never copies payload, and
//     never resizes Buf. (The header arrays keep pointing at the last
//     batch's buffers until the next call, which only delays their
//     collection.)
//   - One reader and one writer may run at the same time (for example an
//     RX loop and a TX loop), but ReadBatch must not be called from two
//     goroutines at once, nor WriteBatch: each direction owns one
//     preallocated header set. [Conn.TryReadBatch], a read that never
//     waits, has a third set: one poller may call it while a ReadBatch is
//     parked in the netpoller (it holds a reference on the fd, not the
//     read lock), as a reader of a request/response exchange does.
//   - Such a poller can bracket its polling with [Conn.HoldReadWakes] and
//     [Conn.ReleaseReadWakes] (Linux): while held, the socket's readiness
//     does not wake the runtime thread parked in epoll_pwait for the
//     ReadBatch, neither for the datagrams the poller takes nor for the
//     write space of each send. The registration in the runtime's epoll set
//     is modified in place (found in /proc/self/fdinfo, used only when it
//     has the runtime's usual mask); a release puts EPOLLIN back and the
//     kernel re-checks readiness, so nothing that arrived meanwhile is left
//     unread. EPOLLOUT is off from the first hold until a WriteBatch parks
//     on a full buffer; writes through [Conn.UDPConn] that would block are
//     therefore not woken after a hold.
//
// # GSO and GRO
//
// GSO lets one send carry up to [MaxSegments] datagrams (the kernel's
// UDP_MAX_SEGMENTS) of at most 65507 bytes in total over IPv4 (65527 over
// IPv6); the kernel or NIC cuts it into datagrams. WriteBatch groups
// consecutive datagrams to the same destination and of the same size, also
// across Messages (scatter/gather, no copy), into one GSO send, and splits
// anything that exceeds those limits. If the kernel refuses GSO for a route
// (EIO: the device cannot segment or checksum), GSO is switched off for the
// Conn and the refused datagrams are resent one by one; EINVAL on a GSO send
// (for example a segment larger than the path MTU) resends the rest of that
// batch split without switching GSO off, unless the route's MTU shows the
// segments are too large for it (older kernels' way of saying EMSGSIZE).
//
// # Datagrams larger than the route
//
// batchio leaves IP_MTU_DISCOVER at the kernel's default (IP_PMTUDISC_WANT
// on Linux): a single datagram larger than the route's MTU is fragmented by
// the kernel, but a GSO send cannot be, and the kernel refuses it with
// EMSGSIZE. WriteBatch then stops at the refused Message and returns a
// [*SizeError] carrying the route's MTU (read with IP_MTU on a throwaway
// socket connected to the destination), so the caller can shrink its
// packets and go on with the Messages after it.
//
// GRO makes the kernel deliver several datagrams of one flow in one buffer,
// reporting the segment size in a UDP_GRO control message, which ReadBatch
// stores in Message.Seg. A coalesced read can be up to 64 KiB, so read
// buffers must be at least [GROBufferSize] bytes when GRO is on; a
// ReadBatch given smaller buffers switches GRO off for the Conn rather than
// let the kernel truncate coalesced datagrams (datagrams already coalesced
// in the socket queue at that moment may still be truncated, so callers
// with small buffers should set Options.DisableGRO).
//
// Both are detected at run time (getsockopt UDP_SEGMENT, setsockopt
// UDP_GRO; ENOPROTOOPT or EINVAL means the kernel lacks them) and can be
// disabled with [Options]. [Conn.GSO] and [Conn.GRO] report what is in use.
//
// # What the network says about sent datagrams
//
// An unconnected UDP socket never hears of the ICMP errors its datagrams cause (a port
// unreachable from a host where nothing listens, a host unreachable from a router) unless
// IP_RECVERR is on, and then only through the socket's error queue, whose pending error fails the
// next receive or send. [Conn.SetPeerErrorHandler] turns that on: ReadBatch and WriteBatch read
// the error queue whenever a system call fails, hand each entry to the handler as a [PeerError]
// (the destination, the errno, the start of the datagram as the ICMP message quoted it) and go
// on, resending a datagram whose send only met a pending error. With a handler, a send the
// kernel refuses for its destination (no route, a source address that cannot reach it, a
// firewall rule) is reported the same way and skipped, and the rest of the batch goes out.
// Without a handler nothing changes.
package batchio
