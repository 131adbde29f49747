package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// Sessions that move (docs/PROTOCOL.md §10, "Migration"). A session is bound to its keys, not to
// an address: it moves to another address or transport once that path is validated, i.e. once
// the peer echoed, from that address, a fresh unpredictable PATH_CHALLENGE sent to it. Nothing
// else moves it: a replayed packet fails the replay window, a forged one fails authentication,
// and an authentic packet from a new address only makes the address a candidate.
//
// The roles are those of RFC 9000 §9: the dialer (initiator) chooses its path (by hand with
// Migrate; on its own when the active path goes silent, failover, and when a path it prefers
// answers again, return), and the responder follows: it validates the address the dialer's
// newest non-probing packet came from and moves there. A side that chooses never follows
// packets from elsewhere, so the two cannot chase each other between paths.
//
// On a move the session resends, over the new path, whatever the old one left unacknowledged
// (recovery.Sender.ChangePath) and restarts its RTT and congestion state, except on a NAT
// rebinding (same host, new port, same kind of path), which keeps them; a move to a path of the
// other kind (UDP and WebSocket) also changes the packet size and ACK rate (reliable.go).

// moveReason says why a path is being validated.
type moveReason uint8

const (
	movePeer     moveReason = iota // the responder follows the dialer's packets
	moveFailover                   // the active path went silent
	moveReturn                     // probing the preferred path while on another
	moveManual                     // Migrate
)

var moveNames = [...]string{"peer moved", "failover", "return", "migrate"}

const (
	// The active path is silent when, with ack-eliciting packets in flight, nothing authentic
	// has been heard for failoverPTOs PTOs (and at least Config.FailoverFloor) and failoverProbes
	// consecutive PTOs have fired unanswered. Two PTOs, the second after a doubled wait, are
	// the three PTOs of silence the issue asks for; counting fired PTOs rather than only time
	// keeps a pause of this host (a loaded machine's scheduler, a GC) from looking like a dead
	// path: after a pause the TX loop fires at most one PTO before the RX loop has read the
	// ACKs that waited meanwhile. The floor does the same for pauses of the peer.
	failoverPTOs   = 3
	failoverProbes = 2
	// defaultFailoverFloor is Config.FailoverFloor's default.
	defaultFailoverFloor = 100 * time.Millisecond
	// returnProbeMin and returnProbeMax bound the interval between challenges to the preferred
	// path while the session is on another: three PTOs of the current path. One small packet
	// per interval to a path that may be black-holed costs nothing; the interval bounds how long
	// the return takes once the path works again.
	returnProbeMin = 50 * time.Millisecond
	returnProbeMax = time.Second
	// maxPathResponses bounds the PATH_RESPONSEs queued between two TX passes of a session: a
	// flood of challenges gets at most that many answers per pass, the rest are counted.
	maxPathResponses = 8
)

// ErrPathValidation is returned by Migrate when the new address did not echo the challenge
// (three tries, PTO, 2 PTO and 4 PTO apart), or another validation replaced it.
var ErrPathValidation = errors.New("sttfast: path validation failed: no answer from the new address")

// SetPaths gives the session the peer's addresses in order of preference, the active one
// among them (on an engine over a MultiConn, tagged with TagAddr): the dialer's failover and
// return move only between these. An address on no path of the session's engine is left out.
// With fewer than two it neither fails over nor returns.
func (s *Session) SetPaths(addrs ...netip.AddrPort) {
	s.mu.Lock()
	p := s.pathSt()
	p.known = p.known[:0]
	for _, a := range addrs {
		if s.e.canSendTo(a) && !slices.Contains(p.known, a) {
			p.known = append(p.known, a)
		}
	}
	if !slices.Contains(p.known, s.peer) {
		p.known = append(p.known, s.peer)
	}
	s.mu.Unlock()
	s.e.notify(s)
}

// Paths returns the peer's known addresses in order of preference (SetPaths; just the active
// one if none were set).
func (s *Session) Paths() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == nil || len(s.path.known) == 0 {
		return []netip.AddrPort{s.peer}
	}
	return slices.Clone(s.path.known)
}

// ActivePath is the address the session sends to now (Peer).
func (s *Session) ActivePath() netip.AddrPort { return s.Peer() }

// Migrations counts the session's moves to another path.
func (s *Session) Migrations() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == nil {
		return 0
	}
	return s.path.migrations
}

// Migrate moves the session to addr (on an engine over a MultiConn, tagged with TagAddr): it
// challenges addr and moves once the peer answers from there, then resends what the old path
// left unacknowledged. It returns nil once moved, ErrPathValidation when addr does not answer,
// ctx's error, or the session's close error. The peer follows when it sees the dialer's packets
// come from the new address, so Migrate belongs to the dialer; on the responder it moves only
// this side's sending until the dialer's next packets bring it back.
func (s *Session) Migrate(ctx context.Context, addr netip.AddrPort) error {
	s.mu.Lock()
	if s.closeErr != nil {
		err := s.closeErr
		s.mu.Unlock()
		return err
	}
	if addr == s.peer {
		s.mu.Unlock()
		return nil
	}
	if !s.e.canSendTo(addr) {
		s.mu.Unlock()
		return fmt.Errorf("%w: %v is on no path of the session's engine", ErrPathValidation, addr)
	}
	ch := make(chan error, 1)
	s.validate(addr, moveManual)
	p := s.path
	p.waiters = append(p.waiters, ch)
	s.mu.Unlock()
	s.e.notify(s)
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return s.Err()
	}
}

// validate starts validating addr: a fresh challenge, sent by the TX loop's next pass. A
// validation under way is replaced (its Migrate callers get ErrPathValidation). mu held.
func (s *Session) validate(addr netip.AddrPort, why moveReason) {
	p := s.pathSt()
	if p.chalN && p.candidate != addr {
		p.settle(ErrPathValidation)
	}
	p.candidate = addr
	p.chal = s.e.pathToken()
	p.chalN = true
	p.chalAt = 0
	p.chalTries = 0
	p.chalWhy = why
	p.candRecv, p.candSent = 0, 0
}

// settle answers the Migrate callers waiting on the current validation.
func (p *pathState) settle(err error) {
	for _, ch := range p.waiters {
		ch <- err
	}
	p.waiters = p.waiters[:0]
}

// validated moves the session to the candidate whose challenge was just echoed. mu held.
func (s *Session) validated() {
	p := s.path
	p.chalN = false
	s.moveTo(p.candidate, p.chalWhy)
	p.settle(nil)
}

// moveTo makes addr the session's path: outstanding frames are resent over it and, unless it is
// the same host and kind of path (a NAT rebinding), RTT and congestion state start again; the
// packet size and ACK rate follow its kind. mu held.
func (s *Session) moveTo(addr netip.AddrPort, why moveReason) {
	old := s.peer
	if addr == old {
		return
	}
	rel := s.e.pathReliable(addr)
	rebinding := old.Addr() == addr.Addr() && rel == s.rel.Load()
	payload, ackDelay, ackEvery := s.e.pathParams(rel)
	s.peer = addr
	s.rel.Store(rel)
	s.payload.Store(int32(payload))
	s.sender.ChangePath(s.e.senderConfig(rel), rebinding, s.losses())
	s.moveGroup(old)
	s.startPMTU() // a new path: what the old one carried says nothing about it
	s.receiver.SetAckRate(ackDelay, ackEvery)
	// The ACKs sent since the peer moved went to the old path: acknowledge everything again
	// over the new one at once, so the peer's window opens within a round trip.
	s.receiver.RequestAck(recovery.Now())
	s.probes = 0
	s.pacedUntil, s.pathWait = 0, 0
	p := s.path
	p.migrations++
	p.altTries = 0
	p.movedAt = recovery.Now()
	s.e.ctr.migrations.Add(1)
	s.e.emit(Event{Kind: EventPathMigrated, Session: s, Code: uint64(why),
		Reason: moveNames[why] + ": " + s.e.pathName(old) + " -> " + s.e.pathName(addr)})
}

// pathName names addr with its kind of path, for events and logs: "udp 192.0.2.1:9000", or
// "ws 192.0.2.1:9080" for a reliable (WebSocket) path, without its MultiConn tag.
func (e *Engine) pathName(addr netip.AddrPort) string {
	kind := "udp"
	if e.pathReliable(addr) {
		kind = "ws"
	}
	return kind + " " + UntagAddr(addr).String()
}

// watchPaths is the dialer's failover and return, run with its timers: when the active path has
// been silent for failoverPTOs PTOs with packets in flight, validate the next known path; while
// on a path other than the preferred one, challenge the preferred one every few PTOs. One
// validation at a time; a failover replaces a return probe. mu held.
func (s *Session) watchPaths(now recovery.Time) {
	p := s.path
	if p == nil || len(p.known) < 2 || !s.initiator || !s.established {
		return
	}
	if at := s.silentAt(); at != 0 && now >= at && s.sender.PTOCount() >= failoverProbes {
		s.validate(p.nextKnown(s.peer), moveFailover)
		p.altTries++
		return
	}
	if at := s.pingAt(); at != 0 && now >= at {
		s.needPing = true
		p.pingedAt = now
	}
	if p.chalN || p.known[0] == s.peer {
		return
	}
	if now >= s.returnAt() {
		s.validate(p.known[0], moveReturn)
		p.probedAt = now
	}
}

// pingAt is when a dialer with nothing in flight asks its peer for a sign of life (0: no need):
// once the peer, which was talking (stream data, credit, application frames), has been silent
// for the silence a failover waits for. Without it a dialer that waits for the peer's
// flow-control credit with everything acknowledged, or only receives (when its own credit
// updates are all acknowledged), would have nothing in flight to notice a dead path with, while
// the responder, which does notice, does not choose paths: the session would end on the
// dead-peer rule instead of failing over. The KEEP_ALIVE is in flight, so a dead path then shows
// as unanswered PTOs (silentAt). One per burst of the peer's talk: an answered ping, or a peer
// that merely paused, asks for nothing more until it talks again. mu held.
func (s *Session) pingAt() recovery.Time {
	p := s.path
	if s.sender.InFlightPackets() > 0 || s.needPing || p.chalN || p.talkedAt <= p.pingedAt {
		return 0
	}
	wait := recovery.Time(max(failoverPTOs*s.sender.PTO(), s.e.cfg.FailoverFloor))
	return max(s.lastRecv, p.movedAt) + wait
}

// returnAt is when the preferred path is challenged next: a return interval after the last
// challenge to it or the last move, whichever is later. The interval is computed afresh, so the
// first one after a move follows the new path's RTT as soon as it has samples. mu held.
func (s *Session) returnAt() recovery.Time {
	p := s.path
	return max(p.probedAt, p.movedAt) + s.returnInterval()
}

// silentAt is when the active path counts as silent (0: not while nothing is in flight, or
// while a failover validation is under way). mu held.
func (s *Session) silentAt() recovery.Time {
	p := s.path
	if s.sender.InFlightPackets() == 0 || (p.chalN && p.chalWhy == moveFailover) {
		return 0
	}
	wait := max(failoverPTOs*s.sender.PTO(), s.e.cfg.FailoverFloor)
	return max(s.lastRecv, p.movedAt) + recovery.Time(wait)
}

// returnInterval is the wait between challenges to the preferred path. mu held.
func (s *Session) returnInterval() recovery.Time {
	return recovery.Time(min(max(3*s.sender.PTO(), returnProbeMin), returnProbeMax))
}

// nextKnown is the known path a failover tries: the ones after the active path in order of
// preference, wrapping around, one further on each attempt since the last move.
func (p *pathState) nextKnown(active netip.AddrPort) netip.AddrPort {
	i := slices.Index(p.known, active)
	n := len(p.known)
	for k := 0; k < n; k++ {
		a := p.known[(i+1+p.altTries+k)%n]
		if a != active {
			return a
		}
	}
	return active
}

// pathDeadline is when watchPaths must run next (0: no need). mu held.
func (s *Session) pathDeadline() recovery.Time {
	p := s.path
	if p == nil || len(p.known) < 2 || !s.initiator {
		return 0
	}
	d := s.silentAt()
	if r := s.returnAt(); !p.chalN && p.known[0] != s.peer && (d == 0 || r < d) {
		d = r
	}
	if r := s.pingAt(); r != 0 && (d == 0 || r < d) {
		d = r
	}
	return d
}
