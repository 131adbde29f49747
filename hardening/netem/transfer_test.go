package netem

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// Criteria of the network tests (issue 6).
const (
	// minLossyRatio: goodput at 1% random loss over goodput without loss, same 100 Mbit/s link,
	// medians of interleaved runs.
	minLossyRatio = 0.80
	// maxQueueDropRate bounds the packets dropped at the bottleneck queue (congestion drops, not
	// the link's random drops) per packet sent, beyond an allowance of two queues' worth for the
	// overshoot at the end of slow start (HyStart++ sees the delay rise a round trip late, so a
	// short transfer on the 1 Gbit/s link loses up to about one queue there once). A sender that
	// ignored loss would keep the 10 ms queue overflowing and lose a large share of what it
	// sends (a fixed 4 MiB window into a 125 KB queue drops most of each flight); CUBIC probing
	// loses about 1% here.
	maxQueueDropRate = 0.05
	// wirePacket is the size of a full sttfast packet on the veth: 1200 bytes of UDP payload and
	// the UDP, IPv4 and Ethernet headers; queueMs is the tbf queue of netns.sh in milliseconds.
	wirePacket = 1242
	queueMs    = 10
	// listenPort is the receiver's port inside namespace b (the namespace is private to the test).
	listenPort = "9000"
)

// sendResult is sttpeer send's "result" line.
type sendResult struct {
	OK          bool    `json:"ok"`
	Error       string  `json:"error"`
	CloseCode   uint64  `json:"close_code"`
	CloseRemote bool    `json:"close_remote"`
	ClosedNs    int64   `json:"closed_unix_ns"`
	Bytes       int64   `json:"bytes"`
	SHA256      string  `json:"sha256"`
	DialMs      float64 `json:"dial_ms"`
	Seconds     float64 `json:"seconds"`
	GoodputMbps float64 `json:"goodput_mbps"`
	PacketsSent uint64  `json:"packets_sent"`
	PacketsLost uint64  `json:"packets_lost"`
	Retransmit  uint64  `json:"retransmitted_bytes"`
	LossRate    float64 `json:"loss_rate"`
	MinRTTms    float64 `json:"min_rtt_ms"`
	SRTTms      float64 `json:"srtt_ms"`
	Loaded      struct {
		N        int     `json:"n"`
		MedianMs float64 `json:"median_ms"`
		P95Ms    float64 `json:"p95_ms"`
		MaxMs    float64 `json:"max_ms"`
	} `json:"loaded_srtt"`
}

// caseResult is one transfer over the namespace link: one row of the report.
type caseResult struct {
	Link        string  `json:"link"`
	Loss        string  `json:"loss"`
	Run         int     `json:"run"`
	CC          string  `json:"cc"` // the congestion controller of both ends
	Size        int64   `json:"size_bytes"`
	Seconds     float64 `json:"seconds"`
	GoodputMbps float64 `json:"goodput_mbps"`
	PacketsSent uint64  `json:"sender_packets_sent"`
	PacketsLost uint64  `json:"sender_packets_lost"`
	SenderLoss  float64 `json:"sender_loss_rate"`   // lost/sent as the sender's loss detection saw it
	LinkDropsAB int64   `json:"link_drops_data"`    // nftables drops, sender → receiver
	LinkDropsBA int64   `json:"link_drops_ack"`     // nftables drops, receiver → sender
	QueueDrops  int64   `json:"queue_drops"`        // packets sent that never reached b's nftables: the bottleneck's drops
	QdiscDrops  int64   `json:"qdisc_drops"`        // tc -s "dropped" on a's tbf (GSO super-packets count once)
	QdiscPkts   int64   `json:"qdisc_sent_packets"` // tc -s "Sent ... pkt" on a's tbf
	RcvbufErrs  int64   `json:"rcvbuf_errors"`      // UDP receive buffer overflows at b
	PingMinMs   float64 `json:"ping_min_ms"`        // idle ICMP RTT
	PingAvgMs   float64 `json:"ping_avg_ms"`
	MinRTTms    float64 `json:"session_min_rtt_ms"`
	LoadedMedMs float64 `json:"loaded_srtt_median_ms"`
	LoadedP95Ms float64 `json:"loaded_srtt_p95_ms"`
	ByteExact   bool    `json:"byte_exact"`
	// How late the host woke a sleeping goroutine of the test while the transfer ran (stall_test.go):
	// the worst case, and the count and total of wake-ups 100 ms or more late. Large values mean
	// the machine, not the transport, set the goodput.
	StallMaxMs float64 `json:"host_stall_max_ms"`
	Stalls     int     `json:"host_stalls"`
	StallSumMs float64 `json:"host_stall_sum_ms"`
}

// transfer sends size bytes from a (sttpeer send) to b (sttfast listen --once) over tp and
// checks that the session completed cleanly and every byte arrived: the sha256 of what the
// listener wrote to stdout equals the sender's. It returns the row with the link counters.
func transfer(t *testing.T, tp *topo, seed string, size int64, dataSeed int, cc string) caseResult {
	t.Helper()
	guard := guardFor(size)
	before := tp.stats()
	probe := startStallProbe()
	l := startProc(t, "listen", stdoutHash, nil, tp.in("b", sttfastBin, "listen", "--addr", "udp://"+addrB+":"+listenPort,
		"--seed", seed, "--once", "--quiet", "--cc", cc)...)
	l.waitLine(`^listening on udp://`, guard)
	s := startProc(t, "send", stdoutEvents, nil, tp.in("a", sttpeerBin, "send", "--addr", "udp://"+addrB+":"+listenPort,
		"--bind", "udp://"+addrA+":0", "--seed", seed, "--size", strconv.FormatInt(size, 10), "--data-seed", strconv.Itoa(dataSeed),
		"--cc", cc)...)
	s.expectExit(0, guard)
	l.expectExit(0, time.Minute) // listen --once exits 0 only after a clean SESSION_CLOSE (code 0)
	var r sendResult
	decode(t, s.waitEvent("result", time.Second), &r)
	stall := probe.end()
	d := tp.stats().sub(before)
	gotBytes, gotHash := l.output()
	c := caseResult{
		CC: cc, Size: size, Seconds: r.Seconds, GoodputMbps: r.GoodputMbps,
		PacketsSent: r.PacketsSent, PacketsLost: r.PacketsLost, SenderLoss: r.LossRate,
		LinkDropsAB: d["b nft_dropped"], LinkDropsBA: d["a nft_dropped"],
		QueueDrops: max(int64(r.PacketsSent)-d["b nft_seen"], 0),
		QdiscDrops: d["a qdisc_dropped"], QdiscPkts: d["a qdisc_sent_packets"], RcvbufErrs: d["b udp_rcvbuf_errors"],
		MinRTTms: r.MinRTTms, LoadedMedMs: r.Loaded.MedianMs, LoadedP95Ms: r.Loaded.P95Ms,
		ByteExact:  r.OK && gotBytes == size && r.Bytes == size && gotHash == r.SHA256,
		StallMaxMs: ms(stall.Max), Stalls: stall.Count, StallSumMs: ms(stall.Sum),
	}
	if stall.Sum > time.Second/2 {
		t.Logf("the host stalled this test %d times for %.0f ms in all (worst %.0f ms) during the transfer: its goodput measures the machine as much as the transport",
			stall.Count, ms(stall.Sum), ms(stall.Max))
	}
	if !c.ByteExact {
		t.Errorf("not byte-exact: sent %d bytes (sha256 %s, ok=%v), listener wrote %d (sha256 %s)", r.Bytes, r.SHA256, r.OK, gotBytes, gotHash)
	}
	return c
}

// checkQueue asserts that the bottleneck queue was not kept overflowing: congestion control
// backed off (see maxQueueDropRate), for transfers long enough to have a steady state.
func checkQueue(t *testing.T, c caseResult) {
	t.Helper()
	if c.PacketsSent == 0 {
		t.Errorf("%s %s: the sender reports no packets sent", c.Link, c.Loss)
		return
	}
	// A transfer of fewer than 150 queues' worth of packets is mostly slow start (and, on a
	// loaded 2-core machine, a sender that was descheduled bursts when it runs again): its drop
	// count says nothing about the steady state. That is every link at make test's 16 MiB, whose
	// slow-start overshoot alone is 1.5-2% of its packets since path MTU discovery made them
	// 1472 bytes on this link (one CI run, sharing the cores with other
	// packages' tests, went past 5%); make test-net's 256 MiB transfers are judged.
	if q := queuePackets(c.Link); int64(c.PacketsSent) < 150*q {
		t.Logf("%s %s: %d packets sent, fewer than 150 queues of %d: queue drops (%d) not judged", c.Link, c.Loss, c.PacketsSent, q, c.QueueDrops)
		return
	}
	allowance := 2 * queuePackets(c.Link)
	if rate := float64(c.QueueDrops) / float64(c.PacketsSent); rate > maxQueueDropRate && c.QueueDrops > allowance {
		if c.CC == "bbr" {
			// BBR v1 paces at its bandwidth estimate and reads no loss, so behind a token bucket
			// whose bursts inflate its rate samples on a sub-millisecond path it can keep the
			// queue overflowing; v1's policer model, which would catch it, is not built
			// (docs/RELIABILITY.md). Reported in the table, not failed: it is what BBR does.
			t.Logf("%s %s bbr: %d of %d packets dropped at the bottleneck queue (%.1f%%)", c.Link, c.Loss, c.QueueDrops, c.PacketsSent, 100*rate)
			return
		}
		t.Errorf("%s %s: %d of %d packets dropped at the bottleneck queue (%.1f%% > %.0f%%, and more than the %d of a slow-start overshoot): congestion control does not back off",
			c.Link, c.Loss, c.QueueDrops, c.PacketsSent, 100*rate, 100*maxQueueDropRate, allowance)
	}
}

// TestNetemTransfer runs transfers between two network namespaces over a 100 Mbit/s and a
// 1 Gbit/s tbf bottleneck (10 ms queue), with loss injected by nftables in the kernel: none,
// 1%, 5% and 20% random, and bursts (netns.sh). Every transfer must be byte-exact with a clean
// session end; on the 100 Mbit/s link the median goodput at 1% loss must be at least 80% of the
// median loss-free goodput (interleaved runs, STT_NETEM_RUNS each, default 5: with 3, one CI
// run beside other packages' tests drew 50-73 against 66-89 Mbit/s, medians 76%, where quiet
// runs give 99%); the bottleneck queue must not be kept overflowing. STT_NETEM_SIZE sets the
// size per transfer (default 16MiB; make test-net: 256MiB) and STT_NETEM_RESULTS a directory
// for the report (netns-DATE.md/json).
// The loss-free, 5% and 20% cases run once per congestion controller of STT_NETEM_CC (default
// "cubic,bbr"); everything else uses CUBIC, the default. One case runs alone by its subtest
// name, e.g. -run 'TestNetemTransfer/100mbit/random:20/bbr' (with STT_NETEM_CC=bbr, the default
// includes it); each row also says how often the host stalled the test process during the
// transfer (stall_test.go), since a starved machine, not the transport, can set the goodput.
// Reorder, duplication and jitter are covered in process by ctrl's TestEndToEnd (lossyLinks) and
// TestJitterTransfer (jitter_test.go, through a userspace delay line).
func TestNetemTransfer(t *testing.T) {
	requireNetns(t)
	size := envSize(t, "STT_NETEM_SIZE", 16<<20)
	runs := envInt(t, "STT_NETEM_RUNS", 5)
	ccs := envControllers(t, "STT_NETEM_CC", "cubic,bbr")
	rep := &report{size: size}
	t.Cleanup(func() { rep.finish(t) })
	for _, rate := range []string{"100mbit", "1gbit"} {
		t.Run(rate, func(t *testing.T) {
			tp := newTopo(t, rate)
			seed := writeSeed(t)
			pingMin, pingAvg := tp.pingRTT()
			run := func(t *testing.T, loss string, i int, cc string) caseResult {
				tp.setLoss(loss)
				c := transfer(t, tp, seed, size, rep.len()+1, cc) // distinct content per transfer
				c.Link, c.Loss, c.Run, c.PingMinMs, c.PingAvgMs = rate, loss, i, pingMin, pingAvg
				rep.add(c)
				checkQueue(t, c)
				return c
			}
			// Loss-free and 1% back to back on the same link, interleaved so that whatever else
			// the machine does weighs on both alike; the medians are compared.
			var clean, lossy []float64
			for i := range runs {
				t.Run(fmt.Sprintf("none/%d", i), func(t *testing.T) { clean = append(clean, run(t, "none", i, "cubic").GoodputMbps) })
				t.Run(fmt.Sprintf("random1/%d", i), func(t *testing.T) { lossy = append(lossy, run(t, "random:1", i, "cubic").GoodputMbps) })
			}
			if rate == "100mbit" && len(clean) == runs && len(lossy) == runs {
				ratio := median(lossy) / median(clean)
				rep.ratio = ratio
				t.Logf("goodput at 1%% loss: median %.1f Mbit/s = %.0f%% of loss-free %.1f Mbit/s (runs %v vs %v)",
					median(lossy), 100*ratio, median(clean), lossy, clean)
				if ratio < minLossyRatio {
					t.Errorf("goodput at 1%% loss is %.0f%% of the loss-free goodput, want at least %.0f%%", 100*ratio, 100*minLossyRatio)
				}
			}
			// Heavy random loss is where the controllers differ most (BBR does not read loss as
			// congestion), so those cases run once per controller of STT_NETEM_CC, each beside
			// that controller's own loss-free run, the reference for its ratios.
			for _, loss := range []string{"none", "random:5", "random:20"} {
				for _, cc := range ccs {
					t.Run(loss+"/"+cc, func(t *testing.T) { run(t, loss, 0, cc) })
				}
			}
			t.Run("burst", func(t *testing.T) { run(t, "burst", 0, "cubic") })
		})
	}
}

// envControllers reads a comma-separated list of congestion controllers (cubic, newreno, bbr)
// from the environment, or def.
func envControllers(t *testing.T, name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		a, err := recovery.ParseAlgorithm(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
		out = append(out, a.String())
	}
	return out
}

// queuePackets is how many full packets the tbf queue of a link ("100mbit", "1gbit") holds.
func queuePackets(link string) int64 {
	bits := map[string]int64{"100mbit": 100e6, "1gbit": 1e9}[link]
	return bits / 8 * queueMs / 1000 / wirePacket
}

// ms converts d to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median of v (the mean of the middle two for an even count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// TestNetemDialBinary pipes a 16 MiB file with the sttfast command at both ends (dial in
// namespace a, listen --once in b) over the 100 Mbit/s link at 5% random loss: both exit 0 and
// the listener's stdout has the file's sha256. (TestNetemTransfer's sender is sttpeer, for its
// statistics; this is the same path with the shipped dial.)
func TestNetemDialBinary(t *testing.T) {
	tp := newTopo(t, "100mbit")
	tp.setLoss("random:5")
	seed := writeSeed(t)
	const size = 16 << 20
	path, sum := randomFile(t, size)
	tp.pipeFile(t, seed, path, sum, size)
	st := tp.stats()
	t.Logf("16 MiB through sttfast dial/listen at 5%% loss: byte-exact; nftables dropped %d data and %d ACK-direction packets",
		st["b nft_dropped"], st["a nft_dropped"])
}

// pipeFile sends the file at path (size bytes, sha256 sum) from namespace a with sttfast dial to
// sttfast listen --once in namespace b, requires both to exit 0 and the listener to write exactly
// the file, and returns the dialer for what it printed.
func (tp *topo) pipeFile(t *testing.T, seed, path, sum string, size int) *proc {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	guard := guardFor(int64(size))
	l := startProc(t, "listen", stdoutHash, nil, tp.in("b", sttfastBin, "listen", "--addr", "udp://"+addrB+":"+listenPort,
		"--seed", seed, "--once", "--quiet")...)
	l.waitLine(`^listening on udp://`, guard)
	d := startProc(t, "dial", stdoutEvents, in, tp.in("a", sttfastBin, "dial", "--addr", "udp://"+addrB+":"+listenPort,
		"--seed", seed, "--quiet")...)
	d.expectExit(0, guard)
	l.expectExit(0, time.Minute)
	if n, got := l.output(); n != int64(size) || got != sum {
		t.Fatalf("listener wrote %d bytes (sha256 %s), want %d (sha256 %s)", n, got, size, sum)
	}
	return d
}

// randomFile writes n pseudo-random bytes into the test's directory and returns the path and
// the sha256.
func randomFile(t *testing.T, n int) (string, string) {
	t.Helper()
	b := make([]byte, n)
	var key [32]byte
	key[0] = 6
	rand.NewChaCha8(key).Read(b)
	path := filepath.Join(t.TempDir(), "in.bin")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return path, hex.EncodeToString(h[:])
}
