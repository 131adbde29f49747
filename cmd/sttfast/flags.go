package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// newFlags returns a flag set for command name whose --help prints usage (the command's help
// text, which ends with an example) and the flags on stdout. Parse errors print nothing here:
// parseFlags turns them into one-line usage errors.
func newFlags(c *cli, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintln(c.stdout, strings.TrimRight(usage, "\n"))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(c.stdout, "\nFlags (one or two dashes):")
			fs.SetOutput(c.stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	return fs
}

// parseFlags parses args, mapping --help to errHelp (exit 0), bad flags and stray arguments to
// usage errors (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// sizeFlag is a flag.Value holding a byte count written as 1200, 64KiB, 1MiB...
type sizeFlag struct{ n int }

// String renders the current value (flag's default display).
func (s *sizeFlag) String() string { return fmt.Sprint(s.n) }

// Set parses a size with an optional binary or decimal unit.
func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("bad size %q (want e.g. 1200, 64KiB, 1MiB)", v)
	}
	s.n = n
	return nil
}

// ccFlag is the --cc flag: the congestion controller a node's sessions use. The default is the
// data plane's (CUBIC); bbr suits links whose random loss or jitter says nothing about congestion
// (docs/RELIABILITY.md has the measurements that chose it).
type ccFlag struct{ algo recovery.Algorithm }

func (f *ccFlag) register(fs *flag.FlagSet) {
	fs.Var(f, "cc", "congestion controller: cubic, newreno or bbr")
}

// String renders the current value (flag's default display).
func (f *ccFlag) String() string { return f.algo.String() }

// Set parses a controller name.
func (f *ccFlag) Set(v string) error {
	a, err := recovery.ParseAlgorithm(v)
	if err != nil {
		return fmt.Errorf("unknown congestion controller %q (want cubic, newreno or bbr)", v)
	}
	f.algo = a
	return nil
}

// idleFlag is the --idle-timeout flag of the commands that hold sessions: how long a session may
// hear nothing from its peer before it ends (dataplane.Config.IdleTimeout). A peer that stops
// acknowledging data in flight is given up sooner, after 6 unanswered probe timeouts and at
// least 5 s (dataplane/recovery/liveness.go); the idle timeout bounds every other silence.
type idleFlag struct{ d time.Duration }

func (f *idleFlag) register(fs *flag.FlagSet) {
	f.d = 30 * time.Second
	fs.DurationVar(&f.d, "idle-timeout", f.d, "end a session after hearing nothing from the peer for this long\n"+
		"(a peer that stops acknowledging data is given up sooner: 6 unanswered probes, at least 5s)")
}

// check refuses an idle timeout too short to survive an ordinary scheduling hiccup.
func (f *idleFlag) check() error {
	if f.d < 100*time.Millisecond {
		return usagef("--idle-timeout %v: at least 100ms", f.d)
	}
	return nil
}
