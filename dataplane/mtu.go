package dataplane

import (
	"errors"
	"fmt"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/frame"
)

// A session's packet size. Config.PayloadSize is where every session starts; the kernel tells
// the TX loop when a route is narrower (batchio.SizeError: EMSGSIZE on a GSO send) and the
// session's packets shrink to what the route carries, or the session ends when that is below
// frame.PayloadFloor. payloadSize is the one place the packers read the size from, so path MTU
// discovery can later raise it in the same place. docs/PROTOCOL.md §1 has the rules.

// payloadSize is the largest UDP payload of s's packets.
func (s *Session) payloadSize() int { return int(s.payload.Load()) }

// narrowing is a SizeError waiting to be applied to its session: the TX loop learns of it in
// send, which may run with a session lock held (slot flushes a full batch), so the session is
// changed later, by applyNarrow, with no lock held.
type narrowing struct {
	s    *Session
	size int // the refused datagrams' size
	fit  int // the largest payload the route carries (0: unknown)
	mtu  int // the route's MTU (0: unknown)
}

// refused handles a WriteBatch error on msgs[n]: a SizeError is recorded against the session
// that packed that message and reported true (the caller goes on with the rest of the batch);
// any other error reports false. The refused packets are lost: recovery resends their frames,
// in packets of the new size.
func (t *txLoop) refused(msgs []batchio.Message, sess []*Session, n int, err error) bool {
	var se *batchio.SizeError
	if !errors.As(err, &se) {
		return false
	}
	s := sess[n]
	if s == nil {
		// A handshake datagram: never sent with GSO, so the kernel fragments rather than
		// refuses it; nothing of ours to shrink.
		return true
	}
	t.e.ctr.txRefused.Add(uint64(msgs[n].NumDatagrams()))
	for i := range t.narrow {
		if w := &t.narrow[i]; w.s == s {
			w.fit = min(w.fit, se.MaxPayload())
			return true
		}
	}
	t.narrow = append(t.narrow, narrowing{s: s, size: se.Size, fit: se.MaxPayload(), mtu: se.MTU})
	return true
}

// dropRefused removes from msgs (and sess) the messages of sessions just found too large for
// their route, which would only be refused again, and returns how many are left. The removed
// packets are lost like the refused ones.
func (t *txLoop) dropRefused(msgs []batchio.Message, sess []*Session) int {
	k := 0
	for i := range msgs {
		if s := sess[i]; s != nil && t.tooLarge(s, &msgs[i]) {
			t.e.ctr.txRefused.Add(uint64(msgs[i].NumDatagrams()))
			continue
		}
		msgs[k], msgs[i] = msgs[i], msgs[k] // swap: every slab buffer stays with some message
		sess[k] = sess[i]
		k++
	}
	return k
}

// tooLarge reports whether m, packed by s, holds datagrams larger than a pending narrowing of s
// lets through.
func (t *txLoop) tooLarge(s *Session, m *batchio.Message) bool {
	for i := range t.narrow {
		if w := &t.narrow[i]; w.s == s {
			seg := m.N
			if m.Seg > 0 && m.Seg < m.N {
				seg = m.Seg
			}
			return seg > w.fit
		}
	}
	return false
}

// applyNarrow shrinks (or ends) the sessions whose packets a route refused. TX loop, no session
// lock held.
func (t *txLoop) applyNarrow() {
	for i := range t.narrow {
		w := t.narrow[i]
		t.narrow[i] = narrowing{}
		w.s.mu.Lock()
		w.s.narrowPath(w.size, w.fit, w.mtu)
		w.s.mu.Unlock()
		t.enqueue(w.s) // resend what was lost, or send SESSION_CLOSE
	}
	t.narrow = t.narrow[:0]
}

// narrowPath reacts to packets of size bytes refused by a route that carries at most fit bytes
// of payload (MTU mtu; both 0 when the kernel could not say): the session's packets shrink to
// fit, saying so once in the log and an EventPathMTU, or, below frame.PayloadFloor, the session
// ends with CodePathTooNarrow. mu held.
func (s *Session) narrowPath(size, fit, mtu int) {
	if s.closeErr != nil {
		return
	}
	if mtu == 0 {
		// The route's MTU is unknown: the floor is the one size left worth trying.
		fit = 0
		if size > frame.PayloadFloor {
			fit = frame.PayloadFloor
		}
	}
	cur := s.payloadSize()
	if fit >= cur {
		return // already shrunk (another message of the same batch), or stale
	}
	log := s.e.cfg.Logger
	if fit < frame.PayloadFloor || s.appFrameOver(fit) {
		reason := fmt.Sprintf("the path carries at most %d bytes (route MTU %d); sttfast needs %d", fit, mtu, frame.PayloadFloor)
		if mtu == 0 {
			reason = fmt.Sprintf("the path carries fewer than %d bytes (route MTU unknown); sttfast needs %d", size, frame.PayloadFloor)
		} else if fit >= frame.PayloadFloor {
			reason = fmt.Sprintf("the path carries at most %d bytes (route MTU %d): too few for the application frames queued", fit, mtu)
		}
		log.Warn("sttfast: session ends: "+reason, "session", fmt.Sprintf("%x", s.id[:]))
		s.protocolError(CodePathTooNarrow, reason)
		return
	}
	s.payload.Store(int32(fit))
	if s.pmtu != nil {
		s.pmtu.narrow(fit) // the kernel knows the route's limit: nothing above it is probed
	}
	s.sender.SetMaxDatagramSize(fit)
	msg := fmt.Sprintf("path MTU %d: packets shrunk to %d bytes", mtu, fit)
	if mtu == 0 {
		msg = fmt.Sprintf("path MTU unknown (%d-byte packets refused): packets shrunk to %d bytes", size, fit)
	}
	log.Warn("sttfast: "+msg, "session", fmt.Sprintf("%x", s.id[:]))
	s.e.emit(Event{Kind: EventPathMTU, Session: s, Code: uint64(fit), Reason: msg})
}

// appFrameOver reports whether an application frame queued or in flight would not fit a packet
// of fit bytes: it could never be sent (or resent), so shrinking would stall it. mu held.
func (s *Session) appFrameOver(fit int) bool {
	if s.app == nil {
		return false
	}
	for i := range s.app.slots {
		if b := s.app.slots[i].buf; b != nil && len(b.B) > maxFrameSize(fit) {
			return true
		}
	}
	return false
}
