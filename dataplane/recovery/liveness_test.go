package recovery

import (
	"fmt"
	"testing"
	"time"
)

// TestUnresponsivePeer checks the dead-peer rule of liveness.go in the simulation (virtual time,
// seeded): a peer behind 20% random loss each way, or behind a 2.7 s blackout, is never
// declared gone while it answers (runSim fails the run if it is), and a peer that vanishes
// mid-transfer is declared gone at least UnresponsiveAfter after the last ACK and long before a
// 30 s idle timeout would have noticed.
func TestUnresponsivePeer(t *testing.T) {
	base := simParams{frames: 3000, delay: 20 * time.Millisecond, jitter: 2 * time.Millisecond,
		rate: 5e6, queue: 60000, pacing: true, ackEveryN: 2}
	for _, algo := range []Algorithm{Cubic, NewReno, BBR} {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("alive_loss20_%v_seed%d", algo, seed), func(t *testing.T) {
				p := base
				p.algo, p.seed, p.loss = algo, 100+seed, 0.2
				r := runSim(t, p)
				t.Logf("longest run of PTOs %d, %d PTOs in all", r.maxPTOs, r.stats.PTOCount)
			})
		}
		t.Run(fmt.Sprintf("alive_blackout_%v", algo), func(t *testing.T) {
			p := base
			p.algo, p.seed, p.blackout = algo, 7, [2]time.Duration{300 * time.Millisecond, 3 * time.Second}
			r := runSim(t, p)
			t.Logf("longest run of PTOs %d", r.maxPTOs)
		})
		t.Run(fmt.Sprintf("vanished_%v", algo), func(t *testing.T) {
			p := base
			p.algo, p.seed, p.frames, p.deadAt = algo, 9, 1_000_000, time.Second
			r := runSim(t, p)
			if r.unresponsive == 0 {
				t.Fatalf("a vanished peer was never declared gone (%d PTOs, %v simulated)", r.stats.PTOCount, r.elapsed)
			}
			after := r.unresponsive.Sub(t0) - p.deadAt
			t.Logf("declared gone %v after the peer vanished, after %d PTOs in a row", after, r.maxPTOs)
			// The last ACK left the peer before deadAt and arrived at most a path's delay (plus
			// queueing) after it; the floor counts from that arrival.
			if after < UnresponsiveAfter {
				t.Errorf("declared gone %v after the peer vanished, before the %v floor", after, UnresponsiveAfter)
			}
			if after > UnresponsiveAfter+2*time.Second {
				t.Errorf("declared gone only %v after the peer vanished (floor %v)", after, UnresponsiveAfter)
			}
			if r.maxPTOs < UnresponsivePTOs {
				t.Errorf("declared gone after %d PTOs, want at least %d", r.maxPTOs, UnresponsivePTOs)
			}
		})
	}
}
