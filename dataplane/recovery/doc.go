// Package recovery is the loss-detection and congestion-control core of
// the STT data plane: per session, a Sender tracks the packets it sent
// and a Receiver the packets it received.
//
// It is pure logic. It imports nothing of the project and nothing outside
// the standard library, never reads the clock on its own (every method
// takes the current Time; Now is a helper for callers), never starts a
// goroutine or timer, and does no locking: the data plane calls it with
// the session lock held and arms its own timers from Sender.Deadline and
// Receiver.AckDeadline. That makes every behaviour reproducible with a
// fake clock in tests.
//
// # How the data plane uses it
//
// Sending: the caller asks NextPacketNumber, checks CanSend/SendBudget
// and PacingDeadline, packs and seals the packet, then calls OnPacketSent
// with what the packet carried as FrameRef records (opaque here). On an
// ACK frame it decodes the ranges into a []Range (descending) and calls
// OnAck; the Handler is told, frame by frame, what was acknowledged (free
// the data) and what was lost (queue it for a new packet — retransmissions
// are new packets with new numbers). When Deadline passes it calls
// OnTimeout, which either declares time-threshold losses or fires a probe
// timeout (PTO) and returns how many probe packets to send.
//
// Receiving: after a packet authenticates, Receiver.OnPacket; after a
// batch, if AckNow (or AckDeadline passed), build an ACK frame from
// AppendRanges and AckDelay, send it, and call OnAckSent.
//
// # Invariants
//
//   - Packet numbers start at 0, strictly increase and are never reused;
//     OnPacketSent panics on a reused number because it would reuse an
//     AEAD nonce.
//   - Every frame recorded with OnPacketSent is reported FrameAcked at
//     most once and FrameLost at most once. Lost-then-acked is possible
//     (a PTO probe reports the frames of a packet that may still arrive),
//     acked-then-lost is not.
//   - BytesInFlight is the sum of the sizes of ack-eliciting packets
//     neither acknowledged nor declared lost.
//   - MinWindowPackets*MaxDatagramSize <= Window() <= MaxWindow, always.
//   - The window shrinks at most once per recovery period: losses of
//     packets sent before the period began are part of the same event.
//   - Memory: the zero Sender and Receiver hold no heap memory. The
//     Sender's history is two power-of-two rings (40 bytes per packet,
//     16 of them BBR's delivery-rate stamps; 32 per frame) allocated on the first tracked packet and doubled
//     only when more packets are outstanding than ever before, so in
//     steady state nothing is allocated per packet or per ACK. The
//     Receiver holds 16 ranges inline and takes a pooled array of
//     MaxRanges (1024) only while the path reorders enough to need it.
//
// # RFC 9002 coverage
//
// Implemented: RTT estimation (§5: min/smoothed/var, ACK-delay
// subtraction clamped to max_ack_delay and never below min RTT); loss
// detection by packet threshold (3, adaptive: see Reordering) and time threshold (9/8 of
// max(smoothed, latest), at least 1 ms) with a loss timer (§6.1); the PTO
// with exponential backoff, reset by an ACK that acknowledges something
// new (§6.2); up to two probes that ignore the window, the oldest unacked
// data being offered for them; NewReno-style recovery periods and
// congestion events (§7.3); persistent congestion (§7.6: three PTOs of
// consecutive lost ack-eliciting packets sent after the first RTT sample,
// no acknowledged ack-eliciting packet between them) collapsing the
// window to the minimum; pacing (§7.7) with a token bucket; not growing
// the window while the application does not use it (§7.8).
// CUBIC (RFC 9438) with fast convergence and the Reno-friendly region,
// and HyStart++ (RFC 9406) for slow start, NewReno selectable. Fast
// convergence compares a loss's window only with a W_max found in
// congestion avoidance, never with the one the loss that ended slow start
// left (where slow start's doubling stood, up to twice the path).
//
// # BBR
//
// Algorithm BBR selects a BBR v1 controller (draft-cardwell-iccrg-bbr-
// congestion-control, rate.go and bbr.go) instead: a delivery-rate
// sampler (draft-cheng-iccrg-delivery-rate-estimation) feeds a 10-round
// windowed max of the bottleneck bandwidth; RTprop is the min RTT of the
// last 10 s; STARTUP (gain 2.885) ends after three rounds of under 25%
// bandwidth growth, DRAIN empties the queue it built, PROBE_BW cycles the
// pacing gain through 1.25, 0.75 and six times 1 (starting phase derived
// from state, not random, so tests are reproducible), and PROBE_RTT holds
// four packets for max(200 ms, a round) when RTprop was not refreshed for
// 10 s. The Sender paces at gain × BtlBw; the window is 2 × BtlBw ×
// max(RTprop, smoothed RTT) + 3 datagrams, at least 4, grown toward that
// target by the acknowledged bytes. smoothed RTT covers per-packet jitter,
// which RTprop alone would turn into a window too small to keep the pipe
// full. Loss does not touch the model; persistent congestion drops the
// window to its floor but keeps BtlBw and RTprop. Packets declared lost
// and acknowledged while still in the history count as delivered.
//
// Left out: packet conservation and loss-based window reduction (v1
// applies them in recovery; here random loss must not throttle the flow),
// v1's long-term bandwidth (policer) model, and everything v2/v3 added —
// the loss- and ECN-based inflight_hi/lo bounds, the PROBE_BW sub-states,
// and extra_acked ack-aggregation accounting. They matter for fairness
// toward loss-based flows in shallow buffers, which v1 is known to lack;
// use CUBIC where that matters. Application-limited periods are known to
// the sampler only when the caller says so (Sender.OnAppLimited) or the
// pipe ran empty.
//
// # Reordering
//
// RFC 9002's fixed thresholds assume a path that keeps order; on one that
// delays each datagram by its own amount they declare every overtaken
// packet lost, and each declaration cuts the window (issue 10: ±1 ms of
// jitter took a 10 ms path from 438 to 9 Mbit/s). reorder.go adds, after
// RFC 8985 and Linux TCP: spurious-loss detection (a lost packet stays in
// the history about two round trips; a late ACK reports its frames
// acknowledged), a packet threshold and a time-threshold reordering
// window learnt from the late packets (decaying to the defaults after 16
// congestion events without one), and undo of a congestion event all of
// whose losses proved spurious. docs/PROTOCOL.md §8 has the exact rules.
//
// Not implemented, because STT does not need it: packet-number spaces
// (STT has one per direction; its handshake has its own retransmission
// timer), anti-amplification limits and handshake-specific PTO arming
// (done by the handshake), ECN (§7.1; no ECN counts on the wire), and
// path MTU discovery: MaxDatagramSize is set at Init and only ever
// lowered, by SetMaxDatagramSize when the path is found narrower (the
// window stays in bytes; packets in flight keep their sizes).
//
// One deliberate difference from quic-go: a PTO reports the frames of the
// oldest outstanding ack-eliciting packet not probed before and leaves
// that packet in flight, as RFC 9002 does (quic-go declares it lost).
// Successive PTOs therefore walk through the outstanding data, oldest
// first, and each frame is still reported lost at most once. Window
// validation is a latch rather than a per-packet flag: acknowledging a
// packet grows the window only if the window was full (within three
// datagrams, or above half of it in slow start) when that packet or a
// later one was sent, so the first packets of a burst that fills the
// window count, and a sender that leaves the window unused does not grow
// it.
package recovery
