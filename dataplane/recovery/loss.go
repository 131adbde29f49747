package recovery

import "time"

// Loss detection (RFC 9002 §6 with reorder.go's adaptive thresholds), the loss and PTO timers,
// and what a late ACK of a packet declared lost teaches.

// onLateAck handles the acknowledgement of packet pn, declared lost earlier: the loss was
// spurious (reorder.go). Its frames are reported acknowledged, the reordering it reveals is
// learnt, and if it was the last unproven loss of the current congestion event, that event's
// window reduction is undone. largest is the largest number this ACK acknowledges.
func (s *Sender) onLateAck(now Time, largest, pn uint64, sl *slot, h Handler) {
	sl.state = stateAcked
	s.rtt.noteMax(now.Sub(sl.sent)) // how late this path can answer: the retention must cover it
	s.onDelivered(now, sl)          // its bytes did arrive: BBR's rate samples count them
	if h != nil && sl.nFrames > 0 {
		start, n := sl.frameStart, uint64(sl.nFrames)
		for j := uint64(0); j < n; j++ {
			h.FrameAcked(&s.frames[(start+j)&s.frameMask()])
		}
	}
	if sl.flags&flagCounted == 0 {
		return // not in flight when declared lost (an ACK-only packet): nothing was learnt
	}
	base := max(s.rtt.Smoothed(), s.rtt.Latest())
	s.reo.onSpurious(max(largest, s.largestAcked)-pn, now.Sub(sl.sent)-base, s.rtt.Smoothed())
	// BBR cut nothing for the loss, so it has nothing to undo (and UndoneEvents stays 0).
	if !s.useBBR && s.reo.inEpisode(sl.flags) && s.reo.onSpuriousInEpisode() {
		s.cc.undo(&s.reo.prior)
	}
}

// eventStartPN is the first packet number whose loss starts a new congestion event: CUBIC's
// and NewReno's recovery period. BBR has none and leaves cc unused, so the same field keeps
// its events, too, to at most one per round trip of losses.
func (s *Sender) eventStartPN() uint64 { return s.cc.recoveryStartPN }

// lossDelay is RFC 9002 §6.1.2's time threshold, 9/8 of max(smoothed, latest) RTT, widened
// to the reordering window the path has shown (reorder.go), at least Granularity.
func (s *Sender) lossDelay() time.Duration {
	return s.reo.lossDelay(max(s.rtt.Smoothed(), s.rtt.Latest()))
}

// lostRetention is how long after it was sent a packet declared lost stays in the history so
// that a late ACK for it is recognised: the loss delay plus a PTO, about two round trips, and
// at least twice the largest recent round trip plus the peer's ACK delay. The second term
// matters under jitter: the smoothed RTT follows the packets that came back early (on the ±4 ms
// delay line it sat at 5-7 ms while late ACKs came 25-40 ms after their packet), and a
// retention built on it alone forgot packets before their late ACK could prove the loss
// spurious. Keeping a lost slot longer costs 40 bytes of history per packet, nothing else.
func (s *Sender) lostRetention() time.Duration {
	return max(s.lossDelay()+s.rtt.PTO(s.maxAckDelay), 2*s.rtt.Max()+s.maxAckDelay)
}

// persistentDuration is RFC 9002 §7.6.1: three PTOs without backoff.
func (s *Sender) persistentDuration() time.Duration {
	return 3 * s.rtt.PTO(s.maxAckDelay)
}

// detectLost declares lost every outstanding packet below the largest
// acknowledged that is the packet threshold numbers older, or was sent more
// than lossDelay ago, and arms lossTime for the others. It reports
// whether the congestion controller reacted (a new recovery period or a
// persistent-congestion collapse).
func (s *Sender) detectLost(now Time, h Handler) (reacted bool) {
	s.lossTime = 0
	if !s.hasLargestAcked || s.largestAcked < s.histBase {
		return false
	}
	lossDelay := s.lossDelay()
	lostBefore := now - Time(lossDelay)
	threshold := s.reo.threshold()
	pcDur := Time(s.persistentDuration())
	var (
		anyLost       bool
		largestLostPN uint64
		lastLostSent  Time // send time of the newest in-flight packet declared lost (ensemble)
		runStart      Time
		inRun         bool
		persistent    bool
	)
	for s.scanFrom = max(s.scanFrom, s.histBase); s.scanFrom < s.largestAcked; s.scanFrom++ {
		if s.slots[s.scanFrom&s.slotMask()].state == stateOutstanding {
			break
		}
	}
	for pn := s.scanFrom; pn < s.largestAcked; pn++ {
		sl := &s.slots[pn&s.slotMask()]
		switch sl.state {
		case stateOutstanding:
		case stateAcked:
			// An acknowledged ack-eliciting packet proves the path
			// delivered something in between: no persistent congestion
			// across it (RFC 9002 §7.6.2).
			if sl.flags&flagAckEliciting != 0 {
				inRun = false
			}
			continue
		default:
			continue
		}
		if sl.sent > lostBefore && pn+threshold > s.largestAcked {
			if lt := sl.sent + Time(lossDelay); s.lossTime == 0 || lt < s.lossTime {
				s.lossTime = lt
			}
			continue
		}
		if sl.flags&flagInFlight != 0 {
			if start := s.eventStartPN(); (!anyLost || largestLostPN < start) && pn >= start {
				// This loss starts a new congestion event (onCongestionEvent below):
				// remember the controller as it is, in case the event proves spurious.
				s.reo.onEvent(&s.cc)
				if s.useBBR {
					s.cc.recoveryStartPN = s.nextPN
				}
			}
			anyLost = true
			largestLostPN = pn
			lastLostSent = max(lastLostSent, sl.sent)
			s.reo.onLost(sl)
		}
		if sl.flags&flagAckEliciting != 0 && s.rtt.HasSample() && sl.sent > s.firstRTTSampleAt {
			if !inRun {
				inRun = true
				runStart = sl.sent
			} else if sl.sent-runStart > pcDur {
				persistent = true
			}
		}
		s.declareLost(sl, h)
	}
	if !anyLost {
		return false
	}
	if s.ens != nil && !s.reliable {
		s.ens.onLoss(now, lastLostSent, s.MaxDatagramSize())
	}
	if s.useBBR {
		// Loss is not congestion to BBR: only PROBE_BW's probing phase
		// reads it (bbr.lost), and only persistent congestion acts.
		s.bbr.lost = true
	} else if s.cc.onCongestionEvent(largestLostPN, s.nextPN) {
		s.stats.congestionEvents++
		reacted = true
	}
	if persistent {
		if s.useBBR {
			s.bbr.onPersistentCongestion()
		} else {
			s.cc.onPersistentCongestion()
		}
		s.stats.persistent++
		reacted = true
	}
	return reacted
}

// declareLost marks sl lost and reports its frames, unless a PTO already
// reported them.
func (s *Sender) declareLost(sl *slot, h Handler) {
	sl.state = stateLost
	s.stats.packetsLost++
	s.stats.bytesLost += uint64(sl.size)
	if sl.flags&flagInFlight != 0 {
		s.removeInFlight(sl)
	}
	if h != nil && sl.nFrames > 0 && sl.flags&flagProbed == 0 {
		start, n := sl.frameStart, uint64(sl.nFrames)
		for j := uint64(0); j < n; j++ {
			h.FrameLost(&s.frames[(start+j)&s.frameMask()])
		}
	}
}

func (s *Sender) ptoDeadline() Time {
	if s.ackElicitingInFlight == 0 {
		return 0
	}
	shift := s.ptoCount
	if shift > maxPTOShift {
		shift = maxPTOShift
	}
	return s.lastAckElicitingSent + Time(s.rtt.PTO(s.maxAckDelay)<<shift)
}

// Deadline returns when OnTimeout must be called: the earliest
// time-threshold loss time if one is armed, else the PTO — (smoothed +
// max(4*var, 1 ms) + peer max ACK delay) * 2^ptoCount after the last
// ack-eliciting packet was sent — while ack-eliciting packets are in
// flight. 0 means no timer is needed.
func (s *Sender) Deadline() Time {
	if s.lossTime != 0 {
		return s.lossTime
	}
	return s.ptoDeadline()
}

// OnTimeout runs the loss-detection timer at now. If a time-threshold loss
// is due it declares those packets lost (FrameLost) and returns 0. If the
// PTO is due it doubles the backoff, reports through FrameLost the frames
// of the oldest outstanding ack-eliciting packet not already probed (none
// if all were) so the caller resends them as the probe, and
// returns MaxProbes: the caller then sends up to that many ack-eliciting
// packets regardless of the window. The probed packet stays tracked: if
// its ACK arrives its frames are reported acknowledged, and if it is
// later declared lost its frames are not reported a second time. Called
// before Deadline, it does nothing and returns 0.
func (s *Sender) OnTimeout(now Time, h Handler) (probes int) {
	if s.lossTime != 0 {
		if now < s.lossTime {
			return 0
		}
		s.detectLost(now, h)
		s.popFront(now)
		return 0
	}
	d := s.ptoDeadline()
	if d == 0 || now < d {
		return 0
	}
	s.ptoCount++
	s.stats.ptoCount++
	if !s.reliable {
		// Over a reliable path the packets in flight are in the path's hands, which
		// retransmits them itself: the probes only ask whether the path is still alive.
		s.probe(h)
	}
	return MaxProbes
}

// detectGaps is loss detection over a reliable, ordered path (Config.Reliable): a packet below
// the largest acknowledged that is itself unacknowledged can never arrive (the path delivers in
// order), so it was dropped at an endpoint (a full receive queue) and its frames are resent.
// Nothing is declared lost by time or by a reordering threshold, and the window does not react:
// the path below retransmits and controls congestion (RFC 9298 §6).
func (s *Sender) detectGaps(h Handler) {
	s.lossTime = 0
	if !s.hasLargestAcked || s.largestAcked < s.histBase {
		return
	}
	for s.scanFrom = max(s.scanFrom, s.histBase); s.scanFrom < s.largestAcked; s.scanFrom++ {
		if s.slots[s.scanFrom&s.slotMask()].state == stateOutstanding {
			break
		}
	}
	for pn := s.scanFrom; pn < s.largestAcked; pn++ {
		if sl := &s.slots[pn&s.slotMask()]; sl.state == stateOutstanding {
			s.declareLost(sl, h)
		}
	}
}

// probe reports the frames of the packet a PTO should resend: the oldest
// outstanding ack-eliciting packet not probed yet. If every one was
// probed, their frames were all handed out already (and, if the caller
// still wanted them, now travel in newer packets), so nothing is reported
// and the caller's probes carry new data or a KEEP_ALIVE.
func (s *Sender) probe(h Handler) {
	m := s.slotMask()
	for pn := s.histBase; pn < s.nextPN; pn++ {
		sl := &s.slots[pn&m]
		if sl.state != stateOutstanding || sl.flags&(flagAckEliciting|flagProbed) != flagAckEliciting {
			continue
		}
		sl.flags |= flagProbed
		if h != nil && sl.nFrames > 0 {
			start, n := sl.frameStart, uint64(sl.nFrames)
			s.probing = true
			for j := uint64(0); j < n; j++ {
				h.FrameLost(&s.frames[(start+j)&s.frameMask()])
			}
			s.probing = false
		}
		return
	}
}
