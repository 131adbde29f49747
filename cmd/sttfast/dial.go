package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"golang.org/x/sys/unix"
)

// dialUsage is dial's --help text.
const dialUsage = `Usage: sttfast dial --addr udp://HOST:PORT [--addr ...] (--seed FILE | --passphrase-file FILE | STT_SEED) [--recv]
       [--state FILE] [--resume FILE] [--send-object FILE]

Send (default): opens one stream and sends stdin on it, read in chunks (--chunk, each chunk one
message), then ends the stream (FIN). It then waits until the peer has ended its own half of the
stream - sttfast listen, relay and serve do that once every byte is written out or forwarded -
closes the session (SESSION_CLOSE code 0, after every byte is acknowledged) and exits 0.
Whatever the peer sends back (serve's echo, a relay's other publishers) is read and discarded.
Progress (bytes, rate, ETA when stdin is a regular file) is shown on stderr when stderr is a
terminal; --progress forces it, --quiet silences it. A relay publisher is a plain dial.

Receive (--recv): opens nothing; every stream the peer opens goes to stdout until the peer closes
the session or SIGINT/SIGTERM. Prints "connected to ADDR (session ID)" on stderr once the session
is up (unless --quiet): from then on a relay forwards everything published to it. A relay
subscriber is dial --recv.

An address is udp://HOST:PORT, or ws://HOST:PORT/PATH (path /stt by default) for the WebSocket
path over TCP, where UDP is blocked; wss://HOST:PORT/PATH reaches a node behind a TLS-terminating
reverse proxy (--ca FILE trusts its certificate when the system's roots do not). Each WebSocket
dial is one TCP connection, closed when the session ends.

--addr may be given more than once (the same node's addresses, or several nodes serving the same
thing, UDP first and WebSocket after, say): they are tried in the order given, in the manner of Happy Eyeballs (RFC 8305). The
first is dialed; when it has not answered within 250 ms, or fails sooner (nothing listens
there), the next is dialed as well, and so on; the first handshake to complete wins and the
others are abandoned. Unless --quiet, dial then says which on stderr: "connected via ADDR".
When every address fails, the line gives each address and its reason. The session then keeps
every address (they must be one node's, listening on all of them): when the one in use goes
silent (about three PTOs without an answer) it moves to the next, UDP to WebSocket, without
losing a byte, and back to a preferred one once it answers again; unless --quiet each move is
one line on stderr: "sttfast: moved to ws://HOST:PORT/PATH: failover", "sttfast: moved back to
udp://HOST:PORT: udp answers again". With --bind the session stays on the address that
answered (the pinned socket is the node's; the moves need sockets of the session's own).

Probabilistic (--probabilistic [--deadline DURATION]): the stream delivers each chunk with a
probability set by the Shannon entropy of its bytes (0.70 for repetitive data up to 0.99 for
random-looking data such as compressed video), resends a lost chunk only while that target still
needs it on the loss rate the session measures, and abandons it otherwise; with --deadline a
chunk older than DURATION is not sent again. The receiver skips abandoned chunks (its output
lacks them) and never waits for them. For live data; a file transfer wants the default. Says on
stderr at the end how many chunks were abandoned (unless --quiet).

Resume (--state, --resume): dial --state FILE keeps the session's resumable state in FILE while
it sends (mode 0600, replaced atomically twice a second and at exit): the session, the offset of
the stream the peer has acknowledged, and a resumption secret, sealed with the seed (each
message is then exactly --chunk bytes of input but the last, so input that trickles in is sent
a whole chunk at a time). If the dial
dies (a crash, SIGKILL, a machine that goes away), dial --resume FILE continues the same session,
from this machine or another holding the same seed, given the same input on stdin: the bytes the
peer already has are skipped, the rest is sent, and the peer's output holds every byte once and
in order. --addr is optional with --resume (the state's address by default). A listener keeps a
silent session resumable for 60 s (listen --resume-window). SIGINT and SIGTERM still end the
session (the peer is told, code 8): a state is for a dial that died without a word. A state that
can no longer resume (the session ended or
expired, a later resume superseded it, another seed) exits 1 with one "sttfast: resume:" line.

` + orderedHelp + `

Exit status: 0 when the transfer completed (send), or (--recv) when the peer closed the session
with code 0 (done) or 8 (shutting down: a relay or serve stopped), or on SIGINT/SIGTERM; 1 when
connecting failed (a wrong seed says so), the session failed, the peer closed it with an
application code (0x100 and up: an admin's DELETE /sessions/{id} is 0x100, a receiver whose
output was closed 0x101; the line gives the peer's reason), the peer stopped answering (after 6
unanswered probes and at least 10 s, or --idle-timeout of silence), or a signal cut a send short
(SESSION_CLOSE code 8 is sent: the peer sees the session end); 2 for usage errors. With --recv
the end of the session is said on stderr either way (a line without "sttfast:" when it is not a
failure; --quiet drops that one).

` + objectHelp + `

` + seedHelp + `

Examples:
  sttfast dial --addr udp://10.0.0.2:9000 --seed stt.seed --send-object photo.jpg
  sttfast dial --addr udp://10.0.0.2:9000 --seed stt.seed < backup.tar
  sttfast dial --addr udp://10.0.0.2:9000 --addr udp://203.0.113.7:9000 --seed stt.seed < backup.tar
  sttfast dial --addr udp://10.0.0.2:9000 --seed stt.seed --recv > feed.bin
  camera | sttfast dial --addr udp://10.0.0.2:9000 --seed stt.seed --probabilistic --deadline 200ms
  sttfast dial --addr udp://10.0.0.2:9000 --seed stt.seed --state backup.state < backup.tar
  sttfast dial --resume backup.state --seed stt.seed < backup.tar`

// dialOpts are dial's parsed flags.
type dialOpts struct {
	addrs    []string // every --addr, in order
	addr     string   // the one the session went to (the first until then)
	recv     bool
	progress bool
	quiet    bool
	chunk    int
	timeout  time.Duration
	bind     string
	bindSet  bool   // --bind was given: the dial stays on that socket (DialAny, no moves)
	ca       string // --ca: PEM roots for wss://
	state    string // --state: keep the resumable state in this file
	resume   string // --resume: continue the session of this state file
	node     *ctrl.Node
	object   string // --send-object: send this file as one object (objects.go)
	// streamOpts is the kind of stream a send opens (--probabilistic, --deadline).
	streamOpts ctrl.OpenStreamOptions
}

// runDial is the dial command.
func runDial(c *cli, args []string) error {
	fs := newFlags(c, "dial", dialUsage)
	var addrFlag addrsFlag
	fs.Var(&addrFlag, "addr", "the peer's `udp://HOST:PORT`, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH (WebSocket);\nrepeat it to try several in order, the first to answer wins")
	var sf seedFlags
	sf.register(fs)
	var cc ccFlag
	cc.register(fs)
	var idle idleFlag
	idle.register(fs)
	var o dialOpts
	fs.BoolVar(&o.recv, "recv", false, "receive: write every stream the peer opens to stdout")
	fs.BoolVar(&o.progress, "progress", false, "show progress on stderr even when it is not a terminal")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress and no \"connected\" line on stderr")
	chunk := sizeFlag{64 << 10}
	fs.Var(&chunk, "chunk", "read stdin in chunks of this `SIZE`, one message each (max 64MiB)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up connecting to an address after this long")
	fs.StringVar(&o.bind, "bind", "", "local `udp://HOST:PORT` to dial from (default: any interface, a free port)")
	fs.StringVar(&o.ca, "ca", "", caHelp)
	fs.StringVar(&o.state, "state", "", "keep the session's resumable state in `FILE` (mode 0600, replaced twice a second and at exit)")
	fs.StringVar(&o.resume, "resume", "", "continue the session of the state `FILE` (same seed, same stdin): the bytes the peer has are skipped")
	fs.BoolVar(&o.streamOpts.Probabilistic, "probabilistic", false, "send on a probabilistic stream: each chunk is delivered with a probability its entropy sets, and may be abandoned")
	fs.DurationVar(&o.streamOpts.Deadline, "deadline", 0, "with --probabilistic: a chunk older than `DURATION` is not sent (again)")
	var prof cpuProfileFlag
	prof.register(fs)
	fs.StringVar(&o.object, "send-object", "", "send `FILE` as one object checked by its SHA-256 (for listen --store) instead of stdin")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	stopProfile, err := prof.start("dial")
	if err != nil {
		return err
	}
	defer stopProfile()
	if o.object != "" && (o.recv || o.state != "" || o.resume != "" || o.streamOpts.Probabilistic) {
		return usagef("--send-object sends one whole object: not with --recv, --state, --resume or --probabilistic")
	}
	if err := checkProbFlags(&o); err != nil {
		return err
	}
	if (o.state != "" || o.resume != "") && o.recv {
		return usagef("--state and --resume keep a sender's state: not with --recv")
	}
	if o.resume != "" && len(addrFlag) == 0 {
		o.addrs = []string{""} // the state file's address
	} else if o.addrs, err = checkAddrs("--addr", addrFlag); err != nil {
		return err
	}
	if o.resume != "" && len(o.addrs) > 1 {
		return usagef("--resume takes at most one --addr (the peer's, if it moved)")
	}
	o.addr = o.addrs[0]
	if o.bind == "" && o.addr == "" {
		o.bind = "udp://:0"
	} else if o.bind == "" {
		o.bind = bindForAll(o.addrs)
	} else if o.bind, err = checkAddr("--bind", o.bind); err != nil {
		return err
	} else {
		o.bindSet = true
	}
	o.chunk = chunk.n
	if o.chunk > 64<<20 {
		return usagef("--chunk %d: at most 64MiB (the largest message)", o.chunk)
	}
	if o.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if err := idle.check(); err != nil {
		return err
	}
	tlsConf, err := loadCA(o.ca)
	if err != nil {
		return err
	}
	seed, err := sf.load(c.getenv)
	if err != nil {
		return err
	}
	ctx, stop := withSignals(c.stderr)
	defer stop()
	var moves *moveNotices
	onEvent := pathNotices(c.stderr)
	if !o.quiet {
		moves = &moveNotices{stderr: c.stderr}
		mtu := onEvent
		onEvent = func(ev ctrl.Event) {
			mtu(ev)
			moves.onEvent(ev)
		}
	}
	node, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, ForwardSecrecy: sf.forwardSecrecy, Addr: o.bind, HandshakeTimeout: o.timeout, OnEvent: onEvent,
		WebSocket: wspath.Config{TLS: tlsConf}, Transport: dataplane.Config{Congestion: cc.algo, IdleTimeout: idle.d}})
	if err != nil {
		return failf(err, "dial %s: bind %s", strings.Join(o.addrs, " "), o.bind)
	}
	defer stopNode(node) // an interrupted send still tells the peer, even over loss
	o.node = node
	if o.resume != "" {
		s, st, mark, err := resumeSession(ctx, node, o.resume, &o)
		if err != nil {
			return err
		}
		if err := skipInput(c.stdin, mark.input); err != nil {
			s.CloseWithError(0, "resume abandoned")
			return failf(err, "resume")
		}
		if !o.quiet {
			fmt.Fprintf(c.stderr, "resumed session %x with %s: the peer has the first %d bytes\n", idOf(s), o.addr, mark.input)
		}
		return sendOn(ctx, c, s, st, &o, mark)
	}
	s, i, err := dialAddrs(ctx, node, &o)
	if err != nil {
		if se, ok := interrupted(ctx); ok {
			if o.recv {
				return nil
			}
			return failf(se, "dial %s", o.addr)
		}
		if len(o.addrs) > 1 {
			return dialsFailed(err)
		}
		return failf(err, "dial %s", o.addr)
	}
	o.addr = o.addrs[i]
	if len(o.addrs) > 1 && !o.quiet {
		fmt.Fprintf(c.stderr, "connected via %s\n", o.addr)
		moves.track(s, o.addrs, i)
	}
	if o.recv {
		return dialRecv(ctx, c, node, s, &o)
	}
	if o.object != "" {
		return sendObject(ctx, c, s, &o)
	}
	return dialSend(ctx, c, node, s, &o)
}

// dialAddrs establishes the session: over several addresses with ctrl.DialPaths, which races
// them for the first handshake as DialAny does and then keeps the session across all of them
// (failover when the path in use goes silent, return when a preferred one answers again); over
// one address, or when --bind pins the local socket, with DialAny from the node's socket. It
// returns the index of the address the session started on.
func dialAddrs(ctx context.Context, node *ctrl.Node, o *dialOpts) (*ctrl.Session, int, error) {
	if len(o.addrs) > 1 && !o.bindSet {
		return node.DialPathsIndex(ctx, o.addrs...)
	}
	return node.DialAnyIndex(ctx, o.addrs...)
}

// dialSend sends stdin on one stream and closes the session once the peer has it all.
func dialSend(ctx context.Context, c *cli, node *ctrl.Node, s *ctrl.Session, o *dialOpts) error {
	show := !o.quiet && (o.progress || isTerminal(c.stderr))
	if show {
		fmt.Fprintf(c.stderr, "connected to %s (session %x)\n", o.addr, idOf(s))
	}
	st, err := s.OpenStreamWith(ctx, o.streamOpts)
	if err != nil {
		return dialFailure(ctx, s, o, err, "open a stream")
	}
	err = sendOn(ctx, c, s, st, o, inputMark{})
	if st.Probabilistic() && !o.quiet {
		reportProbabilistic(c.stderr, st)
	}
	return err
}

// checkProbFlags refuses --probabilistic and --deadline where they mean nothing: a receiver
// opens no stream, and a resumable send promises every byte.
func checkProbFlags(o *dialOpts) error {
	p := o.streamOpts
	switch {
	case p.Deadline < 0:
		return usagef("--deadline must not be negative")
	case p.Deadline > 0 && !p.Probabilistic:
		return usagef("--deadline applies to a probabilistic stream: give --probabilistic")
	case p.Probabilistic && o.recv:
		return usagef("--probabilistic is a sender's choice: not with --recv (a receiver reads either kind)")
	case p.Probabilistic && (o.state != "" || o.resume != ""):
		return usagef("--probabilistic may abandon data: not with --state or --resume, which promise every byte")
	}
	return nil
}

// reportProbabilistic says on stderr what a probabilistic stream delivered and abandoned.
func reportProbabilistic(w io.Writer, st *ctrl.Stream) {
	ps := st.ProbStats()
	var msgs, abandoned, resent uint64
	for _, c := range ps.Classes {
		msgs += c.Messages
		abandoned += c.Abandoned
		resent += c.Retransmissions
	}
	fmt.Fprintf(w, "probabilistic stream: %d messages, %d abandoned, %d retransmissions (measured loss %.3f)\n",
		msgs, abandoned, resent, ps.LossRate)
}

// sendOn sends stdin on st, from the input mark it starts at, keeping the resumable state in
// o.state when asked, and closes the session once the peer has it all.
func sendOn(ctx context.Context, c *cli, s *ctrl.Session, st *ctrl.Stream, o *dialOpts, start inputMark) (err error) {
	show := !o.quiet && (o.progress || isTerminal(c.stderr))
	go discardIncoming(s)
	var keeper *stateKeeper
	if o.state != "" {
		keeper = newStateKeeper(o.node, s, st, o.state, o.addr, o.chunk, start)
		defer func() {
			if kerr := keeper.close(); kerr != nil && err == nil {
				err = failf(kerr, "dial %s: write the state file %s", o.addr, o.state)
			}
		}()
	}
	peerDone := make(chan error, 1)
	go func() { peerDone <- drain(st) }()
	var sent atomic.Uint64
	size := inputSize(c.stdin)
	if size > 0 {
		adviseSequential(c.stdin)
	}
	prog := startProgress(c.stderr, show, size, &sent)
	sendDone := make(chan error, 1)
	whole := o.state != "" || o.resume != "" // resumable: message boundaries fixed by the input
	go func() { sendDone <- sendInput(c.stdin, st, o.chunk, whole, &sent, keeper) }()

	select {
	case err = <-sendDone:
	case <-s.Done():
		err = s.Err()
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	if err != nil {
		prog.finish("stopped after")
		return dialFailure(ctx, s, o, err, "send")
	}
	st.CloseWrite()
	// Wait for the peer's FIN on our stream: it has written out (or forwarded) every byte.
	select {
	case err = <-peerDone:
	case <-s.Done():
		if err = s.Err(); peerClosedClean(err) {
			err = nil
		}
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	if err != nil {
		prog.finish("stopped after")
		return dialFailure(ctx, s, o, err, "wait for the peer to take the data")
	}
	if err := s.Close(ctx); err != nil {
		prog.finish("stopped after")
		return dialFailure(ctx, s, o, context.Cause(ctx), "close")
	}
	awaitDone(s)
	prog.finish("sent")
	return nil
}

// dialFailure reports a send that did not complete, in terms of what the user sees.
func dialFailure(ctx context.Context, s *ctrl.Session, o *dialOpts, err error, step string) error {
	if se, ok := interrupted(ctx); ok {
		return failf(se, "dial %s: transfer incomplete", o.addr)
	}
	if serr := s.Err(); serr != nil {
		err = serr
	}
	return failf(err, "dial %s: %s", o.addr, step)
}

// dialRecv writes every stream the peer opens to stdout until the session ends or a signal.
func dialRecv(ctx context.Context, c *cli, node *ctrl.Node, s *ctrl.Session, o *dialOpts) error {
	log := sessionLogger(c.stderr, o.quiet)
	log("connected to %s (session %x)", o.addr, idOf(s))
	out := newOrderedWriter(c.stdout, 0)
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			out.add(st, streamDone(st, log))
		}
	}()
	select {
	case <-s.Done():
	case <-ctx.Done():
		stopNode(node)
	case <-out.failedC():
		closeForOutput(node, out.failure())
	}
	<-accepted
	out.close()
	if err := out.wait(); err != nil {
		return outputFailure(err, "dial "+o.addr+" --recv")
	}
	if _, ok := interrupted(ctx); ok {
		return nil
	}
	if err := s.Err(); !peerClosedNormally(err) {
		return failf(err, "dial %s --recv", o.addr)
	}
	log("session %x ended: %s", idOf(s), explain(s.Err()))
	return nil
}

// sendInput copies r to st, one message per read of up to chunk bytes, counting into sent and
// telling keeper (when there is one) where each message ends. With whole, every message is
// exactly chunk bytes but the last: the stream's bytes are then a function of the input alone,
// which is what lets a resumed sender rewrite them identically from any message boundary.
func sendInput(r io.Reader, st *ctrl.Stream, chunk int, whole bool, sent *atomic.Uint64, keeper *stateKeeper) error {
	if !whole {
		return sendReads(r, st, chunk, sent)
	}
	buf := make([]byte, chunk)
	for {
		var n int
		var err error
		if whole {
			n, err = io.ReadFull(r, buf)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
		} else {
			n, err = r.Read(buf)
		}
		if n > 0 {
			if werr := st.WriteMessage(buf[:n]); werr != nil {
				return werr
			}
			keeper.record(n)
			sent.Add(uint64(n))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	}
}

// sendReads is sendInput for a send whose message boundaries are free (no resumable state):
// the stream reads stdin itself, one message per read, straight into its send buffer when
// stdin is a file or a pipe (Stream.ReadMessagesFrom), so no byte is copied in between.
func sendReads(r io.Reader, st *ctrl.Stream, chunk int, sent *atomic.Uint64) error {
	_, err := st.ReadMessagesFrom(r, chunk, func(n int) { sent.Add(uint64(n)) })
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("read stdin: %w", err)
	}
	return err
}

// drain reads and discards st until the peer ends its half; nil at a clean end.
func drain(st *ctrl.Stream) error {
	buf := make([]byte, 64<<10)
	for {
		if _, err := st.Read(buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// discardIncoming reads and drops every stream the peer opens, so that a peer pushing data
// (a relay forwarding other publishers) is never stalled by flow control.
func discardIncoming(s *ctrl.Session) {
	for {
		st, err := s.AcceptStream(context.Background())
		if err != nil {
			return
		}
		go func() {
			drain(st)
			st.Close()
		}()
	}
}

// inputSize returns how many bytes are left to read from r when it is a regular file, else -1.
func inputSize(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return -1
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return -1
	}
	return max(fi.Size()-pos, 0)
}

// adviseSequential tells the kernel that r, a regular file, is read once from start to end, so
// that it reads ahead twice as far as by default and a file that is not in the page cache is
// read before the stream asks for it. Only a hint: errors are ignored.
func adviseSequential(r io.Reader) {
	f, ok := r.(*os.File)
	if !ok {
		return
	}
	if rc, err := f.SyscallConn(); err == nil { // not Fd(), which would make a pipe blocking
		rc.Control(func(fd uintptr) { unix.Fadvise(int(fd), 0, 0, unix.FADV_SEQUENTIAL) })
	}
}

// awaitDone waits, briefly, for a closing session to finish its drain period so that its
// SESSION_CLOSE is sent (and resent to stragglers) before the node goes away.
func awaitDone(s *ctrl.Session) {
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case <-s.Done():
	case <-t.C:
	}
}
