package recovery

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// The long-fat-path simulation mirrors peerbench's longfat suite
// (hardening/netem/delayline): a 400 Mbit/s bottleneck with a 1 MB
// drop-tail queue (20 ms), then half the round trip of delay each way,
// and one bulk transfer timed from its first byte, slow start included.
// It shows what the congestion controller alone costs on such a path,
// without the windows, the CPU or a loaded machine in the way.

// longFatParams returns the delay line's model for round trip rtt and a
// transfer of size bytes: one sender, 8800-byte packets, ACKs every
// second packet, pacing on, no random loss or jitter (the line has none).
func longFatParams(rtt time.Duration, size int) simParams {
	return simParams{
		seed:       1,
		algo:       Cubic,
		frames:     size / simFrameLen,
		delay:      rtt / 2,
		rate:       50e6, // 400 Mbit/s
		queue:      1_000_000,
		pacing:     true,
		ackEveryN:  2,
		maxHistory: 1 << 16,
		// 8800-byte packets: the delay line runs on loopback, where path
		// MTU discovery reaches sttfast's 8972-byte payload ceiling.
		framesPerPacket: 25,
		quiet:           true,
	}
}

func longFatSummary(r simResult, p simParams) string {
	st := r.stats
	return fmt.Sprintf("%.0f Mbit/s in %v, sent %d lost %d, %d cc events, window %d KiB",
		r.goodput(p)*8/1e6, r.elapsed.Round(time.Millisecond), st.PacketsSent, st.PacketsLost,
		st.CongestionEvents, st.Window>>10)
}

// TestSimLongFatPath moves 256 MiB (STT_LONGFAT_MIB changes the size)
// over the model delay line at 1, 100 and 300 ms and checks each long
// path's goodput as a share of the 1 ms goodput. The simulation is
// deterministic, so the floors guard the figures recorded in
// docs/RELIABILITY.md against a regression of the controller: each is a
// few points under what the code reaches (84.4% and 58.6%; 83.9% and
// 56.7% before fast convergence ignored a slow-start overshoot). Issue
// 15's goals (90% and 70%) are above what slow start from the initial
// window leaves room for even without any loss (see RELIABILITY.md).
func TestSimLongFatPath(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: simulates 256 MiB over three long fat paths; make test runs it without -short")
	}
	size := 256 << 20
	if v := os.Getenv("STT_LONGFAT_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib <= 0 {
			t.Fatalf("STT_LONGFAT_MIB=%q: want a positive number of MiB", v)
		}
		size = mib << 20
	}
	p1 := longFatParams(time.Millisecond, size)
	r1 := runSim(t, p1)
	t.Logf("1 ms: %s", longFatSummary(r1, p1))
	for _, c := range []struct {
		rtt   time.Duration
		floor float64
	}{{100 * time.Millisecond, 0.82}, {300 * time.Millisecond, 0.57}} {
		p := longFatParams(c.rtt, size)
		r := runSim(t, p)
		share := r.goodput(p) / r1.goodput(p1)
		t.Logf("%v: %s; %.1f%% of 1 ms", c.rtt, longFatSummary(r, p), share*100)
		if size == 256<<20 && share < c.floor {
			t.Errorf("%v: %.1f%% of the 1 ms goodput, want at least %.0f%%", c.rtt, share*100, c.floor*100)
		}
	}
}
