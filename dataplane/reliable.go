package dataplane

import (
	"net/netip"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
)

// The engine over a reliable, ordered path (docs/PROTOCOL.md §8, "Over a reliable path"). A TCP
// connection, such as batchio/wspath's WebSocket path, already retransmits, orders and controls
// congestion. STT's own loss timers and congestion window on top of it would fight it (the
// TCP-over-TCP meltdown, RFC 9298 §6): the inner timers fire while TCP is still retransmitting
// and queue duplicates behind the original, and the window shrinks on the delay of TCP's own
// queue. So over such a path a session:
//
//   - declares no loss by time or reordering threshold and resends nothing on a PTO (its probes
//     carry new data or a KEEP_ALIVE and only ask whether the path is alive); it resends only the
//     frames of a packet that a later acknowledged packet proves gone, which on an ordered path
//     is a drop at an endpoint, never a late packet (recovery.Config.Reliable);
//   - has no congestion window and no pacer: it paces by the path's byte budget instead, handing
//     the path a packet only when ReliableConn.Writable says it takes it whole, so the path never
//     drops for lack of room and the data waits in the session's send buffers;
//   - acknowledges at a low rate, every reliableAckEvery ack-eliciting packets or
//     reliableAckDelay, enough to release send buffers and keep what a dead connection swallowed
//     resendable on another path later;
//   - sends packets of Config.ReliablePacketSize (16 KiB by default) rather than the UDP MTU.

// ReliableConn is implemented by paths that deliver every packet they accept, in order, and
// control their own congestion (a TCP connection). NewEngine looks for it, as for GSO support:
// over a conn whose Reliable reports true, the engine's sessions follow the rules above.
type ReliableConn interface {
	// Reliable reports whether the path is reliable and ordered; a conn may implement the
	// interface and say no.
	Reliable() bool
	// MaxPacket is the largest packet the path carries, in bytes; packets are sized to
	// min(MaxPacket, Config.ReliablePacketSize).
	MaxPacket() int
	// Writable reports how many bytes the path accepts for addr right now without dropping any:
	// a packet of n bytes costs at most n+reliableFraming (16) bytes of it. It is 0 (or less)
	// when the path is full or has no connection to addr. It must not block or allocate. A path
	// whose budget frees without a write must notice it on its own: the TX loop only polls
	// Writable (pathPollMin to pathPollMax apart while a session is held back).
	Writable(addr netip.AddrPort) int
}

const (
	// DefaultReliablePacketSize is the packet size over a reliable path. A TCP path has no MTU to
	// fit, and larger packets mean fewer seals, headers, packet numbers and ACKs per byte; 16 KiB
	// is one streambuf chunk (a stream frame then rarely splits), past the size where AES-GCM's
	// per-call cost stops mattering, a quarter of the 64 KiB send and receive slab buffers
	// (txBufSize, rxBufSize) and of wspath's DefaultMaxMessage, and 1/32 of wspath's default
	// 512 KiB outbound budget, so the budget is filled in fine steps and one packet holds a
	// connection shared by several sessions for only ~1.3 ms at 100 Mbit/s.
	DefaultReliablePacketSize = 16 << 10

	// reliableFraming is what Writable charges per packet beyond its bytes: a WebSocket frame
	// header is at most 14 bytes.
	reliableFraming = 16
	// reliableAckEvery and reliableAckDelay are the ACK rate over a reliable path: an ACK per 16
	// ack-eliciting packets (256 KiB of 16 KiB packets) or 25 ms after the first unacknowledged
	// one. The sender assumes the same max ACK delay of its peer (the PTO includes it).
	reliableAckEvery = 16
	reliableAckDelay = 25 * time.Millisecond
	// reliableAckRoom is the least room an ACK-only packet needs (header, a few ranges, tag).
	reliableAckRoom = 128
	// pathPollMin and pathPollMax bound how long a session held back by a full path waits before
	// the TX loop asks the path again: the wait doubles from the first to the second while the
	// path stays full, and resets when a packet goes. 1 ms is well within what the kernel's own
	// queue below a full budget takes to drain, so the path does not run dry meanwhile.
	pathPollMin = 50 * time.Microsecond
	pathPollMax = time.Millisecond
)

// reliablePath returns conn as a ReliableConn when it says it is one, else nil.
func reliablePath(conn PacketConn) ReliableConn {
	if r, ok := conn.(ReliableConn); ok && r.Reliable() {
		return r
	}
	return nil
}

// reliablePacketSize is the packet size of sessions over r: Config.ReliablePacketSize, within
// what the path, the frame format and the engine's buffers carry (and at least the 256 bytes
// Config.PayloadSize is floored at).
func reliablePacketSize(cfg *Config, r ReliableConn) int {
	n := min(cfg.ReliablePacketSize, frame.MaxPacketSize, txBufSize, rxBufSize)
	if m := r.MaxPacket(); m > 0 {
		n = min(n, m)
	}
	return max(n, 256)
}

// Reliable reports whether the engine's path is reliable and ordered (see ReliableConn): its
// sessions then run without loss timers or congestion control. An engine over a MultiConn is
// not: each of its sessions follows the kind of the path it is on (Session.Reliable).
func (e *Engine) Reliable() bool { return e.rel != nil }

// pathReliable reports whether the path to addr is reliable and ordered.
func (e *Engine) pathReliable(addr netip.AddrPort) bool {
	if e.multi != nil {
		return e.multi.PathReliable(addr)
	}
	return e.rel != nil
}

// canSendTo reports whether the engine's conn can send to addr: a MultiConn to the addresses of
// its paths, any other conn to untagged addresses only. A session of a node's other engine can
// see a packet from a path of the MultiConn engine (the engines share the session table), and
// must not try to follow it there.
func (e *Engine) canSendTo(addr netip.AddrPort) bool {
	if e.multi != nil {
		return e.multi.Routes(addr)
	}
	return AddrTag(addr) == ""
}

// pathParams are the packet size and ACK rate of a session on a path of the given kind: over
// a reliable path, larger packets and fewer ACKs (see above).
func (e *Engine) pathParams(reliable bool) (payload int, ackDelay time.Duration, ackEvery int) {
	if reliable {
		return e.relSize, reliableAckDelay, reliableAckEvery
	}
	return e.cfg.PayloadSize, e.cfg.MaxAckDelay, e.cfg.AckEvery
}

// senderConfig is the recovery configuration of a session on a path of the given kind.
func (e *Engine) senderConfig(reliable bool) recovery.Config {
	payload, ackDelay, _ := e.pathParams(reliable)
	return recovery.Config{
		MaxDatagramSize: payload,
		Algorithm:       e.cfg.Congestion,
		MaxAckDelay:     ackDelay,
		DisablePacing:   e.cfg.DisablePacing,
		Reliable:        reliable,
	}
}

// pathRoom is how many bytes the reliable path takes for addr now, less what the batch being
// built already holds for it. TX loop only.
func (t *txLoop) pathRoom(addr netip.AddrPort) int {
	r := t.e.budget.Writable(addr)
	for i := range t.msgs[:t.nmsg] {
		if m := &t.msgs[i]; m.Addr == addr {
			r -= m.N + reliableFraming
		}
	}
	return r
}

// pathHeld records that s has something to send that the reliable path has no room for: the
// TX loop looks again after s.pathWait, which doubles while the path stays full. mu held.
func (s *Session) pathHeld(now recovery.Time) {
	s.pathWait = uint16(min(max(2*int(s.pathWait), int(pathPollMin/time.Microsecond)), int(pathPollMax/time.Microsecond)))
	s.pacedUntil = now + recovery.Time(time.Duration(s.pathWait)*time.Microsecond)
	s.e.ctr.pathHeld.Add(1)
}
