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
	RefusedResume // a RESUME for a session we do not have, a stale epoch, or a wrong binder
	numRefusals
)

var refusalNames = [numRefusals]string{"malformed", "short", "bad_mac", "clock", "replay", "bad_proof",
	"expired", "version", "duplicate", "full", "unknown_dial", "retransmit", "no_forward_secrecy", "resume"}

// String returns the refusal's metric label.
func (r HandshakeRefusal) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

var refusalErrs = [numRefusals]error{errMalformed, errShort, errMAC, errClock, errReplay, errCookie,
	errExpired, errVersion, errDuplicate, errFull, errUnknown, errRetransmit, errNoFS, errResume}

type nodeCounters struct {
	dials, dialsOK, dialsFailed, challenges, accepted atomic.Uint64
	clockAnswers                                      atomic.Uint64
	resumes, resumeRefusals                           atomic.Uint64
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
	Resumes            uint64 // RESUMEs accepted: sessions moved to a resuming device
	ResumeRefusals     uint64 // RESUME_REFUSED answers sent (expired, superseded, mismatch)
	Refused            [numRefusals]uint64
	RecvBuffer         int // effective SO_RCVBUF of the first socket
	SendBuffer         int
	// UDP and WS split the data-plane counters by the kind of path they moved over, so that a
	// node serving both can tell how much goes over WebSocket (a firewall blocking UDP shows as
	// a WS share). Dialed WebSocket connections that have ended stay counted.
	UDP, WS PathStats
	// WebSocket sums the WebSocket path's own counters (connections, refused upgrades, drops,
	// connections closed by close code) over the node's ws listeners and dialed connections,
	// ended ones included; Conns counts the open ones.
	WebSocket wspath.Stats
}

// Path kinds, as NodeStats and the admin views name them.
const (
	PathUDP = "udp"
	PathWS  = "ws"
)

// PathStats is what one kind of path carried for a node: every engine of that kind summed.
type PathStats struct {
	// Sessions is the number of live sessions over this kind of path.
	Sessions int
	// Packets and bytes received and sent: whole STT packets (UDP payloads, WebSocket message
	// payloads), handshakes included; bytes count the packets, not the path's own framing.
	RxDatagrams, RxBytes, TxDatagrams, TxBytes uint64
}

// splitUnited moves what the tagged (WebSocket) paths of a united engine carried from es, which
// counts every path, into ws, so that es keeps only the UDP socket's share.
func splitUnited(es *dataplane.EngineStats, mc *dataplane.MultiConn, ws *PathStats) {
	rxP, rxB, txP, txB := mc.TaggedTraffic()
	// The engine counts a packet once it has it, the MultiConn as its path reads it: clamp, so
	// that a batch between the two never makes the UDP share wrap around.
	rxP, rxB = min(rxP, es.RxDatagrams), min(rxB, es.RxBytes)
	txP, txB = min(txP, es.TxDatagrams), min(txB, es.TxBytes)
	tagged := dataplane.EngineStats{Sessions: es.TaggedSessions, RxDatagrams: rxP, RxBytes: rxB, TxDatagrams: txP, TxBytes: txB}
	ws.add(&tagged)
	es.Sessions -= es.TaggedSessions
	es.RxDatagrams -= rxP
	es.RxBytes -= rxB
	es.TxDatagrams -= txP
	es.TxBytes -= txB
}

// add accumulates an engine's counters.
func (p *PathStats) add(es *dataplane.EngineStats) {
	p.Sessions += es.Sessions
	p.RxDatagrams += es.RxDatagrams
	p.RxBytes += es.RxBytes
	p.TxDatagrams += es.TxDatagrams
	p.TxBytes += es.TxBytes
}

// pathTotals is what the dialed WebSocket connections that have ended carried, kept so that
// the node's counters never go down when one ends.
type pathTotals struct {
	engine dataplane.EngineStats
	ws     wspath.Stats
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
	for _, l := range n.listeners {
		kind := &st.UDP
		if l.ws != nil {
			kind = &st.WS
			ws := l.ws.Stats()
			st.WebSocket.Add(&ws)
		}
		for i, e := range l.engines {
			es := e.Stats()
			st.EngineStats.Add(&es)
			if i == 0 && l.multi != nil {
				splitUnited(&es, l.multi, &st.WS)
			}
			kind.add(&es)
		}
	}
	n.pathMu.Lock()
	for p := range n.paths { // dialed WebSocket connections, while they last
		es, ws := p.e.Stats(), p.wsStats()
		st.EngineStats.Add(&es)
		st.WS.add(&es)
		st.WebSocket.Add(&ws)
	}
	st.EngineStats.Add(&n.endedPaths.engine)
	st.WS.add(&n.endedPaths.engine)
	st.WebSocket.Add(&n.endedPaths.ws)
	n.pathMu.Unlock()
	st.Sessions = n.table.Len()
	st.Dials = n.stats.dials.Load()
	st.DialsFailed = n.stats.dialsFailed.Load()
	st.DialsSucceeded = n.stats.dialsOK.Load()
	st.Challenges = n.stats.challenges.Load()
	st.ClockAnswers = n.stats.clockAnswers.Load()
	st.Accepted = n.stats.accepted.Load()
	st.Resumes = n.stats.resumes.Load()
	st.ResumeRefusals = n.stats.resumeRefusals.Load()
	for i := range st.Refused {
		st.Refused[i] = n.stats.refused[i].Load()
	}
	if len(n.conns) > 0 {
		st.RecvBuffer, st.SendBuffer = n.conns[0].Buffers()
	}
	return st
}
