package recovery

import "time"

// A peer that stops answering (killed, unplugged, its host gone) is otherwise noticed only by
// the idle timeout (30 s by default), and a sender meanwhile shows a transfer frozen at 0 B/s.
// While ack-eliciting packets are outstanding the Sender has better evidence: every PTO sends
// probes that a live peer acknowledges. UnresponsiveAt declares the peer gone after all of:
//
//   - UnresponsivePTOs (6) consecutive PTOs without any new acknowledgement. Each PTO sends two
//     probes, and a PTO passes unanswered on a live path only if both probes or all their ACKs
//     are lost: at 20% random loss each way that is (1-0.8²)² ≈ 0.13 per PTO, so six in a row
//     is ≈ 5e-6 per loss episode (the simulation sees runs of at most 3). With the exponential
//     backoff, six PTOs span 63 PTOs (about 1 s at a 10 ms RTT, 5 s at 50 ms).
//   - one more PTO (without backoff) after the last probe, so that the probes of the sixth PTO
//     have had their chance: a path that came back during the backoff is found alive.
//   - UnresponsiveAfter (10 s) of silence: nothing authentic received from the peer at all. On a
//     fast path six PTOs take milliseconds; the floor keeps a scheduler stall, a GC pause or an
//     outage of a few seconds (Wi-Fi roaming, a route change) from ending the session, and it is
//     above the short idle timeouts tests and embedders use (2 s), which then still decide alone.
//     It was 5 s until a loaded 2-core CI machine, whose VM froze its processes for up to 2.7 s at
//     a time, ended a live 20%-loss transfer after 5 s without a packet from a starved sender:
//     10 s still ends a dead transfer three times sooner than the 30 s idle timeout.
//
// The idle timeout stays the bound for a session with nothing outstanding, and for a path so
// slow that six PTOs last longer than it.
const (
	UnresponsivePTOs  = 6
	UnresponsiveAfter = 10 * time.Second
)

// UnresponsiveAt returns when the peer is to be declared gone, given lastHeard, when the caller
// last received anything authentic from it; 0 (never) until UnresponsivePTOs consecutive PTOs
// have fired with ack-eliciting packets still outstanding. An ACK that acknowledges something
// new resets the count, and with it this deadline.
func (s *Sender) UnresponsiveAt(lastHeard Time) Time {
	if s.ptoCount < UnresponsivePTOs || s.ackElicitingInFlight == 0 {
		return 0
	}
	return max(lastHeard.Add(UnresponsiveAfter), s.lastAckElicitingSent.Add(s.PTO()))
}
