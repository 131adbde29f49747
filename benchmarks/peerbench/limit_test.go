package peerbench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// TestMachineLimitArithmetic checks the machine's limit on round numbers: udp-ceiling using 1.6
// cores for 32 Gbit/s (4 bytes per ns) costs 0.4 ns per byte, sealing and opening at 4 GB/s on
// one core 0.25 ns each, so a byte costs 0.9 ns and 2 cores move 2/0.9 bytes per ns = 17.78
// Gbit/s. A seal loop that got only half a core (a busy machine) at 2 GB/s still costs 0.25 ns.
func TestMachineLimitArithmetic(t *testing.T) {
	udp := udpNsPerByte(1.6, 32)
	if math.Abs(udp-0.4) > 1e-12 {
		t.Fatalf("udp-ceiling CPU per byte %.6f ns, want 0.4", udp)
	}
	seal := aesNsPerByte(1, 4)
	if half := aesNsPerByte(0.5, 2); half != seal || seal != 0.25 {
		t.Fatalf("seal CPU per byte %.6f (half a core at 2 GB/s: %.6f), want 0.25", seal, half)
	}
	if aesNsPerByte(0, 4) != seal {
		t.Fatal("a sample without CPU time does not count one core")
	}
	l, ok := newMachineLimit(udp, seal, seal, 2)
	if !ok {
		t.Fatal("limit not computed")
	}
	if math.Abs(l.NsPerByte()-0.9) > 1e-12 {
		t.Fatalf("%.6f ns per byte, want 0.9", l.NsPerByte())
	}
	if want := 8 * 2 / 0.9; math.Abs(l.Gbps-want) > 1e-9 {
		t.Fatalf("limit %.6f Gbit/s, want %.6f", l.Gbps, want)
	}
	// One more core: the limit scales with the cores.
	l4, _ := newMachineLimit(udp, seal, seal, 4)
	if math.Abs(l4.Gbps-2*l.Gbps) > 1e-9 {
		t.Fatalf("4 cores give %.3f Gbit/s, want twice %.3f", l4.Gbps, l.Gbps)
	}
	for _, bad := range [][4]float64{{0, 0.25, 0.25, 2}, {0.4, 0, 0.25, 2}, {0.4, 0.25, math.NaN(), 2}, {0.4, 0.25, 0.25, 0}} {
		if _, ok := newMachineLimit(bad[0], bad[1], bad[2], int(bad[3])); ok {
			t.Errorf("limit computed from %v", bad)
		}
	}
}

// issue15Report is a made-up run with every input of issue 15's rows: three identical rounds of
// each, so that the medians are the values set.
func issue15Report(t *testing.T) *runReport {
	t.Helper()
	rep := &runReport{Machine: Machine{Cores: 2}}
	for _, name := range []string{"bulk", "rtt", "fanout10", "fanout1000", "seal", "open"} {
		w, err := workloadByName(name)
		if err != nil {
			t.Fatal(err)
		}
		rep.workloadsBy = append(rep.workloadsBy, w)
	}
	for _, name := range []string{"sttfast", "sttfast-ws", "udp-ceiling", "aes-ceiling"} {
		c, err := contenderByName(name)
		if err != nil {
			t.Fatal(err)
		}
		rep.contenders = append(rep.contenders, c)
	}
	add := func(contender, workload string, set func(*Sample)) {
		for i := 0; i < 3; i++ {
			s := &Sample{Contender: contender, Workload: workload, Recv: &Result{Windowed: true, WindowS: 1},
				Send: &Result{Windowed: true, WindowS: 1}}
			set(s)
			rep.Samples = append(rep.Samples, s)
		}
	}
	allocs := func(n uint64) *uint64 { return &n }
	add("udp-ceiling", "bulk", func(s *Sample) { s.Gbps, s.Cores = 32, 1.6 })
	add("aes-ceiling", "seal", func(s *Sample) { s.Value, s.Cores = 4, 1 })
	add("aes-ceiling", "open", func(s *Sample) { s.Value, s.Cores = 2, 0.5 }) // half a core: the same 0.25 ns per byte
	// The limit is 17.78 Gbit/s: 12 is 67% (met), 8 is 45% (short by 1.33x).
	add("sttfast", "bulk", func(s *Sample) {
		s.Gbps, s.Cores = 12, 2 // 1.333 ns per byte: 68% of the limit's 0.9 by CPU time too
		s.Recv.Bytes = 1200 * 1000000
		s.Recv.HeapAllocs, s.Send.HeapAllocs = allocs(300), allocs(200) // 0.0005 per packet
	})
	add("sttfast-ws", "bulk", func(s *Sample) {
		s.Gbps = 8
		s.Recv.Bytes = 1200 * 1000
		s.SendGC = 1
		s.Recv.HeapAllocs, s.Send.HeapAllocs = allocs(100), allocs(0) // 0.1 per packet
	})
	add("udp-ceiling", "rtt", func(s *Sample) { s.P50us, s.P99us = 60, 100 })
	add("sttfast", "rtt", func(s *Sample) { s.P50us, s.P99us = 66, 150 }) // 1.10x met, 1.50x missed
	add("sttfast", "fanout10", func(s *Sample) { s.SendCPUPerMsgNs = 1000 })
	add("sttfast", "fanout1000", func(s *Sample) { s.SendCPUPerMsgNs = 2000 }) // 2x: short by 1.6x
	return rep
}

// TestIssue15GoalRows checks each issue 15 row's verdict from the made-up run, and the line
// under the table that shows the limit's arithmetic.
func TestIssue15GoalRows(t *testing.T) {
	var b bytes.Buffer
	goalsSection(&b, issue15Report(t))
	out := b.String()
	for _, want := range []string{
		"| sttfast bulk goodput >= 60% of the machine's limit (udp-ceiling CPU per byte + AES-256-GCM seal + open, over the cores) | 68% (12.00 of 17.78 Gbit/s); by CPU time per byte 68% (0.90 ns at best, 1.33 ns spent) | yes |",
		"| sttfast-ws bulk goodput >= 60% of the machine's limit (udp-ceiling CPU per byte + AES-256-GCM seal + open, over the cores) | 45% (8.00 of 17.78 Gbit/s) | **no**: short by 1.33x (75% of the goal) |",
		"| RTT p50 <= 1.15x the plain-UDP ping-pong (udp-ceiling) | 1.10x (66.0 vs 60.0 us, the floor's fastest round) | yes |",
		"| RTT p99 <= 1.30x the plain-UDP ping-pong (udp-ceiling) | 1.50x (150.0 vs 100.0 us, the floor's fastest round) | **no**: short by 1.15x |",
		"| SendToAll's sender CPU per delivered message, 1000 sessions <= 1.25x 10 sessions | 2.00x (2000 vs 1000 ns) | **no**: short by 1.60x |",
		"| sttfast: 0 allocations per packet and 0 GC cycles in the bulk window (every run, both processes) | GC cycles recv / send at most 0 / 0 over 3 runs; at most 0.0005 allocations per 1200 B delivered | yes |",
		"| sttfast-ws: 0 allocations per packet and 0 GC cycles in the bulk window (every run, both processes) | GC cycles recv / send at most 0 / 1 over 3 runs; at most 0.1000 allocations per 1200 B delivered | **no** |",
		"The machine's limit: 2 cores / (udp-ceiling 0.400 + seal 0.250 + open 0.250 CPU ns per byte) = 0.900 ns per byte over 2 cores = **17.78 Gbit/s**.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// TestIssue15RowsWithoutInputs: a run without the ceilings says what the limit needs rather than
// a number, and a report written before allocations were recorded judges GC alone.
func TestIssue15RowsWithoutInputs(t *testing.T) {
	rep := issue15Report(t)
	var kept []*Sample
	for _, s := range rep.Samples {
		if s.Workload == "open" {
			continue
		}
		s.Recv.HeapAllocs, s.Send.HeapAllocs = nil, nil
		kept = append(kept, s)
	}
	rep.Samples = kept
	var b bytes.Buffer
	goalsSection(&b, rep)
	out := b.String()
	for _, want := range []string{
		"| not measured (needs udp-ceiling on bulk and aes-ceiling on seal and open) | - |",
		"over 3 runs; allocations not recorded | GC yes; allocations not recorded |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "The machine's limit:") {
		t.Errorf("limit line without its inputs:\n%s", out)
	}
}

// TestPlanInterleavesGroups: the two fan-out widths alternate round by round, so that a slow
// minute lands on both.
func TestPlanInterleavesGroups(t *testing.T) {
	var ws []Workload
	budgets := map[string]budget{}
	for _, name := range []string{"bulk", "fanout10", "fanout1000", "seal"} {
		w, err := workloadByName(name)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
		budgets[name] = budget{Rounds: 2}
	}
	cs := []Contender{&sttContender{}, &aesCeiling{}}
	var got []string
	for _, it := range plan(cs, ws, budgets) {
		got = append(got, it.W.Name+"/"+it.C.Name())
	}
	want := "bulk/sttfast bulk/sttfast fanout10/sttfast fanout1000/sttfast fanout10/sttfast fanout1000/sttfast seal/aes-ceiling seal/aes-ceiling"
	if strings.Join(got, " ") != want {
		t.Fatalf("plan\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
}

// TestRTTFloorFastestRound: with a bimodal plain-UDP floor (one fast round of three), sttfast's
// median is judged against the fast round: 19 us against a 14 us floor misses 1.15x, though it is
// well under the floor's 118 us median.
func TestRTTFloorFastestRound(t *testing.T) {
	rep := issue15Report(t)
	slow := []float64{118, 14, 118}
	i := 0
	for _, s := range rep.Samples {
		switch {
		case s.Workload == "rtt" && s.Contender == "udp-ceiling":
			s.P50us, s.P99us = slow[i], 122
			i++
		case s.Workload == "rtt" && s.Contender == "sttfast":
			s.P50us, s.P99us = 19, 122
		}
	}
	var b bytes.Buffer
	goalsSection(&b, rep)
	want := "| RTT p50 <= 1.15x the plain-UDP ping-pong (udp-ceiling) | 1.36x (19.0 vs 14.0 us, the floor's fastest round) | **no**: short by 1.18x |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("missing %q in:\n%s", want, b.String())
	}
}

// TestMachineLimitTakesCeilingsAtTheirBest: with bimodal ceilings (one fast round of three for
// udp-ceiling, aes-ceiling's seal and its open), the limit is made of each one's best round,
// not its median: 0.2 + 0.125 + 0.125 ns per byte, 35.56 Gbit/s on 2 cores (the medians would
// give 17.78).
func TestMachineLimitTakesCeilingsAtTheirBest(t *testing.T) {
	rep := issue15Report(t)
	round := map[string]int{}
	for _, s := range rep.Samples {
		key := s.Contender + "/" + s.Workload
		fast := round[key] == 1
		round[key]++
		if !fast {
			continue
		}
		switch key {
		case "udp-ceiling/bulk":
			s.Gbps = 64 // 1.6 cores: 0.2 ns per byte
		case "aes-ceiling/seal":
			s.Value = 8 // one core: 0.125 ns per byte
		case "aes-ceiling/open":
			s.Value = 4 // half a core: 0.125 ns per byte
		}
	}
	lim, ok := runMachineLimit(rep)
	if !ok {
		t.Fatal("no limit")
	}
	if math.Abs(lim.NsPerByte()-0.45) > 1e-9 || math.Abs(lim.Gbps-16/0.45) > 1e-6 {
		t.Fatalf("limit %.4f ns per byte, %.3f Gbit/s; want 0.45 and 35.556", lim.NsPerByte(), lim.Gbps)
	}
	var b bytes.Buffer
	goalsSection(&b, rep)
	want := "The machine's limit: 2 cores / (udp-ceiling 0.200 + seal 0.125 + open 0.125 CPU ns per byte) = 0.450 ns per byte over 2 cores = **35.56 Gbit/s**."
	if !strings.Contains(b.String(), want) {
		t.Errorf("missing %q in:\n%s", want, b.String())
	}
}

// TestReportDateFromFileName: a report rebuilt from its JSON keeps the run's --date (the part
// of the file name after the suite), and falls back to the day the run started.
func TestReportDateFromFileName(t *testing.T) {
	rep := &runReport{Started: time.Date(2026, 12, 3, 20, 12, 0, 0, time.UTC)}
	for path, want := range map[string]string{
		"results/peers-2026-12-03-i15f.json": "2026-12-03-i15f",
		"/tmp/x/longfat-x.json":              "x",
		"samples.json":                       "2026-12-03",
	} {
		if got := reportDate(path, rep); got != want {
			t.Errorf("reportDate(%q) = %q, want %q", path, got, want)
		}
	}
}
