package peerbench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// secretEnv carries the shared secret from the orchestrator to both children (sttfast seed, kcp
// key, SRT passphrase): the environment keeps it out of the process list.
const secretEnv = "PEERBENCH_SECRET"

// Options are the flags of the recv and send roles.
type Options struct {
	Contender, Workload string
	Addrs               []string
	Warmup, Duration    time.Duration
	// Size overrides the workload's message size.
	Size int
	// Receivers is the fan-out width, Sessions the idle session count, Concurrency the number of
	// dials in flight for the handshake workloads.
	Receivers, Sessions, Concurrency int
	// SRTMaxBW is SRTO_MAXBW in bytes/s for SRT (0: the library default, 1 Gbit/s in live mode).
	SRTMaxBW int64
	// Total is the size of a transfer workload in bytes (0: 64 MiB).
	Total int64
	// Bind is the IP address this child's sockets bind to (empty: 127.0.0.1). The netns suite
	// runs the receiver at 198.18.0.2 and the sender at 198.18.0.1, one in each namespace.
	Bind string
	// Watchdog ends a child that never gets STOP.
	Watchdog time.Duration
	Secret   []byte
}

func defaultOptions() Options {
	return Options{Warmup: time.Second, Duration: 3 * time.Second, Receivers: 100, Sessions: 10000,
		Concurrency: 64, Watchdog: 2 * time.Minute}
}

// args renders the options as the flags of a role, for the orchestrator.
func (o *Options) args(role string) []string {
	a := []string{role, "--contender", o.Contender, "--workload", o.Workload,
		"--warmup", o.Warmup.String(), "--duration", o.Duration.String(),
		"--receivers", strconv.Itoa(o.Receivers), "--sessions", strconv.Itoa(o.Sessions),
		"--concurrency", strconv.Itoa(o.Concurrency), "--watchdog", o.Watchdog.String()}
	if o.Size > 0 {
		a = append(a, "--size", strconv.Itoa(o.Size))
	}
	if o.Total > 0 {
		a = append(a, "--total", strconv.FormatInt(o.Total, 10))
	}
	if o.SRTMaxBW != 0 {
		a = append(a, "--srt-maxbw", strconv.FormatInt(o.SRTMaxBW, 10))
	}
	if o.Bind != "" {
		a = append(a, "--bind", o.Bind)
	}
	if len(o.Addrs) > 0 {
		a = append(a, "--addr", strings.Join(o.Addrs, ","))
	}
	return a
}

func (o *Options) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.Contender, "contender", o.Contender, "contender name")
	fs.StringVar(&o.Workload, "workload", o.Workload, "workload name")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up before the window (from the first unit of work)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measurement window")
	fs.IntVar(&o.Size, "size", o.Size, "message size in bytes (0: the workload's)")
	fs.IntVar(&o.Receivers, "receivers", o.Receivers, "fan-out receivers")
	fs.IntVar(&o.Sessions, "sessions", o.Sessions, "idle sessions")
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "dials in flight (handshakes, idle)")
	fs.Int64Var(&o.SRTMaxBW, "srt-maxbw", o.SRTMaxBW, "SRT maxbw in bytes/s (0: library default)")
	fs.Int64Var(&o.Total, "total", o.Total, "bytes of a transfer workload (0: 64 MiB)")
	fs.StringVar(&o.Bind, "bind", o.Bind, "IP address the sockets bind to (default 127.0.0.1)")
	fs.DurationVar(&o.Watchdog, "watchdog", o.Watchdog, "exit if no STOP arrives within this long")
}

// defaultBind is where children bind when Options.Bind is empty: loopback.
const defaultBind = "127.0.0.1"

// bindIP is the IP address this child's sockets bind to.
func (o *Options) bindIP() string {
	if o.Bind != "" {
		return o.Bind
	}
	return defaultBind
}

// bindAddr is bindIP with port 0 (any free port), in host:port form.
func (o *Options) bindAddr() string { return net.JoinHostPort(o.bindIP(), "0") }

// loadSecret reads the shared secret, or derives a fixed one for a role started by hand.
func loadSecret() ([]byte, error) {
	if h := os.Getenv(secretEnv); h != "" {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%s must be 64 hex digits", secretEnv)
		}
		return b, nil
	}
	s := sha256.Sum256([]byte("peerbench: a fixed secret for roles started by hand"))
	return s[:], nil
}

// Main runs the peerbench command with args (without the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case roleRecv, roleSend:
		return runChild(args[0], args[1:], stdin, stdout, stderr)
	case "run":
		if err := runOrchestrator(args[1:], stdout, stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintf(stderr, "peerbench run: %v\n", err)
			return 1
		}
		return 0
	case "sweep":
		if err := runSweepCommand(args[1:], stdout, stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintf(stderr, "peerbench sweep: %v\n", err)
			return 1
		}
		return 0
	case "report":
		fs := flag.NewFlagSet("report", flag.ContinueOnError)
		fs.SetOutput(stderr)
		out := fs.String("out", "", "directory for the reports (default: the JSON file's)")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: peerbench report [--out DIR] RESULTS.json")
			return 2
		}
		if err := rerender(fs.Arg(0), *out, stdout); err != nil {
			fmt.Fprintf(stderr, "peerbench report: %v\n", err)
			return 1
		}
		return 0
	case "list":
		listAll(stdout)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "peerbench: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  peerbench run [--suite peers|stt|jitter|longfat|netns] [--quick] [--contenders a,b] [--workloads x,y] [--rounds N] [--out DIR]
  peerbench recv --contender C --workload W [flags]      (a child role; prints READY, MARK, RESULT)
  peerbench send --contender C --workload W --addr A [flags]
  peerbench report [--out DIR] RESULTS.json               (rebuild the reports of a run from its JSON)
  peerbench list                                          (contenders, workloads, configurations, sweep grids)
  peerbench sweep --peer kcp-go|quic-go|srt [--workloads x,y] [--settings k=v/k=v,...] [--rounds N] [--out DIR]
                                                          (the peer's knobs over a grid: results/sweep-DATE.{md,json})

Run "peerbench run --help" for the orchestrator's flags.
`)
}

func listAll(w io.Writer) {
	fmt.Fprintln(w, "Workloads:")
	for _, wl := range workloads {
		fmt.Fprintf(w, "  %-10s %s\n", wl.Name, wl.Title)
	}
	fmt.Fprintln(w, "Contenders:")
	for _, c := range contenders() {
		var ws []string
		for _, wl := range workloads {
			if c.Supports(wl) {
				ws = append(ws, wl.Name)
			}
		}
		avail := "available"
		if err := c.Available(); err != nil {
			avail = "NOT AVAILABLE: " + err.Error()
		}
		fmt.Fprintf(w, "  %-14s [%s] %s\n      %s\n      workloads: %s\n", c.Name(), c.Class(), avail, c.Describe(), strings.Join(ws, ", "))
		if t, ok := c.(tunable); ok {
			fmt.Fprintf(w, "      knobs: %s\n      sweep (peerbench sweep --peer %s, workloads %s): %s\n", t.tunedSettings(), c.Name(),
				strings.Join(t.sweepWorkloads(), ", "), strings.Join(t.sweepGrid(), ", "))
		}
	}
}

// runChild is the entry point of the recv and send roles.
func runChild(role string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := defaultOptions()
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	addrs := fs.String("addr", "", "receiver address(es), comma-separated (send role)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addrs != "" {
		o.Addrs = strings.Split(*addrs, ",")
	}
	fail := func(err error) int {
		fmt.Fprintf(stdout, "%s {\"role\":%q,\"error\":%q}\n", lineResult, role, err.Error())
		fmt.Fprintf(stderr, "peerbench %s: %v\n", role, err)
		return 1
	}
	c, err := contenderByName(o.Contender)
	if err != nil {
		return fail(err)
	}
	w, err := workloadByName(o.Workload)
	if err != nil {
		return fail(err)
	}
	if !c.Supports(w) {
		return fail(fmt.Errorf("%s does not run workload %s", c.Name(), w.Name))
	}
	if err := c.Available(); err != nil {
		return fail(err)
	}
	if role == roleSend && len(o.Addrs) == 0 && w.Kind != kindSeal {
		return fail(errors.New("--addr is required"))
	}
	if o.Secret, err = loadSecret(); err != nil {
		return fail(err)
	}
	e := newEnv(role, &o, w, c, stdout)
	go e.readControl(stdin)
	watchdog := time.AfterFunc(o.Watchdog, func() {
		e.fail(fmt.Errorf("watchdog: no STOP within %v", o.Watchdog))
	})
	defer watchdog.Stop()
	if e.Measuring() && w.Kind != kindIdle && w.Kind != kindTransfer && !timesItself(c, w) { // a transfer times itself
		go e.measure()
	}
	err = runRole(context.Background(), e)
	if err != nil {
		fmt.Fprintf(stderr, "peerbench %s %s/%s: %v\n", role, c.Name(), w.Name, err)
	}
	return e.finish(err)
}
