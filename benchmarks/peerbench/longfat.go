package peerbench

import (
	"fmt"
	"io"
	"time"
)

// Issue 15, "Long, fat paths": one stream moving a large file through the delay line with a rate
// limit and a long round trip. A fixed 4 MiB window carries at most 4 MiB per round trip (112
// Mbit/s at 300 ms), whatever the link; sttfast's windows now follow the path's bandwidth-delay
// product (dataplane/autotune.go), and this suite measures it beside quic-go, whose windows are
// opened as far (quic-go-bdp), and beside sttfast with its windows pinned (sttfast-fixedwin).

// longfatRate is the link: 400 Mbit/s. The delay line forwards about 580 Mbit/s of 1200-byte
// datagrams on this 2-core machine with both transport processes running beside it; a rate
// below that makes the line's bottleneck, not the CPU, set the pace, so the three round trips
// are compared on the same link. It leaves the sender's and receiver's CPU time headroom too.
const longfatRate = 400e6 / 8

// longfatQueue is the bottleneck's queue: 20 ms at the link rate (1 MB), a router buffer well
// below the bandwidth-delay products of the long paths (5 and 15 MB), as on real long links, so
// a sender that overfills it loses packets instead of hiding in a queue.
const longfatQueue = longfatRate * 20 / 1000

// longfatTotal is the transfer: 256 MiB (the file), 32 MiB in a quick run.
func longfatTotal(quick bool) int64 {
	if quick {
		return 32 << 20
	}
	return 256 << 20
}

func longfatWorkload(name string, oneWay time.Duration, title string) Workload {
	return Workload{Name: name, Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: title, Unit: "Mbit/s", Higher: true,
		Path: &pathSpec{Delay: oneWay, Rate: longfatRate, Queue: longfatQueue}}
}

func init() {
	workloads = append(workloads,
		longfatWorkload("lf1", 500*time.Microsecond, "400 Mbit/s, 1 ms round trip"),
		longfatWorkload("lf100", 50*time.Millisecond, "400 Mbit/s, 100 ms round trip"),
		longfatWorkload("lf300", 150*time.Millisecond, "400 Mbit/s, 300 ms round trip"))
	suites["longfat"] = suite{name: "longfat",
		contenders: []string{"sttfast", "sttfast-bbr", "sttfast-fixedwin", "quic-go-bdp"},
		workloads:  []string{"lf1", "lf100", "lf300"}}
}

// longfatGoals are issue 15's targets for the long paths: a share of what the same contender
// carried over the 1 ms path, and a multiple of quic-go-bdp's goodput in the same scenario.
var longfatGoals = []lineTarget{
	{"lf100", "100 ms", 0.9, 1.5},
	{"lf300", "300 ms", 0.7, 1.5},
}

func writeLongfatMarkdown(w io.Writer, rep *runReport, jsonName string) error {
	writeHeader(w, rep, "One stream over long, fat paths (issue 15), "+rep.Started.Format("2006-01-02"), jsonName)
	total := transferTotal(rep)
	fmt.Fprintf(w, `Each run is a fresh pair of processes on 127.0.0.1 with the delay line (hardening/netem/delayline)
in the orchestrator's process between them. In each direction it serialises datagrams through a
%.0f Mbit/s bottleneck with a %.0f KB drop-tail queue (20 ms) and then delays them by half the
round trip, in order. The receiver verifies every byte of a %.0f MiB transfer on one stream;
goodput is verified bytes over the time from the accepted stream to the last byte, slow start
included. A transfer that delivers nothing new for %v is a **stall**; one still running when its
%v limit runs out is **incomplete**; both count with what they delivered. Cells are medians over
interleaved rounds, in Mbit/s, with min - max.

quic-go-bdp is quic-go with receive windows of 64 MiB per stream and 128 MiB per connection from
the first byte (sttfast's caps; its defaults, 6 and 15 MiB, would hold it to 6 MiB per round trip). sttfast-fixedwin
is sttfast with its windows pinned at the old 4 / 16 MiB and 4 MiB send buffer: the library
before its windows followed the path.

`, longfatRate*8/1e6, float64(longfatQueue)/1e3, float64(total)/(1<<20), transferStall, rep.Budgets["lf1"].Duration)
	contenderTableHead(w, rep, []string{"path"}, "")
	med := map[string]float64{}
	for _, wl := range rep.workloadsBy {
		fmt.Fprintf(w, "| %s |", wl.Title)
		transferCells(w, rep, wl.Name, med)
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	lineTargetsTable(w, rep, med, lineTargets{
		title: "Issue 15's targets", column: "path", base: "lf1", baseLabel: "of its 1 ms goodput", peer: "quic-go-bdp",
		intro:   " The share is of what the\nsame contender carried over the 1 ms path of this run; the multiple is of quic-go-bdp.",
		targets: longfatGoals})
	longfatSessionsTable(w, rep)
	errorSection(w, rep)
	return nil
}

// longfatSessionsTable shows, per sttfast run, where the sender's congestion controller and
// both sides' windows ended: whether the windows or the controller held the transfer back.
func longfatSessionsTable(w io.Writer, rep *runReport) {
	fmt.Fprint(w, "## sttfast's sessions at the end of each run\n\nSender: smoothed RTT, congestion window, packets declared lost, congestion events, windows grown (send buffer and budget); receiver: windows grown and the session's receive window. Packets dropped by the line's bottleneck queue are its drop-tail.\n\n")
	fmt.Fprint(w, "| path | contender | round | Mbit/s | SRTT ms | cwnd KiB | lost | cc events | sender growths | send budget MiB | receiver growths | receive window MiB | queue drops |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range rep.Samples {
		if s.Send == nil || s.Recv == nil || s.Send.Info["cwnd_kib"] == "" {
			continue
		}
		si, ri := s.Send.Info, s.Recv.Info
		drops := "-"
		if s.Line != nil {
			drops = fmt.Sprint(s.Line.Up.DroppedQueue)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Workload, s.Contender, s.Round, num(s.Value),
			si["srtt_ms"], si["cwnd_kib"], si["packets_lost"], si["congestion_events"], si["window_growths"], si["send_budget_mib"],
			ri["window_growths"], ri["recv_window_mib"], drops)
	}
	fmt.Fprintln(w)
}

// quicBDPContender is quic-go for long fat paths: receive windows of 64 MiB per stream and
// 128 MiB per connection (sttfast's caps) from the first byte, the sweep's 64/128 MiB setting
// under its own name, so that neither side's window caps the race on a 300 ms path (quic-go's
// defaults, 6 and 15 MiB, would). Everything else is quicContender's.
type quicBDPContender struct{ quicContender }

func (q *quicBDPContender) Name() string { return "quic-go-bdp" }

func (q *quicBDPContender) Describe() string {
	return "as quic-go but with " + q.knobs.describe() + ": as large as sttfast's window caps, so a long fat path is a fair race"
}
