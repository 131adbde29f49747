package peerbench

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A sweep (issue 15, "a fair race") runs one peer over a grid of settings of its main knobs on
// the bulk workload (and 64-byte messages for the stream peers), every setting once per round,
// interleaved as in the race, and writes results/sweep-DATE.{md,json} with each setting's median
// and min-max and the best per workload. Each peer is swept by its own command (so that each run
// stays short on a shared machine); the day's file gathers them: a new sweep of a peer's workload
// replaces the previous one.

// sweepDefaults keep one peer's sweep within about two minutes on 2 cores (kcp-go's 18 settings
// x 3 rounds x (0.3 s + 1 s + start-up) per workload).
const (
	sweepRounds   = 3
	sweepWarmup   = 300 * time.Millisecond
	sweepDuration = time.Second
)

// sweepPrevious is what the race ran before the sweep, per peer, shown beside the winners.
var sweepPrevious = map[string]string{
	"kcp-go":  "window=4096/mtu=1200/nodelay=fast3",
	"quic-go": "streamwin=default/connwin=default",
	"srt":     "latency=120/buffers=default",
}

// sweepPeers is the order of the peers in the sweep report.
var sweepPeers = []string{"kcp-go", "quic-go", "srt"}

// sweepFile is results/sweep-DATE.json: the day's sweeps, the latest of each peer's workloads.
type sweepFile struct {
	Date    string      `json:"date"`
	Machine Machine     `json:"machine"`
	Runs    []*sweepRun `json:"runs"`
}

// sweepRun is one sweep command: one peer, its settings (contender names with their knob sets,
// in grid order) on some workloads, and every sample.
type sweepRun struct {
	Peer string `json:"peer"`
	// Stage names the sweep: "grid" for the whole grid in short runs, another name (say
	// "confirm") for a second look at the leaders with the race's budget.
	Stage      string            `json:"stage,omitempty"`
	Workloads  []string          `json:"workloads"`
	Settings   []string          `json:"settings"`
	Command    string            `json:"command"`
	Started    time.Time         `json:"started"`
	Finished   time.Time         `json:"finished"`
	LoadBefore string            `json:"loadavg_before"`
	LoadAfter  string            `json:"loadavg_after"`
	Budgets    map[string]budget `json:"budgets"`
	Skipped    map[string]string `json:"skipped,omitempty"`
	Samples    []*Sample         `json:"samples"`
}

// sweepConfig is the sweep command's configuration.
type sweepConfig struct {
	Peer      string
	Stage     string
	Workloads string
	Settings  string // comma-separated knob sets ("": the peer's grid)
	Rounds    int
	Warmup    time.Duration
	Duration  time.Duration
	Out, Date string
	Verbose   bool
	DryRun    bool
	Exe       string
	Env       []string
}

func runSweepCommand(args []string, stdout, stderr io.Writer) error {
	sc := sweepConfig{}
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&sc.Peer, "peer", "", "the peer to sweep: kcp-go, quic-go or srt")
	fs.StringVar(&sc.Stage, "stage", "grid", "name of this sweep: a new sweep replaces the day's sweep of the same peer, stage and workloads (e.g. grid, then confirm for the leaders with the race's budget)")
	fs.StringVar(&sc.Workloads, "workloads", "", "comma-separated workloads (default: bulk, and msg64 for kcp-go and quic-go)")
	fs.StringVar(&sc.Settings, "settings", "", "comma-separated knob sets, e.g. window=1024/mtu=1400/nodelay=fast (default: the peer's grid)")
	fs.IntVar(&sc.Rounds, "rounds", sweepRounds, "rounds per setting")
	fs.DurationVar(&sc.Warmup, "warmup", sweepWarmup, "warm-up of every run")
	fs.DurationVar(&sc.Duration, "duration", sweepDuration, "window of every run")
	fs.StringVar(&sc.Out, "out", "benchmarks/results", "directory of sweep-DATE.{md,json}")
	fs.StringVar(&sc.Date, "date", time.Now().UTC().Format("2006-01-02"), "date in the file names")
	fs.BoolVar(&sc.Verbose, "v", false, "show the children's stderr")
	fs.BoolVar(&sc.DryRun, "dry-run", false, "print the plan, run nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	sc.Exe = exe
	return sweep(sc, strings.TrimSpace("peerbench sweep "+strings.Join(args, " ")), stdout)
}

// sweep runs one peer's grid and merges it into the day's sweep files.
func sweep(sc sweepConfig, command string, log io.Writer) error {
	c, err := contenderByName(sc.Peer)
	if err != nil {
		return err
	}
	t, ok := c.(tunable)
	if !ok || sc.Peer != c.Name() {
		return fmt.Errorf("%w: %q is not a peer with knobs (have %s)", ErrBadKnobs, sc.Peer, strings.Join(sweepPeers, ", "))
	}
	specs := t.sweepGrid()
	if sc.Settings != "" {
		specs = strings.Split(sc.Settings, ",")
	}
	var names []string
	for _, spec := range specs {
		v, err := t.withKnobs(strings.TrimSpace(spec))
		if err != nil {
			return err
		}
		names = append(names, v.Name())
	}
	workloads := sc.Workloads
	if workloads == "" {
		workloads = strings.Join(t.sweepWorkloads(), ",")
	}
	rc := runConfig{Suite: "peers", Contenders: strings.Join(names, ","), Workloads: workloads,
		Rounds: sc.Rounds, Warmup: sc.Warmup, Duration: sc.Duration, Out: sc.Out, Date: sc.Date,
		Verbose: sc.Verbose, DryRun: sc.DryRun, MayInstall: true, Exe: sc.Exe, Env: sc.Env}
	rep, err := orchestrate(rc, log)
	if err != nil || sc.DryRun {
		return err
	}
	run := &sweepRun{Peer: sc.Peer, Stage: sc.Stage, Settings: names, Command: command, Started: rep.Started,
		Finished: rep.Finished, LoadBefore: rep.LoadBefore, LoadAfter: rep.LoadAfter,
		Budgets: rep.Budgets, Skipped: rep.Skipped, Samples: rep.Samples}
	for _, w := range rep.workloadsBy {
		run.Workloads = append(run.Workloads, w.Name)
	}
	base := filepath.Join(sc.Out, "sweep-"+sc.Date)
	f, err := loadSweepFile(base + ".json")
	if err != nil {
		return err
	}
	f.Date, f.Machine = sc.Date, rep.Machine
	f.merge(run)
	return writeSweepFiles(f, base, log)
}

// loadSweepFile reads the day's sweeps; a missing file is an empty day.
func loadSweepFile(path string) (*sweepFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &sweepFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	f := &sweepFile{}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// merge adds run, dropping what earlier runs of the same peer and stage measured on run's
// workloads.
func (f *sweepFile) merge(run *sweepRun) {
	kept := f.Runs[:0]
	for _, r := range f.Runs {
		if r.Peer == run.Peer && r.Stage == run.Stage {
			r.Workloads = slices.DeleteFunc(r.Workloads, func(w string) bool { return slices.Contains(run.Workloads, w) })
			r.Samples = slices.DeleteFunc(r.Samples, func(s *Sample) bool { return slices.Contains(run.Workloads, s.Workload) })
		}
		if len(r.Workloads) > 0 {
			kept = append(kept, r)
		}
	}
	f.Runs = append(kept, run)
}

func writeSweepFiles(f *sweepFile, base string, log io.Writer) error {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return err
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return err
	}
	var md bytes.Buffer
	writeSweepMarkdown(&md, f, filepath.Base(base)+".json")
	for _, out := range []struct {
		path string
		b    []byte
	}{{base + ".json", js.Bytes()}, {base + ".md", md.Bytes()}} {
		if err := os.WriteFile(out.path, out.b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s\n", out.path)
	}
	return nil
}

// settingResult is one setting's numbers on one workload.
type settingResult struct {
	Name   string
	Spec   string
	St     stat
	Failed int
	Lost   float64 // median share of datagrams lost, for SRT
}

// sweepHeadline is the number a setting is judged by: goodput, or messages per second in
// millions for small messages (as in the race's tables).
func sweepHeadline(wl Workload) (func(*Sample) float64, string) {
	if wl.Unit == "M msg/s" {
		return func(s *Sample) float64 { return s.MsgsPerSec / 1e6 }, "M msg/s"
	}
	return func(s *Sample) float64 { return s.Gbps }, "Gbit/s"
}

// results summarises every setting of r on wl, in grid order, and returns the best's index
// (-1 when no setting produced a number).
func (r *sweepRun) results(wl Workload) ([]settingResult, int) {
	head, _ := sweepHeadline(wl)
	var out []settingResult
	best := -1
	for _, name := range r.Settings {
		ok, failed := collect(r.Samples, wl.Name, name)
		_, spec := splitKnobs(name)
		sr := settingResult{Name: name, Spec: spec, St: summarize(ok, head), Failed: failed,
			Lost: summarize(ok, func(s *Sample) float64 { return s.LossPct }).Med}
		if sr.St.N > 0 && (best < 0 || sr.St.Med > out[best].St.Med) {
			best = len(out)
		}
		out = append(out, sr)
	}
	return out, best
}

func writeSweepMarkdown(w io.Writer, f *sweepFile, jsonName string) {
	fmt.Fprintf(w, "# The peers' settings swept, %s\n\n", f.Date)
	fmt.Fprint(w, `Issue 15, "a fair race": each peer's main knobs over a grid, so that the race (`+"`make bench-peers`"+`)
runs every peer at its best. Every setting runs once per round, in a fresh pair of processes on
loopback, interleaved with the others (A B C ... A B C ...), exactly as in the race: goodput is
counted at the receiver after every byte was checked. Each cell is the median over the rounds,
with min-max. The machine is shared with other work (load averages below): read the settings'
order, not the absolute numbers, and expect close settings to swap places from run to run.

`)
	m := f.Machine
	fmt.Fprintf(w, "Machine: %s, %d cores, kernel %s, %s %s, loopback MTU %s. Every sample is in [%s](%s).\n\n",
		m.CPU, m.Cores, m.Kernel, m.Go, m.OSArch, m.LoopbackMTU, jsonName, jsonName)
	type winner struct{ peer, stage, workload, best, prev string }
	var winners []winner
	for _, peer := range sweepPeers {
		for _, r := range f.Runs {
			if r.Peer != peer {
				continue
			}
			fmt.Fprintf(w, "## %s: %s (%s)\n\n", peer, strings.Join(r.Workloads, ", "), r.Stage)
			fmt.Fprintf(w, "```sh\n%s\n```\n\n", r.Command)
			fmt.Fprintf(w, "Measured %s to %s, load average %s before, %s after.\n\n",
				r.Started.Format("2006-01-02 15:04:05"), r.Finished.Format("15:04:05 UTC"), r.LoadBefore, r.LoadAfter)
			for n, why := range r.Skipped {
				fmt.Fprintf(w, "- %s: not run, %s\n\n", n, why)
			}
			for _, name := range r.Workloads {
				wl, err := workloadByName(name)
				if err != nil {
					continue
				}
				best, prev := sweepTable(w, r, wl)
				winners = append(winners, winner{peer, r.Stage, wl.Name, best, prev})
			}
		}
	}
	if len(winners) == 0 {
		return
	}
	fmt.Fprint(w, "## Winners\n\n| peer | sweep | workload | best setting | median | the race's setting before | its median | best / before |\n|---|---|---|---|---|---|---|---|\n")
	for _, v := range winners {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", v.peer, v.stage, v.workload, v.best+v.prev)
	}
	fmt.Fprintln(w)
}

// sweepTable writes one workload's table for run r and returns the winners row's cells (best
// setting and median; the previous setting, its median and the gain).
func sweepTable(w io.Writer, r *sweepRun, wl Workload) (best, prev string) {
	_, unit := sweepHeadline(wl)
	b := r.Budgets[wl.Name]
	rs, bi := r.results(wl)
	fmt.Fprintf(w, "### %s (%s)\n\n%s of %v warm-up + %v window per setting.\n\n", wl.Title, unit, plural(b.Rounds, "round"), b.Warmup, b.Duration)
	fmt.Fprintf(w, "| setting | median %s | min - max | runs | share of the best |", unit)
	lossCol := slices.ContainsFunc(rs, func(s settingResult) bool { return s.Lost > 0 })
	if lossCol {
		fmt.Fprint(w, " lost |")
	}
	fmt.Fprint(w, "\n|---|---|---|---|---|")
	if lossCol {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	prevSpec := sweepPrevious[r.Peer]
	prevMed := math.NaN()
	for i, s := range rs {
		label := "`" + s.Spec + "`"
		if s.Spec == prevSpec {
			label += " (the race's setting before)"
			if s.St.N > 0 {
				prevMed = s.St.Med
			}
		}
		if s.St.N == 0 {
			fmt.Fprintf(w, "| %s | - | - | %s | - |", label, runsCell(0, s.Failed))
		} else {
			med := num(s.St.Med)
			share := fmt.Sprintf("%.0f%%", 100*s.St.Med/rs[bi].St.Med)
			if i == bi {
				med, share = "**"+med+"**", "**best**"
			}
			fmt.Fprintf(w, "| %s | %s | %s - %s | %s | %s |", label, med, num(s.St.Min), num(s.St.Max), runsCell(s.St.N, s.Failed), share)
		}
		if lossCol {
			fmt.Fprintf(w, " %.2f%% |", s.Lost)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	if bi < 0 {
		return "no setting produced a number", " | - | - | - | -"
	}
	best = fmt.Sprintf("`%s` | %s %s", rs[bi].Spec, num(rs[bi].St.Med), unit)
	if math.IsNaN(prevMed) {
		return best, fmt.Sprintf(" | `%s` | not measured | -", prevSpec)
	}
	return best, fmt.Sprintf(" | `%s` | %s | %.2fx", prevSpec, num(prevMed), rs[bi].St.Med/prevMed)
}

// tunedPeersNote says, at the head of a race report, that the peers ran at the settings their
// sweep chose, and names them (from the run's JSON, so an old run's report stays true).
func tunedPeersNote(w io.Writer, rep *runReport) {
	var lines []string
	for _, c := range rep.contenders {
		if k, ok := rep.Knobs[c.Name()]; ok && c.Class() == classPeer {
			if _, spec := splitKnobs(c.Name()); spec == "" {
				lines = append(lines, fmt.Sprintf("- **%s**: %s", c.Name(), k))
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "**The peers are tuned** (issue 15, a fair race): each runs the best setting of its main knobs that `peerbench sweep` found on this machine (results/sweep-2026-12-03.md; \"Tuning the peers\" in benchmarks/README.md), so the goals below judge sttfast against the peers at their best.\n\n%s\n\n", strings.Join(lines, "\n"))
}
