package peerbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// runConfig is the orchestrator's configuration.
type runConfig struct {
	Suite      string
	Quick      bool
	Contenders string
	Workloads  string
	Rounds     int
	Warmup     time.Duration
	Duration   time.Duration
	Receivers  int
	Sessions   int
	SRTMaxBW   int64
	Out        string
	Date       string
	Verbose    bool
	DryRun     bool
	// Total is the transfer size of the jitter and netns suites' workloads (0: 64 MiB).
	Total int64
	// NetnsScript is hardening/netem/netns.sh for the netns suite ("": found from the working
	// directory or the executable).
	NetnsScript string
	// MayInstall lets the run install a missing peer tool (srt-tools with apt-get, as root); the
	// commands set it, the tests do not.
	MayInstall bool
	// Exe and Env start the children: the running binary by default, the test binary in tests.
	Exe string
	Env []string
	// budget replaces the budgets (tests run everything for a fraction of a second).
	budget func(Workload) budget
}

func runOrchestrator(args []string, stdout, stderr io.Writer) error {
	rc := runConfig{}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&rc.Suite, "suite", "peers", "peers (everything), stt (sttfast's own numbers), jitter (issue 10, delay line), longfat (issue 15, long fat paths through a rate-limited delay line) or netns (issue 10, lossy links between network namespaces; root)")
	fs.BoolVar(&rc.Quick, "quick", false, "one short round of everything (a smoke run, not a measurement)")
	fs.StringVar(&rc.Contenders, "contenders", "", "comma-separated contenders (default: the suite's)")
	fs.StringVar(&rc.Workloads, "workloads", "", "comma-separated workloads (default: the suite's)")
	fs.IntVar(&rc.Rounds, "rounds", 0, "rounds per workload (default: the budget's, 3)")
	fs.DurationVar(&rc.Warmup, "warmup", 0, "override every workload's warm-up")
	fs.DurationVar(&rc.Duration, "duration", 0, "override every workload's window (except bulk10s)")
	fs.IntVar(&rc.Receivers, "receivers", 0, "override the fan-out width (default 100)")
	fs.IntVar(&rc.Sessions, "sessions", 0, "override the idle session count (default 10000)")
	fs.Int64Var(&rc.SRTMaxBW, "srt-maxbw", 0, "SRT maxbw in bytes/s (default: the library's)")
	fs.StringVar(&rc.Out, "out", "benchmarks/results", "directory for the reports")
	fs.StringVar(&rc.Date, "date", time.Now().UTC().Format("2006-01-02"), "date in the report file names")
	fs.BoolVar(&rc.Verbose, "v", false, "show the children's stderr")
	fs.Int64Var(&rc.Total, "total", 0, "bytes per transfer in the jitter, longfat and netns suites (default 64 MiB; longfat 256 MiB, 32 MiB with --quick)")
	fs.StringVar(&rc.NetnsScript, "netns-script", "", "path of hardening/netem/netns.sh (default: found from the working directory or the executable)")
	fs.BoolVar(&rc.DryRun, "dry-run", false, "print the plan and its expected duration, run nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	rc.Exe = exe
	rc.MayInstall = true
	rep, err := orchestrate(rc, stdout)
	var skip *skipError
	if errors.As(err, &skip) {
		fmt.Fprintf(stdout, "peerbench run: %v; no report written\n", err)
		return nil
	}
	if err != nil || rc.DryRun {
		return err
	}
	cmd := "peerbench run " + strings.Join(args, " ")
	return writeReports(rc, rep, strings.TrimSpace(cmd), stdout)
}

// runReport is everything one orchestrator run measured.
type runReport struct {
	Suite      string            `json:"suite"`
	Quick      bool              `json:"quick"`
	Machine    Machine           `json:"machine"`
	Started    time.Time         `json:"started"`
	Finished   time.Time         `json:"finished"`
	Command    string            `json:"command"`
	Contenders map[string]string `json:"contenders"`
	// Knobs are the tuned peers' settings, per contender (issue 15: the race runs each peer at
	// the best setting its sweep found).
	Knobs       map[string]string `json:"knobs,omitempty"`
	Skipped     map[string]string `json:"skipped,omitempty"`
	Budgets     map[string]budget `json:"budgets"`
	Samples     []*Sample         `json:"samples"`
	LoadBefore  string            `json:"loadavg_before"`
	LoadAfter   string            `json:"loadavg_after"`
	workloadsBy []Workload
	contenders  []Contender
}

// orchestrate runs the plan and returns the samples (reports are written by the caller).
func orchestrate(rc runConfig, log io.Writer) (*runReport, error) {
	s, ok := suites[rc.Suite]
	if !ok {
		return nil, fmt.Errorf("unknown suite %q (peers, stt, jitter, longfat, netns)", rc.Suite)
	}
	if rc.Suite == "longfat" && rc.Total <= 0 {
		rc.Total = longfatTotal(rc.Quick)
	}
	cnames, err := selectNames(s.contenders, rc.Contenders)
	if err != nil {
		return nil, err
	}
	wnames, err := selectNames(s.workloads, rc.Workloads)
	if err != nil {
		return nil, err
	}
	rep := &runReport{Suite: rc.Suite, Quick: rc.Quick, Contenders: map[string]string{}, Knobs: map[string]string{},
		Skipped: map[string]string{}, Budgets: map[string]budget{}}
	for _, n := range cnames {
		c, err := contenderByName(n)
		if err != nil {
			return nil, err
		}
		if err := available(c, rc.MayInstall, log); err != nil {
			rep.Skipped[c.Name()] = err.Error()
			fmt.Fprintf(log, "note: skipping %s: %v\n", c.Name(), err)
			continue
		}
		rep.contenders = append(rep.contenders, c)
		rep.Contenders[c.Name()] = c.Describe()
		if k := knobsRecord(c); k != "" {
			rep.Knobs[c.Name()] = k
		}
	}
	for _, n := range wnames {
		w, err := workloadByName(n)
		if err != nil {
			return nil, err
		}
		b := budgetFor(w, rc.Quick)
		if rc.budget != nil {
			b = rc.budget(w)
		}
		if rc.Rounds > 0 {
			b.Rounds = rc.Rounds
		}
		if rc.Warmup > 0 {
			b.Warmup = rc.Warmup
		}
		if rc.Duration > 0 && w.Name != "bulk10s" && w.Kind != kindIdle {
			b.Duration = rc.Duration
		}
		if rc.Receivers > 0 {
			b.Receivers = rc.Receivers
		}
		if rc.Sessions > 0 {
			b.Sessions = rc.Sessions
		}
		rep.Budgets[w.Name] = b
		rep.workloadsBy = append(rep.workloadsBy, w)
	}
	items := plan(rep.contenders, rep.workloadsBy, rep.Budgets)
	if len(items) == 0 {
		return nil, errors.New("nothing to run: no selected contender supports the selected workloads")
	}
	if rc.DryRun {
		for i, it := range items {
			fmt.Fprintf(log, "%3d. %-9s round %d  %-13s warm-up %v, window %v\n", i+1, it.W.Name, it.Round, it.C.Name(), it.B.Warmup, it.B.Duration)
		}
		fmt.Fprintf(log, "%d runs, about %v%s\n", len(items), estimate(items).Round(time.Second), estimateNote(items))
		return rep, nil
	}
	// The netns workloads run between two network namespaces: check that they can be made before
	// anything runs, and delete the pair however the run ends (an interrupt included: the
	// signal context below turns it into a return).
	var nr *netnsRunner
	for _, it := range items {
		if it.W.Net != nil {
			nr, err = newNetnsRunner(rc.NetnsScript, log)
			if err != nil {
				return nil, err
			}
			defer nr.down()
			break
		}
	}
	rep.Machine = probeMachine()
	rep.LoadBefore = loadAvg()
	rep.Started = time.Now().UTC()
	fmt.Fprintf(log, "peerbench: %d runs, about %v%s (suite %s%s)\n", len(items), estimate(items).Round(time.Second), estimateNote(items), rc.Suite, map[bool]string{true: ", quick"}[rc.Quick])
	if rep.LoadBefore != "" {
		fmt.Fprintf(log, "load average before: %s\n", rep.LoadBefore)
	}
	prepEnv, cleanup, err := prepareContenders(rep.contenders, rep.Budgets, rc.Total, log)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	secretHex := hex.EncodeToString(secret)
	env := append(append(append(os.Environ(), rc.Env...), prepEnv...), secretEnv+"="+secretHex)
	// An interrupt kills the pair in flight (the children are in their own process groups, so the
	// terminal's signal does not reach them) and ends the run without a report.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var verbose io.Writer
	if rc.Verbose {
		verbose = log
	}
	for i, it := range items {
		if ctx.Err() != nil {
			return nil, errors.New("interrupted")
		}
		o := Options{Contender: it.C.Name(), Workload: it.W.Name, Warmup: it.B.Warmup, Duration: it.B.Duration,
			Receivers: it.B.Receivers, Sessions: it.B.Sessions, Concurrency: it.B.Concurrency, SRTMaxBW: rc.SRTMaxBW,
			Watchdog: runTimeout(it) + 30*time.Second, Total: rc.Total}
		var pl *placement
		var before map[string]int64
		if it.W.Net != nil {
			if err := nr.prepare(it.W.Net); err != nil {
				return nil, err
			}
			pl = nr.placement()
			if before, err = nr.stats(); err != nil {
				return nil, err
			}
		}
		t0 := time.Now()
		smp := runPair(ctx, rc.Exe, env, o, it, pl, verbose)
		if pl != nil {
			if after, err := nr.stats(); err == nil {
				smp.Netns = &NetnsStats{ID: nr.id, Rate: nr.rate, Loss: nr.loss, Counters: statsDelta(before, after)}
			} else {
				fmt.Fprintf(log, "netns: %v\n", err)
			}
		}
		// Error messages quote the children's stderr, where srt-live-transmit prints its URIs.
		smp.Error = strings.ReplaceAll(smp.Error, secretHex, "<secret>")
		smp.Round = it.Round
		smp.Started = t0.UTC()
		smp.Class = it.C.Class()
		derive(smp, it.W)
		rep.Samples = append(rep.Samples, smp)
		fmt.Fprintf(log, "[%d/%d] %-9s r%d %-13s %s (%.1fs)\n", i+1, len(items), it.W.Name, it.Round, it.C.Name(), smp.summary(it.W), time.Since(t0).Seconds())
	}
	if ctx.Err() != nil { // the last run was interrupted: no report, as for any other
		return nil, errors.New("interrupted")
	}
	rep.Finished = time.Now().UTC()
	rep.LoadAfter = loadAvg()
	return rep, nil
}

// peerResultWait bounds how long a failed pair waits for the other side's RESULT, which may name
// the cause (a content mismatch) where the first only saw its peer go away.
const peerResultWait = 2 * time.Second

// runTimeout bounds one pair of processes from start to exit.
func runTimeout(it runItem) time.Duration {
	d := 30*time.Second + firstDataTimeout + it.B.Warmup + it.B.Duration
	if it.W.Kind == kindIdle {
		d += time.Duration(it.B.Sessions/200) * time.Second
		if it.C.Name() == "sttfast-ws" {
			// A TCP connection, an upgrade and an engine per dial: on a busy 2-core machine
			// dialing ran at 100 a second.
			d += time.Duration(it.B.Sessions/20) * time.Second
		}
	}
	return d
}

// runPair starts the receiver, then the sender with the receiver's addresses, relays the marks,
// stops both and collects their results. Every wait has a deadline; on any failure both process
// groups are killed and the sample carries the error with the tail of the children's stderr.
// pl, when not nil, starts each child behind a command prefix (ip netns exec NAME) and binds it to
// an address of its namespace.
func runPair(ctx context.Context, exe string, env []string, o Options, it runItem, pl *placement, verbose io.Writer) *Sample {
	smp := &Sample{Contender: it.C.Name(), Workload: it.W.Name}
	lines := make(chan childLine, 256)
	var recv, send *child
	fail := func(format string, a ...any) *Sample {
		recv.kill()
		send.kill()
		msg := fmt.Sprintf(format, a...)
		for _, c := range []*child{recv, send} {
			if c != nil {
				if t := c.stderr.lastLines(4); t != "" {
					msg += fmt.Sprintf(" [%s stderr: %s]", c.name, t)
				}
			}
		}
		smp.Error = msg
		drain(recv, send)
		return smp
	}
	deadline := time.NewTimer(runTimeout(it))
	defer deadline.Stop()
	var err error
	var prefix []string
	if pl != nil {
		prefix, o.Bind = pl.recvPrefix, pl.recvBind
	}
	cexe, cargs := command(prefix, exe, o.args(roleRecv))
	recv, err = startChild(roleRecv, cexe, env, cargs, lines, verbose)
	if err != nil {
		return fail("%v", err)
	}
	solo := it.W.Kind == kindSeal
	measuring := recv
	results := map[*child]*Result{}
	gone := map[*child]bool{} // children whose stdout ended (they exited)
	var ready string
	// Phase 1: READY from the receiver, then start the sender.
	for ready == "" {
		select {
		case l := <-lines:
			switch {
			case l.eof:
				return fail("receiver exited before READY")
			case strings.HasPrefix(l.line, lineReady+" "):
				ready = strings.TrimPrefix(l.line, lineReady+" ")
			case strings.HasPrefix(l.line, lineResult+" "):
				r := parseResult(l.line)
				return fail("receiver failed before READY: %s", r.Error)
			}
		case <-deadline.C:
			return fail("no READY from the receiver within %v", runTimeout(it))
		case <-ctx.Done():
			return fail("interrupted")
		}
	}
	if !solo {
		o.Addrs = strings.Split(ready, ",")
		if p := it.W.Path; p != nil {
			line, err := startLine(ready, p, it.Round)
			if err != nil {
				return fail("delay line: %v", err)
			}
			defer func() { line.Close(); smp.Line = &LineStats{Up: line.Up(), Down: line.Down()} }()
			o.Addrs = []string{line.Addr().String()}
		}
		if pl != nil {
			prefix, o.Bind = pl.sendPrefix, pl.sendBind
		}
		cexe, cargs := command(prefix, exe, o.args(roleSend))
		send, err = startChild(roleSend, cexe, env, cargs, lines, verbose)
		if err != nil {
			return fail("%v", err)
		}
		if it.W.MeasuredBy == roleSend {
			measuring = send
		}
	}
	peer := func(c *child) *child {
		if c == recv {
			return send
		}
		return recv
	}
	// failed ends the pair for from's error r. Both sides usually fail together (one found a
	// problem and left, the other then lost its peer) and the one that only lost its peer often
	// reports first, so the peer's RESULT is awaited (at most peerResultWait): a content mismatch
	// found by either side is what the sample says.
	failed := func(from *child, r *Result) *Sample {
		msg := fmt.Sprintf("%s: %s", from.name, r.Error)
		other := peer(from)
		if other == nil || strings.Contains(r.Error, errVerify.Error()) {
			return fail("%s", msg)
		}
		t := time.NewTimer(peerResultWait)
		defer t.Stop()
		for {
			select {
			case l := <-lines:
				switch {
				case l.from != other:
				case l.eof:
					return fail("%s", msg)
				case strings.HasPrefix(l.line, lineResult+" "):
					if o := parseResult(l.line); strings.Contains(o.Error, errVerify.Error()) {
						msg = fmt.Sprintf("%s: %s", other.name, o.Error)
					}
					return fail("%s", msg)
				}
			case <-t.C:
				return fail("%s", msg)
			}
		}
	}
	// Phase 2: relay marks until the measuring side has closed its window and the other side has
	// applied the relayed end mark.
	ended, acked := false, send == nil
	for !ended || !acked {
		select {
		case l := <-lines:
			switch {
			case l.eof:
				if r := results[l.from]; r != nil && r.Error != "" {
					return failed(l.from, r)
				}
				return fail("%s exited before the window closed", l.from.name)
			case strings.HasPrefix(l.line, lineMark+" "):
				peer(l.from).send(l.line)
				if l.from == measuring && l.line == lineMark+" "+markEnd {
					ended = true
				}
			case l.line == lineMarked+" "+markEnd && l.from != measuring:
				acked = true
			case strings.HasPrefix(l.line, lineResult+" "):
				r := parseResult(l.line)
				results[l.from] = r
				if r.Error != "" {
					return failed(l.from, r)
				}
			}
		case <-deadline.C:
			return fail("the window did not close within %v", runTimeout(it))
		case <-ctx.Done():
			return fail("interrupted")
		}
	}
	// Phase 3: stop the sender first (the receiver keeps reading while it winds down), then the
	// receiver; each must print its RESULT and exit.
	for _, c := range []*child{send, recv} {
		if c == nil {
			continue
		}
		c.send(lineStop)
		stopT := time.NewTimer(15 * time.Second)
		for !gone[c] {
			select {
			case l := <-lines:
				switch {
				case l.eof:
					gone[l.from] = true // the other child may end first: fine once its RESULT is in
				case strings.HasPrefix(l.line, lineResult+" "):
					results[l.from] = parseResult(l.line)
				}
			case <-stopT.C:
				return fail("%s did not exit within 15 s of STOP", c.name)
			case <-ctx.Done():
				stopT.Stop()
				return fail("interrupted")
			}
		}
		stopT.Stop()
	}
	smp.Recv, smp.Send = results[recv], results[send]
	for _, c := range []*child{recv, send} {
		if c == nil {
			continue
		}
		r := results[c]
		switch {
		case c.waitErr != nil && (r == nil || r.Error == ""):
			// A clean RESULT from a process that then failed (a race report, a panic on exit).
			smp.Error = fmt.Sprintf("%s exited with %v after its RESULT (%s)", c.name, c.waitErr, c.stderr.lastLines(4))
		case r == nil:
			smp.Error = fmt.Sprintf("%s exited without a RESULT (%s)", c.name, c.stderr.lastLines(4))
		case r.Error != "":
			smp.Error = fmt.Sprintf("%s: %s", c.name, r.Error)
		}
		if smp.Error != "" {
			break
		}
	}
	return smp
}

// drain waits for killed children to exit (their stdout pumps never block: the line channel has
// room for everything a child prints).
func drain(cs ...*child) {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for _, c := range cs {
		if c == nil {
			continue
		}
		select {
		case <-c.exited:
		case <-t.C:
			return
		}
	}
}

func parseResult(line string) *Result {
	r := &Result{}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, lineResult+" ")), r); err != nil {
		r.Error = "unreadable RESULT: " + err.Error()
	}
	return r
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// reportPath names an output file: <out>/<kind>-<date>[-quick].<ext>.
func reportPath(rc runConfig, kind, ext string) string {
	name := kind + "-" + rc.Date
	if rc.Quick {
		name += "-quick"
	}
	return filepath.Join(rc.Out, name+"."+ext)
}
