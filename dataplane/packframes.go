package dataplane

import (
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
)

// The frames a packet is filled with, in order: ACK, control frames, application frames, then
// stream data round-robin with retransmissions first.

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
		s.ctr.acksSent.Add(1)
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
		case frame.TypeStreamKind:
			b = frame.AppendStreamKind(b, c.id, frame.StreamKindProbabilistic, c.val)
			refs = append(refs, recovery.FrameRef{Type: uint8(c.typ), StreamID: c.id, Offset: c.val})
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
		s.sessionCreditGrow(t.now)
		if v := s.consumed.Load() + s.recvWindow(); v > s.ourMaxData {
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
	// The queue is drained from its front by index and what is left moves down afterwards, so its
	// backing array is kept: a credit update every half window must not allocate (re-slicing from
	// the front, or resetting to a zero capacity when empty, made each later append allocate).
	taken := 0
	for taken < len(s.creditq) && limit-len(b) >= small {
		st := s.creditq[taken]
		taken++
		st.creditPending.Store(false)
		if st.removed {
			continue
		}
		base := st.recv.ReadOffset()
		if st.readDone {
			base = st.highRecv
		}
		s.streamCreditGrow(st, t.now)
		if v := base + st.rxTune.size; v > st.ourMax {
			st.ourMax = v
			st.advertised.Store(v)
		}
		b = frame.AppendMaxStreamData(b, st.id, st.ourMax)
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeMaxStreamData), StreamID: st.id})
		ae = true
	}
	s.creditq = compactStreams(s.creditq, taken)
	if s.needPing && limit-len(b) >= small {
		b = frame.AppendKeepAlive(b, uint64(t.now))
		s.needPing = false
		ae = true
	}
	return b, refs, ae
}

// compactStreams drops the first n entries of q, moving the rest down and clearing the slots they
// leave, so the array keeps no stale pointers and its capacity is reused.
func compactStreams(q []*Stream, n int) []*Stream {
	if n == 0 {
		return q
	}
	rest := copy(q, q[n:])
	clear(q[rest:])
	return q[:rest]
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
		if st.resendDue() || st.finWanted {
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
	// Abandonments first: they let the receiver's reader move on.
	s.expireInFlight(st)
	if st.skipsDue() {
		var sent bool
		b, refs, sent = st.appendSkips(b, limit, refs)
		wrote = wrote || sent
		if st.skipsDue() {
			return b, refs, wrote // packet full
		}
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
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeData), StreamID: st.id, Offset: lo, Length: uint64(n), Handle: st.nextFrameSeq()})
		s.ctr.retransmits.Add(uint64(n))
		s.ctr.dataFramesSent.Add(1)
		wrote = true
	}
	// New data within stream and session credit, less what is already too old to be worth it.
	s.skipExpired(st)
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
		refs = append(refs, recovery.FrameRef{Type: uint8(frame.TypeData), StreamID: st.id, Offset: off, Length: uint64(n), Handle: st.nextFrameSeq()})
		st.nextOff += uint64(n)
		s.sentData += uint64(n)
		s.ctr.dataFramesSent.Add(1)
		wrote = true
		b, refs = st.appendAnnounced(b, limit, refs)
	}
	if st.finDue() && !st.resendDue() {
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

// fixDataLen rewrites the length field of the DATA frame just appended with no data, so the
// payload can be copied straight from the send buffer into the packet.
func fixDataLen(b []byte, n int) []byte {
	// AppendData(nil data) wrote: type, id, off, varint(0). Replace the 1-byte zero length.
	b = b[:len(b)-1]
	return frame.AppendVarint(b, uint64(n))
}
