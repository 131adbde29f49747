package dataplane

import (
	"net/netip"

	"github.com/sttfast/sttfast/batchio"
)

// Sessions over a path made of connections (the WebSocket path) end when their connection does.
// A UDP path has no such moment: a peer that goes away is noticed by its silence (the dead-peer
// rule and the idle timeout). A WebSocket server knows at once when its client's TCP connection
// closes or a close frame arrives, and nothing can be sent to that client any more, so lingering
// until a timeout would only hold memory and hide the fact. The path says so through
// batchio.PeerGoneNotifier; the engine then ends every session of its own whose peer was that
// connection, with CodePathClosed and the path's words for why. Nothing is sent (the connection
// that could carry a SESSION_CLOSE is gone) and there is no drain (nothing more can arrive on it).
// A session that could move to another path (issue 13, connection migration) will take this
// same event as "path lost" instead.

// watchPeerGone registers the engine for the path's end notices, when it gives them.
func (e *Engine) watchPeerGone() {
	if n, ok := e.conn.(batchio.PeerGoneNotifier); ok {
		n.OnPeerGone(func(g batchio.PeerGone) { e.gone = append(e.gone, g) })
	}
}

// endGonePeers ends the sessions of the peers the path reported gone during the last ReadBatch,
// after that batch's packets were handled. RX loop only.
func (rx *rxLoop) endGonePeers() {
	e := rx.e
	rx.scratch = e.endSessions(rx.scratch[:0], func(peer netip.AddrPort) (string, bool) {
		for _, g := range e.gone {
			if g.Peer == peer {
				return g.Why, true
			}
		}
		return "", false
	})
	clear(e.gone)
	e.gone = e.gone[:0]
}

// PeerGone ends, at once, every session of this engine whose peer is peer, because the
// connection that carried them ended (why says how): with CodePathClosed, locally, sending
// nothing. It returns how many sessions it ended. The engine calls it by itself for a path that
// reports its ends (batchio.PeerGoneNotifier); a caller that learns of an end another way (a
// dialed connection's error) calls it too.
func (e *Engine) PeerGone(peer netip.AddrPort, why string) int {
	n := 0
	e.endSessions(nil, func(p netip.AddrPort) (string, bool) {
		if p == peer {
			n++
			return why, true
		}
		return "", false
	})
	return n
}

// endSessions ends the sessions of this engine whose peer gone names, with the reason it gives,
// and returns scratch (the table snapshot it used) for reuse. One pass over the table serves
// every peer of a batch of ends.
func (e *Engine) endSessions(scratch []*Session, gone func(netip.AddrPort) (string, bool)) []*Session {
	scratch = e.table.Snapshot(scratch)
	for i, s := range scratch {
		scratch[i] = nil
		if s.e != e {
			continue // another engine's: the same address on another path is another peer
		}
		if why, ok := gone(s.Peer()); ok {
			s.pathClosed(why)
		}
	}
	return scratch[:0]
}

// pathClosed ends the session because its connection ended: a *CloseError with CodePathClosed
// for its waiters and streams, no SESSION_CLOSE (it could not be delivered), and removal by the
// TX loop's next pass rather than after a drain. A session already closing is only hurried: what
// it would have waited for can no longer come.
func (s *Session) pathClosed(why string) {
	s.mu.Lock()
	switch sessState(s.state.Load()) {
	case stateClosed:
		s.mu.Unlock()
		return
	case stateClosing, stateDraining: // its SESSION_CLOSE copies, or its answer, would go nowhere
	default:
		s.closeErr = &CloseError{Code: CodePathClosed, Reason: why}
		s.enterClosing(stateDraining)
	}
	s.endDrain()
	s.mu.Unlock()
	s.e.notify(s)
}
