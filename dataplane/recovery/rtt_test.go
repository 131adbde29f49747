package recovery

import (
	"testing"
	"time"
)

func TestRTTBeforeFirstSample(t *testing.T) {
	var r RTT
	if r.Smoothed() != 100*time.Millisecond || r.Var() != 50*time.Millisecond || r.Min() != 0 || r.Latest() != 0 {
		t.Fatalf("initial: srtt %v var %v min %v latest %v", r.Smoothed(), r.Var(), r.Min(), r.Latest())
	}
	// PTO = 100 + 4*50 + max_ack_delay.
	if got := r.PTO(time.Millisecond); got != 301*time.Millisecond {
		t.Fatalf("initial PTO %v", got)
	}
	r.SetInitial(300 * time.Millisecond)
	if r.Smoothed() != 300*time.Millisecond || r.Var() != 150*time.Millisecond {
		t.Fatalf("SetInitial: %v %v", r.Smoothed(), r.Var())
	}
}

// RFC 9002 §5.3: the first sample sets smoothed = sample, var = sample/2,
// min = sample, and ignores the ACK delay.
func TestRTTFirstSample(t *testing.T) {
	var r RTT
	r.SetMaxAckDelay(25 * time.Millisecond)
	r.Update(100*time.Millisecond, 20*time.Millisecond)
	if r.Latest() != 100*time.Millisecond || r.Smoothed() != 100*time.Millisecond ||
		r.Var() != 50*time.Millisecond || r.Min() != 100*time.Millisecond {
		t.Fatalf("first: latest %v srtt %v var %v min %v", r.Latest(), r.Smoothed(), r.Var(), r.Min())
	}
}

// RFC 9002 §5.3 smoothing: adjusted = latest - ack_delay (when that stays
// >= min_rtt), rttvar = 3/4 rttvar + 1/4 |srtt - adjusted|,
// srtt = 7/8 srtt + 1/8 adjusted.
func TestRTTSmoothing(t *testing.T) {
	var r RTT
	r.SetMaxAckDelay(25 * time.Millisecond)
	r.Update(100*time.Millisecond, 0)
	r.Update(200*time.Millisecond, 20*time.Millisecond) // adjusted 180
	if r.Smoothed() != 110*time.Millisecond {
		t.Fatalf("srtt %v, want 110ms", r.Smoothed())
	}
	if r.Var() != 57500*time.Microsecond {
		t.Fatalf("var %v, want 57.5ms", r.Var())
	}
	if r.Min() != 100*time.Millisecond || r.Latest() != 200*time.Millisecond {
		t.Fatalf("min %v latest %v", r.Min(), r.Latest())
	}
}

func TestRTTAckDelayClamp(t *testing.T) {
	var r RTT
	r.SetMaxAckDelay(10 * time.Millisecond)
	r.Update(100*time.Millisecond, 0)
	// A peer claiming 50 ms of delay is held to its max_ack_delay of 10:
	// adjusted = 200-10 = 190, srtt = (7*100+190)/8 = 111.25.
	r.Update(200*time.Millisecond, 50*time.Millisecond)
	if want := 111250 * time.Microsecond; r.Smoothed() != want {
		t.Fatalf("srtt %v, want %v", r.Smoothed(), want)
	}
	// Ack delay is not subtracted when that would go below min_rtt:
	// 105 - 10 < 100, so adjusted = 105.
	var q RTT
	q.SetMaxAckDelay(25 * time.Millisecond)
	q.Update(100*time.Millisecond, 0)
	q.Update(105*time.Millisecond, 10*time.Millisecond)
	if want := (7*100*time.Millisecond + 105*time.Millisecond) / 8; q.Smoothed() != want {
		t.Fatalf("srtt %v, want %v (no subtraction below min)", q.Smoothed(), want)
	}
}

func TestRTTMin(t *testing.T) {
	var r RTT
	r.Update(100*time.Millisecond, 0)
	r.Update(80*time.Millisecond, 50*time.Millisecond) // min ignores ack delay
	if r.Min() != 80*time.Millisecond {
		t.Fatalf("min %v", r.Min())
	}
	r.Update(120*time.Millisecond, 0)
	if r.Min() != 80*time.Millisecond {
		t.Fatalf("min rose to %v", r.Min())
	}
	r.Update(-time.Millisecond, 0) // ignored
	if r.Latest() != 120*time.Millisecond {
		t.Fatalf("negative sample taken")
	}
}

func TestRTTPTOGranularity(t *testing.T) {
	var r RTT
	r.Update(100*time.Microsecond, 0)
	for i := 0; i < 50; i++ {
		r.Update(100*time.Microsecond, 0)
	}
	// var ~ 0: the variance term is floored at Granularity.
	if got, want := r.PTO(0), r.Smoothed()+Granularity; got != want {
		t.Fatalf("PTO %v, want %v", got, want)
	}
}

// TestRTTSamplesCount: Samples counts every accepted sample, not a negative one, and saturates
// at 255 instead of wrapping to 0 (a wrap would make a long session's minimum look untrusted).
func TestRTTSamplesCount(t *testing.T) {
	var r RTT
	if r.Samples() != 0 {
		t.Fatalf("%d samples before any", r.Samples())
	}
	r.Update(-time.Millisecond, 0)
	for i := 1; i <= 300; i++ {
		r.Update(time.Millisecond, 0)
		if want := min(i, 255); r.Samples() != want {
			t.Fatalf("after %d samples: Samples %d, want %d", i, r.Samples(), want)
		}
	}
}
