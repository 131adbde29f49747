package recovery

import "time"

// The Sender's counters and the snapshot metrics read.

type counters struct {
	packetsSent      uint64
	packetsLost      uint64
	packetsAcked     uint64
	bytesSent        uint64
	bytesLost        uint64
	congestionEvents uint64
	ptoCount         uint64
	persistent       uint64
}

// SenderStats is a snapshot of a Sender's counters and state, for metrics.
type SenderStats struct {
	PacketsSent          uint64 // every packet passed to OnPacketSent
	PacketsLost          uint64 // packets declared lost
	PacketsAcked         uint64 // packets newly acknowledged
	BytesSent            uint64
	BytesLost            uint64
	CongestionEvents     uint64 // window reductions (one per recovery period)
	PTOCount             uint64 // probe timeouts fired
	PersistentCongestion uint64 // window collapses (RFC 9002 §7.6)
	// SpuriousLosses counts packets declared lost and acknowledged afterwards: reordering, not
	// loss. Their frames were resent needlessly (the retransmissions are in PacketsSent).
	SpuriousLosses uint64
	// UndoneEvents counts congestion events undone because every loss in them was spurious.
	UndoneEvents uint64
	// PacketThreshold and ReorderWindow are the loss thresholds the path's reordering has
	// taught the Sender (PacketThreshold and 0 on a path that keeps order).
	PacketThreshold uint64
	ReorderWindow   time.Duration
	Window          int
	BytesInFlight   int
	SRTT            time.Duration
	MinRTT          time.Duration
	SlowStart       bool
	// BBR only (zero for other algorithms): the bottleneck bandwidth
	// estimate in bytes per second, and the state machine's mode
	// ("startup", "drain", "probe_bw", "probe_rtt").
	BtlBw    float64
	BBRState string
}

// Stats returns a snapshot of the counters.
func (s *Sender) Stats() SenderStats {
	st := SenderStats{
		PacketsSent:          s.stats.packetsSent,
		PacketsLost:          s.stats.packetsLost,
		PacketsAcked:         s.stats.packetsAcked,
		BytesSent:            s.stats.bytesSent,
		BytesLost:            s.stats.bytesLost,
		CongestionEvents:     s.stats.congestionEvents,
		PTOCount:             s.stats.ptoCount,
		PersistentCongestion: s.stats.persistent,
		SpuriousLosses:       uint64(s.reo.spuriousTotal),
		UndoneEvents:         uint64(s.reo.undoTotal),
		PacketThreshold:      s.reo.threshold(),
		ReorderWindow:        s.reo.window,
		Window:               s.Window(),
		BytesInFlight:        s.bytesInFlight,
		SRTT:                 s.rtt.Smoothed(),
		MinRTT:               s.rtt.Min(),
		SlowStart:            s.inSlowStart(),
	}
	if s.useBBR {
		st.BtlBw = s.bbr.btlBw.get() * 1e9
		st.BBRState = s.bbr.mode.String()
	}
	return st
}

// LossCounters returns the packets sent and the packets declared lost so far, the two counters
// a loss-rate estimate divides, without building a whole SenderStats.
func (s *Sender) LossCounters() (sent, lost uint64) {
	return s.stats.packetsSent, s.stats.packetsLost
}

// Probing reports, during a Handler's FrameLost, that the frame is handed out for a probe
// timeout's probe rather than declared lost: nothing is known to be lost, the ACK is late. A
// caller that budgets retransmissions by losses (probabilistic streams) does not count it.
func (s *Sender) Probing() bool { return s.probing }

// SmoothedRTT is the smoothed round-trip time, without building a whole SenderStats.
func (s *Sender) SmoothedRTT() time.Duration { return s.rtt.Smoothed() }
