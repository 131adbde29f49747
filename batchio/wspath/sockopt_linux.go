package wspath

import "golang.org/x/sys/unix"

// setNotSentLowat sets TCP_NOTSENT_LOWAT, so the kernel keeps at most about n bytes of a
// connection's data unsent (beyond what is in flight) and the rest waits in user space, where the
// outbound budget counts it.
func setNotSentLowat(fd, n int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, n)
}
