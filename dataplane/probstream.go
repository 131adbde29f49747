package dataplane

import (
	"sort"
	"time"

	"github.com/sttfast/sttfast/dataplane/delivery"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
)

// OpenStreamOptions chooses the kind of stream Session.OpenStreamWith opens.
type OpenStreamOptions struct {
	// Probabilistic makes every message carry its own delivery target, taken from the Shannon
	// entropy of its bytes (package delivery), instead of being delivered at any cost: a lost
	// message is sent again only while its target, on the path's measured loss rate, still
	// needs it, and is otherwise abandoned with a STREAM_SKIP the reader hears about
	// (ErrMessagesLost). For live data, where a late message is worth nothing and a
	// retransmission storm on a lossy link is worse than a gap.
	Probabilistic bool
	// Deadline, on a probabilistic stream, is the age after which a message is worthless: it
	// is never sent (or sent again) once older, whatever its target. Zero: no deadline.
	Deadline time.Duration
}

// ClassCounters counts the fate of one entropy class's messages on a probabilistic stream.
type ClassCounters struct {
	Messages        uint64 // messages written
	Retransmissions uint64 // retransmission rounds: a message sent again after a counted loss
	Abandoned       uint64 // messages given up (budget or deadline spent) and announced
}

// ProbStats is a probabilistic stream's sender-side account, per entropy class
// (delivery.Class), and the loss rate its budgets were last computed from.
type ProbStats struct {
	Classes  [delivery.NumClasses]ClassCounters
	LossRate float64
}

// probSender is the sender's record of a probabilistic stream's unsettled messages. s.mu guards
// all of it.
type probSender struct {
	deadline time.Duration
	msgs     []probMessage // unsettled messages in stream order; msgs[0] is number first
	first    uint64        // number of msgs[0]
	written  uint64        // messages written so far
	frameSeq uint32        // DATA frames of this stream packed so far (wraps)
	skipq    []skipRange   // abandonments to announce (or announce again)
	inFlight int           // STREAM_SKIP frames sent and not yet acknowledged or lost
	// announced are the most recent skips sent and not yet acknowledged: with a deadline,
	// every packet of new data carries them again, so the reader behind a lost message learns
	// of its abandonment from the next packet that arrives, not a loss-detection round later.
	announced []skipRange
	stats     ProbStats
	lossEst   lossWindow
}

// probMessage is one written message of a probabilistic stream: bytes [start, end) of the
// stream, length prefix included.
type probMessage struct {
	start, end uint64
	born       int64 // Unix nanoseconds when written
	// countFrom is the frameSeq from which a lost frame starts a new retransmission round:
	// losses of frames packed before the last counted one belong to a round already paid for.
	countFrom uint32
	retrans   uint8 // retransmission rounds spent
	class     delivery.Class
	abandoned bool
	skipAcked bool // the STREAM_SKIP that announced its abandonment was acknowledged
}

// skipRange is an abandonment: count messages numbered first, … in bytes [lo, hi).
type skipRange struct {
	lo, hi, first, count uint64
}

func newProbSender(deadline time.Duration) *probSender {
	return &probSender{deadline: max(deadline, 0)}
}

// Probabilistic reports whether the stream was opened with OpenStreamOptions.Probabilistic.
func (st *Stream) Probabilistic() bool { return st.prob != nil }

// Deadline is the stream's message deadline (zero: none, or not probabilistic).
func (st *Stream) Deadline() time.Duration {
	if st.prob == nil {
		return 0
	}
	return st.prob.deadline
}

// ProbStats returns the sender-side counters of a probabilistic stream (zero otherwise).
func (st *Stream) ProbStats() ProbStats {
	if st.prob == nil {
		return ProbStats{}
	}
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return st.prob.stats
}

// recordMessage notes a message of n bytes (length prefix included) about to be written at the
// end of the send buffer, before the TX loop can see its bytes. wmu held.
func (st *Stream) recordMessage(n int, class delivery.Class) {
	p := st.prob
	start := st.send.End()
	s := st.s
	s.mu.Lock()
	p.msgs = append(p.msgs, probMessage{
		start: start, end: start + uint64(n), born: time.Now().UnixNano(),
		countFrom: p.frameSeq, class: class,
	})
	p.written++
	p.stats.Classes[class].Messages++
	s.mu.Unlock()
}

// nextFrameSeq numbers a DATA frame of st for the retransmission rounds of a probabilistic
// stream (recovery.FrameRef.Handle); other streams leave it 0. s.mu held.
func (st *Stream) nextFrameSeq() uint32 {
	p := st.prob
	if p == nil {
		return 0
	}
	p.frameSeq++
	return p.frameSeq - 1
}

// find returns the index of the first message that ends after off.
func (p *probSender) find(off uint64) int {
	return sort.Search(len(p.msgs), func(i int) bool { return p.msgs[i].end > off })
}

// trim forgets the settled messages at the front: acknowledged, or abandoned and announced.
func (p *probSender) trim(acked uint64) {
	k := 0
	for k < len(p.msgs) && p.msgs[k].end <= acked && (!p.msgs[k].abandoned || p.msgs[k].skipAcked) {
		k++
	}
	if k == 0 {
		return
	}
	n := copy(p.msgs, p.msgs[k:])
	clear(p.msgs[n:])
	p.msgs = p.msgs[:n]
	p.first += uint64(k)
}

// expired reports whether a message born at born is past the stream's deadline at now.
func (p *probSender) expired(born, now int64) bool {
	return p.deadline > 0 && now-born > int64(p.deadline)
}

// probLost handles the loss of a DATA frame of a probabilistic stream: each message it carried
// is sent again if its target still needs it and its deadline allows, and abandoned otherwise.
// s.mu held.
func (s *Session) probLost(st *Stream, f *recovery.FrameRef) {
	p := st.prob
	lo, hi := f.Offset, f.Offset+f.Length
	now := time.Now().UnixNano()
	loss := p.lossEst.rate(s.sender.LossCounters())
	p.stats.LossRate = loss
	requeued := false
	for i := p.find(lo); i < len(p.msgs) && p.msgs[i].start < hi; i++ {
		m := &p.msgs[i]
		if m.abandoned || st.send.IsAcked(m.start, m.end-m.start) {
			continue
		}
		// A copy sent now arrives half a round trip later: past the deadline, it is worthless.
		give := p.expired(m.born, now+int64(s.sender.SmoothedRTT()/2))
		// A probe timeout's resend is no loss (the ACK is late): it spends no round.
		if !give && !s.sender.Probing() && int32(f.Handle-m.countFrom) >= 0 {
			// A new round: this copy was sent after the last counted loss. The message needs
			// every packet it was cut into: as many as its size takes, and at least two when
			// this lost frame held only part of it (a small message straddling two packets).
			payload := uint64(max(s.payloadSize(), 1))
			packets := int((m.end - m.start + payload - 1) / payload)
			if m.start < lo || m.end > hi {
				packets = max(packets, 2)
			}
			if int(m.retrans) >= delivery.Retransmissions(m.class.Target(), loss, packets) {
				give = true
			} else {
				m.retrans++
				m.countFrom = p.frameSeq
				p.stats.Classes[m.class].Retransmissions++
			}
		}
		if give && m.end <= st.nextOff {
			s.abandon(st, i)
			continue
		}
		st.lost.add(max(lo, m.start), min(hi, m.end))
		requeued = true
	}
	if requeued || len(p.skipq) > 0 {
		st.queued.Store(true)
		s.pushReady(st)
	}
}

// abandon gives up message i of st: its bytes will not be sent again, their buffer and budget
// are released now, and a STREAM_SKIP tells the receiver. The whole message must have been sent
// once (the receiver checks a skip against the credit it gave). s.mu held.
func (s *Session) abandon(st *Stream, i int) {
	p := st.prob
	m := &p.msgs[i]
	m.abandoned = true
	p.stats.Classes[m.class].Abandoned++
	st.lost.remove(m.start, m.end)
	if a := st.send.Acked(); st.send.Ack(m.start, m.end-m.start) {
		st.unchargeAcked(int64(st.send.Acked()-a), s)
		s.wakeLater(st.wwake)
		s.signal()
	}
	p.queueSkip(skipRange{lo: m.start, hi: m.end, first: p.first + uint64(i), count: 1})
}

// queueSkip adds r to the abandonments to announce, merging it with the last one when they
// touch, so a run of abandoned messages costs one frame.
func (p *probSender) queueSkip(r skipRange) {
	if n := len(p.skipq); n > 0 {
		last := &p.skipq[n-1]
		if last.hi == r.lo && last.first+last.count == r.first {
			last.hi, last.count = r.hi, last.count+r.count
			return
		}
	}
	p.skipq = append(p.skipq, r)
}

// skipsDue reports whether st has abandonments to announce. s.mu held.
func (st *Stream) skipsDue() bool { return st.prob != nil && len(st.prob.skipq) > 0 }

// resendDue reports whether st has something to send again (retransmissions or
// abandonments), which goes even without session credit. s.mu held.
func (st *Stream) resendDue() bool { return !st.lost.empty() || st.skipsDue() }

// appendSkips adds the pending STREAM_SKIP frames that fit. s.mu held.
func (st *Stream) appendSkips(b []byte, limit int, refs []recovery.FrameRef) ([]byte, []recovery.FrameRef, bool) {
	p := st.prob
	k := 0
	for ; k < len(p.skipq); k++ {
		r := p.skipq[k]
		if limit-len(b) < 1+5*8 {
			break
		}
		b = frame.AppendStreamSkip(b, st.id, r.lo, r.hi, r.first, r.count)
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeStreamSkip), StreamID: st.id, Offset: r.lo, Length: r.hi - r.lo})
		p.inFlight++
		if p.deadline > 0 {
			if len(p.announced) == maxAnnounced {
				p.announced = append(p.announced[:0], p.announced[1:]...)
			}
			p.announced = append(p.announced, r)
		}
	}
	n := copy(p.skipq, p.skipq[k:])
	p.skipq = p.skipq[:n]
	return b, refs, k > 0
}

// maxAnnounced bounds the skips repeated in packets of new data: the most recent ones, which
// are the ones a reader can be waiting behind.
const maxAnnounced = 4

// skipRepeat marks a FrameRef as a redundant copy of a STREAM_SKIP (repeated with new data):
// its loss needs no recovery, since the original is recovered on its own.
const skipRepeat = 1

// appendAnnounced repeats the skips sent and not yet acknowledged, as far as they fit. s.mu
// held.
func (st *Stream) appendAnnounced(b []byte, limit int, refs []recovery.FrameRef) ([]byte, []recovery.FrameRef) {
	p := st.prob
	if p == nil {
		return b, refs
	}
	for _, r := range p.announced {
		if limit-len(b) < 1+5*8 {
			break
		}
		b = frame.AppendStreamSkip(b, st.id, r.lo, r.hi, r.first, r.count)
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeStreamSkip), Flags: skipRepeat, StreamID: st.id, Offset: r.lo, Length: r.hi - r.lo})
	}
	return b, refs
}

// expireInFlight abandons, with a deadline, the messages sent whole and not yet acknowledged
// that a copy sent now could no longer deliver in time, without waiting for loss detection to
// call them lost: the reader behind them hears of it by the deadline. s.mu held.
func (s *Session) expireInFlight(st *Stream) {
	p := st.prob
	if p == nil || p.deadline == 0 {
		return
	}
	horizon := time.Now().UnixNano() + int64(s.sender.SmoothedRTT()/2)
	for i := 0; i < len(p.msgs); i++ {
		m := &p.msgs[i]
		if !p.expired(m.born, horizon) || m.end > st.nextOff {
			return // messages are in order of birth; the rest is unsent
		}
		if !m.abandoned && !st.send.IsAcked(m.start, m.end-m.start) {
			s.abandon(st, i)
		}
	}
}

// skipFate handles the acknowledgement or loss of a STREAM_SKIP covering [lo, hi). s.mu held.
func (s *Session) skipFate(st *Stream, f *recovery.FrameRef, acked bool) {
	p := st.prob
	if p == nil {
		return
	}
	lo, hi := f.Offset, f.Offset+f.Length
	if acked {
		for k := 0; k < len(p.announced); k++ {
			if p.announced[k].lo == lo {
				p.announced = append(p.announced[:k], p.announced[k+1:]...)
				k--
			}
		}
	}
	if f.Flags == skipRepeat {
		if !acked {
			return // a redundant copy: the original is recovered on its own
		}
	} else {
		p.inFlight--
	}
	i := p.find(lo)
	if i >= len(p.msgs) || p.msgs[i].start != lo {
		return // already settled
	}
	if acked {
		for ; i < len(p.msgs) && p.msgs[i].end <= hi; i++ {
			p.msgs[i].skipAcked = true
		}
		p.trim(st.send.Acked())
		s.signal()
		return
	}
	if p.msgs[i].skipAcked {
		return // a repeated copy was acknowledged
	}
	r := skipRange{lo: lo, hi: hi, first: p.first + uint64(i)}
	for ; i < len(p.msgs) && p.msgs[i].end <= hi; i++ {
		r.count++
	}
	if r.count > 0 {
		p.queueSkip(r)
		st.queued.Store(true)
		s.pushReady(st)
	}
}

// skipExpired abandons, without sending them, the messages at the head of st's unsent data that
// are already past the deadline and wholly written, as far as the peer's credit allows (the
// receiver counts skipped bytes as received). s.mu held.
func (s *Session) skipExpired(st *Stream) {
	p := st.prob
	if p == nil || p.deadline == 0 {
		return
	}
	now := time.Now().UnixNano() + int64(s.sender.SmoothedRTT()/2) // as in expireInFlight
	for i := p.find(st.nextOff); i < len(p.msgs); i++ {
		m := &p.msgs[i]
		if m.start != st.nextOff || !p.expired(m.born, now) || m.end > st.send.End() ||
			m.end > st.peerMax || m.end-m.start > s.peerMaxData-min(s.peerMaxData, s.sentData) {
			return
		}
		st.nextOff = m.end
		s.sentData += m.end - m.start
		s.abandon(st, i)
	}
}

// probSettled reports whether every abandonment has been announced and acknowledged. s.mu held.
func (st *Stream) probSettled() bool {
	return st.prob == nil || (len(st.prob.skipq) == 0 && st.prob.inFlight <= 0)
}

// lossWindow estimates the path's loss rate from the recovery counters over the last
// lossWindowPackets to twice that many packets: the packets of the window before are kept
// beside the current one, so the estimate never rests on a handful of samples after a reset.
type lossWindow struct {
	markSent, markLost uint64 // counters at the start of the current window
	prevSent, prevLost uint64 // packets sent and lost in the previous window
}

// lossWindowPackets is the window of the loss estimate: long enough that 5% is measured
// within about ±1.4% (one standard deviation of 1000 samples), short enough to follow a path
// that changes within seconds.
const lossWindowPackets = 1000

// rate is the measured loss rate given the session's counters of packets sent and lost: lost /
// sent over the window. Before any packet is counted it is (0+1)/(0+2) = 0.5 (Laplace's rule), a
// cautious guess that the first samples replace. Each probabilistic stream keeps its own window
// over the session's counters, so that an idle session carries none of it. s.mu held.
func (w *lossWindow) rate(sent, lost uint64) float64 {
	if sent-w.markSent >= lossWindowPackets {
		w.prevSent, w.prevLost = sent-w.markSent, lost-w.markLost
		w.markSent, w.markLost = sent, lost
	}
	n := sent - w.markSent + w.prevSent
	l := lost - w.markLost + w.prevLost
	if n < 20 {
		return float64(l+1) / float64(n+2)
	}
	return min(float64(l)/float64(n), 1)
}

// classOf is the entropy class of a message written to a probabilistic stream (0 on others,
// which do not look at their bytes).
func (st *Stream) classOf(msg []byte) delivery.Class {
	if st.prob == nil {
		return 0
	}
	return delivery.ClassOf(delivery.Entropy(msg))
}
