package peerbench

import (
	"bytes"
	"strings"
	"testing"
)

// The peers goals table judges sttfast-ws's idle sessions against issue 12's 8 KiB, with the
// session count of the run, met and missed.
func TestWSIdleGoalRow(t *testing.T) {
	for _, c := range []struct {
		heap float64
		want string
	}{
		{5714, "| sttfast-ws 10000 idle sessions, listener heap per session <= 8 KiB | 5714 B | yes |"},
		{9000, "| sttfast-ws 10000 idle sessions, listener heap per session <= 8 KiB | 9000 B | **no** |"},
	} {
		idle, err := workloadByName("idle")
		if err != nil {
			t.Fatal(err)
		}
		rep := &runReport{workloadsBy: []Workload{idle}, Budgets: map[string]budget{"idle": {Sessions: 10000}}}
		rep.Samples = append(rep.Samples, &Sample{Contender: "sttfast-ws", Workload: "idle", Value: c.heap,
			Recv: &Result{Windowed: true, Idle: &IdleStats{Sessions: 10000}}, Send: &Result{}})
		var b bytes.Buffer
		goalsSection(&b, rep)
		if out := b.String(); !strings.Contains(out, c.want) || strings.Count(out, "## Goals") != 1 {
			t.Errorf("goals section lacks %q (or has two headers):\n%s", c.want, out)
		}
	}
}

// The chart draws sttfast-ws and the tcp-ceiling beside sttfast and quic-go.
func TestChartHasWSAndTCPCeiling(t *testing.T) {
	rep := &runReport{}
	names := []string{"sttfast", "sttfast-ws", "quic-go", "tcp-ceiling"}
	for _, n := range names {
		c, err := contenderByName(n)
		if err != nil {
			t.Fatal(err)
		}
		rep.contenders = append(rep.contenders, c)
		for i := 0; i < 3; i++ {
			rep.Samples = append(rep.Samples, &Sample{Contender: n, Workload: "bulk", Gbps: float64(1 + i),
				Recv: &Result{Windowed: true, WindowS: 1}, Send: &Result{Windowed: true, WindowS: 1}})
		}
	}
	var b bytes.Buffer
	if err := writeSVG(&b, rep, "test"); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(b.String(), ">"+n+"</text>") {
			t.Errorf("the chart has no legend entry for %s", n)
		}
	}
}
