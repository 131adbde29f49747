package peerbench

import (
	"bytes"
	"strings"
	"testing"
)

// fsReport is a run with the handshake workload: three identical rounds of each contender at the
// given handshakes per second (0: no sample), so the medians are the values.
func fsReport(t *testing.T, seed, fs float64) *runReport {
	t.Helper()
	hs, err := workloadByName("handshake")
	if err != nil {
		t.Fatal(err)
	}
	rep := &runReport{workloadsBy: []Workload{hs}, Budgets: map[string]budget{"handshake": {Concurrency: 64, Rounds: 3}}}
	for _, c := range []struct {
		name string
		rate float64
	}{{"sttfast", seed}, {"sttfast-fs", fs}} {
		for i := 0; i < 3 && c.rate > 0; i++ {
			win := &Result{Windowed: true, WindowS: 1, Msgs: uint64(c.rate)}
			rep.Samples = append(rep.Samples, &Sample{Contender: c.name, Workload: "handshake", MsgsPerSec: c.rate, Recv: &Result{}, Send: win})
		}
	}
	return rep
}

// The peers goals table judges issue 16's forward-secrecy handshake rate against the seed-only
// rate of the same run: met, missed (with how far short), and not measured without seed-only.
func TestFSHandshakeGoalRow(t *testing.T) {
	const goal = "| handshakes with forward secrecy >= 40% of seed-only (same run) | "
	for _, c := range []struct {
		name      string
		seed, fs  float64
		want      string
		wantNoRow bool
	}{
		{name: "met", seed: 20000, fs: 11000, want: goal + "55% (11.0 k/s vs 20.0 k/s) | yes |"},
		{name: "exactly", seed: 20000, fs: 8000, want: goal + "40% (8.0 k/s vs 20.0 k/s) | yes |"},
		{name: "missed", seed: 20000, fs: 6000, want: goal + "30% (6.0 k/s vs 20.0 k/s) | **no**: short by 1.33x (75% of the goal) |"},
		{name: "no seed-only rate", fs: 6000, want: goal + "not measured | - |"},
		{name: "no sttfast-fs", seed: 20000, wantNoRow: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			goalsSection(&b, fsReport(t, c.seed, c.fs))
			out := b.String()
			if c.wantNoRow {
				if strings.Contains(out, "forward secrecy") {
					t.Fatalf("a forward-secrecy row without sttfast-fs samples:\n%s", out)
				}
				return
			}
			if !strings.Contains(out, c.want) {
				t.Fatalf("missing row %q in:\n%s", c.want, out)
			}
		})
	}
}

// The stt report carries the same verdict as a row of its table, with sttfast-fs's own median
// and min-max, right below the seed-only handshake rate.
func TestFSHandshakeSTTRow(t *testing.T) {
	for _, c := range []struct {
		seed, fs float64
		want     string
	}{
		{20000, 11000, "| Handshakes with forward secrecy (sttfast-fs) | >= 40% of seed-only (same run) | **11.0 k/s** (55% of seed-only) | 11.0 - 11.0 k/s | 3 | yes |"},
		{20000, 6000, "| Handshakes with forward secrecy (sttfast-fs) | >= 40% of seed-only (same run) | **6.0 k/s** (30% of seed-only) | 6.0 - 6.0 k/s | 3 | no |"},
	} {
		rep := fsReport(t, c.seed, c.fs)
		var b bytes.Buffer
		if err := writeSTTMarkdown(&b, rep, "stt.json"); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if !strings.Contains(out, c.want) {
			t.Fatalf("missing row %q in:\n%s", c.want, out)
		}
		seedRow := "| Handshakes | >= 20 k/s | **20.0 k/s** | 20.0 k/s - 20.0 k/s | 3 | yes |\n"
		if !strings.Contains(out, seedRow+c.want+"\n") {
			t.Fatalf("the forward-secrecy row does not follow the seed-only handshakes in the table:\n%s", out)
		}
	}
}

// sttfast-fs runs the handshake workload only, interleaved with sttfast in every round, in both
// suites that carry handshakes; it never runs a workload its forward secrecy does not change.
func TestFSPlan(t *testing.T) {
	for _, suite := range []string{"stt", "peers"} {
		var log bytes.Buffer
		rep, err := orchestrate(runConfig{Suite: suite, DryRun: true, Rounds: 3}, &log)
		if err != nil {
			t.Fatalf("%s: %v", suite, err)
		}
		var hsOrder []string
		for _, it := range plan(rep.contenders, rep.workloadsBy, rep.Budgets) {
			if it.C.Name() == "sttfast-fs" && it.W.Kind != kindHandshake {
				t.Fatalf("%s: sttfast-fs runs %s", suite, it.W.Name)
			}
			if it.W.Kind == kindHandshake {
				hsOrder = append(hsOrder, it.C.Name())
			}
		}
		if got, want := strings.Join(hsOrder, " "), strings.Repeat("sttfast sttfast-fs ", 3); got+" " != want {
			t.Fatalf("%s: handshake runs %q, want %q", suite, got, strings.TrimSpace(want))
		}
	}
	var log bytes.Buffer
	rep, err := orchestrate(runConfig{Suite: "stt", DryRun: true, Workloads: "handshake", Contenders: "sttfast,sttfast-fs"}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(plan(rep.contenders, rep.workloadsBy, rep.Budgets)); n != 6 {
		t.Fatalf("%d runs for the issue 16 command, want 2 contenders x 3 rounds:\n%s", n, log.String())
	}
	fs, err := contenderByName("sttfast-fs")
	if err != nil {
		t.Fatal(err)
	}
	if fs.Class() != classVariant || !strings.Contains(fs.Describe(), "ForwardSecrecy") {
		t.Fatalf("sttfast-fs is %s: %s", fs.Class(), fs.Describe())
	}
}
