// Command sttattack attacks a running sttfast listener from a separate process (issue 6):
//
//	sttattack hostile --target udp://127.0.0.1:9000 --admin http://127.0.0.1:9090 --pid PID --seed stt.seed
//	sttattack replay  --target ... --admin ... --pid PID --seed stt.seed --count 1000000
//	sttattack flood   --target ... --admin ... --pid PID --seed stt.seed --rate 100000 --duration 30s
//
// The listener is "sttfast serve --admin": the attacks read its /metrics and /sessions, and,
// given --pid, its /proc entries (RSS, CPU time, the kernel's drop counter of its socket). The
// seed is used only by the legitimate peer that runs alongside each attack, and by the flood to
// build HELLOs with valid MACs. The report is printed as JSON on stdout; progress goes to stderr.
// Exit status: 0 when the attack ran (whatever it found: the report says), 1 when it could
// not run, 2 for usage errors. See docs/RELIABILITY.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sttfast/sttfast/hardening/attack"
	"github.com/sttfast/sttfast/stc"
)

const usage = `Usage: sttattack hostile|replay|flood [flags]

  hostile  random, truncated, oversize and malformed datagrams, garbage for live and unknown
           sessions, HELLO-kind garbage, replayed and bit-flipped captures, during a transfer
  replay   a real session's packets (both directions) replayed shuffled, live, while the
           session drains, and after it is gone; the transfer must come back byte-exact
  flood    HELLOs with bad MACs, a captured HELLO replayed, seed-built HELLOs with repeated
           nonces, while legitimate dials are timed

Run "sttattack COMMAND --help" for its flags.`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("sttattack "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := common{stderr: stderr}
	c.register(fs)
	var runner func(ctx context.Context, t *attack.Target, seed *stc.Seed) (any, error)
	switch cmd {
	case "hostile":
		runner = hostileFlags(fs, &c)
	case "replay":
		runner = replayFlags(fs, &c)
	case "flood":
		runner = floodFlags(fs, &c)
	default:
		fmt.Fprintf(stderr, "sttattack: unknown command %q\n%s\n", cmd, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	t, seed, err := c.resolve()
	if err != nil {
		fmt.Fprintf(stderr, "sttattack %s: %v\n", cmd, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rep, err := runner(ctx, t, seed)
	if rep != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sttattack %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// common are the flags every command takes.
type common struct {
	target, admin, seed string
	pid                 int
	timeout             time.Duration
	randSeed            uint64
	quiet               bool
	stderr              io.Writer
	logf                func(string, ...any)
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.target, "target", "", "the listener's `udp://IP:PORT` (required)")
	fs.StringVar(&c.admin, "admin", "", "its admin endpoint `http://HOST:PORT` (required: /metrics, /sessions)")
	fs.StringVar(&c.seed, "seed", "", "seed `FILE` of the legitimate peer (required)")
	fs.IntVar(&c.pid, "pid", 0, "the listener's process id, for RSS, CPU time and kernel socket drops")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.Uint64Var(&c.randSeed, "rand-seed", 1, "seed of the attack's pseudo-random choices")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress on stderr")
}

// target checks the common flags and loads the seed.
func (c *common) resolve() (*attack.Target, *stc.Seed, error) {
	if c.target == "" || c.admin == "" || c.seed == "" {
		return nil, nil, errors.New("--target, --admin and --seed are required")
	}
	ap, err := netip.ParseAddrPort(strings.TrimPrefix(c.target, "udp://"))
	if err != nil {
		return nil, nil, fmt.Errorf("--target %s: %v", c.target, err)
	}
	seed, err := stc.LoadSeedFile(c.seed)
	if err != nil {
		return nil, nil, err
	}
	c.logf = func(f string, a ...any) {
		if !c.quiet {
			fmt.Fprintf(c.stderr, f+"\n", a...)
		}
	}
	return &attack.Target{Addr: ap, Admin: attack.NewAdmin(c.admin), PID: c.pid}, seed, nil
}

// hostileFlags registers the hostile command's flags.
func hostileFlags(fs *flag.FlagSet, c *common) func(context.Context, *attack.Target, *stc.Seed) (any, error) {
	var cfg attack.HostileConfig
	fs.Int64Var(&cfg.Count, "count", 0, "attack datagrams to send (0: until --duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "attack length (0: until --count)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "datagrams per second (0: full rate)")
	fs.IntVar(&cfg.Senders, "senders", 1, "attack sockets (source ports)")
	legit := fs.Int64("legit-mib", 8, "MiB of the legitimate echo transfer during the attack")
	return func(ctx context.Context, t *attack.Target, seed *stc.Seed) (any, error) {
		if cfg.Count == 0 && cfg.Duration == 0 {
			cfg.Count = 20000
		}
		cfg.Seed, cfg.RandSeed, cfg.Logf, cfg.LegitBytes = seed, c.randSeed, c.logf, *legit<<20
		rep, err := attack.RunHostile(ctx, t, cfg)
		if rep == nil {
			return nil, err
		}
		return rep, err
	}
}

// replayFlags registers the replay command's flags.
func replayFlags(fs *flag.FlagSet, c *common) func(context.Context, *attack.Target, *stc.Seed) (any, error) {
	var cfg attack.ReplayConfig
	fs.Int64Var(&cfg.Count, "count", 50000, "datagrams replayed while the session is live")
	fs.Float64Var(&cfg.Rate, "rate", 0, "their rate per second (0: full rate)")
	fs.Float64Var(&cfg.CloseRate, "close-rate", 20000, "replay rate per second while the session drains and after")
	fs.Int64Var(&cfg.Tail, "tail", 5000, "datagrams replayed once the session is gone")
	fs.DurationVar(&cfg.DrainDelay, "drain-delay", 100*time.Millisecond, "one-way delay added before the close, to stretch the drain period")
	fs.IntVar(&cfg.MangleEvery, "mangle-every", 10, "renumber every n-th replayed datagram (it must fail authentication)")
	legit := fs.Int64("legit-mib", 4, "MiB of the captured transfer")
	return func(ctx context.Context, t *attack.Target, seed *stc.Seed) (any, error) {
		cfg.Seed, cfg.RandSeed, cfg.Logf, cfg.LegitBytes = seed, c.randSeed, c.logf, *legit<<20
		rep, err := attack.RunReplay(ctx, t, cfg)
		if rep == nil {
			return nil, err
		}
		return rep, err
	}
}

// floodFlags registers the flood command's flags.
func floodFlags(fs *flag.FlagSet, c *common) func(context.Context, *attack.Target, *stc.Seed) (any, error) {
	var cfg attack.FloodConfig
	fs.Float64Var(&cfg.Rate, "rate", 100000, "HELLOs per second")
	fs.DurationVar(&cfg.Duration, "duration", 2*time.Second, "flood length")
	fs.IntVar(&cfg.Senders, "senders", 4, "flood sockets (source ports)")
	fs.Float64Var(&cfg.Mix.BadMAC, "bad-mac", 0.8, "share of HELLOs with a bad MAC")
	fs.Float64Var(&cfg.Mix.Captured, "captured", 0.1, "share of the captured real HELLO (the rest: seed-built HELLOs with repeating nonces)")
	fs.IntVar(&cfg.Mix.ValidNonces, "valid-nonces", 64, "distinct nonces of the seed-built HELLOs (renewed every 10 s)")
	fs.DurationVar(&cfg.DialEvery, "dial-every", 250*time.Millisecond, "a legitimate dial this often during the flood")
	return func(ctx context.Context, t *attack.Target, seed *stc.Seed) (any, error) {
		cfg.Mix.Renew = 10 * time.Second
		cfg.Seed, cfg.RandSeed, cfg.Logf = seed, c.randSeed, c.logf
		rep, err := attack.RunFlood(ctx, t, cfg)
		if rep == nil {
			return nil, err
		}
		return rep, err
	}
}
