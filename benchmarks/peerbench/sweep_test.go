package peerbench

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKnobSets checks that every peer's knob sets parse, print back the same, and reach the
// child as the same contender name (the name is all a child gets).
func TestKnobSets(t *testing.T) {
	for _, peer := range sweepPeers {
		c, err := contenderByName(peer)
		if err != nil {
			t.Fatal(err)
		}
		tc := c.(tunable)
		seen := map[string]bool{}
		for _, spec := range tc.sweepGrid() {
			v, err := tc.withKnobs(spec)
			if err != nil {
				t.Fatalf("%s: grid setting %q: %v", peer, spec, err)
			}
			if want := peer + knobSep + spec; v.Name() != want {
				t.Errorf("%s: %q runs as %q", peer, want, v.Name())
			}
			again, err := contenderByName(v.Name())
			if err != nil || again.Name() != v.Name() {
				t.Errorf("%s: contenderByName(%q) = %v, %v", peer, v.Name(), again, err)
			}
			if seen[spec] {
				t.Errorf("%s: %q twice in the grid", peer, spec)
			}
			seen[spec] = true
		}
		if knobsRecord(c) == "" || !strings.Contains(c.Describe(), "tuned by") {
			t.Errorf("%s: the plain contender does not name its tuned settings", peer)
		}
	}
	for peer, n := range map[string]int{"kcp-go": 18, "quic-go": 3, "srt": 4} {
		c, _ := contenderByName(peer)
		if got := len(c.(tunable).sweepGrid()); got != n {
			t.Errorf("%s: %d settings in the grid, want %d", peer, got, n)
		}
	}
}

func TestKnobSetErrors(t *testing.T) {
	bad := []string{
		"kcp-go@", "kcp-go@window", "kcp-go@window=", "kcp-go@window=12x", "kcp-go@window=8",
		"kcp-go@mtu=1501", "kcp-go@nodelay=turbo", "kcp-go@window=256/window=512", "kcp-go@speed=1",
		"quic-go@streamwin=16", "quic-go@connwin=0MiB", "quic-go@streamwin=2048MiB",
		"srt@latency=-1", "srt@buffers=huge", "sttfast@window=1",
	}
	for _, name := range bad {
		if c, err := contenderByName(name); !errors.Is(err, ErrBadKnobs) {
			t.Errorf("contenderByName(%q) = %v, %v; want ErrBadKnobs", name, c, err)
		}
	}
	c, err := contenderByName("kcp-go@mtu=1400")
	if err != nil {
		t.Fatal(err)
	}
	want := kcpTuned["bulk"]
	want.MTU = 1400
	if got := c.(*kcpContender).knobsFor("msg64"); got != want {
		t.Errorf("a partial knob set runs %+v, want the bulk setting with MTU 1400 (%+v)", got, want)
	}
}

// TestTunedSettingsPerWorkload checks that the plain peers run the sweep's winners per workload.
func TestTunedSettingsPerWorkload(t *testing.T) {
	k := &kcpContender{}
	for _, w := range []string{"bulk", "msg64"} {
		if k.knobsFor(w) != kcpTuned[w] {
			t.Errorf("kcp-go runs %+v on %s, want %+v", k.knobsFor(w), w, kcpTuned[w])
		}
	}
	if k.knobsFor("rtt") != kcpTuned[""] {
		t.Errorf("kcp-go runs %+v on rtt, want %+v", k.knobsFor("rtt"), kcpTuned[""])
	}
	q := &quicContender{}
	if q.knobsFor("bulk") != quicTuned["bulk"] || q.knobsFor("fanout") != quicTuned[""] {
		t.Error("quic-go does not run its tuned settings")
	}
	if c := quicConfig(quicKnobs{StreamMiB: 16, ConnMiB: 32}); c.MaxStreamReceiveWindow != 16<<20 || c.InitialConnectionReceiveWindow != 32<<20 {
		t.Errorf("quicConfig(16/32) = %+v", c)
	}
	if c := quicConfig(quicKnobs{}); c.MaxStreamReceiveWindow != 0 || c.MaxConnectionReceiveWindow != 0 {
		t.Errorf("the default setting changed quic-go's defaults: %+v", c)
	}
}

func FuzzParseKnobs(f *testing.F) {
	for _, s := range []string{"window=1024/mtu=1400/nodelay=fast", "streamwin=16MiB/connwin=default", "latency=20/buffers=large", "a=b=c//", "=/="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if k, err := parseKCPKnobs(spec, kcpTuned["bulk"]); err == nil {
			if again, err := parseKCPKnobs(k.String(), kcpKnobs{}); err != nil || again != k {
				t.Fatalf("kcp %q -> %+v -> %q does not round-trip: %+v, %v", spec, k, k.String(), again, err)
			}
		}
		if k, err := parseQUICKnobs(spec, quicKnobs{}); err == nil {
			if again, err := parseQUICKnobs(k.String(), quicKnobs{}); err != nil || again != k {
				t.Fatalf("quic %q -> %+v does not round-trip: %+v, %v", spec, k, again, err)
			}
		}
		if k, err := parseSRTKnobs(spec, srtTuned); err == nil {
			if again, err := parseSRTKnobs(k.String(), srtKnobs{}); err != nil || again != k {
				t.Fatalf("srt %q -> %+v does not round-trip: %+v, %v", spec, k, again, err)
			}
		}
	})
}

// fakeSample is a successful bulk sample of contender at gbps.
func fakeSample(contender, workload string, round int, gbps float64) *Sample {
	return &Sample{Contender: contender, Workload: workload, Round: round, Gbps: gbps, MsgsPerSec: gbps * 1e9 / 8 / 64,
		Recv: &Result{Windowed: true, WindowS: 1}}
}

// TestSweepReport checks the choice of the best setting, the merge of a day's sweeps (a new
// sweep of a peer's workload replaces the old one, other peers and workloads stay) and the
// report.
func TestSweepReport(t *testing.T) {
	a, b := "kcp-go@window=1024/mtu=1400/nodelay=fast", "kcp-go@window=4096/mtu=1200/nodelay=fast3"
	run := func(w string, va, vb float64) *sweepRun {
		r := &sweepRun{Peer: "kcp-go", Workloads: []string{w}, Settings: []string{a, b},
			Budgets: map[string]budget{w: {Rounds: 3}}}
		for i := 1; i <= 3; i++ {
			r.Samples = append(r.Samples, fakeSample(a, w, i, va+float64(i)/100), fakeSample(b, w, i, vb+float64(i)/100))
		}
		return r
	}
	f := &sweepFile{Date: "2026-12-03"}
	f.merge(run("bulk", 0.5, 0.2))
	f.merge(&sweepRun{Peer: "quic-go", Workloads: []string{"bulk"}, Settings: []string{"quic-go@streamwin=default/connwin=default"},
		Samples: []*Sample{fakeSample("quic-go@streamwin=default/connwin=default", "bulk", 1, 2)}})
	f.merge(run("msg64", 0.1, 0.3))
	f.merge(run("bulk", 0.7, 0.2)) // replaces the first
	if len(f.Runs) != 3 {
		t.Fatalf("%d runs after the merges, want 3 (quic-go bulk, kcp-go msg64, kcp-go bulk)", len(f.Runs))
	}
	bulk, _ := workloadByName("bulk")
	rs, best := f.Runs[2].results(bulk)
	if best != 0 || rs[0].St.Med != 0.72 {
		t.Errorf("best bulk setting %d with %+v, want %s at 0.72", best, rs, a)
	}
	msg64, _ := workloadByName("msg64")
	if _, best := f.Runs[1].results(msg64); best != 1 {
		t.Errorf("best msg64 setting %d, want %s", best, b)
	}
	dir := t.TempDir()
	if err := writeSweepFiles(f, filepath.Join(dir, "sweep-x"), io.Discard); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "sweep-x.md"))
	for _, want := range []string{
		"| kcp-go |  | bulk | `window=1024/mtu=1400/nodelay=fast` | 0.720 Gbit/s | `window=4096/mtu=1200/nodelay=fast3` | 0.220 | 3.27x |",
		"| `window=4096/mtu=1200/nodelay=fast3` (the race's setting before) | **",
		"## quic-go: bulk (",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the sweep report lacks %q:\n%s", want, md)
		}
	}
	f.merge(&sweepRun{Peer: "kcp-go", Stage: "confirm", Workloads: []string{"bulk"}, Settings: []string{a},
		Samples: []*Sample{fakeSample(a, "bulk", 1, 0.6)}})
	if len(f.Runs) != 4 {
		t.Errorf("a confirming sweep replaced the grid's: %d runs, want 4", len(f.Runs))
	}
	back, err := loadSweepFile(filepath.Join(dir, "sweep-x.json"))
	if err != nil || len(back.Runs) != 3 || len(back.Runs[2].Samples) != 6 {
		t.Fatalf("the JSON does not read back: %v", err)
	}
}

// TestSkippedPeerRow checks that a peer that could not run (SRT without srt-live-transmit) has a
// row saying why in the race's tables, and that the race's report names the tuned settings.
func TestSkippedPeerRow(t *testing.T) {
	bulk, _ := workloadByName("bulk")
	k := &kcpContender{}
	rep := &runReport{Skipped: map[string]string{"srt": "srt-live-transmit not found; installing srt-tools failed: no network"},
		Knobs: map[string]string{"kcp-go": knobsRecord(k)}, contenders: []Contender{k}, workloadsBy: []Workload{bulk},
		Budgets: map[string]budget{"bulk": {Rounds: 1}}}
	var b bytes.Buffer
	throughputTable(&b, rep, bulk)
	tunedPeersNote(&b, rep)
	for _, want := range []string{"| srt | not run: srt-live-transmit not found; installing srt-tools failed: no network |", "**The peers are tuned**", "- **kcp-go**: tuned by"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// fakeInstallable is a contender whose tool appears once installed.
type fakeInstallable struct {
	Contender
	installed, calls int
	fail             error
}

func (f *fakeInstallable) Available() error {
	if f.installed == 0 {
		return errors.New("tool not found")
	}
	return nil
}

func (f *fakeInstallable) install(io.Writer) error {
	f.calls++
	if f.fail != nil {
		return f.fail
	}
	f.installed++
	return nil
}

func TestAvailableInstalls(t *testing.T) {
	f := &fakeInstallable{Contender: &srtContender{}}
	if err := available(f, false, io.Discard); err == nil || f.calls != 0 {
		t.Errorf("without leave to install: %v after %d installs", err, f.calls)
	}
	if err := available(f, true, io.Discard); err != nil || f.calls != 1 {
		t.Errorf("with leave to install: %v after %d installs", err, f.calls)
	}
	g := &fakeInstallable{Contender: &srtContender{}, fail: errors.New("apt-get install: exit status 100")}
	err := available(g, true, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "tool not found") || !strings.Contains(err.Error(), "exit status 100") {
		t.Errorf("a failed install says %v; want both reasons", err)
	}
}

// TestSweepRuns sweeps two kcp-go settings and two SRT ones (when installed) for a fraction of
// a second through the orchestrator and real processes, and checks the day's file has both.
func TestSweepRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts process pairs")
	}
	dir := t.TempDir()
	sc := sweepConfig{Peer: "kcp-go", Workloads: "bulk", Settings: "window=256/mtu=1200/nodelay=fast3,window=1024/mtu=1400/nodelay=fast",
		// kcp-go at window 256 can verify no byte in a 400 ms window after a 100 ms warm-up on a
		// loaded machine (CI saw it): the windows are those the harness test's rerun uses.
		Rounds: 1, Warmup: 500 * time.Millisecond, Duration: 1500 * time.Millisecond, Out: dir, Date: "test",
		Exe: os.Args[0], Env: []string{childEnv + "=1"}}
	var log bytes.Buffer
	if err := sweep(sc, "peerbench sweep (test)", &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	peers := []string{"kcp-go"}
	if (&srtContender{}).Available() == nil {
		sc.Peer, sc.Settings = "srt", "latency=20/buffers=large,latency=120/buffers=default"
		if err := sweep(sc, "peerbench sweep (test)", &log); err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		peers = append(peers, "srt")
	} else {
		t.Log("srt-live-transmit is not installed (.ci/setup-srt installs it): SRT's sweep not run")
	}
	f, err := loadSweepFile(filepath.Join(dir, "sweep-test.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Runs) != len(peers) {
		t.Fatalf("%d sweeps in the file, want %d", len(f.Runs), len(peers))
	}
	for _, r := range f.Runs {
		for _, s := range r.Samples {
			t.Run(s.Contender, func(t *testing.T) { checkSample(t, s) })
			if s.Recv.Info["knobs"] == "" || !strings.HasSuffix(s.Contender, s.Recv.Info["knobs"]) {
				t.Errorf("%s: the receiver ran knobs %q", s.Contender, s.Recv.Info["knobs"])
			}
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "sweep-test.md"))
	if !strings.Contains(string(md), "## Winners") {
		t.Errorf("no winners in the report:\n%s", md)
	}
}

// TestKnobVariantsFromJSON checks that a report rebuilt from a run's JSON keeps the contenders
// that ran a knob set beside the tuned ones.
func TestKnobVariantsFromJSON(t *testing.T) {
	got := knobVariants(map[string]string{"kcp-go": "", "srt@latency=20/buffers=large": "", "kcp-go@window=4096/mtu=1200/nodelay=fast3": "", "kcp-go@bogus=1": ""})
	if len(got) != 2 || got[0].Name() != "kcp-go@window=4096/mtu=1200/nodelay=fast3" || got[1].Name() != "srt@latency=20/buffers=large" {
		t.Errorf("knobVariants = %v", got)
	}
}
