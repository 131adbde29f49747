package peerbench

import (
	"fmt"
	"io"
	"math"
)

// peerGoal is a target ratio of sttfast to one peer on one workload (issue 5), judged from the
// medians of the same run, so that the report says whether it is met and, if not, by how much.
// subject, when set, is the contender judged instead of sttfast (issue 12's sttfast-ws), and peer
// may then be sttfast itself.
type peerGoal struct {
	workload, peer string
	want           float64 // sttfast's advantage, oriented as in the tables (>1: sttfast better)
	what           string
	subject        string // "": sttfast
}

var peerGoals = []peerGoal{
	{"bulk", "quic-go", 5, "bulk goodput", ""},
	{"bulk", "kcp-go", 6, "bulk goodput", ""},
	{"msg64", "quic-go", 10, "64-byte messages per second", ""},
	{"rtt", "quic-go", 1, "RTT p50 lower", ""},
	{"rtt", "kcp-go", 1, "RTT p50 lower", ""},
	// Issue 12: sttfast over its WebSocket path, in the same run.
	{"bulk", "sttfast", 0.8, "bulk goodput", "sttfast-ws"},
	{"bulk", "quic-go", 3, "bulk goodput", "sttfast-ws"},
	// Issue 15: a file through the command (dial | listen --once), against the library's bulk.
	{"bulk", "sttfast", 0.9, "bulk goodput", "sttfast-cli"},
	// Issue 15: small messages through the batch calls, beside the single-call row above.
	{"msg64", "quic-go", 10, "64-byte messages per second", "sttfast-batch"},
}

// goalMetric is the number a workload's goal is judged on: its headline, as in its table.
func goalMetric(wl Workload) func(*Sample) float64 {
	switch {
	case wl.Kind == kindRTT:
		return func(s *Sample) float64 { return s.P50us }
	case wl.Unit == "M msg/s":
		return func(s *Sample) float64 { return s.MsgsPerSec }
	}
	return func(s *Sample) float64 { return s.Gbps }
}

// goalsSection writes the issue 5 goals with the measured advantage and, where one is missed,
// how far sttfast is from it (the factor its median would have to improve by).
func goalsSection(w io.Writer, rep *runReport) {
	rows := 0
	printed := false
	header := func() { // once, before the first row
		if !printed {
			printed = true
			fmt.Fprint(w, "## Goals\n\n| goal | measured (sttfast advantage, or the named contender's) | met |\n|---|---|---|\n")
		}
	}
	for _, g := range peerGoals {
		wl, ok := workloadNamed(rep, g.workload)
		if !ok {
			continue
		}
		header()
		rows++
		f := goalMetric(wl)
		stt := sttMedian(rep, wl, f)
		if g.subject != "" {
			stt = contenderMedian(rep, wl, g.subject, f)
		}
		ok2, _ := collect(rep.Samples, wl.Name, g.peer)
		peer := summarize(ok2, f)
		goal := fmt.Sprintf("%s >= %gx %s", g.what, g.want, g.peer)
		if g.want == 1 {
			goal = fmt.Sprintf("%s than %s", g.what, g.peer)
		}
		if g.subject != "" {
			goal = g.subject + " " + goal
		}
		adv := math.NaN()
		if peer.N > 0 {
			adv = advantage(stt, peer.Med, wl.Higher)
		}
		switch {
		case math.IsNaN(adv):
			fmt.Fprintf(w, "| %s | not measured | - |\n", goal)
		case adv >= g.want:
			fmt.Fprintf(w, "| %s | %.2fx | yes |\n", goal, adv)
		default:
			fmt.Fprintf(w, "| %s | %.2fx | **no**: short by %.2fx (%.0f%% of the goal) |\n", goal, adv, g.want/adv, 100*adv/g.want)
		}
	}
	rows += contenderGoalRows(w, rep, header)
	rows += fsGoalRows(w, rep, header)
	rows += issue15GoalRows(w, rep, header)
	if rows > 0 {
		fmt.Fprint(w, "\nWhere a goal is missed, benchmarks/README.md (\"Latest results\") and profiles/README.md say why.\n\n")
		limitNote(w, rep)
	}
}

func workloadNamed(rep *runReport, name string) (Workload, bool) {
	for _, w := range rep.workloadsBy {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}
