// Command sttfast is the STT transport's command line: it creates seeds, pipes stdin to a peer,
// receives, relays (fan-out), serves (echo, benchmark target, admin HTTP) and benchmarks.
//
// Usage:
//
//	sttfast <command> [flags]
//
// Run "sttfast help" for the list of commands and "sttfast <command> --help" for each.
//
// Exit status: 0 success, 1 runtime failure (exactly one line "sttfast: <what failed>: <why>" on
// stderr), 2 usage error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes of the command-line contract.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// cli is what a command may touch of the outside world; tests give fakes.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) error
}

// commands lists every subcommand, in the order help shows them.
func commands() []command {
	return []command{
		{"bench", "benchmark an encrypted transfer (in-process loopback, or --addr a serve node)", runBench},
		{"seed", "seed new: write a fresh random seed", runSeed},
		{"listen", "server mode: write every incoming stream to stdout", runListen},
		{"dial", "send stdin to a node (or, with --recv, write what it sends to stdout)", runDial},
		{"relay", "fan-out node: forward every message to every other session", runRelay},
		{"serve", "long-running node: echo, bench target, admin HTTP (sessions, metrics, pprof)", runServe},
		{"pcap", "pcap decrypt: open the STT packets of a capture with a key log or the seed", runPcap},
		{"version", "print the version", runVersion},
	}
}

// main runs the command against the real process environment.
func main() {
	// A closed stdout ("sttfast listen | head -c 100") must not kill the process with SIGPIPE
	// before it has told its peers: ignored, the write fails with EPIPE, and the command closes
	// its sessions with a reason and reports (closeForOutput).
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// run dispatches args to a command and turns its error into the exit code and the one
// stderr line of the contract.
func run(args []string, c *cli) int {
	if len(args) == 0 {
		printHelp(c.stderr)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return run([]string{args[1], "--help"}, c)
		}
		printHelp(c.stdout)
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		args[0] = "version"
	}
	for _, cmd := range commands() {
		if cmd.name != args[0] {
			continue
		}
		err := cmd.run(c, args[1:])
		return report(c.stderr, cmd.name, err)
	}
	fmt.Fprintf(c.stderr, "sttfast: unknown command %q (run \"sttfast help\")\n", args[0])
	return exitUsage
}

// report prints err as the single stderr line of the contract and returns the exit code.
func report(stderr io.Writer, name string, err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "sttfast %s: %s (see \"sttfast %s --help\")\n", name, oneLine(ue.Error()), name)
		return exitUsage
	}
	var f *failure
	if errors.As(err, &f) {
		fmt.Fprintf(stderr, "sttfast: %s\n", oneLine(f.Error()))
	} else {
		fmt.Fprintf(stderr, "sttfast: %s: %s\n", name, oneLine(explain(err)))
	}
	return exitFailure
}

// oneLine keeps the failure report on a single line whatever an error message holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// printHelp lists the commands; "sttfast help" and a bare "sttfast" show it.
func printHelp(w io.Writer) {
	fmt.Fprintln(w, "sttfast: encrypted peer-to-peer transport (STT) over UDP")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: sttfast <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Example:")
	fmt.Fprintln(w, "  sttfast seed new -o stt.seed")
	fmt.Fprintln(w, "  sttfast listen --addr udp://0.0.0.0:9000 --seed stt.seed --once > out.bin   # on one host")
	fmt.Fprintln(w, "  sttfast dial --addr udp://HOST:9000 --seed stt.seed < in.bin              # on another")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit status: 0 success, 1 runtime failure (one line \"sttfast: <what failed>: <why>\"")
	fmt.Fprintln(w, "on stderr), 2 usage error.")
	fmt.Fprintln(w, `Run "sttfast <command> --help" for the flags of a command.`)
}

// runVersion prints the version and what built it, for bug reports.
func runVersion(c *cli, args []string) error {
	fs := newFlags(c, "version", "Usage: sttfast version\n\nPrints the version of sttfast, the STT protocol version it speaks and the Go\nversion that built it.\n\nExample:\n  sttfast version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	v := version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v += "+" + s.Value[:12]
				}
			}
		}
	}
	fmt.Fprintf(c.stdout, "sttfast %s (STT protocol version 1, %s %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
