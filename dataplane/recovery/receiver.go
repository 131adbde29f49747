package recovery

import (
	"slices"
	"sync"
	"time"
)

const (
	// MaxRanges is the number of packet-number ranges a Receiver keeps, as
	// many as an ACK frame may carry (frame.MaxAckRanges). When a new gap
	// would need more, the oldest range is forgotten: the peer has long
	// declared those packets lost or seen them acknowledged.
	//
	// A path that reorders needs many: with every datagram delayed by its
	// own random amount, a round trip's worth of packets (until an ACK of
	// our ACK lets ranges go) holds a gap every few packets, and a packet
	// that arrives below the oldest range kept cannot be acknowledged, so
	// the peer resends it and counts it lost although it arrived. 16
	// ranges cut a 400 Mbit/s path with ±1 ms of jitter to 40%; 256 keep
	// it at 98% (dataplane/recovery's reordering simulations). At ±4 ms a
	// loopback burst reorders more than a thousand packets: 256 ranges
	// left 2-11% of the losses a late ACK would have proven spurious
	// unproven (hardening/netem's TestJitterTransfer), 1024 leave none
	// for want of a range. An ACK carries the highest that fit.
	MaxRanges = 1024
	// inlineRanges are held in the Receiver itself; only a session whose
	// path reorders takes a larger array, from a pool, and gives it back
	// once its ranges fit inline again, so an idle or in-order session
	// stays small.
	inlineRanges = 16
	// DefaultAckEveryN is how many ack-eliciting packets may arrive before
	// an ACK is sent immediately (RFC 9000 §13.2.2 recommends 2).
	DefaultAckEveryN = 2
)

// Receiver records the packet numbers received in one direction of a
// session and decides when to acknowledge them (RFC 9000 §13.2).
//
// Like Sender it is called with the session lock held and is not safe for
// concurrent use. It keeps up to inlineRanges ranges in itself and takes a
// MaxRanges array from a pool only while the path reorders enough to need
// it, so in steady state it allocates nothing. Call Init before use (the
// zero value behaves as Init(DefaultMaxAckDelay, DefaultAckEveryN) except
// that it has no max ACK delay).
type Receiver struct {
	// ranges()[0:n] are disjoint, non-adjacent, ascending: the last holds
	// the largest received packet. Ascending order makes the common case,
	// the next packet in sequence, a single increment of the last Hi.
	inline [inlineRanges]Range
	large  *[MaxRanges]Range // the ranges while more than inlineRanges are needed, else nil
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
	r.release()
	*r = Receiver{maxAckDelay: maxAckDelay, ackEveryN: int32(ackEveryN)}
}

// SetAckRate changes the max ACK delay and the ACK-every count (as Init takes them) without
// touching what was received: a session that moved to a path of another kind acknowledges at
// that path's rate from now on.
func (r *Receiver) SetAckRate(maxAckDelay time.Duration, ackEveryN int) {
	if maxAckDelay <= 0 {
		maxAckDelay = DefaultMaxAckDelay
	}
	if ackEveryN <= 0 {
		ackEveryN = DefaultAckEveryN
	}
	r.maxAckDelay, r.ackEveryN = maxAckDelay, int32(min(ackEveryN, 1<<30))
}

var largeRangesPool = sync.Pool{New: func() any { return new([MaxRanges]Range) }}

// buf returns the array the ranges live in.
func (r *Receiver) buf() []Range {
	if r.large != nil {
		return r.large[:]
	}
	return r.inline[:]
}

// grow moves the ranges to a pooled MaxRanges array, if they are inline, and reports whether
// there is room for one more.
func (r *Receiver) grow() bool {
	if r.large == nil {
		r.large = largeRangesPool.Get().(*[MaxRanges]Range)
		copy(r.large[:], r.inline[:r.n])
	}
	return int(r.n) < MaxRanges
}

// shrink moves the ranges back inline, returning the large array to the pool, once they fit
// there with room to spare (half, so a count hovering at the limit does not move them to and
// fro on every packet).
func (r *Receiver) shrink() {
	if r.large != nil && int(r.n) <= inlineRanges/2 {
		copy(r.inline[:], r.large[:r.n])
		r.release()
	}
}

func (r *Receiver) release() {
	if r.large != nil {
		largeRangesPool.Put(r.large)
		r.large = nil
	}
}

// Release gives back the memory a reordering path made the Receiver take (for a session that
// ends); the ranges it held are forgotten.
func (r *Receiver) Release() {
	r.release()
	r.n = 0
}

// Trim forgets every range but the one holding the largest packet received, and gives back
// the memory more ranges took. The data plane calls it when a session has been quiet both ways
// for a while: every ACK that could matter to the peer was sent long ago, and the largest
// packet number is all later packets are decoded against.
func (r *Receiver) Trim() {
	if r.n > 1 {
		ranges := r.buf()
		ranges[0] = ranges[r.n-1]
		r.n = 1
	}
	r.shrink()
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
	ranges := r.buf()
	if n == 0 {
		ranges[0] = Range{pn, pn}
		r.n = 1
		r.largestArrival = now
		return true
	}
	top := &ranges[n-1]
	if pn > top.Hi {
		if pn == top.Hi+1 {
			top.Hi = pn
		} else {
			// Packets between top.Hi and pn are missing: tell the peer
			// soon, it may be a loss.
			r.reordered = true
			if n == len(ranges) && !r.grow() {
				copy(ranges[:n-1], ranges[1:n])
				n--
			}
			ranges = r.buf()
			ranges[n] = Range{pn, pn}
			r.n = int32(n + 1)
		}
		r.largestArrival = now
		return true
	}
	// pn <= largest: a duplicate or a late packet filling a gap. Walk down
	// from the top: reordering is almost always recent.
	i := n - 1
	for ; i >= 0; i-- {
		if pn > ranges[i].Hi {
			break
		}
		if pn >= ranges[i].Lo {
			return false // duplicate
		}
	}
	// pn lies in the gap between ranges[i] (below, or none if i < 0) and
	// ranges[i+1] (above; it exists because pn <= largest).
	r.reordered = true
	above := &ranges[i+1]
	joinsAbove := pn+1 == above.Lo
	joinsBelow := i >= 0 && ranges[i].Hi+1 == pn
	switch {
	case joinsAbove && joinsBelow:
		ranges[i].Hi = above.Hi
		copy(ranges[i+1:n-1], ranges[i+2:n])
		r.n--
	case joinsAbove:
		above.Lo = pn
	case joinsBelow:
		ranges[i].Hi = pn
	default:
		return r.insertRange(i+1, pn)
	}
	return true
}

// insertRange puts the new range {pn, pn} at position pos of the n ranges, below the range now
// there; when MaxRanges are in use the oldest is forgotten to make room, and a packet older than
// every range kept is not recorded at all (false).
func (r *Receiver) insertRange(pos int, pn uint64) bool {
	n := int(r.n)
	if n == len(r.buf()) && !r.grow() {
		ranges := r.buf()
		if pos == 0 {
			return false // older than everything we can keep
		}
		copy(ranges[:pos-1], ranges[1:pos])
		ranges[pos-1] = Range{pn, pn}
		return true
	}
	ranges := r.buf()
	copy(ranges[pos+1:n+1], ranges[pos:n])
	ranges[pos] = Range{pn, pn}
	r.n++
	return true
}

// RequestAck makes an ACK of everything received due now, if anything was: for a session that
// moved to a new path, whose ACKs since the peer's move went to the old one and were lost, so
// that the peer's window opens again one round trip after the move rather than after its PTO.
func (r *Receiver) RequestAck(now Time) {
	if r.n == 0 {
		return
	}
	if !r.pending {
		r.pending = true
		r.firstPending = now
	}
	r.pendingCount = max(r.pendingCount, r.ackEveryN)
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
	ranges := r.buf()
	for i := range out {
		out[i] = ranges[n-1-i]
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
	return r.buf()[r.n-1].Hi, true
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
	ranges := r.buf()
	drop := 0
	for drop < n-1 && ranges[drop].Hi <= largestAckedInOurAck {
		drop++
	}
	if drop == 0 {
		return
	}
	copy(ranges[:n-drop], ranges[drop:n])
	r.n = int32(n - drop)
	r.shrink()
}
