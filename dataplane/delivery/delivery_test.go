package delivery

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestEntropyBounds(t *testing.T) {
	if h := Entropy(nil); h != 0 {
		t.Fatalf("Entropy(nil) = %v", h)
	}
	if h := Entropy(make([]byte, 1000)); h != 0 {
		t.Fatalf("all zeros: %v", h)
	}
	all := make([]byte, 256*4)
	for i := range all {
		all[i] = byte(i)
	}
	if h := Entropy(all); math.Abs(h-1) > 1e-12 {
		t.Fatalf("every byte equally often: %v, want 1", h)
	}
	// Two symbols equally often: 1 bit of 8.
	two := []byte("abababab")
	if h := Entropy(two); math.Abs(h-0.125) > 1e-12 {
		t.Fatalf("two symbols: %v, want 0.125", h)
	}
}

func TestClassOfReferenceMapping(t *testing.T) {
	cases := []struct {
		h      float64
		target float64
	}{
		{0, 0.70}, {0.3, 0.70}, {0.31, 0.80}, {0.6, 0.80}, {0.61, 0.90},
		{0.75, 0.90}, {0.76, 0.95}, {0.9, 0.95}, {0.91, 0.99}, {1, 0.99},
	}
	for _, c := range cases {
		if got := ClassOf(c.h).Target(); got != c.target {
			t.Errorf("H=%v: target %v, want %v", c.h, got, c.target)
		}
	}
}

func TestEntropyOfTypicalPayloads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 1000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	if c := ClassOf(Entropy(random)); c != ClassHighest {
		t.Errorf("random bytes: class %v", c)
	}
	telemetry := []byte(`{"t":1712,"temp":21.5,"ok":true}{"t":1713,"temp":21.5,"ok":true}`)
	if c := ClassOf(Entropy(telemetry)); c > ClassHigh {
		t.Errorf("telemetry: class %v (H=%.3f)", c, Entropy(telemetry))
	}
}

func TestRetransmissionsFormula(t *testing.T) {
	cases := []struct {
		target, loss float64
		packets      int
		want         int
	}{
		{0.99, 0, 1, 0},
		{0.70, 0.20, 1, 0}, // 1-0.2 = 0.8 >= 0.7
		{0.80, 0.20, 1, 0}, // 0.8 >= 0.8
		{0.90, 0.20, 1, 1}, // 0.96
		{0.95, 0.20, 1, 1}, // 0.96
		{0.99, 0.20, 1, 2}, // 0.992
		{0.99, 0.05, 1, 1}, // 0.9975
		{0.70, 0.05, 1, 0},
		{0.99, 1, 1, MaxRetransmissions},
		{0.99, 0.9, 1, MaxRetransmissions},
	}
	for _, c := range cases {
		if got := Retransmissions(c.target, c.loss, c.packets); got != c.want {
			t.Errorf("target %v loss %v: k=%d, want %d", c.target, c.loss, got, c.want)
		}
	}
	// The definition, checked for many values: k meets the target and k-1 does not.
	for _, target := range classTargets {
		for loss := 0.01; loss < 0.6; loss += 0.01 {
			for packets := 1; packets <= 8; packets++ {
				k := Retransmissions(target, loss, packets)
				meets := func(k int) bool {
					return math.Pow(1-math.Pow(loss, float64(k+1)), float64(packets)) >= target
				}
				if k < MaxRetransmissions && !meets(k) {
					t.Fatalf("target %v loss %v packets %d: k=%d misses", target, loss, packets, k)
				}
				if k > 0 && meets(k-1) {
					t.Fatalf("target %v loss %v packets %d: k=%d is not the smallest", target, loss, packets, k)
				}
			}
		}
	}
}

func TestExpectedRetransmissions(t *testing.T) {
	if got := ExpectedRetransmissions(2, 0.2); math.Abs(got-0.24) > 1e-12 {
		t.Fatalf("k=2 p=0.2: %v, want 0.24", got)
	}
	if got := ExpectedRetransmissions(0, 0.5); got != 0 {
		t.Fatalf("k=0: %v", got)
	}
	if got := DeliveryProbability(2, 0.2); math.Abs(got-0.992) > 1e-12 {
		t.Fatalf("delivery k=2 p=0.2: %v", got)
	}
}

func TestExpectedRounds(t *testing.T) {
	for k := 0; k < 4; k++ {
		if a, b := ExpectedRounds(k, 0.2, 1), ExpectedRetransmissions(k, 0.2); math.Abs(a-b) > 1e-12 {
			t.Fatalf("k=%d: rounds %v, retransmissions %v", k, a, b)
		}
	}
	// Two packets, k=2, p=0.2: (1-0.8²) + (1-0.96²) = 0.36 + 0.0784.
	if got := ExpectedRounds(2, 0.2, 2); math.Abs(got-0.4384) > 1e-12 {
		t.Fatalf("two packets: %v", got)
	}
	if got := MinimumRetransmissions(0.95, 0.2, 0); math.Abs(got-0.2) > 1e-12 {
		t.Fatalf("no straddling: %v", got)
	}
}
