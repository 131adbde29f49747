package peerbench

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary act as a peerbench child: the orchestrator re-executes it with
// a role's arguments, so the test runs the same processes, protocol and timeouts as the command.
const childEnv = "PEERBENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestHarness runs every contender on every workload it supports for a fraction of a second,
// through the orchestrator and two real processes per run, and checks that each run measured
// something real: verified bytes at the receiver, round trips, handshakes, idle sessions, no
// error. It is what keeps the harness from rotting between the lead's measurement runs.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts about 30 process pairs")
	}
	out := t.TempDir()
	var log bytes.Buffer
	rc := runConfig{Suite: "peers", Out: out, Date: "test", Exe: os.Args[0], Env: []string{childEnv + "=1"},
		budget: func(w Workload) budget {
			b := budget{Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond, Rounds: 1,
				Receivers: 5, Sessions: 100, Concurrency: 8}
			if raceEnabled {
				b.Warmup, b.Duration = 500*time.Millisecond, 1500*time.Millisecond
			}
			if w.Kind == kindIdle {
				b.Warmup, b.Duration = 0, 0
			}
			return b
		}}
	t0 := time.Now()
	rep, err := orchestrate(rc, &log)
	t.Logf("orchestrator log:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	for name, why := range rep.Skipped {
		t.Logf("skipped %s: %s", name, why)
	}
	retryPeerErrors(t, rc, rep)
	covered := map[string]bool{}
	for _, s := range rep.Samples {
		covered[s.Contender+"/"+s.Workload] = true
		t.Run(s.Contender+"/"+s.Workload, func(t *testing.T) { checkSample(t, s) })
	}
	for _, c := range rep.contenders {
		for _, w := range rep.workloadsBy {
			if c.Supports(w) && !covered[c.Name()+"/"+w.Name] {
				t.Errorf("%s/%s was not run", c.Name(), w.Name)
			}
		}
	}
	if err := writeReports(rc, rep, "peerbench run (test)", &log); err != nil {
		t.Fatalf("reports: %v", err)
	}
	for _, f := range []string{"peers-test.md", "peers-test.svg", "peers-test.json", "stt-test.md"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || len(b) == 0 {
			t.Errorf("report %s missing or empty: %v", f, err)
		}
	}
	t.Logf("%d runs in %v", len(rep.Samples), time.Since(t0).Round(time.Millisecond))
}

// ownContenders are the runs this project's code makes; every other contender is a peer library.
var ownContenders = map[string]bool{"sttfast": true, "sttfast-9000": true, "sttfast-ws": true, "sttfast-fs": true, "sttfast-cli": true, "udp-ceiling": true, "tcp-ceiling": true, "aes-ceiling": true}

// retryPeerErrors runs again, once and for three times as long, each peer library's run that
// ended in an error: in a 400 ms window on a loaded 2-core machine kcp-go sometimes verifies no
// byte at all (1 run in 4 of its msg64 or msg1200), which says nothing about the harness. A run
// that fails twice stays failed; sttfast's own runs are never retried.
func retryPeerErrors(t *testing.T, rc runConfig, rep *runReport) {
	t.Helper()
	for i, s := range rep.Samples {
		if s.Error == "" || ownContenders[s.Contender] {
			continue
		}
		t.Logf("%s/%s: %s; running it again", s.Contender, s.Workload, s.Error)
		again := rc
		again.Contenders, again.Workloads = s.Contender, s.Workload
		again.Out = t.TempDir()
		base := rc.budget
		again.budget = func(w Workload) budget {
			b := base(w)
			b.Warmup, b.Duration = 3*b.Warmup, 3*b.Duration
			return b
		}
		var log bytes.Buffer
		r2, err := orchestrate(again, &log)
		if err != nil || len(r2.Samples) != 1 {
			t.Logf("retry of %s/%s: %v\n%s", s.Contender, s.Workload, err, log.String())
			continue
		}
		rep.Samples[i] = r2.Samples[0]
	}
}

func checkSample(t *testing.T, s *Sample) {
	t.Helper()
	if s.Error != "" {
		t.Fatalf("error: %s", s.Error)
	}
	w, _ := workloadByName(s.Workload)
	m := s.measured()
	if m == nil || !m.Windowed {
		t.Fatalf("the measuring side reported no window: %+v", m)
	}
	switch w.Kind {
	case kindStream, kindFanout:
		if m.Bytes == 0 || s.Gbps <= 0 {
			t.Fatalf("no bytes verified at the receiver in the window (%d)", m.Bytes)
		}
		if s.Send == nil || s.Send.TotalBytes < m.Bytes {
			t.Fatalf("the sender reports fewer bytes (%v) than the receiver verified (%d)", s.Send, m.Bytes)
		}
	case kindRTT:
		if m.RTT == nil || m.RTT.Samples == 0 || s.P50us <= 0 || s.P99us < s.P50us {
			t.Fatalf("no usable round trips: %+v", m.RTT)
		}
	case kindHandshake:
		if m.Msgs == 0 {
			t.Fatal("no handshake completed in the window")
		}
	case kindIdle:
		if m.Idle == nil || m.Idle.Sessions < 100 {
			t.Fatalf("idle sessions not established: %+v", m.Idle)
		}
	case kindSeal:
		if s.Value <= 0 {
			t.Fatal("nothing sealed")
		}
	case kindFanScale:
		if m.Msgs == 0 || s.SendCPUPerMsgNs <= 0 {
			t.Fatalf("no fan-out cost: %d messages verified, %.0f ns per message", m.Msgs, s.SendCPUPerMsgNs)
		}
		if s.Send.Info["sessions"] != strconv.Itoa(w.Width) {
			t.Fatalf("the sender had %s sessions, want %d", s.Send.Info["sessions"], w.Width)
		}
	}
}

func TestStreamVerifier(t *testing.T) {
	p := NewPattern()
	src := StreamSource{p: p}
	v := StreamVerifier{p: p}
	for i := 0; i < 100; i++ {
		if err := v.Check(src.Next(1200)); err != nil {
			t.Fatal(err)
		}
	}
	big := append([]byte(nil), p.At(src.off, 64<<10)...)
	if err := v.Check(big); err != nil {
		t.Fatal(err)
	}
	src.off += 64 << 10
	// A skipped message, a corrupted byte and a repeat must all fail.
	src.Next(64)
	if err := v.Check(src.Next(64)); !errors.Is(err, errVerify) {
		t.Fatalf("a gap was not detected: %v", err)
	}
	v2 := StreamVerifier{p: p}
	bad := append([]byte(nil), p.At(0, 100)...)
	bad[37] ^= 1
	if err := v2.Check(bad); !errors.Is(err, errVerify) || !strings.Contains(err.Error(), "offset 37") {
		t.Fatalf("corruption not located: %v", err)
	}
	v3 := StreamVerifier{p: p}
	v3.Check(p.At(0, 64))
	if err := v3.Check(p.At(0, 64)); !errors.Is(err, errVerify) {
		t.Fatal("a repeated message was accepted")
	}
}

func TestDatagramVerifier(t *testing.T) {
	p := NewPattern()
	v := DatagramVerifier{p: p, size: 1200}
	d := make([]byte, 1200)
	for _, seq := range []uint64{0, 1, 3, 2, 4} {
		p.FillDatagram(d, seq)
		if err := v.Check(d); err != nil {
			t.Fatal(err)
		}
	}
	if v.Lost != 1 || v.Late != 1 {
		t.Fatalf("lost %d late %d, want 1 and 1", v.Lost, v.Late)
	}
	p.FillDatagram(d, 5)
	d[700] ^= 0x80
	if err := v.Check(d); !errors.Is(err, errVerify) {
		t.Fatalf("corruption not detected: %v", err)
	}
	if err := v.Check(d[:600]); !errors.Is(err, errVerify) {
		t.Fatal("a short datagram was accepted")
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := uint64(1); i <= 10000; i++ {
		h.Record(i * 1000) // 1 us .. 10 ms, uniform
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 5e6}, {0.99, 9.9e6}, {0.001, 1e4}} {
		got := float64(h.Quantile(c.q))
		if got < c.want*0.99 || got > c.want*1.01 {
			t.Errorf("q%.3f = %.0f, want %.0f within 1%%", c.q, got, c.want)
		}
	}
	if h.Quantile(1) != 1e7 {
		t.Errorf("max quantile %d, want the largest sample", h.Quantile(1))
	}
	for v := uint64(0); v < 1<<20; v += 997 {
		if hi := bucketHigh(bucketOf(v)); hi < v || float64(hi-v) > float64(v)/100+1 {
			t.Fatalf("value %d lands in a bucket ending at %d", v, hi)
		}
	}
}
