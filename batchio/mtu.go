package batchio

import (
	"fmt"
	"net/netip"
)

// IP and UDP header sizes: what a route's MTU carries beyond the UDP payload.
const (
	ipv4Header = 20
	ipv6Header = 40
	udpHeader  = 8
)

// SizeError is the error of a WriteBatch whose datagrams the kernel refused as larger than the
// route to Addr carries (EMSGSIZE). It is how the local MTU reaches the caller: a sender that
// gets one shrinks its packets to MaxPayload or gives up on the path.
//
// WriteBatch stops at the refused Message, as for any error, and returns its index (also in
// Index): the Messages before it were sent, the refused one was not (wholly), and the caller may
// go on with msgs[Index+1:]. Datagrams within a Message share a size, so the whole Message is
// refused; a GSO send that spans several Messages fails as a whole and is reported at its first.
//
// Only datagrams sent whole can fail this way. batchio leaves the socket's IP_MTU_DISCOVER
// (IPV6_MTU_DISCOVER) at the kernel default, IP_PMTUDISC_WANT on Linux: a single datagram
// larger than the route's MTU is fragmented by the kernel and sent, which is what lets a
// handshake whose packets are padded to a fixed size cross a narrower path. A GSO send cannot be
// fragmented: the kernel refuses one whose segments exceed the route's MTU (EMSGSIZE on current
// kernels, EINVAL on older ones, which batchio tells apart from the other causes of EINVAL by
// reading the route's MTU).
type SizeError struct {
	Index int            // the refused Message
	Addr  netip.AddrPort // its destination
	Size  int            // the size of its datagrams (UDP payload)
	// MTU is the route's MTU toward Addr as the kernel reports it (IP_MTU or IPV6_MTU read on a
	// socket connected to Addr: the device's MTU, or less where ICMP lowered it), 0 where it
	// could not be read.
	MTU int
	Err error // the system call's error
}

func (e *SizeError) Error() string {
	if e.MTU > 0 {
		return fmt.Sprintf("batchio: %d-byte datagrams to %v exceed the route's MTU %d (at most %d bytes of UDP payload): %v",
			e.Size, e.Addr, e.MTU, e.MaxPayload(), e.Err)
	}
	return fmt.Sprintf("batchio: %d-byte datagrams to %v exceed the route's MTU: %v", e.Size, e.Addr, e.Err)
}

// Unwrap returns the system call's error, so errors.Is(err, syscall.EMSGSIZE) holds.
func (e *SizeError) Unwrap() error { return e.Err }

// MaxPayload is the largest UDP payload the route carries: MTU less the IP and UDP headers (IPv4
// or IPv6 by Addr), or 0 when the MTU is unknown.
func (e *SizeError) MaxPayload() int { return MaxPayload(e.MTU, e.Addr.Addr()) }

// MaxPayload returns the largest UDP payload a link of the given MTU carries to addr without
// fragmentation (MTU less the IPv4 or IPv6 header and the UDP header), or 0 if mtu is too small
// to carry any.
func MaxPayload(mtu int, addr netip.Addr) int {
	h := ipv6Header + udpHeader
	if addr.Is4() || addr.Is4In6() {
		h = ipv4Header + udpHeader
	}
	return max(0, mtu-h)
}
