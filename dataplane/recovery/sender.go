package recovery

import (
	"errors"
	"math"
	"sync"
	"time"
)

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

type counters struct {
	packetsSent      uint64
	packetsLost      uint64
	packetsAcked     uint64
	bytesSent        uint64
	bytesLost        uint64
	congestionEvents uint64
	ptoCount         uint64
	persistent       uint64
}

// SenderStats is a snapshot of a Sender's counters and state, for metrics.
type SenderStats struct {
	PacketsSent          uint64 // every packet passed to OnPacketSent
	PacketsLost          uint64 // packets declared lost
	PacketsAcked         uint64 // packets newly acknowledged
	BytesSent            uint64
	BytesLost            uint64
	CongestionEvents     uint64 // window reductions (one per recovery period)
	PTOCount             uint64 // probe timeouts fired
	PersistentCongestion uint64 // window collapses (RFC 9002 §7.6)
	// SpuriousLosses counts packets declared lost and acknowledged afterwards: reordering, not
	// loss. Their frames were resent needlessly (the retransmissions are in PacketsSent).
	SpuriousLosses uint64
	// UndoneEvents counts congestion events undone because every loss in them was spurious.
	UndoneEvents uint64
	// PacketThreshold and ReorderWindow are the loss thresholds the path's reordering has
	// taught the Sender (PacketThreshold and 0 on a path that keeps order).
	PacketThreshold uint64
	ReorderWindow   time.Duration
	Window          int
	BytesInFlight   int
	SRTT            time.Duration
	MinRTT          time.Duration
	SlowStart       bool
	// BBR only (zero for other algorithms): the bottleneck bandwidth
	// estimate in bytes per second, and the state machine's mode
	// ("startup", "drain", "probe_bw", "probe_rtt").
	BtlBw    float64
	BBRState string
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
}

// Init (re)initialises the Sender with cfg (zero fields take defaults):
// packet numbers restart at 0, so re-Init only for a new session (new
// keys), never within one. History memory already allocated is kept for
// reuse, which lets a pool of Senders serve successive sessions without
// allocating.
func (s *Sender) Init(cfg Config) {
	c := cfg.withDefaults()
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
	s.initialized = true
}

// NextPacketNumber returns the number the next packet must carry. It does
// not consume it: OnPacketSent does.
func (s *Sender) NextPacketNumber() uint64 { return s.nextPN }

func (s *Sender) slotMask() uint64  { return uint64(len(s.slots) - 1) }
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
	c := uint64(len(s.slots))
	if c < initialSlots {
		c = initialSlots
	}
	for c < n {
		c *= 2
	}
	var ns []slot
	if c == initialSlots {
		ns = slotPool.Get().(*[initialSlots]slot)[:]
	} else {
		ns = make([]slot, c)
	}
	if len(s.slots) > 0 {
		om, nm := s.slotMask(), c-1
		for pn := s.histBase; pn < s.nextPN; pn++ {
			ns[pn&nm] = s.slots[pn&om]
		}
	}
	s.slots = ns
}

// ensureFrames makes room for extra more frames in the frame ring.
func (s *Sender) ensureFrames(extra int) {
	n := s.frameTail - s.frameHead + uint64(extra)
	if n <= uint64(len(s.frames)) {
		return
	}
	c := uint64(len(s.frames))
	if c < initialFrames {
		c = initialFrames
	}
	for c < n {
		c *= 2
	}
	var nf []FrameRef
	if c == initialFrames {
		nf = framePool.Get().(*[initialFrames]FrameRef)[:]
	} else {
		nf = make([]FrameRef, c)
	}
	if len(s.frames) > 0 {
		om, nm := s.frameMask(), c-1
		for i := s.frameHead; i < s.frameTail; i++ {
			nf[i&nm] = s.frames[i&om]
		}
	}
	s.frames = nf
}

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
		if s.useBBR {
			s.bbr.onPacketSent(now, sl, s.bytesInFlight)
		}
		s.bytesInFlight += size
		s.inFlight++
		s.ackElicitingInFlight++
		s.lastAckElicitingSent = now
		if !s.useBBR {
			s.cc.onPacketSent(pn, s.bytesInFlight)
		}
		if !s.pace.disabled {
			s.pace.consume(now, size, s.pacingRate())
		}
	}
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
	priorInFlight := s.bytesInFlight
	if s.useBBR {
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
				switch {
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
	}
	// RFC 9002 order: losses first, then growth, so that packets acked by
	// the same ACK that started a recovery period do not grow the window.
	reacted := s.detectLost(now, h)
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

// onLateAck handles the acknowledgement of packet pn, declared lost earlier: the loss was
// spurious (reorder.go). Its frames are reported acknowledged, the reordering it reveals is
// learnt, and if it was the last unproven loss of the current congestion event, that event's
// window reduction is undone. largest is the largest number this ACK acknowledges.
func (s *Sender) onLateAck(now Time, largest, pn uint64, sl *slot, h Handler) {
	sl.state = stateAcked
	s.onDelivered(now, sl) // its bytes did arrive: BBR's rate samples count them
	if h != nil && sl.nFrames > 0 {
		start, n := sl.frameStart, uint64(sl.nFrames)
		for j := uint64(0); j < n; j++ {
			h.FrameAcked(&s.frames[(start+j)&s.frameMask()])
		}
	}
	if sl.flags&flagCounted == 0 {
		return // not in flight when declared lost (an ACK-only packet): nothing was learnt
	}
	base := max(s.rtt.Smoothed(), s.rtt.Latest())
	s.reo.onSpurious(max(largest, s.largestAcked)-pn, now.Sub(sl.sent)-base, s.rtt.Smoothed())
	// BBR cut nothing for the loss, so it has nothing to undo (and UndoneEvents stays 0).
	if !s.useBBR && s.reo.inEpisode(sl.flags) && s.reo.onSpuriousInEpisode() {
		s.cc.undo(&s.reo.prior)
	}
}

// eventStartPN is the first packet number whose loss starts a new congestion event: CUBIC's
// and NewReno's recovery period. BBR has none and leaves cc unused, so the same field keeps
// its events, too, to at most one per round trip of losses.
func (s *Sender) eventStartPN() uint64 { return s.cc.recoveryStartPN }

// onDelivered feeds an acknowledged ack-eliciting packet to BBR's
// delivery-rate sampler. It is also the hook for a packet declared lost
// and acknowledged late: its bytes did arrive, so they count as
// delivered (each slot must be passed at most once).
func (s *Sender) onDelivered(now Time, sl *slot) {
	if s.useBBR && sl.flags&flagAckEliciting != 0 {
		s.bbr.rs.onDelivered(now, sl)
	}
}

func (s *Sender) removeInFlight(sl *slot) {
	s.bytesInFlight -= int(sl.size)
	s.inFlight--
	if sl.flags&flagAckEliciting != 0 {
		s.ackElicitingInFlight--
	}
	sl.flags &^= flagInFlight
}

// lossDelay is RFC 9002 §6.1.2's time threshold, 9/8 of max(smoothed, latest) RTT, widened
// to the reordering window the path has shown (reorder.go), at least Granularity.
func (s *Sender) lossDelay() time.Duration {
	return s.reo.lossDelay(max(s.rtt.Smoothed(), s.rtt.Latest()))
}

// lostRetention is how long after it was sent a packet declared lost stays in the history so
// that a late ACK for it is recognised: the loss delay plus a PTO, about two round trips, which
// covers any packet the path merely reordered.
func (s *Sender) lostRetention() time.Duration {
	return s.lossDelay() + s.rtt.PTO(s.maxAckDelay)
}

// persistentDuration is RFC 9002 §7.6.1: three PTOs without backoff.
func (s *Sender) persistentDuration() time.Duration {
	return 3 * s.rtt.PTO(s.maxAckDelay)
}

// detectLost declares lost every outstanding packet below the largest
// acknowledged that is the packet threshold numbers older, or was sent more
// than lossDelay ago, and arms lossTime for the others. It reports
// whether the congestion controller reacted (a new recovery period or a
// persistent-congestion collapse).
func (s *Sender) detectLost(now Time, h Handler) (reacted bool) {
	s.lossTime = 0
	if !s.hasLargestAcked || s.largestAcked < s.histBase {
		return false
	}
	lossDelay := s.lossDelay()
	lostBefore := now - Time(lossDelay)
	threshold := s.reo.threshold()
	pcDur := Time(s.persistentDuration())
	var (
		anyLost       bool
		largestLostPN uint64
		runStart      Time
		inRun         bool
		persistent    bool
	)
	for s.scanFrom = max(s.scanFrom, s.histBase); s.scanFrom < s.largestAcked; s.scanFrom++ {
		if s.slots[s.scanFrom&s.slotMask()].state == stateOutstanding {
			break
		}
	}
	for pn := s.scanFrom; pn < s.largestAcked; pn++ {
		sl := &s.slots[pn&s.slotMask()]
		switch sl.state {
		case stateOutstanding:
		case stateAcked:
			// An acknowledged ack-eliciting packet proves the path
			// delivered something in between: no persistent congestion
			// across it (RFC 9002 §7.6.2).
			if sl.flags&flagAckEliciting != 0 {
				inRun = false
			}
			continue
		default:
			continue
		}
		if sl.sent > lostBefore && pn+threshold > s.largestAcked {
			if lt := sl.sent + Time(lossDelay); s.lossTime == 0 || lt < s.lossTime {
				s.lossTime = lt
			}
			continue
		}
		if sl.flags&flagInFlight != 0 {
			if start := s.eventStartPN(); (!anyLost || largestLostPN < start) && pn >= start {
				// This loss starts a new congestion event (onCongestionEvent below):
				// remember the controller as it is, in case the event proves spurious.
				s.reo.onEvent(&s.cc)
				if s.useBBR {
					s.cc.recoveryStartPN = s.nextPN
				}
			}
			anyLost = true
			largestLostPN = pn
			s.reo.onLost(sl)
		}
		if sl.flags&flagAckEliciting != 0 && s.rtt.HasSample() && sl.sent > s.firstRTTSampleAt {
			if !inRun {
				inRun = true
				runStart = sl.sent
			} else if sl.sent-runStart > pcDur {
				persistent = true
			}
		}
		s.declareLost(sl, h)
	}
	if !anyLost {
		return false
	}
	if s.useBBR {
		// Loss is not congestion to BBR: only PROBE_BW's probing phase
		// reads it (bbr.lost), and only persistent congestion acts.
		s.bbr.lost = true
	} else if s.cc.onCongestionEvent(largestLostPN, s.nextPN) {
		s.stats.congestionEvents++
		reacted = true
	}
	if persistent {
		if s.useBBR {
			s.bbr.onPersistentCongestion()
		} else {
			s.cc.onPersistentCongestion()
		}
		s.stats.persistent++
		reacted = true
	}
	return reacted
}

// declareLost marks sl lost and reports its frames, unless a PTO already
// reported them.
func (s *Sender) declareLost(sl *slot, h Handler) {
	sl.state = stateLost
	s.stats.packetsLost++
	s.stats.bytesLost += uint64(sl.size)
	if sl.flags&flagInFlight != 0 {
		s.removeInFlight(sl)
	}
	if h != nil && sl.nFrames > 0 && sl.flags&flagProbed == 0 {
		start, n := sl.frameStart, uint64(sl.nFrames)
		for j := uint64(0); j < n; j++ {
			h.FrameLost(&s.frames[(start+j)&s.frameMask()])
		}
	}
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

func (s *Sender) ptoDeadline() Time {
	if s.ackElicitingInFlight == 0 {
		return 0
	}
	shift := s.ptoCount
	if shift > maxPTOShift {
		shift = maxPTOShift
	}
	return s.lastAckElicitingSent + Time(s.rtt.PTO(s.maxAckDelay)<<shift)
}

// Deadline returns when OnTimeout must be called: the earliest
// time-threshold loss time if one is armed, else the PTO — (smoothed +
// max(4*var, 1 ms) + peer max ACK delay) * 2^ptoCount after the last
// ack-eliciting packet was sent — while ack-eliciting packets are in
// flight. 0 means no timer is needed.
func (s *Sender) Deadline() Time {
	if s.lossTime != 0 {
		return s.lossTime
	}
	return s.ptoDeadline()
}

// OnTimeout runs the loss-detection timer at now. If a time-threshold loss
// is due it declares those packets lost (FrameLost) and returns 0. If the
// PTO is due it doubles the backoff, reports through FrameLost the frames
// of the oldest outstanding ack-eliciting packet not already probed (none
// if all were) so the caller resends them as the probe, and
// returns MaxProbes: the caller then sends up to that many ack-eliciting
// packets regardless of the window. The probed packet stays tracked: if
// its ACK arrives its frames are reported acknowledged, and if it is
// later declared lost its frames are not reported a second time. Called
// before Deadline, it does nothing and returns 0.
func (s *Sender) OnTimeout(now Time, h Handler) (probes int) {
	if s.lossTime != 0 {
		if now < s.lossTime {
			return 0
		}
		s.detectLost(now, h)
		s.popFront(now)
		return 0
	}
	d := s.ptoDeadline()
	if d == 0 || now < d {
		return 0
	}
	s.ptoCount++
	s.stats.ptoCount++
	s.probe(h)
	return MaxProbes
}

// probe reports the frames of the packet a PTO should resend: the oldest
// outstanding ack-eliciting packet not probed yet. If every one was
// probed, their frames were all handed out already (and, if the caller
// still wanted them, now travel in newer packets), so nothing is reported
// and the caller's probes carry new data or a KEEP_ALIVE.
func (s *Sender) probe(h Handler) {
	m := s.slotMask()
	for pn := s.histBase; pn < s.nextPN; pn++ {
		sl := &s.slots[pn&m]
		if sl.state != stateOutstanding || sl.flags&(flagAckEliciting|flagProbed) != flagAckEliciting {
			continue
		}
		sl.flags |= flagProbed
		if h != nil && sl.nFrames > 0 {
			start, n := sl.frameStart, uint64(sl.nFrames)
			for j := uint64(0); j < n; j++ {
				h.FrameLost(&s.frames[(start+j)&s.frameMask()])
			}
		}
		return
	}
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
// window by up to one datagram; probes ignore the window entirely.
func (s *Sender) CanSend() bool { return s.bytesInFlight < s.Window() }

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
func (s *Sender) PacingDeadline(now Time, size int) Time {
	if !s.initialized || s.pace.disabled {
		return 0
	}
	return s.pace.deadline(now, size, s.pacingRate())
}

// LargestAcked returns the largest packet number the peer acknowledged.
func (s *Sender) LargestAcked() (uint64, bool) { return s.largestAcked, s.hasLargestAcked }

// InFlightPackets returns the number of packets counted in BytesInFlight.
func (s *Sender) InFlightPackets() int { return s.inFlight }

// TrackedPackets returns the number of packet slots the history currently
// spans (outstanding packets plus resolved ones not yet dropped from its
// head); HistoryCap returns the slots allocated. Both are for tests and
// metrics: TrackedPackets <= HistoryCap, and HistoryCap only grows when
// TrackedPackets exceeds it.
func (s *Sender) TrackedPackets() int { return int(s.nextPN - s.histBase) }

// HistoryCap returns the capacity of the packet history ring (0 before the
// first tracked packet and after Drop or Trim).
func (s *Sender) HistoryCap() int { return len(s.slots) }

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

// Stats returns a snapshot of the counters.
func (s *Sender) Stats() SenderStats {
	st := SenderStats{
		PacketsSent:          s.stats.packetsSent,
		PacketsLost:          s.stats.packetsLost,
		PacketsAcked:         s.stats.packetsAcked,
		BytesSent:            s.stats.bytesSent,
		BytesLost:            s.stats.bytesLost,
		CongestionEvents:     s.stats.congestionEvents,
		PTOCount:             s.stats.ptoCount,
		PersistentCongestion: s.stats.persistent,
		SpuriousLosses:       uint64(s.reo.spuriousTotal),
		UndoneEvents:         uint64(s.reo.undoTotal),
		PacketThreshold:      s.reo.threshold(),
		ReorderWindow:        s.reo.window,
		Window:               s.Window(),
		BytesInFlight:        s.bytesInFlight,
		SRTT:                 s.rtt.Smoothed(),
		MinRTT:               s.rtt.Min(),
		SlowStart:            s.inSlowStart(),
	}
	if s.useBBR {
		st.BtlBw = s.bbr.btlBw.get() * 1e9
		st.BBRState = s.bbr.mode.String()
	}
	return st
}

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
