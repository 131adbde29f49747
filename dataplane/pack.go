package dataplane

import (
	"fmt"
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

// chalWait is the backoff before the next PATH_CHALLENGE: PTO doubled per attempt.
func (p *pathState) chalWait(s *Session) recovery.Time {
	return recovery.Time(s.sender.PTO()) << max(0, p.chalTries-1)
}

// maxCloseCopies is how many times SESSION_CLOSE is sent, at half-PTO intervals, during the drain.
const maxCloseCopies = 6

// idleTrim is how long a session must be quiet before its packet history is released.
const idleTrim = time.Second

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
			t.packClose(s)
			s.closeCopies++
			s.closeResendAt = now + recovery.Time(s.sender.PTO()/2)
		}
	case stateDraining:
	default:
		t.maybeRotate(s, now)
		t.packPath(s, now)
		more = t.packSession(s, now)
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

// deadSession is a session the TX loop ends after its pass, and why (a drained session keeps
// the close error it already has).
type deadSession struct {
	s   *Session
	why *CloseError
}

// timers handles every expired timer of s; it returns why the session must end now, or nil.
// mu held.
func (t *txLoop) timers(s *Session, now recovery.Time) *CloseError {
	cfg := &t.e.cfg
	if s.drainAt != 0 && now >= s.drainAt {
		return &CloseError{Code: CodeIdleTimeout} // not used: the drain set the session's error
	}
	if s.drainAt == 0 && now-s.lastRecv >= recovery.Time(cfg.IdleTimeout) {
		// No reason phrase: the code says it all ("nothing heard within the idle timeout").
		return &CloseError{Code: CodeIdleTimeout}
	}
	if d := s.sender.Deadline(); d != 0 && now >= d {
		s.probes += s.sender.OnTimeout(now, s.losses())
	}
	if d := s.sender.UnresponsiveAt(s.lastRecv); d != 0 && now >= d && s.drainAt == 0 {
		return s.unresponsive(now)
	}
	if now-s.lastSent >= recovery.Time(idleTrim) {
		// Quiet for a while with nothing in flight: give the packet history back to the pool.
		s.sender.Trim()
		if now-s.lastRecv >= recovery.Time(idleTrim) {
			s.receiver.Trim() // and the ranges a reordering path made it keep
		}
	}
	if s.established && now-s.lastSent >= recovery.Time(cfg.KeepAlive) {
		s.needPing = true
		s.idleProbe = true
	}
	if s.rxPrevDrop != 0 && now >= s.rxPrevDrop {
		s.rxKeys.DropPrevious()
		s.rxPrevDrop = 0
	}
	return nil
}

// unresponsive is the close error of a session whose peer answered none of the last
// recovery.UnresponsivePTOs probes (recovery/liveness.go says why that is enough): the idle
// timeout's code, 2, since it is the same event detected sooner, with a reason that says so.
// It allocates, once per session. mu held.
func (s *Session) unresponsive(now recovery.Time) *CloseError {
	silent := now.Sub(s.lastRecv).Round(100 * time.Millisecond)
	return &CloseError{Code: CodeIdleTimeout, Reason: fmt.Sprintf(
		"the peer stopped acknowledging (no answer to %d probes over %v)", s.sender.PTOCount(), silent)}
}

// nextDeadline is the earliest time s needs the TX loop again. mu held.
func (s *Session) nextDeadline(now recovery.Time) recovery.Time {
	cfg := &s.e.cfg
	var d recovery.Time
	earliest := func(x recovery.Time) {
		if x != 0 && (d == 0 || x < d) {
			d = x
		}
	}
	if s.drainAt != 0 {
		if s.sendingClose() && s.closeCopies < maxCloseCopies && s.closeResendAt != 0 && s.closeResendAt < s.drainAt {
			return s.closeResendAt
		}
		return s.drainAt
	}
	earliest(s.sender.Deadline())
	if s.receiver.AckPending() {
		earliest(s.receiver.AckDeadline())
	}
	earliest(s.lastRecv + recovery.Time(cfg.IdleTimeout))
	earliest(s.sender.UnresponsiveAt(s.lastRecv))
	if s.established {
		earliest(s.lastSent + recovery.Time(cfg.KeepAlive))
	}
	earliest(s.rxPrevDrop)
	if s.sender.HistoryCap() > 0 && s.sender.InFlightPackets() == 0 {
		earliest(s.lastSent + recovery.Time(idleTrim)) // to give the history back once quiet
	}
	if s.pacedUntil > now {
		earliest(s.pacedUntil)
	}
	if s.flushAt > now {
		earliest(s.flushAt)
	}
	if p := s.path; p != nil && p.chalN {
		earliest(p.chalAt + p.chalWait(s))
	}
	return d
}

// maybeRotate starts a send key update when a limit of DESIGN §4 is reached and the peer has
// acknowledged a packet under the current key (so it can follow). TX loop only; mu held.
func (t *txLoop) maybeRotate(s *Session, now recovery.Time) {
	cfg := &t.e.cfg
	if s.txPrevFlush != 0 && t.flush > s.txPrevFlush {
		// Packets sealed under the old key have left; it is no longer needed.
		s.txKeys.DropPrevious()
		s.txPrevFlush = 0
	}
	pkts, bytes, _ := s.txKeys.Usage()
	if pkts < cfg.KeyUpdatePackets && bytes < cfg.KeyUpdateBytes &&
		now-s.txGenStart < recovery.Time(cfg.KeyUpdateInterval) {
		return
	}
	if la, ok := s.sender.LargestAcked(); !ok || la < s.txKeys.Start() {
		if pkts >= stc.MaxPacketsPerKey-1024 {
			s.protocolError(CodeKeyUpdate, "peer did not acknowledge the current key")
		}
		return
	}
	s.txKeys.AdvanceAt(s.sender.NextPacketNumber())
	s.txPrevFlush = t.flush + 1
	s.txGenStart = now
	s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeKeyUpdate, val: s.txKeys.Generation()})
	s.ctr.keyUpdates.Add(1)
	t.e.emit(Event{Kind: EventKeyRotated, Session: s, Code: s.txKeys.Generation()})
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
	dataOK := s.canSendData(now, size)
	// An ACK goes out on its own only when due (two ack-eliciting packets, a gap, or the delayed
	// ACK timer); otherwise it waits up to MaxAckDelay to ride on the next data packet.
	ackDue := s.receiver.AckPending() && (s.receiver.AckNow() || now >= s.receiver.AckDeadline())
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
	t.commit(n, hdrLen, pn, s.txKeys.Current(), n == size)
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
			if !st.lost.empty() || (st.finDue()) {
				return true
			}
		}
		return false
	}
	return true
}

func (t *txLoop) appendAck(s *Session, b []byte, limit int, now recovery.Time) []byte {
	rs := s.receiver.AppendRanges(t.ackRanges[:0])
	t.ackRanges = rs
	fr := t.frRanges[:0]
	for _, r := range rs {
		fr = append(fr, frame.Range{Lo: r.Lo, Hi: r.Hi})
	}
	t.frRanges = fr
	if len(fr) == 0 {
		return b
	}
	delay := uint64(s.receiver.AckDelay(now) / time.Microsecond)
	nb := frame.AppendAck(b, fr, delay, limit-len(b))
	if len(nb) > len(b) {
		s.receiver.OnAckSent(now)
	}
	return nb
}

// appendControl adds queued control frames that fit. mu held.
func (t *txLoop) appendControl(s *Session, b []byte, limit int, refs []recovery.FrameRef) ([]byte, []recovery.FrameRef, bool) {
	ae := false
	const small = 24 // every control frame fits in this
	kept := s.ctrlq[:0]
	for _, c := range s.ctrlq {
		if limit-len(b) < small {
			kept = append(kept, c)
			continue
		}
		switch c.typ {
		case frame.TypeFinal:
			b = frame.AppendFinal(b, c.val)
			refs = append(refs, recovery.FrameRef{Type: uint8(c.typ)})
		case frame.TypeStreamOpen:
			b = frame.AppendStreamOpen(b, c.id)
			refs = append(refs, recovery.FrameRef{Type: uint8(c.typ), StreamID: c.id})
		case frame.TypeStreamClose:
			b = frame.AppendStreamClose(b, c.id, c.val)
			refs = append(refs, recovery.FrameRef{Type: uint8(c.typ), StreamID: c.id, Offset: c.val})
		case frame.TypeKeepAliveAck:
			b = frame.AppendKeepAliveAck(b, c.val)
		case frame.TypeKeyUpdate:
			b = frame.AppendKeyUpdate(b, c.val)
		}
		ae = true
	}
	for i := len(kept); i < len(s.ctrlq); i++ {
		s.ctrlq[i] = ctrlFrame{}
	}
	s.ctrlq = kept
	if s.needMaxData && limit-len(b) >= small {
		if v := s.consumed.Load() + uint64(t.e.cfg.SessionWindow); v > s.ourMaxData {
			s.ourMaxData = v
			s.advertised.Store(v)
		}
		b = frame.AppendMaxData(b, s.ourMaxData)
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeMaxData)})
		s.needMaxData = false
		ae = true
	}
	if s.needMaxStreams && limit-len(b) >= small {
		b = frame.AppendMaxStreams(b, s.ourMaxStreams)
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeMaxStreams)})
		s.needMaxStreams = false
		ae = true
	}
	for len(s.creditq) > 0 && limit-len(b) >= small {
		st := s.creditq[0]
		s.creditq[0] = nil
		s.creditq = s.creditq[1:]
		if len(s.creditq) == 0 {
			s.creditq = s.creditq[:0:0]
		}
		st.creditPending.Store(false)
		if st.removed {
			continue
		}
		base := st.recv.ReadOffset()
		if st.readDone {
			base = st.highRecv
		}
		if v := base + uint64(t.e.cfg.StreamWindow); v > st.ourMax {
			st.ourMax = v
			st.advertised.Store(v)
		}
		b = frame.AppendMaxStreamData(b, st.id, st.ourMax)
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeMaxStreamData), StreamID: st.id})
		ae = true
	}
	if s.needPing && limit-len(b) >= small {
		b = frame.AppendKeepAlive(b, uint64(t.now))
		s.needPing = false
		ae = true
	}
	return b, refs, ae
}

// appendApp adds queued application frames that fit. mu held.
func (t *txLoop) appendApp(s *Session, b []byte, limit int, refs []recovery.FrameRef) ([]byte, []recovery.FrameRef, bool) {
	ae := false
	as := s.app
	if as == nil {
		return b, refs, false
	}
	i := 0
	for ; i < len(as.queue); i++ {
		slot := as.queue[i]
		a := &as.slots[slot]
		if a.buf == nil {
			continue // acknowledged after it was queued again
		}
		need := 1 + frame.VarintLen(a.seq) + frame.VarintLen(uint64(len(a.buf.B))) + len(a.buf.B)
		if limit-len(b) < need {
			break
		}
		b = frame.AppendApplication(b, a.typ, a.seq, a.buf.B)
		// Offset carries the frame's sequence number: a slot is reused once freed, and a late
		// ACK of an earlier copy must not free the frame that holds the slot now.
		refs = append(refs, recovery.FrameRef{Type: uint8(a.typ), Handle: slot, Offset: a.seq})
		ae = true
	}
	if i > 0 {
		n := copy(as.queue, as.queue[i:])
		as.queue = as.queue[:n]
	}
	return b, refs, ae
}

// appendStreams fills the rest of the packet with stream data, retransmissions first, serving
// streams round-robin. more reports that data is left. mu held.
func (t *txLoop) appendStreams(s *Session, b []byte, limit int, refs []recovery.FrameRef, now recovery.Time) ([]byte, []recovery.FrameRef, bool, bool) {
	ae := false
	if s.readyHead == nil {
		return b, refs, false, false
	}
	if d := t.e.cfg.FlushDelay; d > 0 && !s.flushNow && s.smallBacklog(limit) {
		if s.flushAt == 0 {
			s.flushAt = now + recovery.Time(d)
		}
		if now < s.flushAt {
			return b, refs, false, false
		}
	}
	s.flushAt = 0
	s.flushNow = false
	// A stream that fills the packet moves to the back so the next packet starts with the next
	// stream; a stream with nothing left leaves the list and the next one continues the packet.
	for s.readyHead != nil && limit-len(b) > 16 {
		st := s.readyHead
		var wrote bool
		b, refs, wrote = t.appendStream(s, st, b, limit, refs)
		ae = ae || wrote
		if s.readyHead == st {
			if limit-len(b) <= 16 {
				s.rotateReady()
			}
			break // packet full, or blocked by session credit
		}
	}
	return b, refs, ae, s.streamsReady()
}

// smallBacklog reports whether all new stream data fits in less than one packet. mu held.
func (s *Session) smallBacklog(limit int) bool {
	total := uint64(0)
	for st := s.readyHead; st != nil; st = st.readyNext {
		if !st.lost.empty() || st.finWanted {
			return false
		}
		total += st.send.End() - st.nextOff
		if total >= uint64(limit/2) {
			return false
		}
	}
	return true
}

// appendStream adds DATA (and STREAM_FIN) frames of one stream; it removes the stream from the
// ready list when it has nothing more to send or is blocked on its own credit. mu held.
func (t *txLoop) appendStream(s *Session, st *Stream, b []byte, limit int, refs []recovery.FrameRef) ([]byte, []recovery.FrameRef, bool) {
	wrote := false
	if st.removed || st.resetSent || st.resetRecvd {
		s.popReady()
		st.queued.Store(false)
		return b, refs, false
	}
	// Retransmissions.
	if !st.lost.empty() {
		st.lost.trimBelow(st.send.Acked())
	}
	for !st.lost.empty() {
		room := limit - len(b)
		r, _ := st.lost.first()
		hdr := frame.DataHeaderLen(st.id, r.lo, room)
		if room-hdr <= 0 {
			return b, refs, wrote
		}
		lo, hi, _ := st.lost.take(uint64(room - hdr))
		n := int(hi - lo)
		b = fixDataLen(frame.AppendData(b, st.id, lo, nil), n)
		got := st.send.ReadAt(b[len(b):len(b)+n], lo)
		b = b[:len(b)+got]
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeData), StreamID: st.id, Offset: lo, Length: uint64(n)})
		s.ctr.retransmits.Add(uint64(n))
		wrote = true
	}
	// New data within stream and session credit.
	end := st.sendEnd()
	avail := end - st.nextOff
	avail = min(avail, st.peerMax-min(st.peerMax, st.nextOff))
	avail = min(avail, s.peerMaxData-min(s.peerMaxData, s.sentData))
	if avail > 0 {
		room := limit - len(b)
		hdr := frame.DataHeaderLen(st.id, st.nextOff, room)
		if room-hdr <= 0 {
			return b, refs, wrote
		}
		n := int(min(avail, uint64(room-hdr)))
		off := st.nextOff
		b = fixDataLen(frame.AppendData(b, st.id, off, nil), n)
		got := st.send.ReadAt(b[len(b):len(b)+n], off)
		b = b[:len(b)+got]
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeData), StreamID: st.id, Offset: off, Length: uint64(n)})
		st.nextOff += uint64(n)
		s.sentData += uint64(n)
		wrote = true
	}
	if st.finDue() && st.lost.empty() {
		if limit-len(b) < 1+2*8 {
			return b, refs, wrote
		}
		b = frame.AppendStreamFin(b, st.id, st.finalSize)
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeStreamFin), StreamID: st.id})
		st.finSent = true
		wrote = true
	}
	t.settle(s, st)
	return b, refs, wrote
}

// finDue reports whether st's FIN is the next thing to send: wanted, not yet sent, and every
// byte before it sent. mu held.
func (st *Stream) finDue() bool { return st.finWanted && !st.finSent && st.nextOff == st.finalSize }

// sendEnd is where st's sendable bytes end: the final size once the writer closed, else what the
// writer has buffered. mu held.
func (st *Stream) sendEnd() uint64 {
	if st.finWanted {
		return st.finalSize
	}
	return st.send.End()
}

// settle takes st off the ready list when it has nothing sendable, re-checking after clearing
// queued so a concurrent Write is never missed. mu held, st at the head.
func (t *txLoop) settle(s *Session, st *Stream) {
	if !st.lost.empty() || (st.finDue()) {
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

// fixDataLen rewrites the length field of the DATA frame just appended with no data, so the
// payload can be copied straight from the send buffer into the packet.
func fixDataLen(b []byte, n int) []byte {
	// AppendData(nil data) wrote: type, id, off, varint(0). Replace the 1-byte zero length.
	b = b[:len(b)-1]
	return frame.AppendVarint(b, uint64(n))
}

// packPath sends PATH_CHALLENGE to a candidate address (again after a PTO without answer) and
// PATH_RESPONSEs to where challenges came from, each in its own small packet. mu held.
func (t *txLoop) packPath(s *Session, now recovery.Time) {
	p := s.path
	if p == nil {
		return
	}
	if p.chalN && (p.chalAt == 0 || now-p.chalAt >= p.chalWait(s)) {
		if p.chalTries >= maxPathChallenges {
			// RFC 9000 §8.2.4: give up on an address that does not answer. It may be a victim
			// whose address an attacker put on one of our packets.
			p.chalN = false
		} else {
			t.packSingle(s, p.candidate, func(b []byte) []byte { return frame.AppendPathChallenge(b, &p.chal) })
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
	ce := s.closeErr
	t.packSingle(s, s.peer, func(b []byte) []byte {
		return frame.AppendSessionClose(b, ce.Code, []byte(ce.Reason))
	})
	s.closeSent = true
}

// packSingle builds a packet holding one frame to addr (rare paths; the closure may allocate).
func (t *txLoop) packSingle(s *Session, addr netip.AddrPort, add func([]byte) []byte) {
	if !addr.IsValid() {
		return
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
		return
	}
	s.sender.OnPacketSent(t.now, pn, n, false, nil)
	t.commit(n, hdrLen, pn, s.txKeys.Current(), false)
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
