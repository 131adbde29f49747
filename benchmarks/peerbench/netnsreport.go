package peerbench

import (
	"fmt"
	"io"
	"math"
)

// netnsGoal is one of issue 10's targets for random loss: an sttfast contender keeps at least
// share of its own loss-free goodput on the same link.
type netnsGoal struct {
	Loss  int
	Share float64
}

var netnsGoals = []netnsGoal{{5, 0.8}, {20, 0.5}}

// netnsGoalRow is one judged target: a contender on a link at a loss, its median over its
// loss-free median on the same link, and quic-go's same ratio for comparison.
type netnsGoalRow struct {
	Contender, Link string
	Loss            int
	Want            float64
	// Ratio is NaN when either median is missing; QuicRatio likewise, and QuicX is the
	// contender's median over quic-go's at the same loss.
	Ratio, QuicRatio, QuicX float64
}

// Met reports whether the row reaches its target (false when not measured).
func (r netnsGoalRow) Met() bool { return !math.IsNaN(r.Ratio) && r.Ratio >= r.Want }

// netnsGoalRows judges every non-peer contender on every link of the run that has both the
// loss-free and the lossy workload. med maps "workload/contender" to the median (NaN: none).
func netnsGoalRows(ws []Workload, contenders []Contender, med map[string]float64) []netnsGoalRow {
	clean := map[string]string{} // rate -> loss-free workload
	for _, w := range ws {
		if w.Net != nil && w.Net.Loss == 0 {
			clean[w.Net.Rate] = w.Name
		}
	}
	get := func(w, c string) float64 {
		if v, ok := med[w+"/"+c]; ok {
			return v
		}
		return math.NaN()
	}
	var rows []netnsGoalRow
	for _, c := range contenders {
		if c.Class() == classPeer {
			continue
		}
		for _, w := range ws {
			if w.Net == nil {
				continue
			}
			for _, g := range netnsGoals {
				if w.Net.Loss != g.Loss {
					continue
				}
				cw, ok := clean[w.Net.Rate]
				if !ok {
					continue
				}
				v, q := get(w.Name, c.Name()), get(w.Name, "quic-go")
				rows = append(rows, netnsGoalRow{Contender: c.Name(), Link: w.Net.linkName(), Loss: g.Loss, Want: g.Share,
					Ratio: v / get(cw, c.Name()), QuicRatio: q / get(cw, "quic-go"), QuicX: v / q})
			}
		}
	}
	return rows
}

func writeNetnsMarkdown(w io.Writer, rep *runReport, jsonName string) error {
	writeHeader(w, rep, "Bulk transfer over lossy links between two network namespaces (issue 10), "+rep.Started.Format("2006-01-02"), jsonName)
	total := int64(0)
	for _, s := range rep.Samples {
		if s.Recv != nil && s.Recv.Transfer != nil {
			total = s.Recv.Transfer.Total
			break
		}
	}
	limit := netnsTransferLimit
	for _, wl := range rep.workloadsBy {
		limit = rep.Budgets[wl.Name].Duration
		break
	}
	fmt.Fprintf(w, `Each run is a fresh pair of processes in two network namespaces made by
hardening/netem/netns.sh: the receiver in ID-b at %s, the sender in ID-a at %s (each started as
`+"`ip netns exec ID-x peerbench recv|send ...`"+`), joined by a veth pair with a tbf bottleneck on
each side's egress (the link rate, 2 ms burst, 10 ms queue) and nftables dropping a random N%% of
the UDP packets arriving on each side (`+"`numgen random mod 100 < N`"+`), so data and
acknowledgements are both lost. The receiver verifies every byte of a %.0f MiB transfer in order;
goodput is verified bytes over the time from the accepted stream to the last byte. A transfer
that delivers nothing new for %v is a **stall**; one still running when its %v limit runs out is
**incomplete**; both count with the bytes they delivered in the time they took. Cells are medians
over interleaved rounds, in Mbit/s, with min - max.

`, netnsRecvIP, netnsSendIP, float64(total)/(1<<20), transferStall, limit)
	contenderTableHead(w, rep, []string{"link", "loss"}, "data packets dropped by nftables")
	med := map[string]float64{}
	for _, wl := range rep.workloadsBy {
		if wl.Net == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %s |", wl.Net.linkName(), lossName(wl.Net))
		transferCells(w, rep, wl.Name, med)
		fmt.Fprintf(w, " %s |\n", dropCell(rep, wl.Name))
	}
	fmt.Fprintln(w)
	bottleneckTable(w, rep)
	fmt.Fprint(w, "## Issue 10's targets\n\nAt 5% random loss at least 80% of the contender's own loss-free goodput on the same link, at 20%\nat least 50%; medians from the table above. quic-go's same ratio, and the contender's goodput over\nquic-go's at that loss, are for comparison (no target).\n\n")
	fmt.Fprint(w, "| contender | link | loss | target | ratio | met | quic-go's ratio | x quic-go |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range netnsGoalRows(rep.workloadsBy, rep.contenders, med) {
		met := "not measured"
		if !math.IsNaN(r.Ratio) {
			met = map[bool]string{true: "met", false: "missed"}[r.Met()]
		}
		fmt.Fprintf(w, "| %s | %s | %d%% | >= %.0f%% of loss-free | %s | %s | %s | %s |\n", r.Contender, r.Link, r.Loss, 100*r.Want,
			pct(r.Ratio), met, pct(r.QuicRatio), times(r.QuicX))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "## Configurations\n\n")
	for _, c := range rep.contenders {
		fmt.Fprintf(w, "- **%s** (%s): %s\n", c.Name(), c.Class(), c.Describe())
	}
	for n, why := range rep.Skipped {
		fmt.Fprintf(w, "- **%s**: skipped, %s\n", n, why)
	}
	fmt.Fprintln(w)
	errorSection(w, rep)
	return nil
}

func pct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func times(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}

// dropCell is the median share of data packets nftables dropped at the receiver's side: the
// loss the link really applied.
func dropCell(rep *runReport, workload string) string {
	var ss []*Sample
	for _, s := range rep.Samples {
		if _, ok := s.Netns.dataDropShare(); s.Workload == workload && ok {
			ss = append(ss, s)
		}
	}
	st := summarize(ss, func(s *Sample) float64 { v, _ := s.Netns.dataDropShare(); return 100 * v })
	if st.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", st.Med)
}

// bottleneckTable shows, per link and contender, the median number of drops the sender's tbf
// bottleneck counted in a run (tc's counter: a GSO super-packet counts once): what each
// controller's probing costs the queue, which the goodput alone does not show.
func bottleneckTable(w io.Writer, rep *runReport) {
	fmt.Fprint(w, "Drops at the bottleneck (tbf on the sender's egress, tc's counter, median per run): a loss-based\ncontroller fills the 10 ms queue until it overflows; a rate-based one can keep it overflowing.\n\n")
	contenderTableHead(w, rep, []string{"link", "loss"}, "")
	for _, wl := range rep.workloadsBy {
		if wl.Net == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %s |", wl.Net.linkName(), lossName(wl.Net))
		for _, c := range rep.contenders {
			var ss []*Sample
			for _, s := range rep.Samples {
				if s.Workload == wl.Name && s.Contender == c.Name() && s.Netns != nil {
					ss = append(ss, s)
				}
			}
			st := summarize(ss, func(s *Sample) float64 { return float64(s.Netns.Counters["a qdisc_dropped"]) })
			if st.N == 0 {
				fmt.Fprint(w, " - |")
				continue
			}
			fmt.Fprintf(w, " %.0f |", st.Med)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// lossName is the loss column of the tables: "none" or "N%".
func lossName(n *netSpec) string {
	if n.Loss <= 0 {
		return "none"
	}
	return fmt.Sprintf("%d%%", n.Loss)
}
