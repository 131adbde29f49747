//go:build !batchio_portable

package batchio

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probeGSO reports whether the kernel knows UDP_SEGMENT (Linux 4.18+).
// Reading the option has no side effect; ENOPROTOOPT (or EINVAL from
// some kernels) means no GSO. Whether the route's device can actually
// segment is only learned at send time (EIO).
func probeGSO(fd int) bool {
	_, err := unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// enableGRO turns on UDP_GRO (Linux 5.0+). Without it the kernel splits
// GSO/GRO packets before queueing them, so every datagram costs a socket
// queue entry and a copy-out of its own. ENOPROTOOPT/EINVAL: unsupported.
func enableGRO(fd int) bool {
	return unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1) == nil
}

// disableGRO switches GRO off because the caller's buffers are too small
// to hold a coalesced receive. Rare and one-way, so the closure it
// allocates does not matter.
func (c *Conn) disableGRO() {
	c.gro.Store(false)
	_ = c.sys.rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 0)
	})
}

// groSize walks received ancillary data for UDP_GRO and returns the
// segment size, or 0. Parsed by hand: unix.ParseSocketControlMessage
// allocates a slice per call.
func groSize(b []byte) int {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO {
			d := b[unix.SizeofCmsghdr:l]
			switch {
			case len(d) >= 4: // the kernel sends an int
				return int(*(*int32)(unsafe.Pointer(&d[0])))
			case len(d) >= 2:
				return int(*(*uint16)(unsafe.Pointer(&d[0])))
			}
			return 0
		}
		next := (l + 7) &^ 7 // CMSG_ALIGN
		if next >= len(b) {
			return 0
		}
		b = b[next:]
	}
	return 0
}

// putSegment writes the UDP_SEGMENT control message for header h.
func (t *txState) putSegment(h, seg int) {
	b := t.ctrl[h*txCtrlSpace : (h+1)*txCtrlSpace]
	ch := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	ch.Level = unix.SOL_UDP
	ch.Type = unix.UDP_SEGMENT
	ch.SetLen(unix.SizeofCmsghdr + 2)
	*(*uint16)(unsafe.Pointer(&b[unix.SizeofCmsghdr])) = uint16(seg)
	t.hdrs[h].Hdr.Control = &b[0]
	t.hdrs[h].Hdr.SetControllen(txCtrlSpace)
	t.gsoHdr[h] = true
}

// begin starts header h at (mi, off) of msgs, addressed to a, with no
// payload and no control message yet.
func (t *txState) begin(h, v, mi, off int, a netip.AddrPort) {
	t.putAddr(h, a)
	hd := &t.hdrs[h].Hdr
	hd.Iov = nil
	if v < len(t.iovs) {
		hd.Iov = &t.iovs[v]
	}
	hd.SetIovlen(0)
	hd.Control = nil
	hd.SetControllen(0)
	hd.Flags = 0
	t.hdrs[h].Len = 0
	t.startMsg[h] = int32(mi)
	t.startOff[h] = int32(off)
	t.gsoHdr[h] = false
}

// addIov appends b to header h's scatter/gather list as iovec v.
func (t *txState) addIov(h, v int, b []byte) {
	t.iovs[v].Base = unsafe.SliceData(b)
	t.iovs[v].SetLen(len(b))
	t.hdrs[h].Hdr.Iovlen++
}

func maxGSOBytes(a netip.AddrPort) int {
	if ip := a.Addr(); ip.Is4() || ip.Is4In6() {
		return maxPayload4
	}
	return maxPayload6
}

// plan fills t.hdrs[:t.cnt] with the datagrams of msgs from cursor
// (mi, off) on and returns the cursor after the last planned byte.
//
// Without GSO every datagram is one header. With GSO, consecutive
// datagrams to the same address and of the same size (the last of a group
// may be shorter, which ends it) share one header, even across Messages:
// each Message range becomes an iovec, so nothing is copied. A group ends
// at MaxSegments datagrams or when the next datagram would push it past the
// largest UDP payload; only groups of two or more carry UDP_SEGMENT.
func (t *txState) plan(msgs []Message, mi, off int, gso bool) (int, int) {
	nh, nv := len(t.hdrs), len(t.iovs)
	h, v := 0, 0
	open := false // header h-1 is a GSO group that may take more
	var gAddr netip.AddrPort
	gSeg, gCnt, gBytes, gMax := 0, 0, 0, 0
	// A closure only to share the group state; it does not escape, so it
	// lives on the stack (TestZeroAlloc would catch it otherwise).
	closeGroup := func() {
		if open && gCnt > 1 {
			t.putSegment(h-1, gSeg)
		}
		open = false
	}
loop:
	for mi < len(msgs) {
		m := &msgs[mi]
		seg := m.segSize()
		if m.N == 0 { // an empty datagram: its own header, nothing to segment
			closeGroup()
			if h == nh {
				break loop
			}
			t.begin(h, v, mi, 0, m.Addr)
			t.hdrs[h].Hdr.Iov = nil
			h++
			mi, off = mi+1, 0
			continue
		}
		for off < m.N {
			rem := m.N - off
			if !gso {
				if h == nh || v == nv {
					break loop
				}
				d := min(seg, rem)
				t.begin(h, v, mi, off, m.Addr)
				t.addIov(h, v, m.Buf[off:off+d])
				h, v, off = h+1, v+1, off+d
				continue
			}
			// Datagrams left in this Message from off: full ones of seg
			// bytes, the last possibly shorter.
			nd := 1
			if rem > seg {
				nd = (rem + seg - 1) / seg
			}
			if open && (m.Addr != gAddr || (seg != gSeg && (nd > 1 || rem > gSeg))) {
				closeGroup()
			}
			if open && v == nv {
				closeGroup()
				break loop
			}
			if !open {
				if h == nh || v == nv {
					break loop
				}
				t.begin(h, v, mi, off, m.Addr)
				h++
				open, gAddr = true, m.Addr
				gSeg, gCnt, gBytes, gMax = min(seg, rem), 0, 0, maxGSOBytes(m.Addr)
			}
			j := min(nd, MaxSegments-gCnt)
			n := rem
			if j < nd {
				n = j * seg
			}
			alone := false
			if gBytes+n > gMax {
				if nd == 1 {
					j = 0
				} else {
					j = min(j, (gMax-gBytes)/seg)
				}
				n = j * seg
				if j <= 0 && gCnt == 0 {
					// Bigger than any UDP payload: send it alone and let the
					// kernel report EMSGSIZE for it.
					j, n, alone = 1, min(seg, rem), true
				}
			}
			if j <= 0 {
				closeGroup()
				continue
			}
			t.addIov(h-1, v, m.Buf[off:off+n])
			v++
			gCnt, gBytes, off = gCnt+j, gBytes+n, off+n
			last := n - (j-1)*seg // size of the last datagram added
			if alone || last < gSeg || j < nd || gCnt == MaxSegments {
				closeGroup()
			}
		}
		mi, off = mi+1, 0
	}
	closeGroup()
	t.cnt = h
	return mi, off
}
