package recovery

import (
	"errors"
	"math"
	"time"
)

// Sender configuration, its defaults and the package's fixed limits.

const (
	// DefaultMaxDatagramSize is the path payload STT assumes (PROTOCOL §1).
	DefaultMaxDatagramSize = 1200
	// DefaultInitialWindowPackets is the initial window in datagrams
	// (RFC 9002 §7.2 recommends 10).
	DefaultInitialWindowPackets = 10
	// DefaultMinWindowPackets is the smallest window (RFC 9002 §7.2: two
	// datagrams, so a single loss cannot stall the ACK clock).
	DefaultMinWindowPackets = 2
	// DefaultMaxWindow caps the window (bytes). It bounds the history a
	// Sender may need and the memory a single session can pin.
	DefaultMaxWindow = 64 << 20
	// DefaultMaxAckDelay is the max_ack_delay assumed for the peer: how long
	// its Receiver may hold back an ACK for an ack-eliciting packet.
	DefaultMaxAckDelay = time.Millisecond

	// PacketThreshold is RFC 9002's kPacketThreshold: a packet is lost once
	// a packet sent this many numbers later was acknowledged.
	PacketThreshold = 3
	// MaxProbes is what OnTimeout returns on a PTO: how many ack-eliciting
	// probe packets the caller may send regardless of the window.
	MaxProbes = 2

	// maxFramesPerPacket is what a slot's frame count can hold.
	maxFramesPerPacket = math.MaxUint16
	// maxPTOShift caps the exponential backoff so the PTO never overflows;
	// the idle timeout closes a session long before it matters.
	maxPTOShift = 30
	// Initial history capacities, allocated on the first tracked packet.
	initialSlots  = 16
	initialFrames = 32
)

// ErrInvalidAck reports an ACK that acknowledges a packet number that was
// never sent (beyond the largest sent, or one deliberately skipped), or
// whose ranges are not disjoint and descending. It is a protocol violation
// (close code 1): an honest peer cannot produce it, and an optimistic-ACK
// attacker would.
var ErrInvalidAck = errors.New("recovery: ACK of a packet number that was never sent")

// Config configures a Sender. The zero value selects every default.
type Config struct {
	// MaxDatagramSize is the largest packet the sender emits, the unit of
	// every window computation. Default DefaultMaxDatagramSize.
	MaxDatagramSize int
	// InitialWindowPackets is the initial window in datagrams. Default 10.
	InitialWindowPackets int
	// MinWindowPackets is the floor of the window in datagrams. Default 2.
	MinWindowPackets int
	// MaxWindow is the ceiling of the window in bytes. Default 64 MiB.
	MaxWindow int
	// Algorithm selects CUBIC (default), NewReno or BBR.
	Algorithm Algorithm
	// MaxAckDelay is the peer's maximum ACK delay, added to the PTO and
	// used to clamp reported ACK delays. Default DefaultMaxAckDelay.
	MaxAckDelay time.Duration
	// InitialRTT is the RTT assumed before the first sample. Default
	// DefaultInitialRTT.
	InitialRTT time.Duration
	// DisablePacing makes PacingDeadline always allow sending (for paths
	// where the NIC or qdisc paces, and for tests).
	DisablePacing bool
	// DisableHyStart turns off HyStart++, leaving classic slow start that
	// only ends on loss.
	DisableHyStart bool
	// Reliable says the path below delivers every packet it accepts, in
	// order (TCP, a WebSocket): it retransmits and controls congestion
	// itself, so the Sender must not do either on top of it (RFC 9298 §6,
	// the TCP-over-TCP meltdown). The Sender then declares no loss by time
	// or by a reordering threshold and resends nothing on a PTO; it
	// declares lost only a packet that a later acknowledged packet proves
	// gone (on an ordered path that is a drop at an endpoint, never a late
	// packet). CanSend and PacingDeadline always allow sending (the
	// caller paces by the path's byte budget instead) and the window
	// neither grows nor shrinks. RTT, PTO and liveness work as usual.
	Reliable bool
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.MaxDatagramSize <= 0 {
		d.MaxDatagramSize = DefaultMaxDatagramSize
	}
	if d.InitialWindowPackets <= 0 {
		d.InitialWindowPackets = DefaultInitialWindowPackets
	}
	if d.MinWindowPackets <= 0 {
		d.MinWindowPackets = DefaultMinWindowPackets
	}
	if d.MaxWindow <= 0 {
		d.MaxWindow = DefaultMaxWindow
	}
	if d.MaxWindow < d.MinWindowPackets*d.MaxDatagramSize {
		d.MaxWindow = d.MinWindowPackets * d.MaxDatagramSize
	}
	if d.MaxAckDelay <= 0 {
		d.MaxAckDelay = DefaultMaxAckDelay
	}
	if d.Algorithm > BBR {
		d.Algorithm = Cubic
	}
	return d
}
