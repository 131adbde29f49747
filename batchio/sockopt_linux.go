//go:build !batchio_portable

package batchio

import (
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
