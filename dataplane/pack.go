package dataplane

import (
	"net/netip"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// maxPathChallenges bounds the PATH_CHALLENGEs sent to one unvalidated address (at PTO, 2 PTO
// and 4 PTO), so a spoofed source address cannot turn the session into a packet stream toward a
// third party.
const maxPathChallenges = 3

// maxCloseCopies is how many times SESSION_CLOSE is sent, at half-PTO intervals, during the drain.
const maxCloseCopies = 6

// maxOverhead is the largest header plus tag of a protected packet.
const maxOverhead = 19 + stc.TagSize

// serve runs the due timers of s and packs its packets into the batch. It reports whether s
// still has work now (it ran out of budget or of batch room).
func (t *txLoop) serve(s *Session) bool {
	s.mu.Lock()
	s.sink = &t.wakes
	st := sessState(s.state.Load())
	if st == stateClosed {
		t.unlock(s)
		t.forget(s)
		return false
	}
	now := t.now
	if why := t.timers(s, now); why != nil {
		t.unlock(s)
		t.dead = append(t.dead, deadSession{s, why})
		return false
	}
	more := false
	switch st {
	case stateClosing:
		// SESSION_CLOSE is not acknowledged; sending a few copies across the drain period makes
		// a lossy path unlikely to leave the peer waiting for its idle timeout (a packet from the
		// peer during the drain also triggers a copy).
		if s.sendingClose() && (!s.closeSent || (s.closeCopies < maxCloseCopies && now >= s.closeResendAt)) {
			if s.closeCopies == 0 {
				// The drain runs from the first copy on the wire, not from the close call: a TX
				// loop that comes to the session only after the drain period (a loaded machine)
				// would otherwise remove it without a single SESSION_CLOSE sent, and the peer
				// would learn of the end only from its idle timeout.
				s.drainAt = now + s.drainPeriod()
			}
			t.packClose(s)
			s.closeCopies++
			s.closeResendAt = now + recovery.Time(s.sender.PTO()/2)
		}
	case stateDraining:
		if !s.closeSent {
			t.packClose(s) // the one answer to the peer's SESSION_CLOSE (onSessionClose)
		}
	default:
		t.adoptResumedKeys(s)
		t.grp, t.grpAdmitted = s.syncGroup(), false
		if t.grp != nil {
			t.grp.wake(t.e) // the timers may have declared packets lost: room for the queue
		}
		t.maybeRotate(s, now)
		t.packPath(s, now)
		t.packProbe(s, now)
		if s.rel.Load() {
			t.room = t.pathRoom(s.peer)
		}
		acks := s.ctr.acksSent.Load()
		more = t.packSession(s, now)
		t.grp = nil
		if g := s.grp.Load(); g != nil {
			g.endTurn(s, t.e)
		}
		if s.ctr.acksSent.Load() != acks {
			t.packCandidateAck(s, now)
		}
	}
	t.heap.set(s, s.nextDeadline(now))
	t.unlock(s)
	return more
}

// unlock releases s and then wakes the readers and writers its timers made ready.
func (t *txLoop) unlock(s *Session) {
	s.sink = nil
	s.mu.Unlock()
	flushWakes(&t.wakes)
}

// packSession packs packets for s until it has nothing more, is blocked, or used its budget.
// It reports whether it stopped for budget or batch room with work left. mu held.
func (t *txLoop) packSession(s *Session, now recovery.Time) bool {
	for i := 0; i < sessionBudget; i++ {
		if !t.hasRoom() {
			return true
		}
		sent, more := t.packOne(s, now)
		if !sent {
			return false
		}
		if !more {
			return false
		}
	}
	return true
}

// canSendData reports whether congestion control and pacing let s send an ack-eliciting packet
// now; it records the pacing deadline when pacing holds it back. mu held.
func (s *Session) canSendData(now recovery.Time, size int) bool {
	if s.probes > 0 {
		return true
	}
	if !s.sender.CanSend() {
		return false
	}
	if d := s.sender.PacingDeadline(now, size); d > now {
		s.pacedUntil = d
		return false
	}
	s.pacedUntil = 0
	return true
}

// packOne builds one packet for s. sent reports that a packet was built; more that s has more to
// send right now. mu held.
func (t *txLoop) packOne(s *Session, now recovery.Time) (sent, more bool) {
	size := s.payloadSize()
	dataOK := t.groupGate(s, s.canSendData(now, size))
	// An ACK goes out on its own only when due (two ack-eliciting packets, a gap, or the delayed
	// ACK timer); otherwise it waits up to MaxAckDelay to ride on the next data packet.
	ackDue := s.receiver.AckPending() && (s.receiver.AckNow() || now >= s.receiver.AckDeadline())
	rel := s.rel.Load()
	if rel {
		// A reliable path: no window or pacer, but never more than the path takes whole. Data
		// waits for room for a full packet; an ACK alone goes in what room there is.
		s.pacedUntil = 0
		held := false
		if dataOK && t.room < size+reliableFraming {
			dataOK = false
			held = s.hasFrames()
		}
		if !dataOK {
			size = min(size, t.room-reliableFraming)
			if ackDue && size < reliableAckRoom {
				ackDue, held = false, true
			}
		}
		if held {
			s.pathHeld(now)
		}
	}
	if !ackDue && (!dataOK || !s.hasFrames()) {
		return false, false
	}
	buf := t.slot(s, s.peer, size)
	pn := s.sender.NextPacketNumber()
	la, acked := s.sender.LargestAcked()
	pnLen := max(4, frame.PNLen(pn, la, acked))
	h := frame.Header{Kind: frame.KindProtected, KeyPhase: s.txKeys.Phase(), SessionID: s.id, PacketNumber: pn, PNLen: pnLen}
	b := frame.AppendHeader(buf, &h)
	hdrLen := len(b)
	limit := size - stc.TagSize
	refs := t.refs[:0]
	ackEliciting := false

	if s.receiver.AckPending() { // due or not: a packet going out anyway carries it
		b = t.appendAck(s, b, limit, now)
	}
	if dataOK {
		b, refs, ackEliciting = t.appendControl(s, b, limit, refs)
		var ae bool
		b, refs, ae = t.appendApp(s, b, limit, refs)
		ackEliciting = ackEliciting || ae
		b, refs, ae, more = t.appendStreams(s, b, limit, refs, now)
		ackEliciting = ackEliciting || ae
		if !ackEliciting && s.probes > 0 && limit-len(b) >= 10 {
			// A PTO probe must elicit an ACK even when there is nothing to retransmit.
			b = frame.AppendKeepAlive(b, uint64(now))
			ackEliciting = true
		}
	}
	if len(b) == hdrLen {
		// Nothing fit or nothing was due: give the slot back.
		t.unslot()
		return false, false
	}
	n := len(b) + stc.TagSize
	if !t.useKey(s, n) {
		return false, false
	}
	s.sender.OnPacketSent(now, pn, n, ackEliciting, refs)
	t.refs = refs[:0]
	if ackEliciting {
		if s.probes > 0 {
			s.probes--
		}
		s.lastSent = now
	}
	// Over a reliable path each packet is a message of its own, as on an engine without GSO: the
	// path's budget (pathRoom) is charged per message.
	t.commit(n, hdrLen, pn, s.txKeys.Current(), n == size && !rel)
	if rel {
		t.room -= n + reliableFraming
		s.pathWait = 0
	}
	more = more || s.probes > 0 || (dataOK && s.hasFrames())
	return true, more
}

// hasFrames reports whether s has ack-eliciting frames waiting. mu held.
func (s *Session) hasFrames() bool {
	return len(s.ctrlq) > 0 || (s.app != nil && len(s.app.queue) > 0) || s.needMaxData || s.needMaxStreams ||
		len(s.creditq) > 0 || s.needPing || s.probes > 0 || s.streamsReady()
}

// streamsReady reports whether some stream has data that credit allows to send. mu held.
func (s *Session) streamsReady() bool {
	if s.readyHead == nil {
		return false
	}
	if s.sentData >= s.peerMaxData {
		// Only retransmissions and FINs may go without session credit.
		for st := s.readyHead; st != nil; st = st.readyNext {
			if st.resendDue() || (st.finDue()) {
				return true
			}
		}
		return false
	}
	return true
}

// settle takes st off the ready list when it has nothing sendable, re-checking after clearing
// queued so a concurrent Write is never missed. mu held, st at the head.
func (t *txLoop) settle(s *Session, st *Stream) {
	if st.resendDue() || (st.finDue()) {
		return
	}
	end := st.sendEnd()
	if st.nextOff < end {
		if st.nextOff >= st.peerMax {
			// Blocked on the stream's credit: MAX_STREAM_DATA puts it back. queued stays set so
			// writes do not re-queue it meanwhile.
			s.popReady()
			st.blocked = true
		}
		return
	}
	s.popReady()
	st.queued.Store(false)
	if st.send.End() > st.nextOff && !st.finWanted {
		st.queued.Store(true)
		s.pushReady(st)
	}
}

// packPath sends PATH_CHALLENGE to a candidate address (again after a PTO without answer) and
// PATH_RESPONSEs to where challenges came from, each in its own small packet. mu held.
func (t *txLoop) packPath(s *Session, now recovery.Time) {
	p := s.path
	if p == nil {
		return
	}
	if p.chalN && (p.chalAt == 0 || now-p.chalAt >= p.chalWait(s)) {
		tries := maxPathChallenges
		if p.chalWhy == moveReturn {
			tries = 1 // the next probe of the preferred path comes at its own interval
		}
		if p.chalTries >= tries {
			// RFC 9000 §8.2.4: give up on an address that does not answer. It may be a victim
			// whose address an attacker put on one of our packets.
			p.chalN = false
			p.settle(ErrPathValidation)
		} else {
			if p.chalWhy != movePeer || p.candSent+challengeSize <= amplificationFactor*p.candRecv {
				p.candSent += t.packSingle(s, p.candidate, func(b []byte) []byte { return frame.AppendPathChallenge(b, &p.chal) })
			} else {
				// The address the responder follows is unvalidated: a repeat that would take
				// it past the amplification limit is not sent, and the try counts all the same.
				s.e.ctr.amplificationLimited.Add(1)
			}
			p.chalAt = now
			p.chalTries++
		}
	}
	for i := range p.resp {
		r := &p.resp[i]
		t.packSingle(s, r.to, func(b []byte) []byte { return frame.AppendPathResponse(b, &r.data) })
	}
	p.resp = p.resp[:0]
}

// packClose sends SESSION_CLOSE. mu held.
func (t *txLoop) packClose(s *Session) {
	code, reason := s.closeErr.Code, s.closeErr.Reason
	if s.closeErr.Remote {
		// An answer to the peer's close: it carries no error of this side's.
		code, reason = CodeNoError, ""
	}
	t.packSingle(s, s.peer, func(b []byte) []byte {
		return frame.AppendSessionClose(b, code, []byte(reason))
	})
	s.closeSent = true
}

// packSingle builds a packet holding one frame to addr (rare paths; the closure may allocate)
// and returns its size on the wire (0: none was sent).
func (t *txLoop) packSingle(s *Session, addr netip.AddrPort, add func([]byte) []byte) int {
	if !addr.IsValid() {
		return 0
	}
	t.open = false
	buf := t.slot(s, addr, s.payloadSize())
	pn := s.sender.NextPacketNumber()
	la, acked := s.sender.LargestAcked()
	h := frame.Header{Kind: frame.KindProtected, KeyPhase: s.txKeys.Phase(), SessionID: s.id, PacketNumber: pn, PNLen: max(4, frame.PNLen(pn, la, acked))}
	b := frame.AppendHeader(buf, &h)
	hdrLen := len(b)
	b = add(b)
	n := len(b) + stc.TagSize
	if !t.useKey(s, n) {
		return 0
	}
	s.sender.OnPacketSent(t.now, pn, n, false, nil)
	t.commit(n, hdrLen, pn, s.txKeys.Current(), false)
	return n
}

// useKey counts a packet of n bytes against the send key before it is sealed (the key chain
// keeps the usage that maybeRotate reads). Past stc.MaxPacketsPerKey, which maybeRotate's
// earlier close should make unreachable, the packet is abandoned and the session closed: a key
// is never used beyond its limit. mu held.
func (t *txLoop) useKey(s *Session, n int) bool {
	if err := s.txKeys.Use(n); err != nil {
		t.unslot()
		s.protocolError(CodeKeyUpdate, "send key exhausted")
		return false
	}
	return true
}

// unslot abandons the slot taken for a packet that turned out empty.
func (t *txLoop) unslot() {
	if t.nmsg > 0 && t.msgs[t.nmsg-1].N == 0 {
		t.nmsg--
	}
}

// amplificationFactor bounds what a responder sends to an address it follows before it is
// validated: at most this many times the bytes it received from there (RFC 9000 §8.1), the
// PATH_CHALLENGEs included. The first challenge always fits: an authentic packet is at least a
// header and a tag, and three of those are more than a challenge. A dialer's challenges go to
// addresses it chose itself and are bounded by their number alone.
const amplificationFactor = 3

// challengeSize bounds the size on the wire of a packet holding one PATH_CHALLENGE.
const challengeSize = maxOverhead + 9

// packCandidateAck sends a copy of the session's ACK to the candidate its peer's newest packets
// come from while that address is being validated (RFC 9000 §9.3 allows sending there before
// validation, within the §8.1 limit). On a NAT rebinding the ACKs to the validated path go to a
// mapping that no longer exists; without the copies the dialer hears nothing for the validation
// round trip, declares what it sent meanwhile lost and sends it again. The copies do not move
// the session: data still goes to the validated path until the challenge is answered. A copy
// that would take what was sent to the candidate past amplificationFactor times what came from
// it is withheld and counted, so a packet diverted to a victim's address earns it a few small
// packets, never a stream. mu held.
func (t *txLoop) packCandidateAck(s *Session, now recovery.Time) {
	p := s.path
	if p == nil || !p.chalN || p.chalWhy != movePeer || p.candidate == s.peer {
		return
	}
	rs := s.receiver.AppendRanges(t.ackRanges[:0])
	t.ackRanges = rs
	fr := t.frRanges[:0]
	for _, r := range rs {
		fr = append(fr, frame.Range{Lo: r.Lo, Hi: r.Hi})
	}
	t.frRanges = fr
	if len(fr) == 0 {
		return
	}
	room := min(amplificationFactor*p.candRecv-p.candSent, s.payloadSize()) - maxOverhead
	delay := uint64(s.receiver.AckDelay(now) / time.Microsecond)
	ack := frame.AppendAck(t.ackCopy[:0], fr, delay, room)
	t.ackCopy = ack
	if len(ack) == 0 {
		s.e.ctr.amplificationLimited.Add(1)
		return
	}
	p.candSent += t.packSingle(s, p.candidate, func(b []byte) []byte { return append(b, ack...) })
	s.e.ctr.candidateAcks.Add(1)
}
