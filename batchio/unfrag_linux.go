//go:build !batchio_portable

package batchio

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

var _ UnfragmentedWriter = (*Conn)(nil)

// dfState holds the callbacks that switch the socket between the kernel's default path MTU
// mode and IP_PMTUDISC_PROBE, made once at construction so a probe allocates nothing.
type dfState struct {
	on, off func(fd uintptr)
	err     error // the last setsockopt error (read under the write side's ownership)
}

func (c *Conn) initDF() {
	d := &c.sys.df
	family := c.sys.family
	d.on = func(fd uintptr) {
		d.err = setPMTUDisc(int(fd), family, unix.IP_PMTUDISC_PROBE, unix.IPV6_PMTUDISC_PROBE)
	}
	d.off = func(fd uintptr) { d.err = setPMTUDisc(int(fd), family, unix.IP_PMTUDISC_WANT, unix.IPV6_PMTUDISC_WANT) }
}

// setPMTUDisc sets the socket's path MTU discovery mode. IP_PMTUDISC_PROBE sets DF and checks
// datagrams against the device's MTU, not the route's cached path MTU: the prober, not ICMP
// (which an attacker can forge), decides what the path carries, as RFC 8899 §4.6 asks. On an
// IPv6 socket both options are set: IPv4-mapped destinations follow the IPv4 one.
func setPMTUDisc(fd, family, v4, v6 int) error {
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, v6); err != nil {
			return os.NewSyscallError("setsockopt IPV6_MTU_DISCOVER", err)
		}
		// A v6-only socket may refuse the IPv4 option; it then has no IPv4 traffic anyway.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v4)
		return nil
	}
	return os.NewSyscallError("setsockopt IP_MTU_DISCOVER", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v4))
}

// WriteUnfragmented implements UnfragmentedWriter: the socket is switched to
// IP_PMTUDISC_PROBE (IPV6_PMTUDISC_PROBE) for this write and back to the kernel's default,
// IP_PMTUDISC_WANT, after it: two system calls more, which a prober sending a few datagrams
// per search can afford. Datagrams larger than the device's MTU fail with a *SizeError.
func (c *Conn) WriteUnfragmented(msgs []Message) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	d := &c.sys.df
	if d.on == nil {
		c.initDF()
	}
	if err := c.sys.rc.Control(d.on); err != nil {
		return 0, mapErr(err)
	}
	if d.err != nil {
		return 0, d.err
	}
	n, err := c.WriteBatch(msgs)
	if cerr := c.sys.rc.Control(d.off); cerr == nil && d.err != nil && err == nil {
		err = d.err
	}
	return n, err
}

// pmtuDiscMode reads the socket's IP_MTU_DISCOVER (IPV6_MTU_DISCOVER on an IPv6 socket), for
// tests.
func (c *Conn) pmtuDiscMode() (int, error) {
	var v int
	var gerr error
	err := c.sys.rc.Control(func(fd uintptr) {
		if c.sys.family == unix.AF_INET6 {
			v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER)
			return
		}
		v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER)
	})
	if err != nil {
		return 0, err
	}
	return v, gerr
}
