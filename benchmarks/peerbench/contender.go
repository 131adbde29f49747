package peerbench

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// Class groups contenders in the reports: ratios are computed against peers only.
type Class string

const (
	classSTT     Class = "sttfast" // the headline configuration
	classVariant Class = "variant" // sttfast with a non-default setting, labelled, never a headline
	classPeer    Class = "peer"
	classCeiling Class = "ceiling"
)

// Contender is one transport under test.
type Contender interface {
	Name() string
	Class() Class
	// Describe states the exact configuration the contender runs with, for the report.
	Describe() string
	Supports(w Workload) bool
	// Available says why the contender cannot run here (a missing tool); nil when it can.
	Available() error
}

// streamContender is a reliable stream transport: the generic workloads (stream, ping-pong,
// fan-out) run on it through this small interface, so every such contender does exactly the
// same work around its own calls.
type streamContender interface {
	Contender
	// Listen opens n endpoints in the receiver process.
	Listen(ctx context.Context, e *Env, n int) (server, error)
	// Dial connects to every address, in the sender process.
	Dial(ctx context.Context, e *Env, addrs []string) (client, error)
	// MessageOriented is true when each read returns exactly one message as written.
	MessageOriented() bool
}

type server interface {
	Addrs() []string
	// Accept returns the next peer's stream (the first stream of the next connection).
	Accept(ctx context.Context) (conn, error)
	Close() error
}

// acceptQueue is the Accept half every server shares: each listener's accept goroutine delivers
// its stream or its error, and Addrs lists the listeners in the order they were made.
type acceptQueue struct {
	addrs    []string
	accepted chan conn
	errs     chan error
}

func newAcceptQueue(n int) acceptQueue {
	return acceptQueue{accepted: make(chan conn, n), errs: make(chan error, n)}
}

// deliver hands over one listener's outcome: c, or err when it failed.
func (q *acceptQueue) deliver(c conn, err error) {
	if err != nil {
		q.errs <- err
		return
	}
	q.accepted <- c
}

func (q *acceptQueue) Addrs() []string { return q.addrs }

func (q *acceptQueue) Accept(ctx context.Context) (conn, error) {
	select {
	case c := <-q.accepted:
		return c, nil
	case err := <-q.errs:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type client interface {
	// Conns are the streams, one per address, in order.
	Conns() []conn
	Close() error
}

// broadcaster is a client that can write one message to every peer itself (sttfast's SendToAll);
// others get a loop over their streams.
type broadcaster interface {
	Broadcast(msg []byte) error
}

// conn is one stream.
type conn interface {
	// WriteMsg writes p as one message (one write call).
	WriteMsg(p []byte) error
	// ReadData reads the next data into buf and returns it: one whole message for message-oriented
	// transports, whatever is available (up to len(buf)) for byte streams.
	ReadData(buf []byte) ([]byte, error)
	// Close ends the sending half.
	Close() error
}

// batchConn is a conn that also moves several whole messages per call; the stream roles use
// it when the connection offers it (the sttfast-batch variant).
type batchConn interface {
	// WriteMsgs writes each of msgs as one message.
	WriteMsgs(msgs [][]byte) error
	// ReadMsgs reads at least one and at most len(bufs) messages, message i into bufs[i][:0] (its
	// length is len(bufs[i]) afterwards), and returns how many it read.
	ReadMsgs(bufs [][]byte) (int, error)
}

// customRunner is a contender that runs some workloads its own way (datagrams, a helper process,
// no network at all, or sttfast's own workloads).
type customRunner interface {
	Custom(w Workload) bool
	RunRecv(ctx context.Context, e *Env) error
	RunSend(ctx context.Context, e *Env) error
}

// testContenders are added by the tests (fault injection); the test binary is also the children.
var testContenders []Contender

// contenders lists every contender in report order.
func contenders() []Contender {
	return append([]Contender{
		&sttContender{},
		&sttContender{payload: 9000},
		&sttContender{cc: recovery.BBR},
		&sttContender{ws: true},
		&sttContender{fs: true},
		&sttContender{fixedWin: true},
		&sttContender{batch: true},
		&sttCLIContender{},
		&quicContender{},
		&quicBDPContender{quicContender{knobs: &quicKnobs{StreamMiB: 64, ConnMiB: 128}}},
		&kcpContender{},
		&srtContender{},
		&udpCeiling{},
		&tcpCeiling{},
		&aesCeiling{},
	}, testContenders...)
}

// contenderByName finds a contender; a peer's name may carry a knob set ("kcp-go@window=1024").
func contenderByName(name string) (Contender, error) {
	peer, spec := splitKnobs(name)
	withKnobs := strings.Contains(name, knobSep)
	var names []string
	for _, c := range contenders() {
		if c.Name() == peer && withKnobs {
			t, ok := c.(tunable)
			if !ok {
				return nil, fmt.Errorf("%w: %s has no knobs", ErrBadKnobs, peer)
			}
			return t.withKnobs(spec)
		}
		if c.Name() == name {
			return c, nil
		}
		names = append(names, c.Name())
	}
	return nil, fmt.Errorf("unknown contender %q (have %s)", name, strings.Join(names, ", "))
}

// readSome is ReadData for a byte stream: one Read into buf, returning what it read; an error
// that comes with data is left for the next call, which the stream repeats.
func readSome(r io.Reader, buf []byte) ([]byte, error) {
	n, err := r.Read(buf)
	if n > 0 {
		return buf[:n], nil
	}
	return nil, err
}
