package batchio

import (
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
)

// PeerQuote is the most bytes of the datagram concerned that a PeerError carries: enough for the
// header of any protocol on top (sttfast's is at most 19 bytes).
const PeerQuote = 64

// PeerError is what the network or this host's stack said about datagrams sent to one
// destination:
//
//   - an error the network reported after the datagram left (Remote): an ICMP or ICMPv6 message,
//     for example a port unreachable (syscall.ECONNREFUSED: nothing listens on that port), a host
//     or network unreachable (EHOSTUNREACH, ENETUNREACH) or a packet too big (EMSGSIZE). Linux
//     reports these on an unconnected UDP socket only through its error queue (IP_RECVERR), which
//     the Conn reads once a handler is set;
//   - a send this host refused for that destination (not Remote): no route (ENETUNREACH,
//     EHOSTUNREACH), a source address that cannot reach it (EINVAL: a socket bound to loopback
//     sending to another host), a firewall rule (EPERM, EACCES), or an IPv6 destination on an IPv4
//     socket.
type PeerError struct {
	// Addr is the destination of the datagram concerned.
	Addr netip.AddrPort
	// Err is the error: a syscall.Errno, or the error of an IPv6 destination on an IPv4 socket.
	Err error
	// Remote is true when the error came from the network (an ICMP message), false when this
	// host refused the send.
	Remote bool
	// Offender is the host or router that sent the ICMP message, when the kernel says.
	Offender netip.Addr
	// Packet is the start of the datagram concerned, at most PeerQuote bytes: of what was sent
	// for a refused send, of what the ICMP message quoted of it otherwise (possibly nothing). It
	// is only valid during the handler's call.
	Packet []byte
}

// Error says which destination the error is about.
func (e *PeerError) Error() string {
	var b strings.Builder
	b.WriteString("batchio: ")
	if e.Remote {
		b.WriteString("the network reported for datagrams to ")
	} else {
		b.WriteString("send to ")
	}
	b.WriteString(e.Addr.String())
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Remote && e.Offender.IsValid() {
		b.WriteString(" (from ")
		b.WriteString(e.Offender.String())
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns Err, so that errors.Is(pe, syscall.ECONNREFUSED) works.
func (e *PeerError) Unwrap() error { return e.Err }

// PeerErrorHandler receives each PeerError. It runs on the goroutine of the ReadBatch or
// WriteBatch call that found the error, while that call holds the socket's read or write side:
// it must not block and must not call the Conn.
type PeerErrorHandler func(*PeerError)

// peerHook holds the handler; it is read on every error, set rarely.
type peerHook struct {
	h  atomic.Pointer[PeerErrorHandler]
	on atomic.Bool // the error queue is enabled (IP_RECVERR): drain it on errors
}

func (p *peerHook) handler() PeerErrorHandler {
	if h := p.h.Load(); h != nil {
		return *h
	}
	return nil
}

// SetPeerErrorHandler makes the Conn report what the network and the host say about datagrams
// sent to a destination (see PeerError) to h, instead of losing it. On Linux it turns on
// IP_RECVERR (and IPV6_RECVERR) the first time, so ICMP errors reach the socket's error queue,
// which ReadBatch and WriteBatch then drain as they meet its errors: they pass each to h and go
// on, never returning such an error themselves. With a handler, WriteBatch also reports a send
// the kernel refuses for its destination (see PeerError) to h and goes on with the next
// datagram instead of stopping the batch there, and it never stops on ENOBUFS (a full device
// queue dropped that datagram, as the kernel does silently without IP_RECVERR). A nil h stops
// the reports (the error queue is still drained). It may be called at any time.
func (c *Conn) SetPeerErrorHandler(h PeerErrorHandler) error {
	if h == nil {
		c.peer.h.Store(nil)
		return nil
	}
	if err := c.enableRecvErr(); err != nil {
		return err
	}
	c.peer.h.Store(&h)
	return nil
}

// perDestination reports whether a send error concerns the destination of the datagram rather
// than the socket: the batch goes on with the next datagram when a handler takes the report.
func perDestination(err error) bool {
	if errors.Is(err, errFamily) {
		return true
	}
	var e syscall.Errno
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case syscall.EINVAL, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.EACCES, syscall.EPERM,
		syscall.EADDRNOTAVAIL, syscall.ENETDOWN, syscall.EHOSTDOWN, syscall.EAFNOSUPPORT:
		return true
	}
	return false
}

// quote returns the first PeerQuote bytes of b.
func quote(b []byte) []byte { return b[:min(len(b), PeerQuote)] }
