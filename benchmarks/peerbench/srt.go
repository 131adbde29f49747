package peerbench

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// srtContender is SRT in live mode (its default) through the reference tool srt-live-transmit:
// the sender pipes packets into one srt-live-transmit (file://con -> srt caller) and the receiver
// reads them from another (srt listener -> file://con). Encryption is SRT's AES-256 with a
// passphrase (pbkeylen=32). Every other option is the library's default: latency 120 ms, live
// transmission type, too-late packet drop on, and maxbw -1, which live mode caps at 1 Gbit/s of
// paced sending (--srt-maxbw overrides it, and the report says so), except the latency and the
// buffer sizes the sweep chose (srtTuned, see results/sweep-2026-12-03.md). Live mode carries one packet
// per chunk of at most 1456 bytes, so the chunk is the message size, 1316 bytes for bulk (SRT's
// default live payload, 7 MPEG-TS cells); each chunk is numbered and content-checked. Live mode
// drops what arrives too late rather than stall, so losses are counted and shown, not errors.
// The sender paces its input like an encoder would, at a rate it adapts from the receiver's
// losses (see srtRate). Not measured: ping-pong (live mode delivers each packet exactly `latency` after it was sent,
// by design) and fan-out (one process pair per receiver).
type srtContender struct {
	knobs *srtKnobs // nil: srtTuned
}

// srtKnobs is one setting of SRT's latency and buffers.
type srtKnobs struct {
	LatencyMS int    // SRTO_LATENCY, both directions
	Buffers   string // "default", or "large": srtLargeBuffers
}

// srtLargeBuffers are the URI options of the "large" buffer setting: a flow-control window of
// 65536 packets (the default is 25600) and 64 MiB send and receive buffers (the defaults are
// about 12 MB). The UDP socket buffers are left alone: the kernel caps them at rmem_max/wmem_max
// anyway (4 MiB here), which SRT's default already asks for.
const srtLargeBuffers = "fc=65536&rcvbuf=67108864&sndbuf=67108864"

// srtTuned is the setting the race runs, the winner of results/sweep-2026-12-03.md: the large
// buffers carried more at both latencies (the live sender's rate probing overflows the default
// ones: over a third of the datagrams lost at 120 ms), and 120 ms with them had the best median
// with no loss. Until 2026-12-03 the race ran the library's defaults (120 ms, default buffers).
var srtTuned = srtKnobs{LatencyMS: 120, Buffers: "large"}

func (k srtKnobs) String() string {
	return fmt.Sprintf("latency=%d/buffers=%s", k.LatencyMS, k.Buffers)
}

func (k srtKnobs) describe() string {
	b := "default buffers"
	if k.Buffers == "large" {
		b = "large buffers (" + strings.ReplaceAll(srtLargeBuffers, "&", ", ") + ")"
	}
	return fmt.Sprintf("latency %d ms, %s", k.LatencyMS, b)
}

func parseSRTKnobs(spec string, base srtKnobs) (srtKnobs, error) {
	kv, err := parseKnobs(spec, []string{"latency", "buffers"})
	if err != nil {
		return base, err
	}
	k := base
	if v, ok := kv["latency"]; ok {
		if k.LatencyMS, err = knobInt("latency", v, 0, 10000); err != nil {
			return base, err
		}
	}
	if v, ok := kv["buffers"]; ok {
		if k.Buffers, err = knobChoice("buffers", v, []string{"default", "large"}); err != nil {
			return base, err
		}
	}
	return k, nil
}

func (s *srtContender) current() srtKnobs {
	if s.knobs != nil {
		return *s.knobs
	}
	return srtTuned
}

func (s *srtContender) withKnobs(spec string) (Contender, error) {
	kn, err := parseSRTKnobs(spec, srtTuned)
	if err != nil {
		return nil, err
	}
	return &srtContender{knobs: &kn}, nil
}

// sweepGrid is latency {20, 120 ms} x buffers {default, large}.
func (s *srtContender) sweepGrid() []string {
	var grid []string
	for _, l := range []int{20, 120} {
		for _, b := range []string{"default", "large"} {
			grid = append(grid, srtKnobs{LatencyMS: l, Buffers: b}.String())
		}
	}
	return grid
}

// sweepWorkloads is bulk only: SRT's small-message rate is its per-packet live pacing.
func (s *srtContender) sweepWorkloads() []string { return []string{"bulk"} }

func (s *srtContender) tunedSettings() string {
	return "tuned by results/sweep-2026-12-03.md: " + srtTuned.describe()
}

const (
	srtBinary    = "srt-live-transmit"
	srtBulkChunk = 1316
	srtMaxChunk  = 1456
)

func (s *srtContender) Name() string {
	if s.knobs == nil {
		return "srt"
	}
	return "srt" + knobSep + s.knobs.String()
}

func (s *srtContender) Class() Class { return classPeer }

func (s *srtContender) Describe() string {
	settings := s.tunedSettings()
	if s.knobs != nil {
		settings = s.knobs.describe()
	}
	return "srt-live-transmit (Debian srt-tools) in live mode, " + settings + ": sender `srt-live-transmit -a:no -chunk:C file://con 'srt://127.0.0.1:PORT?mode=caller&passphrase=<64 hex>&pbkeylen=32&latency=L[&buffers]'`, receiver `srt-live-transmit -a:no -chunk:1456 'srt://127.0.0.1:PORT?mode=listener&passphrase=<64 hex>&pbkeylen=32&latency=L[&buffers]' file://con` (AES-256); library defaults otherwise (maxbw -1 = 1 Gbit/s paced in live mode, TLPKTDROP on); chunk C = message size (1316 for bulk), one SRT packet each; the harness sender paces its input like an encoder, adapting the rate every 100 ms from the receiver's counts (x1.5 until the first loss, then +5% per loss-free interval, and on loss 90% of the rate the receiver got), so goodput is the highest live bitrate SRT carries and probing losses are shown; CPU of both srt-live-transmit processes is counted"
}

func (s *srtContender) Supports(w Workload) bool { return w.Kind == kindStream && w.Name != "bulk10s" }

func (s *srtContender) Available() error {
	if _, err := exec.LookPath(srtBinary); err != nil {
		return fmt.Errorf("%s not found (Debian/Ubuntu: apt-get install srt-tools)", srtBinary)
	}
	return nil
}

func (s *srtContender) Custom(Workload) bool { return true }

func srtChunk(e *Env) int {
	c := e.Size()
	if e.W.Name == "bulk" && e.O.Size == 0 {
		c = srtBulkChunk
	}
	return min(c, srtMaxChunk)
}

// srtParams are the URI options both ends share.
func (s *srtContender) srtParams(e *Env, mode string) string {
	k := s.current()
	p := []string{"mode=" + mode, "passphrase=" + hex.EncodeToString(e.O.Secret), "pbkeylen=32", "latency=" + strconv.Itoa(k.LatencyMS)}
	if k.Buffers == "large" {
		p = append(p, srtLargeBuffers)
	}
	if e.O.SRTMaxBW != 0 {
		p = append(p, "maxbw="+strconv.FormatInt(e.O.SRTMaxBW, 10))
	}
	return strings.Join(p, "&")
}

var srtPortRe = regexp.MustCompile(`(127\.0\.0\.1:)[0-9]+`)

// srtCommand starts srt-live-transmit as a helper that dies with this process.
func srtCommand(e *Env, args ...string) *exec.Cmd {
	full := append([]string{"-a:no", "-t:" + strconv.Itoa(int(e.O.Watchdog/time.Second)+1)}, args...)
	cmd := exec.Command(srtBinary, full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	line := strings.ReplaceAll(strings.Join(full, " "), hex.EncodeToString(e.O.Secret), "<secret>")
	e.Info("srt_command", srtBinary+" "+srtPortRe.ReplaceAllString(line, "${1}PORT"))
	return cmd
}

// freeUDPPort picks a port for the SRT listener: srt-live-transmit does not report a port it
// chose, so the receiver asks the kernel for one and hands it over.
func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func (s *srtContender) RunRecv(ctx context.Context, e *Env) error {
	chunk := srtChunk(e)
	port, err := freeUDPPort()
	if err != nil {
		return fmt.Errorf("reserve a port: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// The receiving end reads with the largest live payload: its buffer must hold any packet.
	cmd := srtCommand(e, "-chunk:"+strconv.Itoa(srtMaxChunk), "srt://"+addr+"?"+s.srtParams(e, "listener"), "file://con")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", srtBinary, err)
	}
	e.AddHelper(cmd.Process.Pid)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	e.Info("chunk", strconv.Itoa(chunk))
	e.Info("knobs", s.current().String())
	// The caller retries its handshake until the listener is up: no need to wait for the bind.
	e.Ready([]string{addr})
	go func() { <-e.Stop(); cmd.Process.Kill() }()
	go srtFeedback(e)
	r := bufio.NewReaderSize(out, 1<<20)
	buf := make([]byte, chunk)
	v := DatagramVerifier{p: e.P, size: chunk}
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if e.Stopped() || e.WindowDone() {
				break
			}
			return fmt.Errorf("%s output ended after %d verified bytes: %w", srtBinary, e.M.bytes.Load(), err)
		}
		if err := v.Check(buf); err != nil {
			return err
		}
		e.M.SetLoss(v.Lost, v.Late)
		e.M.Add(chunk, 1)
	}
	e.WaitStop()
	return nil
}

// Live mode is rate-driven: srt-live-transmit reads its input as fast as it comes and drops what
// SRT cannot send in time, so a sender writing flat out measures the drops, not SRT. The harness
// therefore plays the encoder: it paces its input (a token bucket in packets per second, since a
// live stream's cost is per packet) and adapts the rate from the receiver's counts, which the
// receiver reports every srtFeedbackEvery as "MARK fb=LOST,RECEIVED" (cumulative; relayed by the
// orchestrator). Without loss the rate grows x1.5 per interval until the first loss, then +5%
// per interval; on a loss it drops to 90% of the rate the receiver actually got over the last
// interval, at most once per srtHoldoff since SRT's 120 ms latency delays the news. Goodput is
// then about the highest live bitrate SRT carries here, and the probing losses are reported.
const (
	srtFeedbackEvery = 100 * time.Millisecond
	srtHoldoff       = 250 * time.Millisecond
	srtStartRate     = 30000 // packets/s (about 316 Mbit/s of 1316-byte chunks)
	srtPacingTick    = 2 * time.Millisecond
	srtMaxBurst      = 20 * time.Millisecond
)

func srtFeedback(e *Env) {
	t := time.NewTicker(srtFeedbackEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			e.Mark(fmt.Sprintf("fb=%d,%d", e.M.lost.Load(), e.M.msgs.Load()))
		case <-e.Stop():
			return
		}
	}
}

// srtRate is the sender's input rate controller.
type srtRate struct {
	rate      float64 // packets/s
	slowStart bool
	lastLost  uint64
	lastRecv  uint64
	lastAt    time.Time
	holdUntil time.Time
}

func (r *srtRate) onFeedback(lost, recv uint64, now time.Time) {
	fresh := lost > r.lastLost
	var delivered float64 // packets/s the receiver got since the previous report
	if !r.lastAt.IsZero() && now.After(r.lastAt) {
		delivered = float64(recv-r.lastRecv) / now.Sub(r.lastAt).Seconds()
	}
	r.lastLost, r.lastRecv, r.lastAt = lost, recv, now
	switch {
	case fresh && (r.slowStart || now.After(r.holdUntil)):
		if delivered > 0 {
			r.rate = 0.9 * delivered
		} else {
			r.rate *= 0.5
		}
		r.rate = max(r.rate, 100)
		r.slowStart = false
		r.holdUntil = now.Add(srtHoldoff)
	case fresh:
	case r.slowStart:
		r.rate *= 1.5
	case now.After(r.holdUntil):
		r.rate *= 1.05
	}
}

func (s *srtContender) RunSend(ctx context.Context, e *Env) error {
	chunk := srtChunk(e)
	cmd := srtCommand(e, "-chunk:"+strconv.Itoa(chunk), "file://con", "srt://"+e.O.Addrs[0]+"?"+s.srtParams(e, "caller"))
	cmd.Stdout = os.Stderr // its messages must not mix with the protocol lines
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", srtBinary, err)
	}
	e.AddHelper(cmd.Process.Pid)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	go func() { <-e.Stop(); in.Close() }()
	e.Info("chunk", strconv.Itoa(chunk))
	e.Info("knobs", s.current().String())
	e.Info("input", "paced, rate adapted from the receiver's losses (see srt.go)")
	per := max(1, (64<<10)/chunk)
	buf := make([]byte, per*chunk)
	rc := srtRate{rate: srtStartRate, slowStart: true}
	var seq uint64
	var maxRate, credit float64
	last := time.Now()
	tick := time.NewTicker(srtPacingTick)
	defer tick.Stop()
	for !e.Stopped() {
		select {
		case m := <-e.marks:
			if v, ok := strings.CutPrefix(m, "fb="); ok {
				l, r, _ := strings.Cut(v, ",")
				lost, err1 := strconv.ParseUint(l, 10, 64)
				recv, err2 := strconv.ParseUint(r, 10, 64)
				if err1 == nil && err2 == nil {
					rc.onFeedback(lost, recv, time.Now())
				}
			}
			continue
		case <-tick.C:
		case <-e.Stop():
			continue
		}
		now := time.Now()
		credit = min(credit+rc.rate*now.Sub(last).Seconds(), rc.rate*srtMaxBurst.Seconds())
		last = now
		// Write the packets due, in pipe writes of up to 64 KiB.
		for credit >= 1 && !e.Stopped() {
			n := min(per, int(credit))
			for i := 0; i < n; i++ {
				e.P.FillDatagram(buf[i*chunk:(i+1)*chunk], seq)
				seq++
			}
			if _, err := in.Write(buf[:n*chunk]); err != nil {
				if e.Stopped() || errors.Is(err, os.ErrClosed) {
					break
				}
				return fmt.Errorf("write to %s: %w", srtBinary, err)
			}
			e.M.Add(n*chunk, n)
			credit -= float64(n)
		}
		if e.InWindow() {
			maxRate = max(maxRate, rc.rate)
		}
	}
	mbit := func(pps float64) string { return strconv.FormatFloat(pps*float64(chunk)*8/1e6, 'f', 0, 64) }
	e.Info("final_input_rate_mbit", mbit(rc.rate))
	e.Info("max_input_rate_in_window_mbit", mbit(maxRate))
	return nil
}
