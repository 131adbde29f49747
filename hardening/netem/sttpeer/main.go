// Command sttpeer is the hardening tests' driver: a small program on the ctrl API that does what
// the sttfast command cannot be asked to do, and reports it as JSON lines on stdout.
//
//	sttpeer send  --addr udp://HOST:PORT --seed FILE --size N   bulk sender with end-of-transfer stats
//	              [--paths ws://HOST:PORT/PATH]                 (one session over several paths)
//	sttpeer sink  --addr udp://HOST:PORT --seed FILE            listener that reports how sessions end
//	sttpeer soak  --addr udp://HOST:PORT --seed FILE            bulk + small-message client of sttfast serve
//	sttpeer probsend --addr udp://HOST:PORT --seed FILE --times FILE [--per-class N] [--deadline D]
//	                                                           messages of every entropy class on a probabilistic stream
//	sttpeer probrecv --addr udp://HOST:PORT --seed FILE --times FILE --messages N
//	                                                           reads that stream to its end, accounting for every message
//
// Every command takes --cc (the congestion controller, default cubic) and --idle-timeout (the data plane's IdleTimeout; the sttfast command always
// uses the 30 s default), so a test can see a vanished peer detected in seconds. Each stdout line
// is one JSON object with an "event" field; the tests in package netem parse them. Diagnostics go
// to stderr. Exit status: 0 when the command's job completed, 1 otherwise, 2 for bad flags.
//
// It is built and run by the tests (hardening/netem), never shipped.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/hardening/netem/internal/bytesize"
	"github.com/sttfast/sttfast/stc"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sttpeer send|sink|soak|probsend|probrecv [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "send":
		err = runSend(os.Args[2:])
	case "sink":
		err = runSink(os.Args[2:])
	case "soak":
		err = runSoak(os.Args[2:])
	case "probsend":
		err = runProbSend(os.Args[2:])
	case "probrecv":
		err = runProbRecv(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "sttpeer: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sttpeer %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// common are the flags every command takes.
type common struct {
	addr        string
	seedFile    string
	idleTimeout time.Duration
	handshake   time.Duration
	cc          string
}

// register adds the common flags to fs.
func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "", "udp://HOST:PORT to dial (send, soak) or listen on (sink)")
	fs.StringVar(&c.seedFile, "seed", "", "seed file (sttfast seed new)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 0, "session idle timeout (0: the library default, 30s)")
	fs.DurationVar(&c.handshake, "handshake-timeout", 10*time.Second, "give up dialing after this long")
	fs.StringVar(&c.cc, "cc", "cubic", "congestion controller: cubic, newreno or bbr (the netem tests compare them)")
}

// config loads the seed and returns the node configuration for addr.
func (c *common) config(addr string) (ctrl.Config, error) {
	seed, err := stc.LoadSeedFile(c.seedFile)
	if err != nil {
		return ctrl.Config{}, err
	}
	cc, err := recovery.ParseAlgorithm(c.cc)
	if err != nil {
		return ctrl.Config{}, fmt.Errorf("--cc: %w", err)
	}
	return ctrl.Config{
		Seed:             seed,
		Addr:             addr,
		HandshakeTimeout: c.handshake,
		Transport:        dataplane.Config{IdleTimeout: c.idleTimeout, Congestion: cc},
	}, nil
}

// listen starts a node listening on --addr, announces it on stderr ("listening on udp://IP:PORT",
// like sttfast listen, which the tests wait for) and returns it with a context that SIGTERM or
// SIGINT cancels; the caller closes the node and calls stop.
func (c *common) listen() (node *ctrl.Node, ctx context.Context, stop context.CancelFunc, err error) {
	cfg, err := c.config(c.addr)
	if err != nil {
		return nil, nil, nil, err
	}
	node, err = ctrl.Listen(context.Background(), cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop = signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	fmt.Fprintf(os.Stderr, "listening on udp://%s\n", node.Addr())
	return node, ctx, stop, nil
}

// parse parses args into fs, exiting 2 on a bad flag like the flag package does.
func parse(fs *flag.FlagSet, args []string) {
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sttpeer %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		os.Exit(2)
	}
}

// sizeValue is a flag.Value for byte counts written as 1048576, 64KiB, 16MiB or 1GiB.
type sizeValue struct{ n int64 }

// String renders the value in bytes.
func (s *sizeValue) String() string { return strconv.FormatInt(s.n, 10) }

// Set parses a count with an optional binary unit.
func (s *sizeValue) Set(v string) error {
	n, err := bytesize.Parse(v)
	if err != nil {
		return err
	}
	s.n = n
	return nil
}

// out writes JSON lines to stdout; safe for concurrent use.
var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// emit writes v as one JSON line on stdout.
func emit(v any) {
	out.Lock()
	defer out.Unlock()
	out.enc.Encode(v)
}

// closeInfo describes how a session ended, as the tests read it.
type closeInfo struct {
	Code   uint64 `json:"close_code"`
	Remote bool   `json:"close_remote"`
	Reason string `json:"close_reason,omitempty"`
}

// closeOf extracts the close code of a session's error (code 0, local, when err is not a
// *dataplane.CloseError).
func closeOf(err error) closeInfo {
	if ce, ok := err.(*dataplane.CloseError); ok {
		return closeInfo{Code: ce.Code, Remote: ce.Remote, Reason: ce.Reason}
	}
	return closeInfo{}
}

// watchDone records the wall-clock time at which s ends (its Done channel closes), so a test
// can compare it with the moment it killed the peer. The returned function waits for the end
// and returns that time in Unix nanoseconds.
func watchDone(s *ctrl.Session) func() int64 {
	var at int64
	done := make(chan struct{})
	go func() {
		<-s.Done()
		at = time.Now().UnixNano()
		close(done)
	}()
	return func() int64 {
		<-done
		return at
	}
}
