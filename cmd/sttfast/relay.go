package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
)

// relayUsage is relay's --help text.
const relayUsage = `Usage: sttfast relay --addr udp://HOST:PORT [--addr ...] (--seed FILE | --passphrase-file FILE | STT_SEED)

A fan-out node: every message any session sends, on any stream, is forwarded whole to every
other session (on one broadcast stream per session, opened on first use). Publishers are plain
"sttfast dial" (the relay ends its half of a publisher's stream once every message of it is
forwarded, so the dial exits only then); subscribers are "sttfast dial --recv". A subscriber
receives everything published after it connected, every byte in order (messages of several
publishers interleave whole). A slow subscriber slows the publishers rather than losing data.
A probabilistic publisher's stream (dial --probabilistic) is forwarded on a probabilistic
stream to each subscriber, with its deadline: each subscriber's link abandons what it loses
beyond a message's target, or holds past the deadline, without holding up the others.

--addr may be given more than once: the relay takes sessions on every address and forwards
between all of them (one session table). An address is udp://HOST:PORT or ws://HOST:PORT/PATH (WebSocket over TCP, path /stt by
default). Prints "listening on udp://HOST:PORT" (or ws://HOST:PORT/PATH) on stderr once
ready, one line per --addr in the order given (the host as given, the port bound), one line
per session opened and closed and one about refused handshakes (another seed, a clock off) at
most every 10 s (unless --quiet), and every --interval a stats line:
sessions, messages/s and bytes/s in, bytes/s out, and drops: how many datagrams the node
discarded, by reason (the labels of /metrics' sttfast_drops_total), plus forward_failed, the
messages that could not be forwarded to some session (it was closing). The usual ones are
harmless: unknown_session (packets still arriving for a session that has ended, such as a
peer's last ACKs), closed (arriving while a session closes) and replay (duplicates); auth counts
packets that failed authentication (corrupted, or forged). SIGINT/SIGTERM close every session
(SESSION_CLOSE code 8), print a totals line and exit 0.

` + seedHelp + `

Example:
  sttfast relay --addr udp://0.0.0.0:9000 --seed stt.seed
  sttfast dial --addr udp://relay:9000 --seed stt.seed --recv > copy.bin   # each subscriber
  sttfast dial --addr udp://relay:9000 --seed stt.seed < feed.bin          # the publisher`

// relayStats are the relay's counters, written by the forwarding goroutines.
type relayStats struct {
	msgsIn, bytesIn, bytesOut, failed atomic.Uint64
}

// runRelay is the relay command.
func runRelay(c *cli, args []string) error {
	fs := newFlags(c, "relay", relayUsage)
	var nf listenFlags
	nf.register(fs)
	interval := fs.Duration("interval", 5*time.Second, "stats line period on stderr (0: none)")
	quiet := fs.Bool("quiet", false, "no session lines on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *interval < 0 {
		return usagef("--interval must not be negative")
	}
	addrs, seed, err := nf.load(c)
	if err != nil {
		return err
	}
	ctx, stop := withSignals(c.stderr)
	defer stop()
	cfg := nf.config(seed)
	cfg.ResumeWindow = noResume
	node, err := startListening(c, "relay", cfg, addrs, *quiet)
	if err != nil {
		return err
	}
	defer node.Close()
	printListening(c.stderr, node, addrs)
	r := &relay{node: node, log: sessionLogger(c.stderr, *quiet)}
	go r.acceptLoop(ctx)
	if *interval > 0 {
		go r.statsLoop(ctx, c.stderr, *interval)
	}
	<-ctx.Done()
	stopNode(node)
	r.printTotals(c.stderr)
	return nil
}

// relay is the fan-out node's state.
type relay struct {
	node  *ctrl.Node
	log   func(string, ...any)
	stats relayStats

	probMu sync.Mutex
	// probStreams holds, per subscriber session, the probabilistic stream that probabilistic
	// publishers' messages go out on (opened on first use, with the first publisher's options).
	probStreams map[*ctrl.Session]*ctrl.Stream
}

// acceptLoop accepts sessions until the node closes.
func (r *relay) acceptLoop(ctx context.Context) {
	for {
		s, err := r.node.Accept(ctx)
		if err != nil {
			return
		}
		go r.session(s)
	}
}

// session forwards every stream s opens.
func (r *relay) session(s *ctrl.Session) {
	eachStream(s, r.log, func(st *ctrl.Stream) { go r.forward(s, st) })
	r.probMu.Lock()
	delete(r.probStreams, s)
	r.probMu.Unlock()
}

// forward sends each message of st to every session but s, in order; at the end of st it ends
// the relay's half, which tells a sttfast dial that everything was forwarded.
func (r *relay) forward(s *ctrl.Session, st *ctrl.Stream) {
	buf := make([]byte, 0, 64<<10)
	var opts ctrl.OpenStreamOptions
	for first := true; ; first = false {
		msg, err := st.ReadMessage(buf[:0])
		if errors.Is(err, ctrl.ErrMessagesLost) {
			continue // the publisher abandoned them: there is nothing to forward
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				st.Close()
			}
			return
		}
		if first {
			// STREAM_KIND travels with STREAM_OPEN, ahead of the first message's bytes.
			if opts = st.PeerOptions(); opts.Probabilistic {
				r.log("session %x: stream %d is probabilistic (deadline %v): forwarded as such", idOf(s), st.ID(), opts.Deadline)
			}
		}
		buf = msg
		r.stats.msgsIn.Add(1)
		r.stats.bytesIn.Add(uint64(len(msg)))
		var n int
		if opts.Probabilistic {
			n, err = r.sendProbabilistic(s, msg, opts)
		} else {
			n, err = r.node.SendToAllExcept(s, msg)
		}
		r.stats.bytesOut.Add(uint64(n * len(msg)))
		if err != nil {
			r.stats.failed.Add(1)
		}
	}
}

// printTotals prints the relay's lifetime totals, once, on the way out.
// sendProbabilistic forwards msg of a probabilistic publisher to every other session on that
// session's probabilistic stream, which abandons what its own link loses beyond the message's
// target or keeps past the deadline: a message late downstream is not pushed on. (The deadline
// counts from the relay's write: the relay does not know how old the message already is.)
func (r *relay) sendProbabilistic(from *ctrl.Session, msg []byte, opts ctrl.OpenStreamOptions) (int, error) {
	var first error
	sent := 0
	for _, s := range r.node.Sessions() {
		if s == from {
			continue
		}
		st, err := r.probStream(s, opts)
		if err == nil {
			err = st.WriteMessage(msg)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		sent++
	}
	return sent, first
}

// probStream returns s's probabilistic forwarding stream, opening it on first use.
func (r *relay) probStream(s *ctrl.Session, opts ctrl.OpenStreamOptions) (*ctrl.Stream, error) {
	r.probMu.Lock()
	defer r.probMu.Unlock()
	if st := r.probStreams[s]; st != nil {
		return st, nil
	}
	select {
	case <-s.Done():
		return nil, s.Err()
	default:
	}
	st, err := s.OpenStreamWith(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	if r.probStreams == nil {
		r.probStreams = make(map[*ctrl.Session]*ctrl.Stream)
	}
	r.probStreams[s] = st
	return st, nil
}

func (r *relay) printTotals(w io.Writer) {
	ns := r.node.Stats()
	fmt.Fprintf(w, "relay: totals: %d msgs in, %s in, %s out, %s\n", r.stats.msgsIn.Load(),
		humanBytes(r.stats.bytesIn.Load()), humanBytes(r.stats.bytesOut.Load()), dropSummary(&ns.EngineStats, r.stats.failed.Load()))
}

// dropSummary is "drops N" followed, when N > 0, by the count of each reason that has any:
// "drops 15 (unknown_session 12, replay 3)". failed is the forwards that failed.
func dropSummary(es *dataplane.EngineStats, failed uint64) string {
	total := es.DropsTotal() + failed
	if total == 0 {
		return "drops 0"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "drops %d (", total)
	sep := ""
	for _, r := range dataplane.DropReasons() {
		if n := es.Drops[r]; n > 0 {
			fmt.Fprintf(&b, "%s%s %d", sep, r, n)
			sep = ", "
		}
	}
	if failed > 0 {
		fmt.Fprintf(&b, "%sforward_failed %d", sep, failed)
	}
	b.WriteString(")")
	return b.String()
}

// statsLoop prints one stats line every interval.
func (r *relay) statsLoop(ctx context.Context, w io.Writer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastMsgs, lastIn, lastOut uint64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			dt := now.Sub(last).Seconds()
			msgs, in, out := r.stats.msgsIn.Load(), r.stats.bytesIn.Load(), r.stats.bytesOut.Load()
			ns := r.node.Stats()
			fmt.Fprintf(w, "relay: %d sessions  %.0f msg/s in  %s in  %s out  %s\n",
				ns.Sessions, float64(msgs-lastMsgs)/dt, humanRate(float64(in-lastIn)/dt),
				humanRate(float64(out-lastOut)/dt), dropSummary(&ns.EngineStats, r.stats.failed.Load()))
			lastMsgs, lastIn, lastOut, last = msgs, in, out, now
		}
	}
}
