package dataplane

import (
	"fmt"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// A session's timers, run by the TX loop: idle timeout, dead peer, loss detection and PTO,
// history trimming, keep-alive, key rotation, and when the loop must next look at the session.

// chalWait is the backoff before the next PATH_CHALLENGE: PTO doubled per attempt.
func (p *pathState) chalWait(s *Session) recovery.Time {
	return recovery.Time(s.sender.PTO()) << max(0, p.chalTries-1)
}

// idleTrim is how long a session must be quiet before its packet history is released.
const idleTrim = time.Second

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
	if s.drainAt != 0 && now >= s.drainAt && !s.closeOwed() {
		return &CloseError{Code: CodeIdleTimeout} // not used: the drain set the session's error
	}
	if s.drainAt == 0 && now-s.lastRecv >= s.idleLimit(cfg) {
		// No reason phrase: the code says it all ("nothing heard within the idle timeout").
		return &CloseError{Code: CodeIdleTimeout}
	}
	if d := s.sender.Deadline(); d != 0 && now >= d {
		s.probes += s.sender.OnTimeout(now, s.losses())
	}
	s.pmtuTimers(now)
	if s.path != nil && s.drainAt == 0 {
		s.watchPaths(now)
	}
	if d := s.unresponsiveAt(); d != 0 && now >= d && s.drainAt == 0 {
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

// unresponsiveAt is when the dead-peer detector ends the session: never before the resume
// window has passed in silence, so that a peer that moves to another device can resume it. mu
// held.
func (s *Session) unresponsiveAt() recovery.Time {
	d := s.sender.UnresponsiveAt(s.lastRecv)
	if d == 0 || s.res == nil || s.res.window == 0 {
		return d
	}
	return max(d, s.lastRecv+recovery.Time(s.res.window))
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

// closeOwed reports whether s is closing and has not sent its first SESSION_CLOSE yet: its
// drain ends only after that copy went out (serve sends it and restarts the drain). mu held.
func (s *Session) closeOwed() bool { return s.sendingClose() && s.closeCopies == 0 }

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
	if s.pmtu != nil {
		earliest(s.pmtu.nextDeadline())
	}
	if s.receiver.AckPending() {
		earliest(s.receiver.AckDeadline())
	}
	earliest(s.lastRecv + s.idleLimit(cfg))
	earliest(s.unresponsiveAt())
	if s.established {
		earliest(s.lastSent + recovery.Time(cfg.KeepAlive))
	}
	earliest(s.rxPrevDrop)
	if s.sender.HistoryCap() > 0 && s.sender.InFlightPackets() == 0 {
		// To give the history back once quiet. Once that time has passed, this visit's timers
		// tried (Trim) and the history is still held: by packets not ack-eliciting (ACKs) that
		// the peer has not acknowledged, which a receiver that only acknowledges keeps sending.
		// Try again in idleTrim, not at once: a deadline in the past would bring the session
		// back at every pass of the TX loop (a fan-out receiver's 1000 sessions made 1.4
		// million empty visits in a 3 s window).
		trimAt := s.lastSent + recovery.Time(idleTrim)
		if trimAt <= now {
			trimAt = now + recovery.Time(idleTrim)
		}
		earliest(trimAt)
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
	earliest(s.pathDeadline())
	if s.rel.Load() && s.pacedUntil > now && d < s.pacedUntil {
		// Held back by a full reliable path: whatever else came due (a delayed ACK, a
		// keep-alive) can only go when it has room, so look again then, not in a busy loop.
		d = s.pacedUntil
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
