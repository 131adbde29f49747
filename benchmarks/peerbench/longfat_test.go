package peerbench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLongfatGoals judges a made-up run: the goal rows must compare each sttfast contender with
// its own 1 ms goodput and with quic-go-bdp, and say met or missed by the thresholds.
func TestLongfatGoals(t *testing.T) {
	rep := &runReport{Suite: "longfat", Budgets: map[string]budget{}}
	for _, n := range []string{"sttfast", "quic-go-bdp"} {
		c, err := contenderByName(n)
		if err != nil {
			t.Fatal(err)
		}
		rep.contenders = append(rep.contenders, c)
	}
	for _, n := range []string{"lf1", "lf100", "lf300"} {
		w, err := workloadByName(n)
		if err != nil {
			t.Fatal(err)
		}
		rep.workloadsBy = append(rep.workloadsBy, w)
	}
	// sttfast: 380 at 1 ms, 350 at 100 ms (92%, 3.5x), 250 at 300 ms (66%: missed, 5x).
	values := map[string]float64{"lf1/sttfast": 380, "lf100/sttfast": 350, "lf300/sttfast": 250,
		"lf1/quic-go-bdp": 300, "lf100/quic-go-bdp": 100, "lf300/quic-go-bdp": 50}
	for k, v := range values {
		wl, c, _ := strings.Cut(k, "/")
		rep.Samples = append(rep.Samples, &Sample{Contender: c, Workload: wl, Value: v,
			Recv: &Result{Windowed: true, Transfer: &TransferStats{Total: 256 << 20, Verified: 256 << 20, Complete: true}}})
	}
	var b bytes.Buffer
	if err := writeLongfatMarkdown(&b, rep, "x.json"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| sttfast | 100 ms | >= 90% of its 1 ms goodput | 92% | met |",
		"| sttfast | 100 ms | >= 1.5x quic-go-bdp | 3.50x | met |",
		"| sttfast | 300 ms | >= 70% of its 1 ms goodput | 66% | missed |",
		"| sttfast | 300 ms | >= 1.5x quic-go-bdp | 5.00x | met |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| quic-go-bdp | 100 ms") {
		t.Error("the peer is judged against itself")
	}
}

// TestLongfatSuite runs the suite with a tiny transfer through the real orchestrator, delay line
// (rate-limited, with the long round trips) and child processes, so that it cannot rot. It
// asserts no goodput: that is the suite's job.
func TestLongfatSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts 12 process pairs, some through a 300 ms round trip")
	}
	out := t.TempDir()
	var log bytes.Buffer
	rc := runConfig{Suite: "longfat", Out: out, Date: "test", Exe: os.Args[0], Env: []string{childEnv + "=1"},
		Total: 1 << 20, budget: func(Workload) budget { return budget{Duration: 30 * time.Second, Rounds: 1} }}
	rep, err := orchestrate(rc, &log)
	t.Logf("orchestrator log:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Samples) != 12 {
		t.Fatalf("%d runs, want 4 contenders x 3 paths", len(rep.Samples))
	}
	for _, s := range rep.Samples {
		t.Run(s.Contender+"/"+s.Workload, func(t *testing.T) {
			if s.Error != "" || s.Recv == nil || s.Recv.Transfer == nil || s.Recv.Transfer.Verified == 0 {
				t.Fatalf("no verified transfer: error %q, %+v", s.Error, s.Recv)
			}
			if s.Line == nil || s.Line.Up.Forwarded == 0 {
				t.Fatalf("the delay line carried nothing: %+v", s.Line)
			}
		})
	}
	if err := writeReports(rc, rep, "peerbench run --suite longfat (test)", &log); err != nil {
		t.Fatalf("reports: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "longfat-test.md")); err != nil || !bytes.Contains(b, []byte("Issue 15's targets")) {
		t.Errorf("report missing or without its targets: %v", err)
	}
}
