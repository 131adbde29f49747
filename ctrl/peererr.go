package ctrl

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/frame"
)

// onPeerError routes what the network or this host said about a datagram we sent (see
// batchio.PeerError) to the dial it concerns. It runs on a socket's RX or TX loop: it only takes
// the dial table's lock and the dial's, and never blocks.
//
// A report that quotes one of our HELLOs names its dial by the handshake tag in the quoted
// header, which nobody off the path can guess: only such a report may end a dial at once. A
// report without the quote (an ICMP message that kept less of our datagram) goes to every dial
// to that address, as a possible explanation of a silence.
//
// A port unreachable that quotes a packet of one of our sessions (its session ID, which only the
// path sees) tells a closing session that its peer has gone: its drain ends at once
// (dataplane.Session.PeerGone), so that a dial whose listener exited does not wait three PTOs.
func (n *Node) onPeerError(pe *batchio.PeerError) {
	var h frame.Header
	parsed := frame.ParseHeader(pe.Packet, &h) == nil
	if parsed && h.Kind == frame.KindProtected && pe.Remote && errors.Is(pe.Err, syscall.ECONNREFUSED) {
		if s := n.table.Lookup(h.SessionID); s != nil {
			s.PeerGone(pe.Addr)
		}
	}
	tagged := parsed && h.Kind == frame.KindHandshake
	var found [8]*dialState
	k := 0
	var resume *resumeDial
	n.dialMu.Lock()
	if tagged {
		if d := n.dials[h.SessionID]; d != nil {
			found[0], k = d, 1
		}
		resume = n.resumes[h.SessionID] // a RESUME of Node.Resume is tagged the same way
	} else {
	scan:
		for _, d := range n.dials {
			if d.peer != pe.Addr {
				continue
			}
			for _, f := range found[:k] {
				if f == d {
					continue scan
				}
			}
			found[k] = d
			if k++; k == len(found) {
				break
			}
		}
	}
	n.dialMu.Unlock()
	for _, d := range found[:k] {
		d.report(pe, tagged)
	}
	if resume != nil {
		resume.report(pe)
	}
}

// report records a network report about the dial's HELLOs: a hard one ends the dial.
func (d *dialState) report(pe *batchio.PeerError, tagged bool) {
	err, hard := classify(pe, d.local)
	hard = hard && tagged
	d.mu.Lock()
	if d.abandoned {
		d.mu.Unlock()
		return
	}
	if !hard {
		d.soft = err
		d.mu.Unlock()
		return
	}
	if d.hard == nil {
		d.hard = err
	}
	d.mu.Unlock()
	select {
	case d.netErr <- struct{}{}:
	default:
	}
}

// classify turns a report into the error a dial returns, and says whether it ends the dial: a
// port unreachable (nothing listens), or a send this host refused for good (no route, a firewall
// rule, a source address that cannot reach the peer). Other reports (a host unreachable from a
// router, a full queue, a packet too big) may be transient and only explain a silence. local is
// the address of the socket that sent the datagram.
func classify(pe *batchio.PeerError, local netip.AddrPort) (err error, hard bool) {
	var errno syscall.Errno
	errors.As(pe.Err, &errno)
	if pe.Remote {
		if errno == syscall.ECONNREFUSED {
			return ErrNothingListening, true
		}
		if pe.Offender.IsValid() {
			return fmt.Errorf("%v (reported by %v)", pe.Err, pe.Offender), false
		}
		return pe.Err, false
	}
	switch errno {
	case syscall.EINVAL:
		if local.Addr().IsLoopback() && !pe.Addr.Addr().IsLoopback() {
			return fmt.Errorf("%w from %v: a node bound to a loopback address reaches only this host (%w)",
				ErrSendFailed, local, pe.Err), true
		}
		return fmt.Errorf("%w: %w", ErrSendFailed, pe.Err), true
	case syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.EACCES, syscall.EPERM,
		syscall.EADDRNOTAVAIL, syscall.ENETDOWN, syscall.EHOSTDOWN, syscall.EAFNOSUPPORT:
		return fmt.Errorf("%w: %w", ErrSendFailed, pe.Err), true
	case 0: // not an errno: an IPv6 peer on an IPv4 socket
		return fmt.Errorf("%w from %v: an IPv4 socket cannot reach an IPv6 peer", ErrSendFailed, local), true
	}
	return pe.Err, false
}
