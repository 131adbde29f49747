package attack

import (
	"testing"
	"time"

	"github.com/sttfast/sttfast/frame"
)

// usPerHelloBound bounds the listener's CPU time per flood HELLO its socket received. A bogus
// HELLO costs a copy, a queue hop and one HMAC-SHA256 over 1168 bytes (about 5 µs here, see
// docs/RELIABILITY.md); the bound is ten times that, so that it catches a HELLO that costs
// real work (a key derivation, a session) without tripping on a loaded machine.
const usPerHelloBound = 50

// TestHandshakeFlood runs sttattack flood against an uninstrumented sttfast serve: 100000 HELLOs
// per second for 2 s (30 s in the long run) from 4 sockets, 80% with bad MACs, 10% a captured
// real HELLO, 10% built with the seed from 64 nonces that repeat, while a legitimate dial is
// timed every 250 ms. The listener stays up with bounded memory and CPU per HELLO; it answers
// only the first HELLO of each valid nonce, with a CHALLENGE smaller than the HELLO; every other
// HELLO its socket received is counted as a drop; every dial succeeds and their median is
// under 1 s.
func TestHandshakeFlood(t *testing.T) {
	l := startListener(t, &binSttfastFast)
	var rep FloodReport
	l.attack("flood", &rep, "--rate", "100000", "--duration", pick("2s", "30s"))

	r := rep.Replies
	t.Logf("flood: %d HELLOs in %.2f s = %.0f/s (target 100000) %v; kernel drops %d",
		rep.Blast.Sent, rep.Blast.Elapsed.Seconds(), rep.Blast.Rate, rep.Blast.ByClass, rep.KernelDrops)
	t.Logf("listener: drops %v, refusals %v; CPU %.2f s = %.2f µs per HELLO received (%.2f per HELLO sent)",
		rep.Delta.Drops, rep.Delta.Refused, rep.CPUSeconds, rep.USPerHelloDelivered, rep.USPerHelloSent)
	t.Logf("replies: %d (%d CHALLENGEs for %d valid nonces, %d CLOCKs for the aged captured HELLO), largest %d bytes, forbidden %d, duplicates %d",
		r.Total, r.Challenges, rep.ValidNonces, r.Clocks, r.MaxSize, r.Forbidden, r.Duplicates)
	t.Logf("legit dials during the flood: %d, failed %d, min %.1f ms, median %.1f ms, p90 %.1f ms, max %.1f ms",
		rep.Dials.N, rep.Dials.Failed, rep.Dials.MinMs, rep.Dials.MedMs, rep.Dials.P90Ms, rep.Dials.MaxMs)
	t.Logf("RSS before %s, peak %s (+%s), after %s", mib(rep.Mem.BeforeRSS), mib(rep.Mem.PeakRSS), mib(rep.Mem.Growth()), mib(rep.Mem.AfterRSS))

	if !rep.Alive || !l.running() || !l.metricsAnswer() {
		t.Fatal("the listener did not survive the flood")
	}
	if rep.Blast.Sent == 0 || rep.Blast.ByClass[ClassBadMAC] == 0 || rep.Blast.ByClass[ClassCapturedHello] == 0 || rep.Blast.ByClass[ClassValidRepeat] == 0 {
		t.Fatalf("the flood did not send every kind of HELLO: %v", rep.Blast.ByClass)
	}
	// Anti-amplification and statelessness: only the first HELLO of a valid nonce is answered,
	// with a CHALLENGE smaller than it; nothing else is answered.
	if r.Forbidden != 0 || r.Larger != 0 || r.Duplicates != 0 || r.Challenges > int64(rep.ValidNonces) || r.MaxSize >= frame.HelloMinSize {
		t.Errorf("replies: %+v (valid nonces %d)", r, rep.ValidNonces)
	}
	if r.Challenges == 0 {
		t.Errorf("no CHALLENGE for any of the %d valid nonces", rep.ValidNonces)
	}
	if rep.Uncounted > 0 {
		t.Errorf("%d HELLOs reached the listener and were neither answered nor counted as drops", rep.Uncounted)
	}
	if rep.Delta.Refused["bad_mac"] == 0 || rep.Delta.Refused["replay"] == 0 {
		t.Errorf("refusals %v: want bad_mac and replay", rep.Delta.Refused)
	}
	if rep.Mem.Growth() > rssBound {
		t.Errorf("RSS grew by %s, bound %s", mib(rep.Mem.Growth()), mib(rssBound))
	}
	if rep.USPerHelloDelivered > usPerHelloBound {
		t.Errorf("%.1f µs of listener CPU per HELLO, bound %d", rep.USPerHelloDelivered, usPerHelloBound)
	}
	if rep.Dials.N < 3 || rep.Dials.Failed > 0 {
		t.Errorf("legitimate dials during the flood: %d succeeded, %d failed", rep.Dials.N, rep.Dials.Failed)
	}
	if med := time.Duration(rep.Dials.MedMs * float64(time.Millisecond)); med > time.Second {
		t.Errorf("median legitimate dial took %v during the flood, bound 1 s (all: %v ms)", med, rep.Dials.AllMs)
	}
	l.stop()
}
