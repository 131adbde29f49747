package peerbench

import (
	"bytes"
	"strings"
	"testing"
)

// TestGoalsSection checks the goal verdicts from made-up medians: a met ratio, a missed one with
// how far it is short, the latency direction, and a peer that was not measured.
func TestGoalsSection(t *testing.T) {
	rep := &runReport{}
	for _, name := range []string{"bulk", "msg64", "rtt"} {
		w, err := workloadByName(name)
		if err != nil {
			t.Fatal(err)
		}
		rep.workloadsBy = append(rep.workloadsBy, w)
	}
	win := &Result{Windowed: true, WindowS: 1}
	add := func(contender, workload string, set func(*Sample)) {
		for i := 0; i < 3; i++ { // three identical rounds: the median is the value
			s := &Sample{Contender: contender, Workload: workload, Recv: win, Send: win}
			set(s)
			rep.Samples = append(rep.Samples, s)
		}
	}
	add("sttfast", "bulk", func(s *Sample) { s.Gbps = 6 })
	add("quic-go", "bulk", func(s *Sample) { s.Gbps = 2 })  // 3x: goal 5x missed by 1.67x
	add("kcp-go", "bulk", func(s *Sample) { s.Gbps = 0.5 }) // 12x: goal 6x met
	add("sttfast", "msg64", func(s *Sample) { s.MsgsPerSec = 8e6 })
	add("quic-go", "msg64", func(s *Sample) { s.MsgsPerSec = 0.5e6 }) // 16x: met
	add("sttfast", "rtt", func(s *Sample) { s.P50us = 80 })
	add("quic-go", "rtt", func(s *Sample) { s.P50us = 100 }) // sttfast faster: met
	// kcp-go has no rtt samples: not measured.
	add("sttfast-ws", "bulk", func(s *Sample) { s.Gbps = 5.4 }) // 90% of sttfast, 2.7x quic-go

	var b bytes.Buffer
	goalsSection(&b, rep)
	out := b.String()
	for _, want := range []string{
		"| bulk goodput >= 5x quic-go | 3.00x | **no**: short by 1.67x (60% of the goal) |",
		"| bulk goodput >= 6x kcp-go | 12.00x | yes |",
		"| 64-byte messages per second >= 10x quic-go | 16.00x | yes |",
		"| RTT p50 lower than quic-go | 1.25x | yes |",
		"| RTT p50 lower than kcp-go | not measured | - |",
		"| sttfast-ws bulk goodput >= 0.8x sttfast | 0.90x | yes |",
		"| sttfast-ws bulk goodput >= 3x quic-go | 2.70x | **no**: short by 1.11x (90% of the goal) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing row %q in:\n%s", want, out)
		}
	}
}
