package dataplane

import "sync/atomic"

// DropReason says why a datagram was discarded. Every discard on the receive path is counted
// under exactly one reason so that /metrics can show what a listener is being sent.
type DropReason uint8

// Drop reasons, in the order they are checked.
const (
	DropTruncated      DropReason = iota // shorter than a header, or a length running past the end
	DropBadMagic                         // first byte is not the STT magic
	DropBadVersion                       // a protocol version this build does not speak
	DropBadKind                          // an unknown packet kind
	DropBadHeader                        // reserved header bits set
	DropUnknownSession                   // protected packet for a session id not in the table
	DropReplay                           // packet number already seen or behind the replay window
	DropAuth                             // AEAD open failed (forged, corrupted, or wrong key)
	DropHandshakeQueue                   // control plane backlog full
	DropFrame                            // malformed frames inside an authenticated packet
	DropClosed                           // the session is closing or draining
	DropOversize                         // larger than MaxPacketSize or the handshake limit
	DropFragmented                       // reassembly state full; the sender will retransmit
	DropNoHandler                        // application frame type with no registered handler
	DropHandshake                        // handshake message refused by the control plane
	numDropReasons
)

var dropNames = [numDropReasons]string{
	"truncated", "bad_magic", "bad_version", "bad_kind", "bad_header", "unknown_session",
	"replay", "auth", "handshake_queue", "frame", "closed", "oversize", "fragmented",
	"no_handler", "handshake",
}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// DropReasons lists every reason, for exporters.
func DropReasons() []DropReason {
	rs := make([]DropReason, numDropReasons)
	for i := range rs {
		rs[i] = DropReason(i)
	}
	return rs
}

// engineCounters are written by the loops with atomic adds; Stats copies them.
type engineCounters struct {
	rxDatagrams, rxBytes, rxBatches atomic.Uint64
	rxPolled                        atomic.Uint64 // batches a reader read itself (rxpoll.go)
	txDatagrams, txBytes, txBatches atomic.Uint64
	drops                           [numDropReasons]atomic.Uint64
	eventsDropped                   atomic.Uint64
	txRefused                       atomic.Uint64
	pathHeld                        atomic.Uint64
	// Totals of sessions that have ended, so that engine-wide counters never go down.
	closedRetx, closedLost, closedSessions atomic.Uint64
	// migrations counts sessions' moves to another path; pathResponsesDropped the
	// PATH_CHALLENGEs left unanswered because a session had maxPathResponses answers queued.
	migrations, pathResponsesDropped atomic.Uint64
	// candidateAcks counts ACK packets also sent to a path candidate under validation;
	// amplificationLimited the packets to one withheld by the anti-amplification limit.
	candidateAcks, amplificationLimited atomic.Uint64
	// Path MTU discovery (pmtud.go): probes sent, acknowledged and lost, black holes detected.
	pmtuProbesSent, pmtuProbesAcked, pmtuProbesLost, pmtuBlackHoles atomic.Uint64
	// drainsCut counts closing sessions whose drain a port unreachable ended (Session.PeerGone),
	// closesAnswered those whose drain the peer's SESSION_CLOSE ended (Session.receive).
	drainsCut, closesAnswered atomic.Uint64
}

// EngineStats is a snapshot of an engine's counters.
type EngineStats struct {
	RxDatagrams, RxBytes, RxBatches uint64
	// RxPolled counts the receive batches (of RxBatches) that a reader waiting in a
	// request/response exchange read from the socket itself (Config.ReadPoll).
	RxPolled                        uint64
	TxDatagrams, TxBytes, TxBatches uint64
	Drops                           [numDropReasons]uint64
	EventsDropped                   uint64
	// TxRefused counts datagrams the kernel refused as larger than their route carries (they
	// are in TxDatagrams too, and their sessions' packets shrank or the sessions ended).
	TxRefused uint64
	Sessions  int
	// TaggedSessions counts the Sessions whose path is a MultiConn's tagged (non-primary) path,
	// such as a WebSocket listener united with a UDP socket: what a node reports as ws sessions.
	TaggedSessions     int
	SessionsClosed     uint64
	RetransmittedBytes uint64 // stream bytes sent again, all sessions ever
	PacketsLost        uint64 // packets declared lost, all sessions ever
	GSO, GRO           bool
	// Reliable says the engine's path is reliable and ordered (ReliableConn): no loss timers, no
	// congestion control. PathHeld counts the times a session had data or an ACK to send and
	// the path no room for it: the data waited in the send buffers instead of being dropped.
	Reliable bool
	PathHeld uint64
	// Migrations counts moves of sessions to another path (docs/PROTOCOL.md §10), and
	// PathResponsesDropped the PATH_CHALLENGEs not answered because a session already had
	// maxPathResponses answers queued (a flood of challenges stays bounded).
	Migrations, PathResponsesDropped uint64
	// CandidateAcks counts the ACK packets a responder also sent to the address its peer's
	// newest packets came from while validating it (so a NAT rebinding costs no round trip of
	// lost ACKs), and AmplificationLimited the packets to such an address (ACK copies, repeated
	// PATH_CHALLENGEs) it withheld because they would have taken what it sent there past three
	// times what it received from there (anti-amplification, docs/PROTOCOL.md §10).
	CandidateAcks, AmplificationLimited uint64
	// PMTUProbesSent, PMTUProbesAcked and PMTUProbesLost count path MTU discovery's probe
	// packets (docs/RELIABILITY.md, "Path MTU discovery"); PMTUBlackHoles the times a session
	// found its discovered size no longer carried and fell back to the base size.
	PMTUProbesSent, PMTUProbesAcked, PMTUProbesLost, PMTUBlackHoles uint64
	// DrainsCut counts closing sessions whose drain ended early because an ICMP port
	// unreachable said the peer had gone (Session.PeerGone).
	DrainsCut uint64
	// ClosesAnswered counts closing sessions whose drain ended early because the peer's
	// SESSION_CLOSE came back: its answer to ours (a draining session sends one), or its own
	// close crossing ours.
	ClosesAnswered uint64
}

// DropsTotal sums the drops of every reason.
func (s *EngineStats) DropsTotal() uint64 {
	var t uint64
	for _, d := range s.Drops {
		t += d
	}
	return t
}

// Add accumulates o into s (for nodes with several engines).
func (s *EngineStats) Add(o *EngineStats) {
	s.RxDatagrams += o.RxDatagrams
	s.RxBytes += o.RxBytes
	s.RxBatches += o.RxBatches
	s.RxPolled += o.RxPolled
	s.TxDatagrams += o.TxDatagrams
	s.TxBytes += o.TxBytes
	s.TxBatches += o.TxBatches
	for i := range s.Drops {
		s.Drops[i] += o.Drops[i]
	}
	s.EventsDropped += o.EventsDropped
	s.Sessions += o.Sessions
	s.TaggedSessions += o.TaggedSessions
	s.SessionsClosed += o.SessionsClosed
	s.RetransmittedBytes += o.RetransmittedBytes
	s.PacketsLost += o.PacketsLost
	s.GSO = s.GSO || o.GSO
	s.GRO = s.GRO || o.GRO
	s.Reliable = s.Reliable || o.Reliable
	s.PathHeld += o.PathHeld
	s.Migrations += o.Migrations
	s.PathResponsesDropped += o.PathResponsesDropped
	s.CandidateAcks += o.CandidateAcks
	s.AmplificationLimited += o.AmplificationLimited
	s.PMTUProbesSent += o.PMTUProbesSent
	s.PMTUProbesAcked += o.PMTUProbesAcked
	s.PMTUProbesLost += o.PMTUProbesLost
	s.PMTUBlackHoles += o.PMTUBlackHoles
	s.DrainsCut += o.DrainsCut
	s.ClosesAnswered += o.ClosesAnswered
}

// sessionCounters are the per-session numbers that applications and the admin API read.
type sessionCounters struct {
	packetsRecv                atomic.Uint64
	bytesRecv                  atomic.Uint64 // datagram bytes (the sent side is counted by recovery.Sender)
	streamBytesRecv            atomic.Uint64 // new in-order payload bytes delivered
	retransmits                atomic.Uint64 // stream bytes sent again
	keyUpdates                 atomic.Uint64
	appFramesSent, appFramesIn atomic.Uint64
	dataFramesSent, acksSent   atomic.Uint64
}

// SessionStats is a snapshot of one session.
type SessionStats struct {
	PacketsSent, PacketsRecv uint64
	BytesSent, BytesRecv     uint64
	StreamBytesSent          uint64
	StreamBytesRecv          uint64
	// RetransmittedBytes counts stream bytes sent again: those of packets declared lost, and
	// those a probe timeout resent because their ACK was late (a probe is not a loss, so bytes
	// can be resent with PacketsLost at 0). PTOs counts the probe timeouts.
	RetransmittedBytes uint64
	PacketsLost        uint64
	PTOs               uint64
	// SpuriousLosses counts packets declared lost that the peer acknowledged afterwards: the
	// path reordered them. PacketThreshold and ReorderWindow are the loss thresholds that
	// reordering taught the session (3 and 0 on a path that keeps order), and UndoneEvents the
	// window reductions taken back because every loss behind them was spurious
	// (docs/RELIABILITY.md, "Reordering").
	SpuriousLosses, UndoneEvents uint64
	PacketThreshold              uint64
	ReorderWindow                int64 // nanoseconds
	// CongestionEvents counts window reductions; Congestion names the controller, and BtlBw
	// is BBR's bottleneck bandwidth estimate in bytes per second (0 for the others).
	CongestionEvents uint64
	Congestion       string
	BtlBw            float64
	KeyUpdates       uint64
	// Resumes counts the resumptions this side accepted: each moved the session to the keys of
	// a new epoch and to the resuming device (PROTOCOL.md §4).
	Resumes                      uint64
	AppFramesSent, AppFramesRecv uint64
	// DataFramesSent and AckFramesSent count the DATA frames (retransmissions included) and ACK
	// frames this side put in packets: what a decrypted capture of the session shows
	// (sttfast pcap decrypt), so a capture can be checked against the node.
	DataFramesSent, AckFramesSent uint64
	SmoothedRTT, MinRTT           int64 // nanoseconds
	Window, BytesInFlight         int
	Streams                       int
	// SendBuffered is what the session's streams hold for sending now (written, not yet
	// acknowledged, plus the few KiB a writer of small messages holds in reserve while it has
	// bytes unacknowledged), SendBufferedPeak the most they ever held; neither exceeds
	// SendBudget (Config.SessionSendBuffer).
	SendBuffered, SendBufferedPeak, SendBudget int64
	// PathMTU is the UDP payload size the session's packets use now: Config.PayloadSize, what
	// path MTU discovery raised it to, or what a narrower route shrank it to. PMTUProbes,
	// PMTUProbesAcked and PMTUBlackHoles are the session's share of the engine's counters.
	PathMTU                                     int
	PMTUProbes, PMTUProbesAcked, PMTUBlackHoles uint64
	// RecvWindow is the session's receive window now, WindowGrowths how many times a window of
	// the session (its receive window, a stream's receive window or send buffer) doubled to
	// follow the path (Config.MaxSessionWindow); SendBudget grows with the send buffers.
	RecvWindow    uint64
	WindowGrowths uint64
}
