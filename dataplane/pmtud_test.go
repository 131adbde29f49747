package dataplane

import (
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// fakePath runs a pmtuSearch against a path that carries payloads up to mtu: every probe is
// acknowledged or lost at once, by that rule alone. It returns the probes sent.
func fakePath(t *testing.T, p *pmtuSearch, now recovery.Time, mtu int) (probes int) {
	t.Helper()
	pn := uint64(0)
	for i := 0; i < 200; i++ {
		size := p.due(now)
		if size == 0 {
			return probes
		}
		if size < int(p.base) || size > int(p.ceiling) {
			t.Fatalf("probe of %d bytes outside [%d, %d]", size, p.base, p.ceiling)
		}
		pn++
		probes++
		p.probeSent(pn, now, time.Second)
		if size <= mtu {
			p.probeAcked(pn, now)
		} else {
			p.probeLost(pn, now)
		}
		now += recovery.Time(time.Millisecond)
	}
	t.Fatalf("the search did not end after 200 probes (at %d)", p.cur)
	return probes
}

// The search converges to what the path carries, within pmtuGranularity below it, and never
// above it; a path that carries the ceiling costs a single probe.
func TestPMTUSearchConverges(t *testing.T) {
	for _, mtu := range []int{1200, 1250, 1472, 1500, 4000, 8000, 8952, 8971, 8972, 65000} {
		var p pmtuSearch
		p.start(1200, 8972)
		probes := fakePath(t, &p, recovery.Time(time.Hour), mtu)
		want := int32(min(mtu, 8972))
		if p.cur > want || p.cur < want-pmtuGranularity {
			t.Errorf("path carrying %d: PLPMTU %d, want within %d below %d", mtu, p.cur, pmtuGranularity, want)
		}
		if p.phase != pmtuComplete {
			t.Errorf("path carrying %d: phase %d, want complete", mtu, p.phase)
		}
		if mtu >= 8972 && probes != 1 {
			t.Errorf("path carrying the ceiling: %d probes, want 1", probes)
		}
		// Each failing size takes pmtuMaxProbes losses; the bisection takes about
		// log2((8972-1200)/20) ≈ 9 steps.
		if probes > 10*pmtuMaxProbes+1 {
			t.Errorf("path carrying %d: %d probes", mtu, probes)
		}
		t.Logf("path carrying %d: PLPMTU %d after %d probes (%d acknowledged, %d lost)", mtu, p.cur, probes, p.acked, p.lost)
	}
}

// One lost probe is not proof: the same size is tried again, up to pmtuMaxProbes times.
func TestPMTUSearchRetriesLostProbe(t *testing.T) {
	var p pmtuSearch
	p.start(1200, 8972)
	now := recovery.Time(time.Hour)
	size := p.due(now)
	p.probeSent(1, now, time.Second)
	p.probeLost(1, now)
	if again := p.due(now); again != size {
		t.Fatalf("after one loss the next probe is %d bytes, want %d again", again, size)
	}
	p.probeSent(2, now, time.Second)
	p.probeAcked(2, now)
	if int(p.cur) != size || p.phase != pmtuComplete {
		t.Fatalf("PLPMTU %d phase %d after the retry was acknowledged, want %d complete", p.cur, p.phase, size)
	}
}

// A probe nobody answers is lost by its timer; a late ACK of it changes nothing, nor does the
// ACK of a packet that was not the probe.
func TestPMTUProbeTimer(t *testing.T) {
	var p pmtuSearch
	p.start(1200, 8972)
	now := recovery.Time(time.Hour)
	p.due(now)
	p.probeSent(7, now, 30*time.Millisecond)
	if d := p.nextDeadline(); d != now+recovery.Time(30*time.Millisecond) {
		t.Fatalf("deadline %v, want the probe timer", d)
	}
	p.expire(now + recovery.Time(29*time.Millisecond))
	if !p.inFlight {
		t.Fatal("the probe expired before its timer")
	}
	if p.probeAcked(8, now) != 0 {
		t.Fatal("the ACK of another packet raised the size")
	}
	p.expire(now + recovery.Time(30*time.Millisecond))
	if p.inFlight || p.lost != 1 {
		t.Fatalf("the timer did not declare the probe lost (inFlight %v, lost %d)", p.inFlight, p.lost)
	}
	if p.probeAcked(7, now) != 0 || p.cur != 1200 {
		t.Fatal("a late ACK of the expired probe raised the size")
	}
}

// After a completed search, PMTU_RAISE_TIMER later, the session searches again and finds a
// path that grew.
func TestPMTURaiseTimer(t *testing.T) {
	var p pmtuSearch
	p.start(1200, 8972)
	now := recovery.Time(time.Hour)
	fakePath(t, &p, now, 1500)
	if p.cur > 1472+28 || p.cur < 1480 {
		t.Fatalf("PLPMTU %d on a 1500-byte path", p.cur)
	}
	if p.due(now+recovery.Time(pmtuRaiseTimer)-1) != 0 {
		t.Fatal("probed before the raise timer")
	}
	if d := p.nextDeadline(); d == 0 || d > now+recovery.Time(pmtuRaiseTimer)+recovery.Time(time.Second) {
		t.Fatalf("raise deadline %v", d)
	}
	fakePath(t, &p, now+recovery.Time(pmtuRaiseTimer+time.Second), 9000)
	if p.cur != 8972 {
		t.Fatalf("PLPMTU %d after the path grew to carry 9000, want 8972", p.cur)
	}
}

// Black hole: packets of the discovered size stop arriving. A burst of losses declared at one
// instant is congestion, not a black hole; losses spread over a PTO with none of that size
// acknowledged are. The session falls back to the base size, then searches again and finds
// what the path carries now.
func TestPMTUBlackHole(t *testing.T) {
	var p pmtuSearch
	p.start(1200, 8972)
	now := recovery.Time(time.Hour)
	fakePath(t, &p, now, 9000)
	if !p.raised() {
		t.Fatal("not raised")
	}
	pto := 10 * time.Millisecond
	for range 50 {
		if p.bigLost(now, pto) {
			t.Fatal("a burst of losses at one instant was taken for a black hole")
		}
	}
	p.bigAcked()
	now += recovery.Time(time.Second)
	if p.bigLost(now, pto) || p.bigLost(now+recovery.Time(pto), pto) || p.bigLost(now+recovery.Time(2*pto), pto) {
		t.Fatal("black hole after losses over less than blackHoleSilence")
	}
	p.bigAcked() // the path still carries the size: start again
	if p.bigLost(now+recovery.Time(3*pto), pto) || p.bigLost(now+recovery.Time(blackHoleSilence), pto) {
		t.Fatal("black hole after two losses")
	}
	if !p.bigLost(now+recovery.Time(3*pto+blackHoleSilence), pto) {
		t.Fatal("three losses over blackHoleSilence with nothing acknowledged: no black hole")
	}
	if p.cur != 1200 || p.blackHoles != 1 || p.raised() {
		t.Fatalf("after the black hole PLPMTU %d (want the base, 1200), %d black holes", p.cur, p.blackHoles)
	}
	now += recovery.Time(3*pto + blackHoleSilence)
	if p.due(now) != 0 {
		t.Fatal("probing again at once: the hold must let the flow recover first")
	}
	fakePath(t, &p, now+recovery.Time(blackHoleHold), 4000)
	if p.cur > 4000 || p.cur < 4000-pmtuGranularity {
		t.Fatalf("re-search after the black hole found %d, want about 4000", p.cur)
	}
}

// A route that refuses packets (the kernel's EMSGSIZE) ends the search below its limit; a
// ceiling not above the base never probes.
func TestPMTUNarrowAndOff(t *testing.T) {
	var p pmtuSearch
	p.start(1200, 8972)
	p.narrow(1072)
	now := recovery.Time(time.Hour)
	if p.due(now) != 0 || p.cur != 1072 || p.base != 1072 || p.nextDeadline() != 0 {
		t.Fatalf("after narrow(1072): due %d, cur %d, base %d", p.due(now), p.cur, p.base)
	}
	p.start(1200, 1200)
	if p.due(now) != 0 || p.phase != pmtuOff {
		t.Fatal("probing with the ceiling at the base")
	}
}
