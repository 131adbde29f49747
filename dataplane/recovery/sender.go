package recovery

import "time"

// Range is an inclusive range of packet numbers, Lo <= Hi, as carried by
// an ACK frame.
type Range struct{ Lo, Hi uint64 }

// FrameRef describes one frame a packet carried. Recovery never interprets
// it: it is copied by value into the history and handed back through
// Handler when the packet is acknowledged or lost, so the caller can
// release the frame's data or queue it for retransmission without any
// per-packet allocation or pointer chasing.
//
// The field order (the two bytes and Handle before the three uint64s)
// packs the struct into 32 bytes instead of 40.
type FrameRef struct {
	Type     uint8  // frame type (PROTOCOL §2)
	Flags    uint8  // caller-defined
	Handle   uint32 // caller-defined, e.g. an index into a buffer table
	StreamID uint64
	Offset   uint64
	Length   uint64
}

// Handler receives the fate of each frame recorded with OnPacketSent.
//
// The *FrameRef points into the Sender's history and is valid only during
// the call. A frame is reported acknowledged at most once and lost at most
// once, but a frame can be reported lost and later acknowledged (a PTO
// probe or a spurious loss whose packet finally arrives), so the caller
// must treat FrameLost as "retransmit unless already acknowledged" and
// FrameAcked as idempotent with respect to retransmitted copies.
//
// A Handler must not call OnAck, OnTimeout or Drop of the same Sender.
type Handler interface {
	FrameAcked(f *FrameRef)
	FrameLost(f *FrameRef)
}

// Sender tracks the packets of one direction of a session: which are in
// flight, which were acknowledged or lost (RFC 9002 loss detection), when
// the loss-detection timer must fire, how large the congestion window is
// and when pacing lets the next packet go.
//
// A Sender is not safe for concurrent use; the data plane calls it with
// the session lock held. Its zero value holds no heap memory; call Init
// before use. The history is allocated on the first tracked packet and
// grows (doubling) only when more packets are outstanding than ever
// before, so steady-state sending and acknowledging allocate nothing.
type Sender struct {
	// History: packets [histBase, nextPN) live in slots at pn&(len-1);
	// their frames are frames[frameHead, frameTail) at index&(len-1).
	slots     []slot
	frames    []FrameRef
	histBase  uint64
	nextPN    uint64
	frameHead uint64
	frameTail uint64

	largestAcked         uint64
	scanFrom             uint64 // no packet below it is outstanding: detectLost starts here
	bytesInFlight        int
	inFlight             int // packets counted in bytesInFlight
	ackElicitingInFlight int
	lossTime             Time // earliest time-threshold loss, 0 if none
	lastAckElicitingSent Time
	firstRTTSampleAt     Time
	maxAckDelay          time.Duration
	ptoCount             uint32
	hasLargestAcked      bool
	initialized          bool

	rtt RTT
	cc  congestion // CUBIC / NewReno; unused when useBBR
	// bbr is BBR's model, allocated by Init only for a BBR session (and kept for reuse by a
	// later Init): its ~300 bytes would otherwise be carried by every idle CUBIC session.
	bbr   *bbr
	reo   reorderState
	pace  pacer
	stats counters

	// useBBR selects bbr over cc. A bool and two concrete fields rather
	// than an interface: the calls stay direct and nothing escapes.
	useBBR bool
	// reliable: the path retransmits, orders and controls congestion
	// itself (Config.Reliable); cc, bbr and pace are left alone.
	reliable bool
	probing  bool // inside probe's FrameLost calls (Probing)

	// ens is the congestion state this Sender shares with the Senders of other sessions to
	// the same receiver (JoinEnsemble); nil for a session on its own, which then behaves as if
	// ensembles did not exist.
	ens *Ensemble
}

// Init (re)initialises the Sender with cfg (zero fields take defaults):
// packet numbers restart at 0, so re-Init only for a new session (new
// keys), never within one. History memory already allocated is kept for
// reuse, which lets a pool of Senders serve successive sessions without
// allocating.
func (s *Sender) Init(cfg Config) {
	c := cfg.withDefaults()
	s.LeaveEnsemble()
	slots, frames, model := s.slots, s.frames, s.bbr
	*s = Sender{slots: slots, frames: frames, bbr: model}
	s.maxAckDelay = c.MaxAckDelay
	s.rtt.SetInitial(c.InitialRTT)
	s.rtt.SetMaxAckDelay(c.MaxAckDelay)
	s.cc.init(&c)
	s.reo.init()
	if c.Algorithm == BBR {
		s.useBBR = true
		if s.bbr == nil {
			s.bbr = new(bbr)
		}
		s.bbr.init(&c)
	}
	s.pace.init(c.MaxDatagramSize, c.DisablePacing)
	s.reliable = c.Reliable
	s.initialized = true
}

// StartAt makes pn the first packet number of a Sender just initialised (before any packet is
// sent): a resumed session's new device continues the direction's numbering at the number the
// peer named, so that the peer's replay window and ACK state go on as they were.
func (s *Sender) StartAt(pn uint64) { s.nextPN, s.histBase, s.scanFrom = pn, pn, pn }

// NextPacketNumber returns the number the next packet must carry. It does
// not consume it: OnPacketSent does.
func (s *Sender) NextPacketNumber() uint64 { return s.nextPN }

// OnPacketSent records packet pn, sent at now with size bytes on the wire,
// carrying frames (copied; the slice may be reused at once).
//
// pn must be NextPacketNumber(); a smaller number panics, because reusing
// a packet number would reuse an AEAD nonce. A larger number skips the
// numbers in between: they are remembered as never sent while history is
// kept, so an ACK for one of them fails with ErrInvalidAck (skipping
// numbers now and then is QUIC's defence against optimistic ACKs).
//
// An ack-eliciting packet is in flight: it counts toward BytesInFlight,
// arms the PTO and spends pacing tokens. A packet that is not
// ack-eliciting is tracked only if it carries frames (for example ACK
// frames whose acknowledgement lets the receiver prune its ranges); if it
// carries none and nothing else is outstanding it costs nothing at all.
func (s *Sender) OnPacketSent(now Time, pn uint64, size int, ackEliciting bool, frames []FrameRef) {
	if !s.initialized {
		s.Init(Config{})
	}
	if pn < s.nextPN {
		panic("recovery: packet number reused")
	}
	if len(frames) > maxFramesPerPacket {
		panic("recovery: too many frames in one packet")
	}
	if size < 0 {
		size = 0
	}
	if pn > s.nextPN {
		s.skip(pn)
	}
	s.stats.packetsSent++
	s.stats.bytesSent += uint64(size)
	if !ackEliciting && len(frames) == 0 && s.histBase == s.nextPN {
		// Nothing to track and nothing before it: keep the history empty.
		s.nextPN = pn + 1
		s.histBase = s.nextPN
		return
	}
	s.ensureSlots(pn + 1 - s.histBase)
	start := s.frameTail
	if len(frames) > 0 {
		s.ensureFrames(len(frames))
		m := s.frameMask()
		for i := range frames {
			s.frames[(start+uint64(i))&m] = frames[i]
		}
		s.frameTail += uint64(len(frames))
	}
	var flags uint8
	if ackEliciting {
		flags = flagAckEliciting | flagInFlight
	}
	sl := &s.slots[pn&s.slotMask()]
	*sl = slot{
		sent:       now,
		frameStart: start,
		size:       uint32(size),
		nFrames:    uint16(len(frames)),
		state:      stateOutstanding,
		flags:      flags,
	}
	s.nextPN = pn + 1
	if ackEliciting {
		if s.useBBR && !s.reliable {
			s.bbr.onPacketSent(now, sl, s.bytesInFlight)
		}
		s.bytesInFlight += size
		s.inFlight++
		s.ackElicitingInFlight++
		s.lastAckElicitingSent = now
		if s.ens != nil {
			s.ens.onSent(now, size, s.MaxDatagramSize())
		}
		if s.reliable {
			return // no window, no pacing: the path's own
		}
		if !s.useBBR {
			s.cc.onPacketSent(pn, s.bytesInFlight)
		}
		if !s.pace.disabled {
			s.pace.consume(now, size, s.pacingRate())
		}
	}
}

// OnAck processes one ACK frame received at now: ranges (descending by Hi,
// disjoint, as decoded from the frame) and the ACK delay the peer reported.
//
// Following RFC 9002 §5–§7 it reports FrameAcked for every frame of every
// newly acknowledged packet, takes an RTT sample when the largest
// acknowledged packet is newly acknowledged and at least one newly
// acknowledged packet was ack-eliciting, detects losses by packet
// threshold (3) and time threshold (9/8 of max(smoothed, latest) RTT, at
// least Granularity) and reports FrameLost for their frames, reduces the
// window once per recovery period, collapses it on persistent congestion,
// grows it for the acknowledged bytes otherwise, and resets the PTO
// backoff.
//
// An ACK that acknowledges nothing new (a duplicate, or packets already
// declared lost) changes nothing but the largest acknowledged number.
// ErrInvalidAck is returned for an ACK of a number never sent; the state
// may then be partly updated, which does not matter because the session
// must be closed for the protocol violation.
func (s *Sender) OnAck(now Time, ranges []Range, ackDelay time.Duration, h Handler) (newlyAcked int, err error) {
	if len(ranges) == 0 {
		return 0, nil
	}
	if ranges[0].Hi >= s.nextPN {
		return 0, ErrInvalidAck
	}
	for i := range ranges {
		if ranges[i].Lo > ranges[i].Hi || (i > 0 && ranges[i].Hi >= ranges[i-1].Lo) {
			return 0, ErrInvalidAck
		}
	}
	largest := ranges[0].Hi
	var largestSent Time
	largestNew := false
	if largest >= s.histBase {
		if sl := &s.slots[largest&s.slotMask()]; sl.state == stateOutstanding {
			largestNew = true
			largestSent = sl.sent
		}
	}
	ackElicitingAcked := false
	appLimited := false
	ackedBytes := 0
	ensAcked := 0     // bytes that may grow the ensemble's window (Ensemble.onAck)
	var ensFirst Time // send time of the oldest of them
	priorInFlight := s.bytesInFlight
	if s.useBBR && !s.reliable {
		s.bbr.rs.beginAck()
	}
	for i := len(ranges) - 1; i >= 0; i-- {
		lo, hi := ranges[i].Lo, ranges[i].Hi
		if hi < s.histBase {
			continue
		}
		if lo < s.histBase {
			lo = s.histBase
		}
		for pn := lo; pn <= hi; pn++ {
			sl := &s.slots[pn&s.slotMask()]
			switch sl.state {
			case stateOutstanding:
			case stateSkipped:
				return newlyAcked, ErrInvalidAck
			case stateLost:
				s.onLateAck(now, largest, pn, sl, h)
				continue
			default:
				continue
			}
			sl.state = stateAcked
			newlyAcked++
			s.stats.packetsAcked++
			if sl.flags&flagAckEliciting != 0 {
				ackElicitingAcked = true
			}
			s.onDelivered(now, sl)
			if sl.flags&flagInFlight != 0 {
				s.removeInFlight(sl)
				if s.ens != nil && s.ens.canGrow(sl.sent) {
					if ensAcked == 0 || sl.sent < ensFirst {
						ensFirst = sl.sent
					}
					ensAcked += int(sl.size)
				}
				switch {
				case s.reliable:
				case s.useBBR:
					// Its window follows its model (onDelivered), and
					// the rate sampler tells app-limited ACKs apart.
				case s.cc.canGrow(pn):
					ackedBytes += int(sl.size)
				case pn >= s.cc.recoveryStartPN:
					appLimited = true
				}
			}
			if h != nil && sl.nFrames > 0 {
				// Re-read the ring on every call: a Handler that sends
				// (OnPacketSent) may grow it.
				start, n := sl.frameStart, uint64(sl.nFrames)
				for j := uint64(0); j < n; j++ {
					h.FrameAcked(&s.frames[(start+j)&s.frameMask()])
				}
			}
		}
	}
	if !s.hasLargestAcked || largest > s.largestAcked {
		s.largestAcked = largest
		s.hasLargestAcked = true
	}
	if newlyAcked == 0 {
		return 0, nil
	}
	sampled := false
	if largestNew && ackElicitingAcked {
		if !s.rtt.HasSample() {
			s.firstRTTSampleAt = now
		}
		s.rtt.Update(now.Sub(largestSent), ackDelay)
		sampled = true
		if s.ens != nil && !s.reliable {
			s.ens.onRTT(s.rtt.Latest())
		}
	}
	if s.reliable {
		s.detectGaps(h)
		s.ptoCount = 0
		s.popFront(now)
		return newlyAcked, nil
	}
	// RFC 9002 order: losses first, then growth, so that packets acked by
	// the same ACK that started a recovery period do not grow the window.
	reacted := s.detectLost(now, h)
	if s.ens != nil && ensAcked > 0 && s.ens.canGrow(ensFirst) {
		// (Not when the losses just detected, this member's or another's, began a congestion
		// event after some of these packets left: as for the Sender's own window, packets
		// acknowledged by the ACK that started a recovery period do not grow it.)
		s.ens.onAck(ensAcked, s.MaxDatagramSize())
	}
	switch {
	case s.useBBR:
		var rtt time.Duration
		if sampled {
			rtt = now.Sub(largestSent)
		}
		s.bbr.onAck(now, rtt, s.rtt.Smoothed(), s.rtt.Min(), priorInFlight, s.bytesInFlight)
	case !reacted:
		s.cc.onAck(now, ackedBytes, appLimited, s.rtt.Smoothed())
		fallthrough
	default:
		s.cc.hystartOnAck(s.largestAcked, sampled, s.rtt.Latest(), s.nextPN)
	}
	s.ptoCount = 0
	s.popFront(now)
	return newlyAcked, nil
}

// onDelivered feeds an acknowledged ack-eliciting packet to BBR's
// delivery-rate sampler. It is also the hook for a packet declared lost
// and acknowledged late: its bytes did arrive, so they count as
// delivered (each slot must be passed at most once).
func (s *Sender) onDelivered(now Time, sl *slot) {
	if s.useBBR && !s.reliable && sl.flags&flagAckEliciting != 0 {
		s.bbr.rs.onDelivered(now, sl)
	}
}

func (s *Sender) removeInFlight(sl *slot) {
	if s.ens != nil {
		s.ens.flight.Add(-int64(sl.size))
	}
	s.bytesInFlight -= int(sl.size)
	s.inFlight--
	if sl.flags&flagAckEliciting != 0 {
		s.ackElicitingInFlight--
	}
	sl.flags &^= flagInFlight
}

// BytesInFlight returns the bytes of ack-eliciting packets neither
// acknowledged nor declared lost.
func (s *Sender) BytesInFlight() int { return s.bytesInFlight }

// Window returns the congestion window in bytes.
func (s *Sender) Window() int {
	if !s.initialized {
		return DefaultInitialWindowPackets * DefaultMaxDatagramSize
	}
	if s.useBBR {
		return s.bbr.cwnd
	}
	return s.cc.cwnd
}

// CanSend reports whether the window admits another packet
// (BytesInFlight < Window). Like TCP, the packet may then overshoot the
// window by up to one datagram; probes ignore the window entirely. Over a
// reliable path (Config.Reliable) there is no window, only a bound on what is
// in flight: ReliableInFlight.
//
// A Sender in an ensemble (JoinEnsemble) also needs room in the ensemble's window; EnsembleLimited
// tells that case apart from its own window being full.
func (s *Sender) CanSend() bool {
	if s.reliable {
		return s.bytesInFlight < ReliableInFlight
	}
	return s.bytesInFlight < s.Window() && (s.ens == nil || s.ens.Room())
}

// ReliableInFlight bounds what a Sender has in flight over a reliable path, where it runs no
// window of its own. TCP below moves what it is given at its own pace, so more in flight does
// not move data faster; it waits in TCP's buffers, and the round trip it adds is what the
// session's PTO, and with it a failover to another path and the return to UDP, is timed by.
// 4 MiB is what the flow-control windows allowed before they started at 8 MiB, the bound the
// WebSocket path was measured with (docs/RELIABILITY.md).
const ReliableInFlight = 4 << 20

// EnsembleLimited reports whether the Sender's own window admits another packet but its
// ensemble's does not: the caller then waits for another member's acknowledgement, not its own.
func (s *Sender) EnsembleLimited() bool {
	return s.ens != nil && !s.reliable && s.bytesInFlight < s.Window() && !s.ens.Room()
}

// SendBudget returns Window - BytesInFlight, at least 0: how many bytes
// the caller may pack into the next burst.
func (s *Sender) SendBudget() int {
	if b := s.Window() - s.bytesInFlight; b > 0 {
		return b
	}
	return 0
}

// pacingRate returns the pacing rate in bytes per nanosecond.
func (s *Sender) pacingRate() float64 {
	if s.useBBR {
		return s.bbr.rate(s.rtt.Smoothed())
	}
	srtt := s.rtt.Smoothed()
	if srtt < time.Microsecond {
		srtt = time.Microsecond
	}
	gain := pacingGainCA
	if s.inSlowStart() {
		gain = pacingGainSS
	}
	return gain * float64(s.cc.cwnd) / float64(srtt)
}

// PacingRate returns the current pacing rate in bytes per second:
// 1.25 * Window / SRTT in congestion avoidance and twice Window / SRTT in
// slow start (where the window doubles every round trip); with BBR, the
// pacing gain of its state times its bottleneck-bandwidth estimate.
func (s *Sender) PacingRate() float64 { return s.pacingRate() * 1e9 }

// PacingDeadline returns 0 if a packet of size bytes (or a GSO burst of
// that many bytes) may be sent at now, else the time at which it may.
// The bucket holds max(10 datagrams, 64 KiB), so a full 64 KiB burst can
// leave at once when the window allows; larger sizes are treated as a
// bucket's worth. OnPacketSent spends the tokens.
//
// Over a reliable path (Config.Reliable) it is always 0: the caller paces
// by the path's byte budget.
func (s *Sender) PacingDeadline(now Time, size int) Time {
	if !s.initialized || s.pace.disabled || s.reliable {
		return 0
	}
	return s.pace.deadline(now, size, s.pacingRate())
}

// LargestAcked returns the largest packet number the peer acknowledged.
func (s *Sender) LargestAcked() (uint64, bool) { return s.largestAcked, s.hasLargestAcked }

// InFlightPackets returns the number of packets counted in BytesInFlight.
func (s *Sender) InFlightPackets() int { return s.inFlight }

// RTT returns the Sender's RTT estimator (to read it, or to SetInitial
// before the first packet).
func (s *Sender) RTT() *RTT { return &s.rtt }

// PTO returns the current probe timeout without backoff.
func (s *Sender) PTO() time.Duration { return s.rtt.PTO(s.maxAckDelay) }

// PTOCount returns the number of consecutive PTOs without an ACK (the
// backoff exponent).
func (s *Sender) PTOCount() int { return int(s.ptoCount) }

// InSlowStart reports whether the window grows exponentially (for BBR:
// whether it is in STARTUP).
func (s *Sender) InSlowStart() bool { return s.inSlowStart() }

func (s *Sender) inSlowStart() bool {
	if s.useBBR {
		return s.bbr.inSlowStart()
	}
	return s.cc.inSlowStart()
}

// OnAppLimited tells the Sender that the application has nothing to send
// although window and pacing would let it. CUBIC and NewReno need not be
// told (their window-validation latch sees an unused window), but BBR
// must: bandwidth samples taken while the pipe is not kept full are
// marked so they cannot lower its estimate.
func (s *Sender) OnAppLimited() {
	if s.useBBR {
		s.bbr.rs.setAppLimited(s.bytesInFlight)
	}
}
