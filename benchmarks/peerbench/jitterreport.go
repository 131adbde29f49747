package peerbench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// deriveTransfer turns a transfer's window into goodput in Mbit/s (the headline), counting a
// stalled or incomplete transfer's bytes over the time it was given: an upper bound on what it
// would have achieved, never a flattering number.
func deriveTransfer(s *Sample, m *Result) {
	s.Gbps = float64(m.Bytes) * 8 / m.WindowS / 1e9
	s.Value = s.Gbps * 1e3
	if m.Transfer == nil {
		s.Error = "the receiver reported no transfer outcome"
	}
}

// transferOutcome is "complete", "stall" or "incomplete" ("" without an outcome).
func transferOutcome(s *Sample) string {
	t := s.Recv.Transfer
	switch {
	case t == nil:
		return ""
	case t.Complete:
		return "complete"
	case t.Stalled:
		return "stall"
	}
	return "incomplete"
}

func transferSummary(s *Sample) string {
	t := s.Recv.Transfer
	txt := fmt.Sprintf("%.1f Mbit/s, %s: %.1f of %.0f MiB in %.1f s", s.Value, transferOutcome(s),
		float64(t.Verified)/(1<<20), float64(t.Total)/(1<<20), t.Seconds)
	if s.Line != nil {
		txt += fmt.Sprintf(", line reordered %.0f%% of data datagrams", 100*reorderedShare(s.Line))
	}
	if d, ok := s.Netns.dataDropShare(); ok {
		txt += fmt.Sprintf(", nftables dropped %.1f%% of data packets", 100*d)
	}
	return txt
}

func reorderedShare(l *LineStats) float64 {
	if l.Up.Forwarded == 0 {
		return 0
	}
	return float64(l.Up.Reordered) / float64(l.Up.Forwarded)
}

// jitterCell is one scenario × contender cell: median goodput with min-max, and the runs that
// did not complete.
func jitterCell(rep *runReport, workload, contender string) (string, float64) {
	ok, failed := collect(rep.Samples, workload, contender)
	st := summarize(ok, func(s *Sample) float64 { return s.Value })
	if st.N == 0 {
		return "- " + runsCell(0, failed), math.NaN()
	}
	out := map[string]int{}
	for _, s := range ok {
		out[transferOutcome(s)]++
	}
	cell := fmt.Sprintf("**%s** (%s - %s)", num(st.Med), num(st.Min), num(st.Max))
	for _, k := range []string{"stall", "incomplete"} {
		if out[k] > 0 {
			cell += fmt.Sprintf(", %d %s", out[k], k)
		}
	}
	if failed > 0 {
		cell += fmt.Sprintf(", +%d failed", failed)
	}
	return cell, st.Med
}

// lineTarget is a delay-line suite's target for one scenario: at least ofBase of what the same
// contender carried in the suite's base scenario, and at least ofPeer times the peer's goodput.
type lineTarget struct {
	workload, scenario string
	ofBase, ofPeer     float64
}

// jitterGoals are issue 10's targets: a share of the contender's own no-jitter goodput and a
// multiple of quic-go's in the same scenario.
var jitterGoals = []lineTarget{
	{"jitter1", "±1 ms", 0.8, 1},
	{"jitter4", "±4 ms", 0.5, 2},
}

func writeJitterMarkdown(w io.Writer, rep *runReport, jsonName string) error {
	writeHeader(w, rep, "Bulk transfer through a jittery delay line (issue 10), "+rep.Started.Format("2006-01-02"), jsonName)
	total := transferTotal(rep)
	fmt.Fprintf(w, `Each run is a fresh pair of processes on 127.0.0.1 with a delay line (hardening/netem/delayline)
in the orchestrator's process between them: every datagram, in both directions, is delayed by 5 ms
plus an independent uniform offset in [-J, +J], so with J above the packet spacing datagrams overtake
each other. The receiver verifies every byte of a %.0f MiB transfer in order; goodput is verified
bytes over the time from the accepted stream to the last byte. A transfer that delivers nothing new
for %v is a **stall**; one still crawling when its %v limit runs out is **incomplete**; both count
with the bytes they delivered in the time they took, so their goodput is an upper bound. Cells are
medians over interleaved rounds, in Mbit/s, with min - max.

`, float64(total)/(1<<20), transferStall, rep.Budgets["jitter0"].Duration)
	contenderTableHead(w, rep, []string{"scenario"}, "data datagrams reordered by the line")
	med := map[string]float64{}
	for _, wl := range rep.workloadsBy {
		fmt.Fprintf(w, "| %s |", wl.Title)
		transferCells(w, rep, wl.Name, med)
		fmt.Fprintf(w, " %s |\n", reorderedCell(rep, wl.Name))
	}
	fmt.Fprintln(w)
	lineTargetsTable(w, rep, med, lineTargets{
		title: "Issue 10's targets", intro: "", column: "scenario", base: "jitter0",
		baseLabel: "of its no-jitter goodput", peer: "quic-go", targets: jitterGoals})
	errorSection(w, rep)
	return nil
}

// reorderedCell is the median share of data datagrams the line released out of order.
func reorderedCell(rep *runReport, workload string) string {
	var ss []*Sample
	for _, s := range rep.Samples {
		if s.Workload == workload && s.Line != nil {
			ss = append(ss, s)
		}
	}
	st := summarize(ss, func(s *Sample) float64 { return 100 * reorderedShare(s.Line) })
	if st.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", st.Med)
}

// lineTargets describes a delay-line suite's targets table.
type lineTargets struct {
	title, intro    string // heading, and what the share and multiple are of (may be empty)
	column          string // the scenario column's name
	base, baseLabel string // the workload the share is of, and how a target names it
	peer            string // the contender the multiple is of
	targets         []lineTarget
}

// lineTargetsTable writes each non-peer contender's ratios against the suite's targets, from
// the medians of the suite's table (med, keyed workload/contender).
func lineTargetsTable(w io.Writer, rep *runReport, med map[string]float64, lt lineTargets) {
	fmt.Fprintf(w, "## %s\n\nMedians from the table above; met when the ratio reaches the target.%s\n\n", lt.title, lt.intro)
	fmt.Fprintf(w, "| contender | %s | target | ratio | met |\n|---|---|---|---|---|\n", lt.column)
	for _, c := range rep.contenders {
		if c.Class() == classPeer {
			continue
		}
		for _, g := range lt.targets {
			v, base, peer := med[g.workload+"/"+c.Name()], med[lt.base+"/"+c.Name()], med[g.workload+"/"+lt.peer]
			ratioRow(w, c.Name(), g.scenario, fmt.Sprintf(">= %.0f%% %s", 100*g.ofBase, lt.baseLabel), v, base, g.ofBase, true)
			ratioRow(w, c.Name(), g.scenario, fmt.Sprintf(">= %gx %s", g.ofPeer, lt.peer), v, peer, g.ofPeer, false)
		}
	}
	fmt.Fprintln(w)
}

// transferTotal is the transfer size of a suite's runs (every run moves the same).
func transferTotal(rep *runReport) int64 {
	for _, s := range rep.Samples {
		if s.Recv != nil && s.Recv.Transfer != nil {
			return s.Recv.Transfer.Total
		}
	}
	return 0
}

func ratioRow(w io.Writer, name, scenario, target string, v, ref, want float64, percent bool) {
	r := v / ref
	if math.IsNaN(r) || math.IsInf(r, 0) || ref <= 0 {
		fmt.Fprintf(w, "| %s | %s | %s | - | not measured |\n", name, scenario, target)
		return
	}
	met := "missed"
	if r >= want {
		met = "met"
	}
	rs := fmt.Sprintf("%.2fx", r)
	if percent {
		rs = fmt.Sprintf("%.0f%%", 100*r)
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, scenario, target, rs, met)
}

// contenderTableHead writes a markdown table's header: the columns first, one per contender, and
// last unless it is empty.
func contenderTableHead(w io.Writer, rep *runReport, first []string, last string) {
	cols := append([]string(nil), first...)
	for _, c := range rep.contenders {
		cols = append(cols, c.Name())
	}
	if last != "" {
		cols = append(cols, last)
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
}

// transferCells writes a row's cells, each contender's transfer goodput for workload, and records
// each median in med under "workload/contender" for the goal rows.
func transferCells(w io.Writer, rep *runReport, workload string, med map[string]float64) {
	for _, c := range rep.contenders {
		cell, m := jitterCell(rep, workload, c.Name())
		med[workload+"/"+c.Name()] = m
		fmt.Fprintf(w, " %s |", cell)
	}
}
