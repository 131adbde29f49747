package recovery

import (
	"slices"
	"time"
)

const (
	// MaxRanges is the number of packet-number ranges a Receiver keeps.
	// When a new gap would need more, the oldest range is forgotten: the
	// peer has long declared those packets lost or seen them acknowledged,
	// and a fixed array keeps the Receiver allocation-free and small.
	MaxRanges = 16
	// DefaultAckEveryN is how many ack-eliciting packets may arrive before
	// an ACK is sent immediately (RFC 9000 §13.2.2 recommends 2).
	DefaultAckEveryN = 2
)

// Receiver records the packet numbers received in one direction of a
// session and decides when to acknowledge them (RFC 9000 §13.2).
//
// Like Sender it is called with the session lock held and is not safe for
// concurrent use. It holds no pointers and never allocates. Call Init
// before use (the zero value behaves as Init(DefaultMaxAckDelay,
// DefaultAckEveryN) except that it has no max ACK delay).
type Receiver struct {
	// ranges[0:n] are disjoint, non-adjacent, ascending: ranges[n-1] holds
	// the largest received packet. Ascending order makes the common case,
	// the next packet in sequence, a single increment of the last Hi.
	ranges [MaxRanges]Range
	n      int32

	ackEveryN    int32
	pendingCount int32 // ack-eliciting packets since the last ACK
	pending      bool  // an ack-eliciting packet awaits an ACK
	reordered    bool  // a gap or an out-of-order arrival since the last ACK

	largestArrival Time // arrival of ranges[n-1].Hi, for the ACK delay
	firstPending   Time // arrival of the first unacknowledged ack-eliciting packet
	maxAckDelay    time.Duration
}

// Init resets the Receiver. maxAckDelay is our max ACK delay, the longest
// we hold an ACK for an ack-eliciting packet (<= 0 selects
// DefaultMaxAckDelay); ackEveryN (<= 0 selects DefaultAckEveryN) is how
// many ack-eliciting packets trigger an immediate ACK.
func (r *Receiver) Init(maxAckDelay time.Duration, ackEveryN int) {
	if maxAckDelay <= 0 {
		maxAckDelay = DefaultMaxAckDelay
	}
	if ackEveryN <= 0 {
		ackEveryN = DefaultAckEveryN
	}
	if ackEveryN > 1<<30 {
		ackEveryN = 1 << 30
	}
	*r = Receiver{maxAckDelay: maxAckDelay, ackEveryN: int32(ackEveryN)}
}

// OnPacket records packet pn, authenticated at now. A duplicate is a
// no-op. A packet older than every range when MaxRanges are in use is
// ignored: it cannot be represented, and not acknowledging it only costs
// a retransmission the peer has most likely made already.
func (r *Receiver) OnPacket(now Time, pn uint64, ackEliciting bool) {
	if !r.insert(now, pn) {
		return
	}
	if ackEliciting {
		if !r.pending {
			r.pending = true
			r.firstPending = now
		}
		r.pendingCount++
	}
}

// insert adds pn to the ranges and reports whether it was new.
func (r *Receiver) insert(now Time, pn uint64) bool {
	n := int(r.n)
	if n == 0 {
		r.ranges[0] = Range{pn, pn}
		r.n = 1
		r.largestArrival = now
		return true
	}
	top := &r.ranges[n-1]
	if pn > top.Hi {
		if pn == top.Hi+1 {
			top.Hi = pn
		} else {
			// Packets between top.Hi and pn are missing: tell the peer
			// soon, it may be a loss.
			r.reordered = true
			if n == MaxRanges {
				copy(r.ranges[:n-1], r.ranges[1:n])
				n--
			}
			r.ranges[n] = Range{pn, pn}
			r.n = int32(n + 1)
		}
		r.largestArrival = now
		return true
	}
	// pn <= largest: a duplicate or a late packet filling a gap. Walk down
	// from the top: reordering is almost always recent.
	i := n - 1
	for ; i >= 0; i-- {
		if pn > r.ranges[i].Hi {
			break
		}
		if pn >= r.ranges[i].Lo {
			return false // duplicate
		}
	}
	// pn lies in the gap between ranges[i] (below, or none if i < 0) and
	// ranges[i+1] (above; it exists because pn <= largest).
	r.reordered = true
	above := &r.ranges[i+1]
	joinsAbove := pn+1 == above.Lo
	joinsBelow := i >= 0 && r.ranges[i].Hi+1 == pn
	switch {
	case joinsAbove && joinsBelow:
		r.ranges[i].Hi = above.Hi
		copy(r.ranges[i+1:n-1], r.ranges[i+2:n])
		r.n--
	case joinsAbove:
		above.Lo = pn
	case joinsBelow:
		r.ranges[i].Hi = pn
	default:
		pos := i + 1
		if n == MaxRanges {
			if pos == 0 {
				return false // older than everything we can keep
			}
			// Forget the oldest range to make room below pos.
			copy(r.ranges[:pos-1], r.ranges[1:pos])
			r.ranges[pos-1] = Range{pn, pn}
			return true
		}
		copy(r.ranges[pos+1:n+1], r.ranges[pos:n])
		r.ranges[pos] = Range{pn, pn}
		r.n++
	}
	return true
}

// AckPending reports whether an ack-eliciting packet arrived since the
// last ACK was sent, i.e. an ACK is owed (now or at AckDeadline).
func (r *Receiver) AckPending() bool { return r.pending }

// AckNow reports whether an ACK should be sent without waiting for the
// delayed-ACK timer: an ACK is owed and either at least ackEveryN
// ack-eliciting packets are unacknowledged or a gap or out-of-order
// arrival was seen since the last ACK (RFC 9000 §13.2.1), so the peer
// learns about possible losses one RTT earlier.
func (r *Receiver) AckNow() bool {
	return r.pending && (r.pendingCount >= r.ackEveryN || r.reordered)
}

// AckDeadline returns when the delayed ACK is due: the arrival of the
// first unacknowledged ack-eliciting packet plus max ACK delay, or 0 if
// no ACK is owed.
func (r *Receiver) AckDeadline() Time {
	if !r.pending {
		return 0
	}
	return r.firstPending + Time(r.maxAckDelay)
}

// AppendRanges appends the received ranges to dst in descending order (the
// order of an ACK frame) and returns the extended slice. With a dst of
// capacity MaxRanges it never allocates.
func (r *Receiver) AppendRanges(dst []Range) []Range {
	n := int(r.n)
	base := len(dst)
	dst = slices.Grow(dst, n)[:base+n]
	out := dst[base:]
	for i := range out {
		out[i] = r.ranges[n-1-i]
	}
	return dst
}

// NumRanges returns the number of ranges AppendRanges would append.
func (r *Receiver) NumRanges() int { return int(r.n) }

// AckDelay returns the ACK delay to put in an ACK frame sent at now: the
// time since the largest received packet arrived (0 if none, never
// negative).
func (r *Receiver) AckDelay(now Time) time.Duration {
	if r.n == 0 || now < r.largestArrival {
		return 0
	}
	return now.Sub(r.largestArrival)
}

// OnAckSent records that an ACK built from the current ranges was sent at
// now: nothing is owed any more until the next ack-eliciting packet.
func (r *Receiver) OnAckSent(now Time) {
	_ = now
	r.pending = false
	r.pendingCount = 0
	r.reordered = false
}

// Largest returns the largest packet number received, the reference for
// decoding truncated packet numbers (RFC 9000 Appendix A.3).
func (r *Receiver) Largest() (uint64, bool) {
	if r.n == 0 {
		return 0, false
	}
	return r.ranges[r.n-1].Hi, true
}

// OnAckOfAck tells the Receiver that the peer received one of our ACKs
// whose largest acknowledged number was largestAckedInOurAck. The peer
// then knows the fate of every packet up to it, so ranges entirely at or
// below it need not be repeated (RFC 9000 §13.2.4): they are dropped,
// which shortens every later ACK frame. The range holding the largest
// received packet is always kept, so Largest keeps working.
func (r *Receiver) OnAckOfAck(largestAckedInOurAck uint64) {
	n := int(r.n)
	if n <= 1 {
		return
	}
	drop := 0
	for drop < n-1 && r.ranges[drop].Hi <= largestAckedInOurAck {
		drop++
	}
	if drop == 0 {
		return
	}
	copy(r.ranges[:n-drop], r.ranges[drop:n])
	r.n = int32(n - drop)
}
