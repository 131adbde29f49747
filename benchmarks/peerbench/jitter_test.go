package peerbench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestJitterSuite runs the jitter suite (issue 10) with a tiny transfer through the real
// orchestrator, delay line and child processes, so the suite cannot rot: every run must end with
// a transfer outcome and verified bytes, the line must have reordered data datagrams exactly when
// it jitters, and the report must be written. It asserts no goodput: that is the suite's job.
func TestJitterSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts 9 process pairs")
	}
	out := t.TempDir()
	var log bytes.Buffer
	rc := runConfig{Suite: "jitter", Out: out, Date: "test", Exe: os.Args[0], Env: []string{childEnv + "=1"},
		Total: 512 << 10, budget: func(Workload) budget { return budget{Duration: 20 * time.Second, Rounds: 1} }}
	rep, err := orchestrate(rc, &log)
	t.Logf("orchestrator log:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Samples) != 9 {
		t.Fatalf("%d runs, want 3 contenders x 3 scenarios", len(rep.Samples))
	}
	for _, s := range rep.Samples {
		t.Run(s.Contender+"/"+s.Workload, func(t *testing.T) { checkTransfer(t, s) })
	}
	if err := writeReports(rc, rep, "peerbench run --suite jitter (test)", &log); err != nil {
		t.Fatalf("reports: %v", err)
	}
	for _, f := range []string{"jitter-test.md", "jitter-test.json"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || len(b) == 0 {
			t.Errorf("report %s missing or empty: %v", f, err)
		}
	}
}

func checkTransfer(t *testing.T, s *Sample) {
	t.Helper()
	if s.Error != "" {
		t.Fatalf("error: %s", s.Error)
	}
	if s.Recv == nil || s.Recv.Transfer == nil || !s.Recv.Windowed {
		t.Fatalf("no transfer outcome from the receiver: %+v", s.Recv)
	}
	if tr := s.Recv.Transfer; tr.Verified == 0 || tr.Total != 512<<10 {
		t.Fatalf("transfer %+v: nothing verified, or not the size asked for", tr)
	}
	if s.Line == nil || s.Line.Up.Forwarded == 0 || s.Line.Down.Forwarded == 0 {
		t.Fatalf("the delay line carried nothing: %+v", s.Line)
	}
	jitters := s.Workload != "jitter0"
	if r := s.Line.Up.Reordered; jitters != (r > 0) {
		t.Fatalf("%s: the line reordered %d data datagrams", s.Workload, r)
	}
	t.Log(transferSummary(s))
}
