package delayline

import (
	"math"
	"testing"
	"time"
)

// TestLossRate: over many datagrams the seeded loss is near the configured rate, and the same
// seed makes the same decisions.
func TestLossRate(t *testing.T) {
	const n, loss = 200000, 0.05
	a, b := newShaper(Config{Loss: loss, Seed: 7}), newShaper(Config{Loss: loss, Seed: 7})
	dropped := 0
	for i := range n {
		_, wa := a.decide(int64(i), 1200)
		_, wb := b.decide(int64(i), 1200)
		if wa != wb {
			t.Fatalf("datagram %d: same seed, different decisions", i)
		}
		if wa == dropLoss {
			dropped++
		}
	}
	got := float64(dropped) / n
	// σ of the rate is sqrt(p(1-p)/n) ≈ 0.0005; 5σ is a bound a correct generator never misses.
	if math.Abs(got-loss) > 0.0025 {
		t.Fatalf("loss %.4f, want %.4f ± 0.0025", got, loss)
	}
}

// TestJitterBounds: uniform jitter stays within ±J around the delay and spreads across it; a
// normal one with a large σ never makes the delay negative.
func TestJitterBounds(t *testing.T) {
	const d, j = 5 * time.Millisecond, time.Millisecond
	s := newShaper(Config{Delay: d, Jitter: j, Seed: 1})
	lo, hi := int64(math.MaxInt64), int64(0)
	for range 100000 {
		due, _ := s.decide(0, 1200)
		lo, hi = min(lo, due), max(hi, due)
	}
	if lo < int64(d-j) || hi > int64(d+j) {
		t.Fatalf("uniform due times in [%v, %v], want within [%v, %v]", time.Duration(lo), time.Duration(hi), d-j, d+j)
	}
	if lo > int64(d-j*9/10) || hi < int64(d+j*9/10) {
		t.Fatalf("uniform due times in [%v, %v] do not spread over ±%v", time.Duration(lo), time.Duration(hi), j)
	}
	n := newShaper(Config{Delay: time.Millisecond, Jitter: 5 * time.Millisecond, Dist: Normal, Seed: 1})
	zero := 0
	for range 100000 {
		due, _ := n.decide(0, 1200)
		if due < 0 {
			t.Fatalf("negative delay %v", time.Duration(due))
		}
		if due == 0 {
			zero++
		}
	}
	if zero == 0 {
		t.Fatal("σ = 5 × delay never clamped a delay at zero")
	}
}

// TestRateQueue: the bottleneck serialises datagrams at the rate and drops the tail beyond its
// queue.
func TestRateQueue(t *testing.T) {
	s := newShaper(Config{Rate: 1e6, QueueBytes: 10000}.withDefaults())
	var kept []int64
	for range 100 {
		if due, why := s.decide(0, 1000); why == keep {
			kept = append(kept, due)
		} else if why != dropQueue {
			t.Fatalf("dropped for %d, want the queue", why)
		}
	}
	if len(kept) != 10 {
		t.Fatalf("kept %d datagrams of 1000 B in a 10000 B queue, want 10", len(kept))
	}
	for i, due := range kept {
		if want := int64(i+1) * int64(time.Millisecond); due != want {
			t.Fatalf("datagram %d due at %v, want %v (1000 B at 1 MB/s each)", i, time.Duration(due), time.Duration(want))
		}
	}
}

// TestOvertakes counts a datagram as reordered when it leaves while an earlier one still waits.
func TestOvertakes(t *testing.T) {
	var o overtakes
	var got []bool
	for _, s := range []uint64{0, 2, 3, 1, 4, 200, 5} {
		got = append(got, o.release(s))
	}
	want := []bool{false, true, true, false, false, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("release %d: got %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
}

func TestDueHeapOrder(t *testing.T) {
	var h dueHeap
	for i, d := range []int64{5, 1, 5, 3, 1, 9} {
		h.push(&packet{due: d, seq: uint64(i)})
	}
	var prev *packet
	for len(h) > 0 {
		p := h.pop()
		if prev != nil && (p.due < prev.due || p.due == prev.due && p.seq < prev.seq) {
			t.Fatalf("popped (%d,%d) after (%d,%d)", p.due, p.seq, prev.due, prev.seq)
		}
		prev = p
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Delay: -1}, {Jitter: -1}, {Loss: 1}, {Loss: -0.1}, {Rate: -1}, {Dist: 9}} {
		if c.validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := ParseDist("gauss"); err == nil {
		t.Error("ParseDist accepted gauss")
	}
}
