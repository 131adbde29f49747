package peerbench

import (
	"fmt"
	"io"
)

// Issue 16: handshakes per second with forward secrecy (sttfast-fs), beside the seed-only rate
// (sttfast) of the same run, must be at least fsHandshakeShare of it. Judged from the two medians
// of one run, so that a slow machine or a busy minute moves both numbers rather than the verdict.

// fsHandshakeShare is the goal: the forward-secret rate over the seed-only one.
const fsHandshakeShare = 0.4

// fsHandshakeGoal is the goal as the reports state it.
var fsHandshakeGoal = fmt.Sprintf("handshakes with forward secrecy >= %.0f%% of seed-only (same run)", 100*fsHandshakeShare)

// fsVerdict is the comparison of one run's two handshake rates.
type fsVerdict struct {
	fs, seed      stat // handshakes per second, over the rounds
	fsFailed      int  // sttfast-fs rounds that ended in an error
	share         float64
	measured, met bool
	ranFS         bool // sttfast-fs has a sample of the workload, failed or not
}

// judgeFSHandshakes compares sttfast-fs's median handshake rate with sttfast's in rep. measured is
// false unless both have at least one successful round.
func judgeFSHandshakes(rep *runReport) fsVerdict {
	rate := func(s *Sample) float64 { return s.MsgsPerSec }
	fsOK, fsFailed := collect(rep.Samples, "handshake", "sttfast-fs")
	seedOK, _ := collect(rep.Samples, "handshake", "sttfast")
	v := fsVerdict{fs: summarize(fsOK, rate), seed: summarize(seedOK, rate), fsFailed: fsFailed,
		ranFS: len(fsOK)+fsFailed > 0}
	if v.fs.N == 0 || v.seed.N == 0 || v.seed.Med <= 0 {
		return v
	}
	v.measured = true
	v.share = v.fs.Med / v.seed.Med
	v.met = v.share >= fsHandshakeShare
	return v
}

// fsGoalRows writes the forward-secrecy row of the peers goals table when the run had the
// handshake workload and sttfast-fs in it; it returns the number of rows written (0 or 1).
func fsGoalRows(w io.Writer, rep *runReport, header func()) int {
	v := judgeFSHandshakes(rep)
	if !v.ranFS {
		return 0
	}
	header()
	switch {
	case !v.measured:
		fmt.Fprintf(w, "| %s | not measured | - |\n", fsHandshakeGoal)
	case v.met:
		fmt.Fprintf(w, "| %s | %s | yes |\n", fsHandshakeGoal, fsMeasuredCell(v))
	default:
		fmt.Fprintf(w, "| %s | %s | **no**: short by %.2fx (%.0f%% of the goal) |\n", fsHandshakeGoal, fsMeasuredCell(v),
			fsHandshakeShare/v.share, 100*v.share/fsHandshakeShare)
	}
	return 1
}

// fsMeasuredCell is the share with the two medians it comes from.
func fsMeasuredCell(v fsVerdict) string {
	return fmt.Sprintf("%.0f%% (%.1f k/s vs %.1f k/s)", 100*v.share, v.fs.Med/1e3, v.seed.Med/1e3)
}

// fsSTTRow writes the forward-secrecy row of the stt report's table (metric, goal, median,
// min - max, runs, met) when sttfast-fs ran.
func fsSTTRow(w io.Writer, rep *runReport) {
	v := judgeFSHandshakes(rep)
	if !v.ranFS {
		return
	}
	metric := "Handshakes with forward secrecy (sttfast-fs)"
	target := fmt.Sprintf(">= %.0f%% of seed-only (same run)", 100*fsHandshakeShare)
	if v.fs.N == 0 {
		fmt.Fprintf(w, "| %s | %s | not run | - | %s | - |\n", metric, target, runsCell(0, v.fsFailed))
		return
	}
	share, met := "seed-only not measured", "-"
	if v.measured {
		share, met = fmt.Sprintf("%.0f%% of seed-only", 100*v.share), "no"
		if v.met {
			met = "yes"
		}
	}
	fmt.Fprintf(w, "| %s | %s | **%.1f k/s** (%s) | %.1f - %.1f k/s | %s | %s |\n", metric, target, v.fs.Med/1e3, share,
		v.fs.Min/1e3, v.fs.Max/1e3, runsCell(v.fs.N, v.fsFailed), met)
}
