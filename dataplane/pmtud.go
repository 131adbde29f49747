package dataplane

import (
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// Datagram packetization layer path MTU discovery (DPLPMTUD, RFC 8899) for one session's
// path. Every session starts with packets of Config.PayloadSize (1200 by default: what any
// IPv4/IPv6 path carries) and probes larger sizes with padded packets that elicit an ACK and
// carry no data, so that losing one costs nothing but the probe: no retransmission, no
// congestion response. An acknowledged probe raises the size data packets use; a size lost
// pmtuMaxProbes times in a row is too large. The search is binary, after a first probe at the
// ceiling (the common case, loopback or a jumbo-frame network, then needs one round trip).
// docs/RELIABILITY.md ("Path MTU discovery") has the rules and docs/PROTOCOL.md §1 the packets.

const (
	// DefaultMaxPayloadSize is Config.MaxPayloadSize's default: the UDP payload of a 9000-byte
	// jumbo frame over IPv4 (9000 − 20 − 8). Ethernet jumbo frames are the largest MTU common
	// on real links; loopback's 65536 carries more, but beyond about 9 KB the gain is small
	// (one GSO send carries 64 KB either way) while a lost packet costs more to resend.
	DefaultMaxPayloadSize = 9000 - 28

	// pmtuMaxProbes is RFC 8899's MAX_PROBES: losses in a row of one probe size that prove
	// the path does not carry it (a single loss may be congestion or chance).
	pmtuMaxProbes = 3
	// pmtuRaiseTimer is RFC 8899's PMTU_RAISE_TIMER: how long a completed search stands before
	// the session probes again for a larger size (the path may have changed).
	pmtuRaiseTimer = 600 * time.Second
	// pmtuGranularity ends a search: once the gap between the largest size confirmed and the
	// smallest failed is below it, a few bytes more per packet are not worth more probes.
	pmtuGranularity = 20
	// pmtuProbePTOs is the probe timer in PTOs: a probe unacknowledged for that long is lost,
	// even when no later packet's ACK lets loss detection say so (an idle session).
	pmtuProbePTOs = 3
	// blackHoleLosses and blackHoleSilence detect a black hole: a path that stopped carrying
	// the discovered size. blackHoleLosses packets larger than the base size were declared lost
	// (by loss detection or a PTO) over at least blackHoleSilence, or a PTO if longer, with
	// none of that size acknowledged meanwhile. A burst of congestion losses is declared within
	// an ACK or two and acknowledgements of big packets go on around it, so it never qualifies;
	// the time floor keeps a scheduler stall on a loaded host (no ACK processed for a while)
	// from passing for one. The session then falls back to the base size and searches again
	// after blackHoleHold.
	blackHoleLosses  = 3
	blackHoleSilence = 200 * time.Millisecond
	blackHoleHold    = time.Second
)

// pmtuPhase is where a session's search stands.
type pmtuPhase uint8

const (
	pmtuOff       pmtuPhase = iota // nothing to search (ceiling not above base, or a reliable path)
	pmtuSearching                  // probing
	pmtuComplete                   // SEARCH_COMPLETE: next search at raiseAt
)

// pmtuSearch is one path's DPLPMTUD state. It is pure bookkeeping, driven by the session (mu
// held) and tested on its own with a fake path. Sizes are UDP payloads, at most
// frame.MaxPacketSize, kept in int32 so the whole state is 64 bytes: a session with discovery
// on allocates it once (Session.pmtu), an idle one without pays a nil pointer.
type pmtuSearch struct {
	base    int32 // BASE_PLPMTU: the size confirmed from the start, and the fallback
	ceiling int32 // MAX_PLPMTU
	cur     int32 // PLPMTU: the largest size confirmed, the size data packets use
	fail    int32 // the smallest size found too large (ceiling+1 while none)
	trying  int32 // the size being probed (0: none chosen)

	phase     pmtuPhase
	inFlight  bool  // a probe of size trying is outstanding
	losses    uint8 // losses in a row of size trying
	bigLosses uint8 // packets above base lost since one of that size was acknowledged

	probePN uint64
	// timer is the probe timer of the outstanding probe (inFlight), else, once complete, when
	// to search again.
	timer        recovery.Time
	firstBigLoss recovery.Time // when the first of bigLosses was declared lost

	sent, acked, lost, blackHoles uint32 // counters for SessionStats
}

// start begins discovery on a new path: data packets at base, a search up to ceiling at once.
func (p *pmtuSearch) start(base, ceiling int) {
	sent, acked, lost, bh := p.sent, p.acked, p.lost, p.blackHoles
	*p = pmtuSearch{base: int32(base), ceiling: int32(ceiling), cur: int32(base), fail: int32(ceiling) + 1,
		sent: sent, acked: acked, lost: lost, blackHoles: bh}
	if ceiling > base {
		p.phase = pmtuSearching
	}
}

// stop ends discovery at the current size (a route that refused packets, a reliable path).
func (p *pmtuSearch) stop() {
	p.phase, p.trying, p.inFlight = pmtuOff, 0, false
	p.ceiling = p.cur
}

// narrow records that the route refused packets above fit (the kernel said so, EMSGSIZE): the
// size and everything above it are off limits on this path, and nothing larger is probed.
func (p *pmtuSearch) narrow(fit int) {
	p.base = min(p.base, int32(fit))
	p.cur = min(p.cur, int32(fit))
	p.stop()
}

// due returns the size of the probe to send now, 0 for none.
func (p *pmtuSearch) due(now recovery.Time) int {
	switch p.phase {
	case pmtuComplete:
		if now < p.timer {
			return 0
		}
		p.phase, p.fail, p.losses, p.trying = pmtuSearching, p.ceiling+1, 0, 0
	case pmtuSearching:
	default:
		return 0
	}
	if p.inFlight {
		return 0
	}
	if p.trying == 0 {
		p.trying = p.next()
		if p.trying == 0 {
			p.complete(now)
			return 0
		}
	}
	return int(p.trying)
}

// next is the next size to try: the ceiling first, then halfway between what passed and what
// failed; 0 when the gap is too small to be worth a probe.
func (p *pmtuSearch) next() int32 {
	if p.fail-p.cur <= pmtuGranularity {
		return 0
	}
	if p.fail > p.ceiling {
		return p.ceiling
	}
	return (p.cur + p.fail) / 2
}

func (p *pmtuSearch) complete(now recovery.Time) {
	p.phase, p.trying, p.inFlight = pmtuComplete, 0, false
	p.timer = now + recovery.Time(pmtuRaiseTimer)
}

// probeSent records the probe of size trying just sent as packet pn; it is lost if not
// acknowledged by now+timeout.
func (p *pmtuSearch) probeSent(pn uint64, now recovery.Time, timeout time.Duration) {
	p.inFlight, p.probePN, p.timer = true, pn, now+recovery.Time(timeout)
	p.sent++
}

// probeAcked handles the ACK of packet pn carrying a probe; it returns the new size data
// packets may use, 0 if nothing changed (not the outstanding probe).
func (p *pmtuSearch) probeAcked(pn uint64, now recovery.Time) int {
	if !p.inFlight || pn != p.probePN {
		return 0
	}
	p.acked++
	p.cur, p.inFlight, p.trying, p.losses = p.trying, false, 0, 0
	if p.next() == 0 {
		p.complete(now)
	}
	return int(p.cur)
}

// probeLost handles the loss of packet pn carrying a probe (loss detection or the probe timer).
func (p *pmtuSearch) probeLost(pn uint64, now recovery.Time) {
	if !p.inFlight || pn != p.probePN {
		return
	}
	p.lost++
	p.inFlight = false
	p.losses++
	if p.losses < pmtuMaxProbes {
		return // try the same size again
	}
	p.fail, p.trying, p.losses = p.trying, 0, 0
	if p.next() == 0 {
		p.complete(now)
	}
}

// expire runs the probe timer.
func (p *pmtuSearch) expire(now recovery.Time) {
	if p.inFlight && now >= p.timer {
		p.probeLost(p.probePN, now)
	}
}

// deadline returns when the session needs its TX loop for discovery (0: never).
func (p *pmtuSearch) nextDeadline() recovery.Time {
	switch {
	case p.inFlight:
		return p.timer
	case p.phase == pmtuComplete && p.ceiling > p.base:
		return p.timer
	}
	return 0
}

// raised reports whether data packets are larger than the base size.
func (p *pmtuSearch) raised() bool { return p.cur > p.base }

// bigAcked notes that a packet larger than the base size was acknowledged: the size works.
func (p *pmtuSearch) bigAcked() { p.bigLosses = 0 }

// bigLost notes the loss of a packet larger than the base size; it reports whether that makes
// a black hole (see blackHoleLosses), in which case the search has already fallen back.
func (p *pmtuSearch) bigLost(now recovery.Time, pto time.Duration) bool {
	if !p.raised() {
		return false
	}
	if p.bigLosses == 0 {
		p.firstBigLoss = now
	}
	p.bigLosses++
	if p.bigLosses >= blackHoleLosses && now-p.firstBigLoss >= recovery.Time(max(pto, blackHoleSilence)) {
		p.blackHole(now)
		return true
	}
	return false
}

// blackHole falls back to the base size and schedules a new search from scratch: the path
// changed, and what it carries now is unknown.
func (p *pmtuSearch) blackHole(now recovery.Time) {
	p.blackHoles++
	p.cur, p.bigLosses, p.losses = p.base, 0, 0
	p.fail = p.ceiling + 1
	p.phase, p.trying, p.inFlight = pmtuComplete, 0, false
	p.timer = now + recovery.Time(blackHoleHold)
}
