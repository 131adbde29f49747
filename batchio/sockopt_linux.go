//go:build !batchio_portable

package batchio

import (
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortControl returns the net.ListenConfig.Control hook that sets
// SO_REUSEPORT; it must run before bind, which is why Listen exists.
func reusePortControl() (func(network, address string, rc syscall.RawConn) error, error) {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return os.NewSyscallError("setsockopt SO_REUSEPORT", serr)
	}, nil
}

// setBuffer sets one socket buffer. The FORCE option ignores
// net.core.[rw]mem_max but needs CAP_NET_ADMIN; when it is refused the
// plain option still gets as close as the sysctl cap allows.
func setBuffer(fd, force, plain, size int) error {
	if size <= 0 {
		return nil
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) == nil {
		return nil
	}
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size))
}

// applyBuffers sets the requested sizes and reads back what the kernel
// actually granted, which is what callers need for sizing bursts.
func applyBuffers(fd int, o Options) (recv, send int, err error) {
	if err = setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, o.RecvBuffer); err != nil {
		return 0, 0, err
	}
	if err = setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, o.SendBuffer); err != nil {
		return 0, 0, err
	}
	if recv, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil {
		return 0, 0, os.NewSyscallError("getsockopt SO_RCVBUF", err)
	}
	if send, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil {
		return 0, 0, os.NewSyscallError("getsockopt SO_SNDBUF", err)
	}
	return recv, send, nil
}

// sizeError describes msgs[mi], refused with errno as too large, with the MTU of the route to
// its destination. A rare path: the probe socket costs four system calls.
func (c *Conn) sizeError(msgs []Message, mi int, errno unix.Errno) *SizeError {
	m := &msgs[mi]
	return &SizeError{Index: mi, Addr: m.Addr, Size: m.segSize(), MTU: routeMTU(c.local.Addr(), m.Addr),
		Err: os.NewSyscallError("sendmmsg", errno)}
}

// routeMTU returns the MTU of the kernel's route from local to dst, or 0 if it cannot be read.
// It asks a throwaway socket connected to dst (connecting a UDP socket sends nothing): the
// node's own socket is not connected, and IP_MTU answers only on a connected one. The probe is
// bound to local's address when that is a specific one, so source-based routing picks the
// route the node's packets take.
func routeMTU(local netip.Addr, dst netip.AddrPort) int {
	ip := dst.Addr().Unmap()
	fam, level, opt := unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_MTU
	if ip.Is4() {
		fam, level, opt = unix.AF_INET, unix.IPPROTO_IP, unix.IP_MTU
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	local = local.Unmap()
	if local.IsValid() && !local.IsUnspecified() && local.Is4() == ip.Is4() {
		_ = unix.Bind(fd, sockaddr(netip.AddrPortFrom(local, 0)))
	}
	if unix.Connect(fd, sockaddr(netip.AddrPortFrom(ip, dst.Port()))) != nil {
		return 0
	}
	mtu, err := unix.GetsockoptInt(fd, level, opt)
	if err != nil {
		return 0
	}
	return mtu
}

// sockaddr converts a for the slow-path calls of x/sys/unix (it allocates).
func sockaddr(a netip.AddrPort) unix.Sockaddr {
	ip := a.Addr()
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: ip.As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(a.Port()), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		var zc zoneCache
		sa.ZoneId = zc.index(z)
	}
	return sa
}
