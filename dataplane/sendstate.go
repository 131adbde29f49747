package dataplane

import (
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
)

// pushReady appends st to the session's list of streams with something to send. s.mu held; the
// caller has set st.queued.
func (s *Session) pushReady(st *Stream) {
	if st.inReady || st.removed {
		return
	}
	st.inReady = true
	st.readyNext = nil
	if s.readyTail == nil {
		s.readyHead = st
	} else {
		s.readyTail.readyNext = st
	}
	s.readyTail = st
}

// popReady removes the head of the ready list. s.mu held.
func (s *Session) popReady() *Stream {
	st := s.readyHead
	if st == nil {
		return nil
	}
	s.readyHead = st.readyNext
	if s.readyHead == nil {
		s.readyTail = nil
	}
	st.readyNext = nil
	st.inReady = false
	return st
}

// rotateReady moves the head to the tail so the next packet serves the next stream.
func (s *Session) rotateReady() {
	if s.readyHead == nil || s.readyHead == s.readyTail {
		return
	}
	st := s.popReady()
	s.pushReady(st)
}

// maybeRemove forgets a stream once both halves are done. s.mu held.
func (s *Session) maybeRemove(st *Stream) {
	if st.removed {
		return
	}
	sendDone := st.resetSent || st.resetRecvd || (st.finAcked && st.send.Acked() >= st.finalSize)
	recvDone := st.readDone || st.resetRecvd
	if !sendDone || !recvDone {
		return
	}
	st.removed = true
	delete(s.streams, st.id)
	if st.id&1 != s.localParity() {
		s.ourMaxStreams++
		s.needMaxStreams = true
	}
	s.signal()
	s.e.emit(Event{Kind: EventStreamClosed, Session: s, StreamID: st.id})
}

func (s *Session) localParity() uint64 {
	if s.initiator {
		return 0
	}
	return 1
}

// lossHandler is the Session seen as the recovery.Handler its Sender reports frames to. A type
// of its own, so that FrameAcked and FrameLost, which must only run with s.mu held from inside
// the recovery calls, are not methods an embedder can call on a Session. Converting a *Session
// to it costs nothing.
type lossHandler Session

// losses returns s as its Sender's Handler.
func (s *Session) losses() *lossHandler { return (*lossHandler)(s) }

// FrameAcked implements recovery.Handler: release what the peer confirmed. s.mu held.
func (h *lossHandler) FrameAcked(f *recovery.FrameRef) {
	s := (*Session)(h)
	switch frame.Type(f.Type) {
	case frame.TypeKeepAlive:
		if f.Flags == refProbe {
			s.probeFate(f, true)
		}
	case frame.TypeData:
		s.dataFate(f, true)
		st := s.streams[f.StreamID]
		if st == nil || st.sendGone {
			return
		}
		if !st.lost.empty() {
			// Acknowledged after it was declared lost (reordering, not loss): do not send it again.
			st.lost.remove(f.Offset, f.Offset+f.Length)
		}
		if a := st.send.Acked(); st.send.Ack(f.Offset, f.Length) {
			st.unchargeAcked(int64(st.send.Acked()-a), s)
			s.wakeLater(st.wwake)
			if st.prob != nil {
				st.prob.trim(st.send.Acked())
			}
			if st.finAcked {
				s.maybeRemove(st)
			}
			s.signal()
		}
	case frame.TypeStreamSkip:
		if st := s.streams[f.StreamID]; st != nil && !st.sendGone {
			s.skipFate(st, f, true)
		}
	case frame.TypeStreamFin:
		st := s.streams[f.StreamID]
		if st == nil {
			return
		}
		st.finAcked = true
		s.maybeRemove(st)
		s.signal()
	default:
		if frame.Type(f.Type).IsApplication() {
			s.freeAppSlot(f.Handle, f.Offset)
			s.signal()
		}
	}
}

// FrameLost implements recovery.Handler: queue the frame's content to be sent again in a new
// packet. It is idempotent, and a frame reported lost may still be acknowledged later. s.mu held.
func (h *lossHandler) FrameLost(f *recovery.FrameRef) {
	s := (*Session)(h)
	if s.closeErr != nil {
		return
	}
	switch frame.Type(f.Type) {
	case frame.TypeKeepAlive:
		if f.Flags == refProbe {
			s.probeFate(f, false)
		}
	case frame.TypeData:
		s.dataFate(f, false)
		st := s.streams[f.StreamID]
		if st == nil || st.resetSent || st.resetRecvd || st.send.IsAcked(f.Offset, f.Length) {
			return
		}
		if st.prob != nil {
			s.probLost(st, f)
			return
		}
		st.lost.add(f.Offset, f.Offset+f.Length)
		st.queued.Store(true)
		s.pushReady(st)
	case frame.TypeStreamSkip:
		if st := s.streams[f.StreamID]; st != nil && !st.resetSent && !st.resetRecvd && !st.sendGone {
			s.skipFate(st, f, false)
		}
	case frame.TypeStreamFin:
		st := s.streams[f.StreamID]
		if st == nil || st.finAcked || st.resetSent {
			return
		}
		st.finSent = false
		st.queued.Store(true)
		s.pushReady(st)
	case frame.TypeStreamOpen:
		if s.streams[f.StreamID] != nil {
			s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeStreamOpen, id: f.StreamID})
		}
	case frame.TypeStreamKind:
		if s.streams[f.StreamID] != nil {
			s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeStreamKind, id: f.StreamID, val: f.Offset})
		}
	case frame.TypeStreamClose:
		s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeStreamClose, id: f.StreamID, val: f.Offset})
	case frame.TypeFinal:
		s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeFinal})
	case frame.TypeMaxData:
		s.needMaxData = true
	case frame.TypeMaxStreams:
		s.needMaxStreams = true
	case frame.TypeMaxStreamData:
		st := s.streams[f.StreamID]
		if st != nil && st.creditPending.CompareAndSwap(false, true) {
			s.creditq = append(s.creditq, st)
		}
	default:
		if a := s.app; frame.Type(f.Type).IsApplication() && a != nil && a.holds(f.Handle, f.Offset) {
			a.queue = append(a.queue, f.Handle)
		}
	}
}
