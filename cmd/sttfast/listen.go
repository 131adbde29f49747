package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/prim/store"
)

// listenUsage is listen's --help text.
const listenUsage = `Usage: sttfast listen --addr udp://HOST:PORT [--addr ...] (--seed FILE | --passphrase-file FILE | STT_SEED) [--once] [--store DIR]

Server mode: accepts sessions and writes the bytes of every stream the peers open to stdout.
--addr may be given more than once: listen takes sessions on every address, into one session
table. An address is udp://HOST:PORT, or ws://HOST:PORT/PATH for the WebSocket path over TCP
(for networks that block UDP; the path is /stt when none is given; TLS, wss://, is a reverse
proxy's job in front of it). Prints "listening on udp://HOST:PORT" (or ws://HOST:PORT/PATH) on
stderr once ready, one line per --addr in the
order given (the host as given, the port bound: port 0 picks a free one), and, unless --quiet, one line per session opened and closed and one
when a handshake is refused (a peer with another seed, or whose clock is off): the first at
once, then at most one every 10 s with the count since the last.

` + orderedHelp + `

A session whose dialer went silent stays open, and resumable (dial --resume), for
--resume-window (60 s by default; 0 ends it as soon as --idle-timeout or the dead-peer rule
would), then ends.

With --once, listen serves the first session only (later ones are refused) and exits once it has
ended and every byte is on stdout: status 0 if the peer closed it cleanly (SESSION_CLOSE code 0,
which sttfast dial sends after its data is acknowledged and written out), 1 otherwise. A session
the peer closed has ended when its SESSION_CLOSE arrives (listen does not wait out the drain).
SIGINT/SIGTERM close every session (SESSION_CLOSE code 8), write out what has arrived and exit 0.
If stdout is closed or fails (say "| head -c 100"), every session is closed with application
code 0x101 and the reason "the receiver's output was closed", which the dialer prints at once,
and listen exits 1.

` + objectHelp + `

` + seedHelp + `

Examples:
  sttfast listen --addr udp://0.0.0.0:9000 --seed stt.seed --store objects/
  sttfast listen --addr udp://0.0.0.0:9000 --seed stt.seed --once > received.bin
  sttfast listen --addr udp://10.0.0.2:9000 --addr udp://127.0.0.1:9000 --seed stt.seed > received.bin
  sttfast listen --addr udp://0.0.0.0:9000 --addr ws://0.0.0.0:9080/stt --seed stt.seed > received.bin`

// runListen is the listen command.
func runListen(c *cli, args []string) error {
	fs := newFlags(c, "listen", listenUsage)
	var nf listenFlags
	nf.register(fs)
	once := fs.Bool("once", false, "serve one session, exit when it closes (0 if closed cleanly)")
	quiet := fs.Bool("quiet", false, "no session lines on stderr (the \"listening on\" line stays)")
	storeDir := fs.String("store", "", "store each stream's objects (dial --send-object) in `DIR` by their SHA-256, print their keys")
	var prof cpuProfileFlag
	prof.register(fs)
	resumeWindow := fs.Duration("resume-window", 60*time.Second, "keep a silent session resumable this long (dial --resume; 0: no longer than --idle-timeout)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	stopProfile, err := prof.start("listen")
	if err != nil {
		return err
	}
	defer stopProfile()
	if *resumeWindow < 0 {
		return usagef("--resume-window %v: must not be negative", *resumeWindow)
	}
	window := *resumeWindow
	if window == 0 {
		window = -1 // ctrl's "off"
	}
	addrs, seed, err := nf.load(c)
	if err != nil {
		return err
	}
	ctx, stop := withSignals(c.stderr)
	defer stop()
	cfg := nf.config(seed)
	cfg.ResumeWindow = window
	node, err := startListening(c, "listen", cfg, addrs, *quiet)
	if err != nil {
		return err
	}
	defer node.Close()
	shown := printListening(c.stderr, node, addrs)
	l := &listener{node: node, out: newOrderedWriter(c.stdout, 0), log: sessionLogger(c.stderr, *quiet)}
	if *storeDir != "" {
		objects, err := store.NewDir(*storeDir, maxStoredObject)
		if err != nil {
			return failf(err, "listen: --store %s", *storeDir)
		}
		l.objects = &objectStore{objects: objects, stdout: c.stdout, log: l.log}
	}
	if *once {
		return l.serveOnce(ctx, shown[0])
	}
	return l.serveForever(ctx)
}

// listener is listen's state: one node, one ordered stdout.
type listener struct {
	node *ctrl.Node
	out  *orderedWriter
	log  func(format string, a ...any)
	// objects, with --store, takes each stream as objects instead of copying it to stdout.
	objects *objectStore
}

// serveForever accepts every session until a signal or a stdout failure.
func (l *listener) serveForever(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the accept loop holds wg so that its Adds never race with Wait
		defer wg.Done()
		for {
			s, err := l.node.Accept(ctx)
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.session(s)
			}()
		}
	}()
	select {
	case <-ctx.Done():
		stopNode(l.node)
	case <-l.out.failedC():
		closeForOutput(l.node, l.out.failure())
	}
	wg.Wait()
	l.out.close()
	return l.finish()
}

// serveOnce serves the first session, refuses the others, and judges how the first one ended;
// addr is the bound address, for the failure line.
func (l *listener) serveOnce(ctx context.Context, addr string) error {
	s, err := l.node.Accept(ctx)
	if err != nil {
		l.out.close()
		return l.finish()
	}
	go func() { // later sessions: refused, listen --once serves one
		for {
			o, err := l.node.Accept(ctx)
			if err != nil {
				return
			}
			l.log("session %x from %s refused: listen --once is busy", idOf(o), o.Peer())
			o.CloseWithError(dataplane.CodeRefused, "listen --once: busy")
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.session(s)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		stopNode(l.node)
		<-done
	case <-l.out.failedC():
		closeForOutput(l.node, l.out.failure())
		<-done
	}
	l.out.close()
	if err := l.finish(); err != nil {
		return err
	}
	if _, sig := interrupted(ctx); sig {
		return nil
	}
	if serr := s.Err(); !peerClosedClean(serr) {
		return failf(serr, "listen %s: the session from %s ended before the transfer completed", addr, s.Peer())
	}
	return nil
}

// session feeds every stream of s to the ordered output and returns once s has ended and all
// its streams are accepted (they may still be waiting for their turn on stdout).
func (l *listener) session(s *ctrl.Session) {
	if l.objects != nil {
		var streams sync.WaitGroup
		eachStream(s, l.log, func(st *ctrl.Stream) {
			streams.Go(func() { l.objects.take(s, st) })
		})
		streams.Wait()
		return
	}
	eachStream(s, l.log, func(st *ctrl.Stream) { l.out.add(st, streamDone(st, l.log)) })
}

// finish waits until stdout has everything and reports a stdout failure.
func (l *listener) finish() error {
	if err := l.out.wait(); err != nil {
		return outputFailure(err, "listen")
	}
	return nil
}

// outputFailure is the failure line of a receiver whose stdout failed: a write error's cause
// alone ("broken pipe") would not say what was being written.
func outputFailure(err error, what string) error {
	if errors.Is(err, syscall.EPIPE) {
		return failf(err, "%s: write stdout", what)
	}
	return failf(err, "%s", what)
}

// streamDone returns the ordered writer's callback for st: once its bytes are on stdout, end our
// half of the stream (the FIN tells a sttfast dial that everything was written out), and log a
// stream that ended early on its own (a session's end is logged once, by the session).
func streamDone(st *ctrl.Stream, log func(string, ...any)) func(error) {
	return func(readErr error) {
		if readErr != nil && !errors.Is(readErr, ctrl.ErrSessionClosed) {
			log("stream %d of session %x ended early: %s", st.ID(), idOf(st.Session()), explain(readErr))
		}
		st.Close()
	}
}

// outputClosedCode is the application close code (0x101) a receiver (listen, dial --recv) sends
// when it can no longer write what it receives: its stdout was closed (a "| head" that has had
// enough) or failed. The sender then stops at once and says why, instead of sending into the
// void until its idle timeout. 0x100 is the admin's DELETE (admin.go).
const outputClosedCode = dataplane.CodeApplicationMin + 1

// closeForOutput ends every session of node because writing stdout failed with err, telling
// each peer why, and closes the node once the closes have been sent (resent during the drain,
// bounded by shutdownGrace).
func closeForOutput(node *ctrl.Node, err error) {
	reason := "the receiver's output was closed"
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		reason = "the receiver could not write its output"
	}
	for _, s := range node.Sessions() {
		s.CloseWithError(outputClosedCode, reason)
	}
	stopNode(node) // the first close of a session wins: its code stays outputClosedCode
}

// sessionLogger returns the informational logger of listen, relay, serve and dial --recv: one
// line on stderr (without the "sttfast: " prefix that marks a failure), or nothing with --quiet.
func sessionLogger(stderr io.Writer, quiet bool) func(format string, a ...any) {
	if quiet {
		return func(string, ...any) {}
	}
	var mu sync.Mutex
	return func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, format+"\n", a...)
	}
}

// idOf returns a session's id as a slice for %x.
func idOf(s *ctrl.Session) []byte {
	id := s.ID()
	return id[:]
}

// eachStream logs s opening, hands every stream the peer opens to f, waits for s to end and logs
// why: the session loop of listen, relay and serve.
func eachStream(s *ctrl.Session, log func(string, ...any), f func(*ctrl.Stream)) {
	log("session %x from %s opened", idOf(s), s.Peer())
	for {
		st, err := s.AcceptStream(context.Background())
		if err != nil {
			break
		}
		f(st)
	}
	awaitEnd(s)
	log("session %x from %s closed: %s", idOf(s), s.Peer(), explain(s.Err()))
}

// awaitEnd waits until s, whose AcceptStream has failed (it is closing), has ended. A session
// the peer closed has ended when its SESSION_CLOSE arrived: the drain period that follows (three
// PTOs, about 15 ms after a bulk transfer on loopback) sends nothing and only absorbs the peer's
// stragglers, so waiting it out would only delay listen --once's exit; received data stays
// readable either way. A session closed on this side is waited for: its drain resends our
// SESSION_CLOSE to a peer that missed it.
func awaitEnd(s *ctrl.Session) {
	if !closedByPeer(s.Err()) {
		<-s.Done()
	}
}

// closedByPeer reports whether err, a session's error, says that the peer closed it.
func closedByPeer(err error) bool {
	var ce *dataplane.CloseError
	return errors.As(err, &ce) && ce.Remote
}
