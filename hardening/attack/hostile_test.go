package attack

import (
	"testing"
	"time"
)

// rssBound is the most the listener's RSS may grow during any attack (issue 6). Under the race
// detector, whose shadow memory multiplies the heap's footprint, it is raceMemFactor times more.
const (
	rssBound      = 64 << 20
	raceMemFactor = 4
)

// TestHostileInput runs sttattack hostile against sttfast serve: every class of hostile
// datagram at full rate (20000 of them; 60 s in the long run) while an echo transfer (at least 8 MiB,
// 256 MiB long, and until the attack ends) runs through the attacker's forwarder. The listener survives and exits cleanly,
// its RSS grows by less than 64 MiB, every datagram its socket received was counted as a drop
// (drops counted ≥ sent − the kernel's drops at that socket), every targeted reason is non-zero,
// nothing answers the attack, and the transfer comes back byte for byte.
func TestHostileInput(t *testing.T) {
	l := startListener(t, &binSttfast)
	var rep HostileReport
	flags := pick([]string{"--count", "20000", "--legit-mib", "8"}, []string{"--duration", "60s", "--legit-mib", "256", "--senders", "2"})
	l.attack("hostile", &rep, flags...)

	sent, drops := rep.Blast.Sent, int64(rep.Delta.DropsTotal())
	t.Logf("sent %d datagrams in %.2f s (%.0f/s); listener counted %d drops; kernel dropped %d at its socket; coverage %.1f%%",
		sent, rep.Blast.Elapsed.Seconds(), rep.Blast.Rate, drops, rep.KernelDrops, 100*rep.Coverage)
	t.Logf("drops by reason %v; handshake refusals %v", rep.Delta.Drops, rep.Delta.Refused)
	t.Logf("RSS before %s, peak %s (+%s), after %s; listener CPU %.2f s; legit %d bytes in %.2f s, ok %v, running at attack end %v",
		mib(rep.Mem.BeforeRSS), mib(rep.Mem.PeakRSS), mib(rep.Mem.Growth()), mib(rep.Mem.AfterRSS), rep.CPUSeconds,
		rep.Legit.Bytes, rep.Legit.Seconds, rep.Legit.OK, rep.LegitActive)

	if !rep.Alive || !l.running() || !l.metricsAnswer() {
		t.Fatal("the listener did not survive the attack")
	}
	if !long() && sent != 20000 {
		t.Errorf("sent %d datagrams, want 20000", sent)
	}
	if !rep.KernelDropsKnown {
		t.Fatal("the kernel's drop counter of the listener's socket was not found")
	}
	if drops < rep.Delivered {
		t.Errorf("the listener counted %d drops, but its socket received at least %d attack datagrams (%d sent − %d kernel drops): %d uncounted",
			drops, rep.Delivered, sent, rep.KernelDrops, rep.Delivered-drops)
	}
	for _, r := range []string{"truncated", "bad_magic", "bad_version", "bad_kind", "bad_header", "oversize",
		"unknown_session", "auth", "replay", "handshake"} {
		if rep.Delta.Drops[r] == 0 {
			t.Errorf("no drop counted for reason %q", r)
		}
	}
	for _, r := range []string{"short", "bad_mac", "malformed", "unknown_dial"} {
		if rep.Delta.Refused[r] == 0 {
			t.Errorf("no handshake refusal counted for reason %q", r)
		}
	}
	bound := uint64(rssBound)
	if raceEnabled {
		bound *= raceMemFactor
	}
	if rep.Mem.Growth() > bound {
		t.Errorf("RSS grew by %s, bound %s", mib(rep.Mem.Growth()), mib(bound))
	}
	// An answer to hostile input means something was accepted. With kernel drops a captured
	// packet the listener never received can be replayed and accepted (legitimately, once), and
	// then probed (see TestPathProbeToUnvalidatedAddressIsBounded): only then are replies allowed.
	if rep.Replies > 0 && rep.KernelDrops == 0 {
		t.Errorf("the listener answered the attack %d times: %v", rep.Replies, rep.ReplyKinds)
	}
	// A replayed captured HELLO older than the clock window gets our time (a CLOCK, PROTOCOL.md
	// §3): once per captured packet per two windows (60 s) at most.
	if periods := 1 + int64(rep.Blast.Elapsed/time.Minute); rep.ClockReplies > int64(rep.Captures)*periods {
		t.Errorf("%d CLOCKs for %d captured packets in %v", rep.ClockReplies, rep.Captures, rep.Blast.Elapsed)
	}
	if !rep.Legit.OK || !rep.LegitActive {
		t.Errorf("legitimate transfer (running at the end of the attack: %v): %+v", rep.LegitActive, rep.Legit)
	}
	l.stop()
}
