package dataplane

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// How a session runs its path MTU search (pmtud.go): probes built by the TX loop, their fate
// learnt from recovery's Handler calls, the size data packets use raised or dropped back.

// refProbe marks the recovery.FrameRef of a probe packet (Type KEEP_ALIVE), whose Offset is
// the probe's packet number.
const refProbe = 1

// pmtuCeiling is the largest payload discovery may probe for on a path of the given kind from
// the engine's conn; 0 where it must not probe: a reliable path has no MTU, and a conn that
// cannot forbid fragmentation would let the sending kernel fragment a probe and prove a size
// the path does not carry.
func (e *Engine) pmtuCeiling(reliable bool) int {
	if reliable || e.unfrag == nil || e.multi != nil {
		return 0
	}
	return e.cfg.MaxPayloadSize
}

// startPMTU begins discovery on the session's current path, from the size it starts with; the
// state is allocated the first time a path has something to search, and kept (for its counters)
// when the session moves to one that has not. mu held (or the session not yet shared).
func (s *Session) startPMTU() {
	ceiling := s.e.pmtuCeiling(s.rel.Load())
	if s.pmtu == nil {
		if ceiling <= s.payloadSize() {
			return
		}
		s.pmtu = new(pmtuSearch)
	}
	s.pmtu.start(s.payloadSize(), ceiling)
}

// packProbe sends the probe discovery asks for now, if any, once the peer has acknowledged a
// packet: one packet of exactly the probed size holding a KEEP_ALIVE (so the peer acknowledges
// it) and PADDING, in a message of its own sent with fragmentation forbidden (send). It is recorded in recovery as carrying a frame but
// not in flight: its loss is reported to the search, not to congestion control, and nothing is
// retransmitted. mu held.
func (t *txLoop) packProbe(s *Session, now recovery.Time) {
	if s.pmtu == nil || !s.established || s.pmtu.phase == pmtuOff || !s.sender.CanSend() {
		return
	}
	if _, acked := s.sender.LargestAcked(); !acked {
		// Not before the peer acknowledged something: the handshake is then confirmed, and
		// the responder's first protected packet stays its FINAL.
		return
	}
	size := s.pmtu.due(now)
	if size == 0 {
		return
	}
	t.open = false
	buf := t.slot(s, s.peer, size)
	pn := s.sender.NextPacketNumber()
	la, acked := s.sender.LargestAcked()
	h := frame.Header{Kind: frame.KindProtected, KeyPhase: s.txKeys.Phase(), SessionID: s.id, PacketNumber: pn, PNLen: max(4, frame.PNLen(pn, la, acked))}
	b := frame.AppendHeader(buf, &h)
	hdrLen := len(b)
	b = frame.AppendKeepAlive(b, uint64(now))
	pad := len(b)
	b = b[:size-stc.TagSize]
	clear(b[pad:]) // PADDING: a run of 0x00 bytes
	if !t.useKey(s, size) {
		return
	}
	refs := append(t.refs[:0], recovery.FrameRef{Type: uint8(frame.TypeKeepAlive), Flags: refProbe, Offset: pn, Length: uint64(size)})
	s.sender.OnPacketSent(now, pn, size, false, refs)
	t.refs = refs[:0]
	t.commit(size, hdrLen, pn, s.txKeys.Current(), false)
	t.probeMsgs = append(t.probeMsgs, t.nmsg-1)
	s.pmtu.probeSent(pn, now, pmtuProbePTOs*s.sender.PTO())
	s.e.ctr.pmtuProbesSent.Add(1)
}

// pmtuTimers runs discovery's probe timer. mu held.
func (s *Session) pmtuTimers(now recovery.Time) {
	if p := s.pmtu; p != nil && p.inFlight && now >= p.timer {
		p.expire(now)
		s.e.ctr.pmtuProbesLost.Add(1)
	}
}

// probeFate handles the ACK (acked) or loss of a probe packet. mu held.
func (s *Session) probeFate(f *recovery.FrameRef, acked bool) {
	now := recovery.Now()
	p := s.pmtu
	if p == nil || !p.inFlight || f.Offset != p.probePN {
		return // late news of a probe already given up on
	}
	if !acked {
		p.probeLost(f.Offset, now)
		s.e.ctr.pmtuProbesLost.Add(1)
		return
	}
	if n := p.probeAcked(f.Offset, now); n > s.payloadSize() {
		s.payload.Store(int32(n))
		s.sender.RaiseMaxDatagramSize(n)
		s.e.ctr.pmtuProbesAcked.Add(1)
		if log := s.e.cfg.Logger; log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("sttfast: path MTU probe acknowledged: packets grow", "session", fmt.Sprintf("%x", s.id[:]), "size", n)
		}
		return
	}
	s.e.ctr.pmtuProbesAcked.Add(1)
}

// dataFate feeds the black hole rule with the fate of a DATA frame too long for a packet of
// the base size: its packet was larger than the base. mu held.
func (s *Session) dataFate(f *recovery.FrameRef, acked bool) {
	p := s.pmtu
	if p == nil || !p.raised() || f.Length <= uint64(p.base-maxOverhead) {
		return
	}
	if acked {
		p.bigAcked()
		return
	}
	if p.bigLost(recovery.Now(), s.sender.PTO()) {
		s.fallBack()
	}
}

// fallBack applies a black hole the search detected: data packets go back to the base size,
// and what was lost is resent in packets of that size. mu held.
func (s *Session) fallBack() {
	n := int(s.pmtu.cur)
	s.payload.Store(int32(n))
	s.sender.SetMaxDatagramSize(n)
	s.e.ctr.pmtuBlackHoles.Add(1)
	if log := s.e.cfg.Logger; log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug("sttfast: path MTU black hole: packets back to the base size", "session", fmt.Sprintf("%x", s.id[:]), "size", n)
	}
}

// pmtuWriter returns conn's way to send probes, nil if it has none.
func pmtuWriter(conn PacketConn) batchio.UnfragmentedWriter {
	w, _ := conn.(batchio.UnfragmentedWriter)
	return w
}

// writeProbe sends msgs (one probe) with fragmentation forbidden. A refusal (the probe exceeds
// the local link's MTU) is only logged: the probe is lost like one a router dropped, which is
// what the search learns from.
func (t *txLoop) writeProbe(msgs []batchio.Message) {
	_, err := t.e.unfrag.WriteUnfragmented(msgs)
	if log := t.e.cfg.Logger; err != nil && log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug("tx probe refused", "err", err)
	}
}
