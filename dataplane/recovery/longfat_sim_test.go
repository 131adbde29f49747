package recovery

import (
	"fmt"
	"os"
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
// transfer of size bytes.
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

// longFatShare runs the transfer at 1 ms and at rtt and returns the
// goodput at rtt as a share of the 1 ms goodput.
func longFatShare(t *testing.T, rtt time.Duration, size int) (share float64, at1, atRTT simResult) {
	p1 := longFatParams(time.Millisecond, size)
	pr := longFatParams(rtt, size)
	at1, atRTT = runSim(t, p1), runSim(t, pr)
	return atRTT.goodput(pr) / at1.goodput(p1), at1, atRTT
}

func longFatSummary(r simResult, p simParams) string {
	st := r.stats
	return fmt.Sprintf("%.0f Mbit/s in %v, sent %d lost %d, %d cc events, window %d KiB",
		r.goodput(p)*8/1e6, r.elapsed.Round(time.Millisecond), st.PacketsSent, st.PacketsLost,
		st.CongestionEvents, st.Window>>10)
}

// TestSimLongFatPath reports the goodput of a 256 MiB transfer at 1, 100
// and 300 ms (STT_LONGFAT_MIB changes the size) over the model delay line.
func TestSimLongFatPath(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		t.Skip("long simulation")
	}
	if v := os.Getenv("STT_LONGFAT_MIB"); v != "" {
		var mib int
		fmt.Sscan(v, &mib)
		size = mib << 20
	}
	for _, rtt := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
		share, r1, rr := longFatShare(t, rtt, size)
		t.Logf("1 ms: %s", longFatSummary(r1, longFatParams(time.Millisecond, size)))
		t.Logf("%v: %s; %.0f%% of 1 ms", rtt, longFatSummary(rr, longFatParams(rtt, size)), share*100)
	}
}
