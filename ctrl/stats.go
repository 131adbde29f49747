package ctrl

import (
	"errors"
	"sync/atomic"

	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/dataplane"
)

// HandshakeRefusal names why a handshake message was dropped.
type HandshakeRefusal uint8

// Handshake refusal reasons, as counted in NodeStats.Refused and exported as metric labels.
const (
	RefusedMalformed HandshakeRefusal = iota
	RefusedShort
	RefusedMAC
	RefusedClock
	RefusedReplay
	RefusedCookie
	RefusedExpired
	RefusedVersion
	RefusedDuplicate
	RefusedFull
	RefusedUnknown
	RefusedRetransmit
	// RefusedNoFS counts HELLOs (and AUTH_PROOFs) without forward secrecy sent to a node that
	// requires it (Config.ForwardSecrecy).
	RefusedNoFS
	numRefusals
)

var refusalNames = [numRefusals]string{"malformed", "short", "bad_mac", "clock", "replay", "bad_proof",
	"expired", "version", "duplicate", "full", "unknown_dial", "retransmit", "no_forward_secrecy"}

// String returns the refusal's metric label.
func (r HandshakeRefusal) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

var refusalErrs = [numRefusals]error{errMalformed, errShort, errMAC, errClock, errReplay, errCookie,
	errExpired, errVersion, errDuplicate, errFull, errUnknown, errRetransmit, errNoFS}

type nodeCounters struct {
	dials, dialsOK, dialsFailed, challenges, accepted atomic.Uint64
	clockAnswers                                      atomic.Uint64
	refused                                           [numRefusals]atomic.Uint64
}

func (c *nodeCounters) refuse(err error) { c.refused[refusalOf(err)].Add(1) }

// refusalOf names the reason of a handshake refusal.
func refusalOf(err error) HandshakeRefusal {
	for i, e := range refusalErrs {
		if errors.Is(err, e) {
			return HandshakeRefusal(i)
		}
	}
	return RefusedMalformed
}

// NodeStats is a snapshot of a node: its data-plane counters summed over its sockets, and the
// handshake counters.
type NodeStats struct {
	dataplane.EngineStats
	Dials, DialsFailed uint64
	DialsSucceeded     uint64 // dials that returned a session
	Challenges         uint64 // CHALLENGEs sent (valid HELLOs)
	ClockAnswers       uint64 // CLOCKs sent (HELLOs with our seed but outside our clock window)
	Accepted           uint64 // sessions created as responder
	Refused            [numRefusals]uint64
	RecvBuffer         int // effective SO_RCVBUF of the first socket
	SendBuffer         int
	// WebSocket sums the counters of the node's ws:// listeners (refused upgrades by reason,
	// closes by code, drops): what hostile WebSocket clients cost it.
	WebSocket wspath.Stats
}

// HandshakesFailed sums every refusal.
func (s *NodeStats) HandshakesFailed() uint64 {
	var t uint64
	for _, r := range s.Refused {
		t += r
	}
	return t
}

// Refusals lists every refusal reason, for exporters.
func Refusals() []HandshakeRefusal {
	rs := make([]HandshakeRefusal, numRefusals)
	for i := range rs {
		rs[i] = HandshakeRefusal(i)
	}
	return rs
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() NodeStats {
	var st NodeStats
	for _, e := range n.engines {
		es := e.Stats()
		st.EngineStats.Add(&es)
	}
	n.pathMu.Lock()
	for p := range n.paths { // dialed WebSocket connections, while they last
		es := p.e.Stats()
		st.EngineStats.Add(&es)
	}
	n.pathMu.Unlock()
	st.Sessions = n.table.Len()
	st.Dials = n.stats.dials.Load()
	st.DialsFailed = n.stats.dialsFailed.Load()
	st.DialsSucceeded = n.stats.dialsOK.Load()
	st.Challenges = n.stats.challenges.Load()
	st.ClockAnswers = n.stats.clockAnswers.Load()
	st.Accepted = n.stats.accepted.Load()
	for i := range st.Refused {
		st.Refused[i] = n.stats.refused[i].Load()
	}
	if len(n.conns) > 0 {
		st.RecvBuffer, st.SendBuffer = n.conns[0].Buffers()
	}
	for _, l := range n.listeners {
		if l.ws != nil {
			ws := l.ws.Stats()
			st.WebSocket.Add(&ws)
		}
	}
	return st
}
