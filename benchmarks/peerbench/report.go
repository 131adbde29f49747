package peerbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// rerender rebuilds the reports from a JSON file a run wrote (after a change to the report code,
// or to add the chart to an old run), next to it unless out is set.
func rerender(path, out string, log io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	rep := &runReport{}
	if err := json.Unmarshal(b, rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range contenders() {
		if _, ok := rep.Contenders[c.Name()]; ok {
			rep.contenders = append(rep.contenders, c)
		}
	}
	rep.contenders = append(rep.contenders, knobVariants(rep.Contenders)...)
	for _, w := range workloads {
		if _, ok := rep.Budgets[w.Name]; ok {
			rep.workloadsBy = append(rep.workloadsBy, w)
		}
	}
	if out == "" {
		out = filepath.Dir(path)
	}
	rc := runConfig{Out: out, Date: reportDate(path, rep), Quick: rep.Quick}
	return writeReports(rc, rep, rep.Command, log)
}

// reportDate is the date part of a results file's name (peers-2026-12-03-i15f.json:
// 2026-12-03-i15f), so a report rebuilt from its JSON keeps the name and links of the run's
// --date; the day the run started when the name has no such part.
func reportDate(path string, rep *runReport) string {
	base := strings.TrimSuffix(filepath.Base(path), ".json")
	if _, date, ok := strings.Cut(base, "-"); ok && date != "" {
		return date
	}
	return rep.Started.Format("2006-01-02")
}

// writeReports writes the machine-readable samples and the Markdown reports (and the chart for
// the peers suite) under rc.Out.
func writeReports(rc runConfig, rep *runReport, command string, log io.Writer) error {
	rep.Command = command
	if err := os.MkdirAll(rc.Out, 0o755); err != nil {
		return err
	}
	write := func(path string, f func(io.Writer) error) error {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s\n", path)
		return nil
	}
	kind := "peers"
	switch rep.Suite {
	case "stt":
		kind = "stt"
	case "jitter":
		kind = "jitter"
	case "longfat":
		kind = "longfat"
	case "netns":
		kind = "netns"
	case "wsidle":
		kind = "ws-idle"
	}
	if err := write(reportPath(rc, kind, "json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}); err != nil {
		return err
	}
	if kind == "peers" {
		svg := reportPath(rc, "peers", "svg")
		if err := write(svg, func(w io.Writer) error { return writeSVG(w, rep, "sttfast and its peers: goodput by message size") }); err != nil {
			return err
		}
		if err := write(reportPath(rc, "peers", "md"), func(w io.Writer) error {
			return writePeersMarkdown(w, rep, filepath.Base(svg), filepath.Base(reportPath(rc, "peers", "json")))
		}); err != nil {
			return err
		}
	}
	if kind == "netns" {
		return write(reportPath(rc, "netns", "md"), func(w io.Writer) error {
			return writeNetnsMarkdown(w, rep, filepath.Base(reportPath(rc, kind, "json")))
		})
	}
	if kind == "ws-idle" {
		return write(reportPath(rc, kind, "md"), func(w io.Writer) error {
			return writeWSIdleMarkdown(w, rep, filepath.Base(reportPath(rc, kind, "json")))
		})
	}
	if kind == "longfat" {
		return write(reportPath(rc, kind, "md"), func(w io.Writer) error {
			return writeLongfatMarkdown(w, rep, filepath.Base(reportPath(rc, kind, "json")))
		})
	}
	if kind == "jitter" {
		return write(reportPath(rc, "jitter", "md"), func(w io.Writer) error {
			return writeJitterMarkdown(w, rep, filepath.Base(reportPath(rc, kind, "json")))
		})
	}
	return write(reportPath(rc, "stt", "md"), func(w io.Writer) error {
		return writeSTTMarkdown(w, rep, filepath.Base(reportPath(rc, kind, "json")))
	})
}

func writeHeader(w io.Writer, rep *runReport, title, jsonName string) {
	fmt.Fprintf(w, "# %s\n\n", title)
	if rep.Quick {
		fmt.Fprint(w, "> **Quick run** (`--quick`): one short round per workload. A smoke test of the harness, not a measurement.\n\n")
	}
	fmt.Fprintf(w, "Measured %s to %s with:\n\n```sh\n%s\n```\n\n", rep.Started.Format("2006-01-02 15:04:05"), rep.Finished.Format("15:04:05 UTC"), rep.Command)
	m := rep.Machine
	fmt.Fprint(w, "| CPU | cores | kernel | Go | loopback MTU | load average before / after |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %s | %d | %s | %s %s | %s | %s / %s |\n\n", m.CPU, m.Cores, m.Kernel, m.Go, m.OSArch, m.LoopbackMTU, rep.LoadBefore, rep.LoadAfter)
	var vs []string
	for k, v := range m.Versions {
		vs = append(vs, fmt.Sprintf("%s %s", k, v))
	}
	sort.Strings(vs)
	fmt.Fprintf(w, "Versions: %s. Every sample, with both processes' counters, is in [%s](%s).\n\n", strings.Join(vs, "; "), jsonName, jsonName)
}

func writePeersMarkdown(w io.Writer, rep *runReport, svgName, jsonName string) error {
	writeHeader(w, rep, "sttfast and its peers, "+rep.Started.Format("2006-01-02"), jsonName)
	fmt.Fprint(w, `Each cell is the median over interleaved rounds (contenders alternate A B C A B C, each in a fresh
pair of processes on loopback), with min-max. Goodput is counted at the receiver after every byte was
compared with what the sender wrote, in order; a mismatch voids the sample. "sttfast advantage" is
sttfast's median over the peer's from this same run, oriented so that above 1 means sttfast is
better (for latency: the peer's time over sttfast's). Ceilings are not peers: they show how much of
the machine's packet path and AES budget a transport uses. See benchmarks/README.md for the method.

`)
	tunedPeersNote(w, rep)
	fmt.Fprintf(w, "![goodput by message size](%s)\n\n", svgName)
	goalsSection(w, rep)
	for _, wl := range rep.workloadsBy {
		switch wl.Kind {
		case kindStream, kindFanout:
			if wl.Name == "bulk10s" {
				continue
			}
			throughputTable(w, rep, wl)
		case kindRTT:
			rttTable(w, rep, wl)
		case kindSeal:
			sealTable(w, rep, wl)
		case kindFanScale:
			if wl.Name == "fanout10" || !hasWorkload(rep, "fanout10") { // one table for the group
				fanScaleTable(w, rep)
			}
		}
	}
	if hasWorkload(rep, "handshake") || hasWorkload(rep, "idle") || hasWorkload(rep, "bulk10s") {
		fmt.Fprint(w, "sttfast's own numbers (handshakes, idle memory, GC) are in the stt report of the same run.\n\n")
	}
	fmt.Fprint(w, "## Configurations\n\n")
	for _, c := range rep.contenders {
		fmt.Fprintf(w, "- **%s** (%s): %s\n", c.Name(), c.Class(), c.Describe())
	}
	for n, why := range rep.Skipped {
		fmt.Fprintf(w, "- **%s**: skipped, %s\n", n, why)
	}
	fmt.Fprintln(w)
	infoSection(w, rep)
	errorSection(w, rep)
	return nil
}

// hasContender reports whether the run had the named contender in it.
func hasContender(rep *runReport, name string) bool {
	return slices.ContainsFunc(rep.contenders, func(c Contender) bool { return c.Name() == name })
}

func hasWorkload(rep *runReport, name string) bool {
	_, ok := workloadNamed(rep, name)
	return ok
}

// sttMedian is sttfast's median value on a workload (NaN when it has none).
func sttMedian(rep *runReport, wl Workload, f func(*Sample) float64) float64 {
	return contenderMedian(rep, wl, "sttfast", f)
}

// contenderMedian is the median of name's successful runs of wl; NaN when it has none.
func contenderMedian(rep *runReport, wl Workload, name string, f func(*Sample) float64) float64 {
	st := contenderStat(rep, wl, name, f)
	if st.N == 0 {
		return math.NaN()
	}
	return st.Med
}

// contenderFastest is the lowest of f over the contender's successful samples of wl (NaN if
// none): a latency floor's best round.
func contenderFastest(rep *runReport, wl Workload, name string, f func(*Sample) float64) float64 {
	st := contenderStat(rep, wl, name, f)
	if st.N == 0 {
		return math.NaN()
	}
	return st.Min
}

// contenderStat summarizes f over name's successful runs of wl.
func contenderStat(rep *runReport, wl Workload, name string, f func(*Sample) float64) stat {
	ok, _ := collect(rep.Samples, wl.Name, name)
	return summarize(ok, f)
}

func throughputTable(w io.Writer, rep *runReport, wl Workload) {
	b := rep.Budgets[wl.Name]
	fmt.Fprintf(w, "## %s\n\n", wl.Title)
	fmt.Fprintf(w, "%s of %v warm-up + %v window", plural(b.Rounds, "round"), b.Warmup, b.Duration)
	if wl.Kind == kindFanout {
		fmt.Fprintf(w, ", %d receivers (aggregate goodput over all of them)", b.Receivers)
	}
	fmt.Fprint(w, ".\n\n")
	// The headline is goodput, or messages per second for small messages; the ratio is the same.
	head := func(s *Sample) float64 { return s.Gbps }
	headName, otherName := "goodput Gbit/s", "msg/s"
	other := func(s *Sample) float64 { return s.MsgsPerSec }
	otherFmt := human
	if wl.Unit == "M msg/s" {
		head = func(s *Sample) float64 { return s.MsgsPerSec / 1e6 }
		headName, otherName = "M msg/s", "Gbit/s"
		other = func(s *Sample) float64 { return s.Gbps }
		otherFmt = num
	}
	fmt.Fprintf(w, "| contender | %s | min - max | %s | runs | sttfast advantage | lost | CPU cores | GC cycles recv / send |\n|---|---|---|---|---|---|---|---|---|\n", headName, otherName)
	stt := sttMedian(rep, wl, head)
	for _, c := range rep.contenders {
		if !c.Supports(wl) {
			continue
		}
		ok, failed := collect(rep.Samples, wl.Name, c.Name())
		st := summarize(ok, head)
		ms := summarize(ok, other)
		lost := summarize(ok, func(s *Sample) float64 { return s.LossPct })
		cores := summarize(ok, func(s *Sample) float64 { return s.Cores })
		rgc := summarize(ok, func(s *Sample) float64 { return float64(s.RecvGC) })
		sgc := summarize(ok, func(s *Sample) float64 { return float64(s.SendGC) })
		runs := runsCell(st.N, failed)
		if st.N == 0 {
			fmt.Fprintf(w, "| %s | - | - | - | %s | - | - | - | - |\n", c.Name(), runs)
			continue
		}
		lostCell := "0"
		if lost.Max > 0 {
			lostCell = fmt.Sprintf("%.2f%%", lost.Med)
		}
		fmt.Fprintf(w, "| %s | **%s** | %s - %s | %s | %s | %s | %s | %.2f | %.0f / %.0f |\n", c.Name(), num(st.Med), num(st.Min), num(st.Max),
			otherFmt(ms.Med), runs, advantageCell(c, stt, st.Med, true), lostCell, cores.Med, rgc.Med, sgc.Med)
	}
	skippedRows(w, rep, wl, 9)
	fmt.Fprintln(w)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func rttTable(w io.Writer, rep *runReport, wl Workload) {
	b := rep.Budgets[wl.Name]
	fmt.Fprintf(w, "## %s\n\n%s of %v warm-up + %v window; percentiles from a log-linear histogram (<1%% bucket error) of every round trip in the window.\n\n", wl.Title, plural(b.Rounds, "round"), b.Warmup, b.Duration)
	fmt.Fprint(w, "| contender | p50 us | min - max | p99 us | min - max | round trips / run | runs | sttfast advantage p50 / p99 |\n|---|---|---|---|---|---|---|---|\n")
	p50 := func(s *Sample) float64 { return s.P50us }
	p99 := func(s *Sample) float64 { return s.P99us }
	stt50, stt99 := sttMedian(rep, wl, p50), sttMedian(rep, wl, p99)
	for _, c := range rep.contenders {
		if !c.Supports(wl) {
			continue
		}
		ok, failed := collect(rep.Samples, wl.Name, c.Name())
		a, z := summarize(ok, p50), summarize(ok, p99)
		n := summarize(ok, func(s *Sample) float64 { return float64(s.measured().RTT.Samples) })
		if a.N == 0 {
			fmt.Fprintf(w, "| %s | - | - | - | - | - | %s | - |\n", c.Name(), runsCell(0, failed))
			continue
		}
		fmt.Fprintf(w, "| %s | **%.1f** | %.1f - %.1f | **%.1f** | %.1f - %.1f | %.0f | %s | %s / %s |\n", c.Name(), a.Med, a.Min, a.Max, z.Med, z.Min, z.Max,
			n.Med, runsCell(a.N, failed), advantageCell(c, stt50, a.Med, false), advantageCell(c, stt99, z.Med, false))
	}
	fmt.Fprintln(w)
}

func sealTable(w io.Writer, rep *runReport, wl Workload) {
	ok, failed := collect(rep.Samples, wl.Name, "aes-ceiling")
	st := summarize(ok, func(s *Sample) float64 { return s.Value })
	fmt.Fprintf(w, "## %s\n\n", wl.Title)
	if st.N == 0 {
		fmt.Fprintf(w, "No result (%s).\n\n", runsCell(0, failed))
		return
	}
	what := "sealing nothing but packets; a transport that also packs, sends, receives and opens them"
	if wl.Name == "open" {
		what = "opening nothing but packets (each copied into the buffer first: an open consumes its input); a transport that also receives, acknowledges and delivers them"
	}
	fmt.Fprintf(w, "**%.2f GB/s** (%.1f Gbit/s) median, %.2f - %.2f over %s. One core %s shares the machine's cores between those jobs.\n\n",
		st.Med, st.Med*8, st.Min, st.Max, plural(st.N, "run")+failedNote(failed), what)
}

func failedNote(failed int) string {
	if failed > 0 {
		return fmt.Sprintf(" (+%d failed)", failed)
	}
	return ""
}

func runsCell(n, failed int) string {
	if failed > 0 {
		return fmt.Sprintf("%d (+%d failed)", n, failed)
	}
	return fmt.Sprint(n)
}

// advantageCell is sttfast's advantage over c, or its share of a ceiling.
func advantageCell(c Contender, stt, v float64, higher bool) string {
	if math.IsNaN(stt) || v <= 0 {
		return "-"
	}
	switch c.Class() {
	case classPeer:
		return fmt.Sprintf("%.2fx", advantage(stt, v, higher))
	case classCeiling:
		if higher {
			return fmt.Sprintf("sttfast at %.0f%%", 100*stt/v)
		}
		return fmt.Sprintf("%.2fx the floor", stt/v)
	}
	return "-"
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// infoSection lists what the children reported about their configuration (cipher suite, offloads,
// packet size, helper command lines): per contender and role, every distinct value of each key.
func infoSection(w io.Writer, rep *runReport) {
	volatile := map[string]bool{"accepted": true, "refused": true, "failed_dials": true, "handshake_queue_drops": true,
		"first_dial_error": true, "final_input_rate_mbit": true, "max_input_rate_in_window_mbit": true,
		"packets_lost": true, "retransmitted_bytes": true, "ptos": true, "send_buffered_peak_per_session": true}
	type key struct{ contender, role string }
	var order []key
	vals := map[key]map[string][]string{}
	for _, s := range rep.Samples {
		for _, r := range []*Result{s.Recv, s.Send} {
			if r == nil {
				continue
			}
			k := key{s.Contender, r.Role}
			for name, v := range r.Info {
				if volatile[name] {
					continue
				}
				if vals[k] == nil {
					vals[k] = map[string][]string{}
					order = append(order, k)
				}
				if !slices.Contains(vals[k][name], v) {
					vals[k][name] = append(vals[k][name], v)
				}
			}
		}
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprint(w, "## As reported by the processes\n\n")
	for _, k := range order {
		var kv []string
		for name, vs := range vals[k] {
			kv = append(kv, name+"="+strings.Join(vs, " | "))
		}
		sort.Strings(kv)
		fmt.Fprintf(w, "- %s %s: %s\n", k.contender, k.role, strings.Join(kv, "; "))
	}
	fmt.Fprintln(w)
}

func errorSection(w io.Writer, rep *runReport) {
	var lines []string
	for _, s := range rep.Samples {
		if s.Error != "" {
			lines = append(lines, fmt.Sprintf("- %s, %s, round %d: %s", s.Workload, s.Contender, s.Round, s.Error))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprint(w, "## Failed runs (no number reported for them)\n\n")
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	fmt.Fprintln(w)
}

// goal is one target of issue 3.
type goal struct {
	metric, workload, target string
	f                        func(*Sample) float64
	met                      func(float64) bool
	format                   func(float64) string
}

var sttGoals = []goal{
	{"Bulk goodput (64 KiB writes)", "bulk", ">= 10 Gbit/s", func(s *Sample) float64 { return s.Gbps },
		func(v float64) bool { return v >= 10 }, func(v float64) string { return fmt.Sprintf("%.2f Gbit/s", v) }},
	{"64-byte messages", "msg64", ">= 5 M msg/s", func(s *Sample) float64 { return s.MsgsPerSec / 1e6 },
		func(v float64) bool { return v >= 5 }, func(v float64) string { return fmt.Sprintf("%.2f M msg/s", v) }},
	{"RTT p50 (64 B ping-pong)", "rtt", "<= 25 us", func(s *Sample) float64 { return s.P50us },
		func(v float64) bool { return v <= 25 }, func(v float64) string { return fmt.Sprintf("%.1f us", v) }},
	{"RTT p99 (64 B ping-pong)", "rtt", "<= 100 us", func(s *Sample) float64 { return s.P99us },
		func(v float64) bool { return v <= 100 }, func(v float64) string { return fmt.Sprintf("%.1f us", v) }},
	{"Handshakes", "handshake", ">= 20 k/s", func(s *Sample) float64 { return s.MsgsPerSec / 1e3 },
		func(v float64) bool { return v >= 20 }, func(v float64) string { return fmt.Sprintf("%.1f k/s", v) }},
	{"Idle session, heap in use", "idle", "<= 4 KiB", func(s *Sample) float64 { return s.Value },
		func(v float64) bool { return v <= 4096 }, func(v float64) string { return fmt.Sprintf("%.0f B", v) }},
	{"Idle session, RSS", "idle", "<= 4 KiB", func(s *Sample) float64 { return s.RSSPerSession },
		func(v float64) bool { return v <= 4096 }, func(v float64) string { return fmt.Sprintf("%.0f B", v) }},
}

// sttGoalRow writes one row of the stt report's table: sttfast's median on g, and whether it meets g.
func sttGoalRow(w io.Writer, rep *runReport, g goal) {
	ok, failed := collect(rep.Samples, g.workload, "sttfast")
	st := summarize(ok, g.f)
	if st.N == 0 {
		fmt.Fprintf(w, "| %s | %s | not run | - | %s | - |\n", g.metric, g.target, runsCell(0, failed))
		return
	}
	met := "no"
	if g.met(st.Med) {
		met = "yes"
	}
	fmt.Fprintf(w, "| %s | %s | **%s** | %s - %s | %s | %s |\n", g.metric, g.target, g.format(st.Med), g.format(st.Min), g.format(st.Max), runsCell(st.N, failed), met)
}

func writeSTTMarkdown(w io.Writer, rep *runReport, jsonName string) error {
	writeHeader(w, rep, "sttfast's own numbers (issue 3), "+rep.Started.Format("2006-01-02"), jsonName)
	fmt.Fprint(w, "Medians over the rounds, with min-max. Same method as the peers report: two processes on loopback,\n"+
		"goodput verified at the receiver, warm-up excluded. The goal is met when the median meets it.\n\n")
	fmt.Fprint(w, "| metric | goal | median | min - max | runs | met |\n|---|---|---|---|---|---|\n")
	for _, g := range sttGoals {
		sttGoalRow(w, rep, g)
		if g.workload == "handshake" { // issue 16's rate with forward secrecy, beside the seed-only one
			fsSTTRow(w, rep)
		}
	}
	ok, failed := collect(rep.Samples, "bulk10s", "sttfast")
	if st := summarize(ok, func(s *Sample) float64 { return float64(s.RecvGC) }); st.N > 0 {
		ss := summarize(ok, func(s *Sample) float64 { return float64(s.SendGC) })
		gb := summarize(ok, func(s *Sample) float64 { return s.Gbps })
		win := rep.Budgets["bulk10s"].Duration
		fmt.Fprintf(w, "| GC cycles in a %v bulk window | none set (zero-allocation data plane) | receiver **%.0f**, sender **%.0f** | %.0f-%.0f / %.0f-%.0f | %s | - |\n",
			win, st.Med, ss.Med, st.Min, st.Max, ss.Min, ss.Max, runsCell(st.N, failed))
		fmt.Fprintf(w, "\nThe GC window moved %.2f Gbit/s.\n", gb.Med)
	} else {
		fmt.Fprintf(w, "| GC cycles in a 10 s bulk window | none set | not run | - | %s | - |\n", runsCell(0, failed))
	}
	fmt.Fprintln(w)
	if b, ok := rep.Budgets["handshake"]; ok {
		fmt.Fprintf(w, "Handshakes: one dialing node in its own process keeps %d dials in flight to a listener in another; each completed Dial (session established on both sides) counts, and the session is closed at once.\n\n", b.Concurrency)
		if hasContender(rep, "sttfast-fs") {
			fmt.Fprint(w, "sttfast-fs is the same with Config.ForwardSecrecy on both nodes (an ephemeral X25519 exchange in every handshake), interleaved with sttfast in the same rounds; every session it counted was checked to be forward-secret.\n\n")
		}
	}
	if b, ok := rep.Budgets["idle"]; ok {
		fmt.Fprintf(w, "Idle sessions: the listener process (DiscardAccepted, MaxSessions raised to fit) holds %d sessions dialed from another process; (HeapInuse after - before) / sessions and (RSS after - before) / sessions, each after runtime.GC and debug.FreeOSMemory. The handshake replay caches hold an entry per session while its proof could still be replayed, and that is counted.\n\n", b.Sessions)
		ok, _ := collect(rep.Samples, "idle", "sttfast")
		if st := summarize(ok, func(s *Sample) float64 {
			if s.Send == nil || s.Send.Idle == nil {
				return 0
			}
			return s.Send.Idle.HeapPerSession
		}); st.N > 0 {
			fmt.Fprintf(w, "The dialing side (initiator) spends %.0f B of heap per session (median).\n\n", st.Med)
		}
		if st := summarize(ok, func(s *Sample) float64 {
			if s.Send == nil || s.Send.Idle == nil {
				return 0
			}
			return s.Send.Idle.HandshakesPerSec
		}); st.N > 0 {
			fmt.Fprintf(w, "Establishing those sessions (kept open, %d dials in flight) ran at %.1f k handshakes/s (median).\n\n", b.Concurrency, st.Med/1e3)
		}
	}
	errorSection(w, rep)
	return nil
}
