package recovery

import "sync"

// The Sender's packet history: two power-of-two rings (packets, and the frames they carried)
// indexed by packet number, pooled when small, kept for lost packets until a late ACK can no
// longer come.

// slot is the history entry of one packet, indexed by packet number in a
// power-of-two ring. 40 bytes; the frames live in a second ring.
//
// The last 16 bytes are the delivery-rate stamps (rate.go): the sender's
// delivered count and, as microsecond offsets back from sent, the
// delivered and first-sent times when the packet left. They are what
// turns an ACK into a bandwidth sample, which BBR's whole model rests
// on, and they cannot be reconstructed at ACK time. Offsets rather than
// two more Times keep the slot at 40 bytes instead of 48.
type slot struct {
	sent         Time
	frameStart   uint64 // index of the first frame in the frame ring
	delivered    uint64 // rate stamp: bytes delivered when sent
	size         uint32
	deliveredAgo uint32 // rate stamp: sent - delivered time, µs
	firstSentAgo uint32 // rate stamp: sent - first-sent time, µs
	nFrames      uint16
	state        uint8
	flags        uint8
}

const (
	stateOutstanding uint8 = iota + 1 // sent, fate unknown
	stateAcked                        // acknowledged, awaiting removal from the ring
	stateLost                         // declared lost, kept for lostRetention to detect a late ACK
	stateSkipped                      // never sent: acknowledging it is ErrInvalidAck
)

const (
	flagAckEliciting uint8 = 1 << iota
	flagInFlight
	flagProbed     // its frames were reported lost by a PTO
	flagAppLimited // rate stamp: sent while the application left the pipe unfilled
	flagCounted    // declared lost while in flight: counted in a congestion event (reorder.go)
)

func (s *Sender) slotMask() uint64 { return uint64(len(s.slots) - 1) }

func (s *Sender) frameMask() uint64 { return uint64(len(s.frames) - 1) }

// History buffers of the initial size are pooled: a session that goes idle gives its history
// back (Trim) and takes one again on its next packet without allocating, so thousands of idle
// sessions hold no history at all. Larger histories are rare and left to the garbage collector.
var (
	slotPool  = sync.Pool{New: func() any { return new([initialSlots]slot) }}
	framePool = sync.Pool{New: func() any { return new([initialFrames]FrameRef) }}
)

// release returns the history buffers (pooled when of the initial size) and empties the rings.
func (s *Sender) release() {
	if len(s.slots) == initialSlots {
		slotPool.Put((*[initialSlots]slot)(s.slots))
	}
	if len(s.frames) == initialFrames {
		framePool.Put((*[initialFrames]FrameRef)(s.frames))
	}
	s.slots, s.frames = nil, nil
	s.frameHead, s.frameTail = 0, 0
}

// ensureSlots makes room for n packets in the ring.
func (s *Sender) ensureSlots(n uint64) {
	if n <= uint64(len(s.slots)) {
		return
	}
	s.slots = grownRing(s.slots, s.histBase, s.nextPN, n, initialSlots,
		func() []slot { return slotPool.Get().(*[initialSlots]slot)[:] })
}

// ensureFrames makes room for extra more frames in the frame ring.
func (s *Sender) ensureFrames(extra int) {
	n := s.frameTail - s.frameHead + uint64(extra)
	if n <= uint64(len(s.frames)) {
		return
	}
	s.frames = grownRing(s.frames, s.frameHead, s.frameTail, n, initialFrames,
		func() []FrameRef { return framePool.Get().(*[initialFrames]FrameRef)[:] })
}

// grownRing returns a power-of-two ring of at least n entries (and at least smallest) holding
// the entries lo..hi-1 of the ring old at their positions modulo the new size. A ring of the
// smallest size comes from pooled, the pool an idle Sender gives its rings back to.
func grownRing[T any](old []T, lo, hi, n, smallest uint64, pooled func() []T) []T {
	c := max(uint64(len(old)), smallest)
	for c < n {
		c *= 2
	}
	var r []T
	if c == smallest {
		r = pooled()
	} else {
		r = make([]T, c)
	}
	if len(old) > 0 {
		om, nm := uint64(len(old))-1, c-1
		for i := lo; i < hi; i++ {
			r[i&nm] = old[i&om]
		}
	}
	return r
}

// skip advances nextPN to pn, remembering the skipped numbers.
func (s *Sender) skip(pn uint64) {
	if s.histBase == s.nextPN {
		// Empty history: nothing to remember them against.
		s.histBase, s.nextPN = pn, pn
		return
	}
	s.ensureSlots(pn + 1 - s.histBase)
	m := s.slotMask()
	for p := s.nextPN; p < pn; p++ {
		s.slots[p&m] = slot{state: stateSkipped, frameStart: s.frameTail}
	}
	s.nextPN = pn
}

// popFront drops resolved packets from the head of the history, releasing
// their frames. A packet declared lost stays until lostRetention after it
// was sent, so that a late ACK can prove the loss spurious; now == 0 drops
// those too.
func (s *Sender) popFront(now Time) {
	if s.histBase == s.nextPN {
		return
	}
	m := s.slotMask()
	keepLostAfter := now - Time(s.lostRetention())
	for s.histBase < s.nextPN {
		sl := &s.slots[s.histBase&m]
		if sl.state == stateOutstanding || (sl.state == stateLost && now != 0 && sl.sent > keepLostAfter) {
			break
		}
		s.frameHead = sl.frameStart + uint64(sl.nFrames)
		s.histBase++
	}
	if s.histBase == s.nextPN {
		s.frameHead = s.frameTail
	}
}

// TrackedPackets returns the number of packet slots the history currently
// spans (outstanding packets plus resolved ones not yet dropped from its
// head); HistoryCap returns the slots allocated. Both are for tests and
// metrics: TrackedPackets <= HistoryCap, and HistoryCap only grows when
// TrackedPackets exceeds it.
func (s *Sender) TrackedPackets() int { return int(s.nextPN - s.histBase) }

// HistoryCap returns the capacity of the packet history ring (0 before the
// first tracked packet and after Drop or Trim).
func (s *Sender) HistoryCap() int { return len(s.slots) }

// Drop forgets every tracked packet and releases the history memory, for a
// closing session. If h is not nil, FrameLost is reported for the frames
// of every outstanding packet not already probed, so the caller can
// release what they reference. Packet numbers keep increasing afterwards.
func (s *Sender) Drop(h Handler) {
	if h != nil {
		for pn := s.histBase; pn < s.nextPN; pn++ {
			sl := &s.slots[pn&s.slotMask()]
			if sl.state == stateOutstanding && sl.flags&flagProbed == 0 && sl.nFrames > 0 {
				start, n := sl.frameStart, uint64(sl.nFrames)
				for j := uint64(0); j < n; j++ {
					h.FrameLost(&s.frames[(start+j)&s.frameMask()])
				}
			}
		}
	}
	s.release()
	s.histBase = s.nextPN
	if s.ens != nil {
		s.ens.flight.Add(-int64(s.bytesInFlight))
	}
	s.bytesInFlight, s.inFlight, s.ackElicitingInFlight = 0, 0, 0
	s.lossTime = 0
	s.ptoCount = 0
}

// Trim releases the history memory if nothing is tracked, and reports
// whether it did. The data plane calls it when a session goes idle, so a
// session that once had a large window in flight does not keep its
// history forever; the next packet takes a small one from the pool again.
func (s *Sender) Trim() bool {
	s.popFront(0) // an idle session's lost packets are long past a late ACK
	if s.histBase != s.nextPN {
		return false
	}
	s.release()
	return true
}
