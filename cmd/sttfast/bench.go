package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

// benchUsage is bench's --help text.
const benchUsage = `Usage: sttfast bench [--addr udp://HOST:PORT --seed FILE] [flags]

Without --addr: starts a listener and a dialer in this process on loopback (over UDP, or over
the WebSocket path with --transport ws) with a fresh random seed, streams data for --duration, and verifies every byte at the receiver. With --addr: the
same against a remote "sttfast serve" (seed flags required), which verifies and reports back
(bench protocol below).

The data of each stream is a random 1 MiB block (at least one message) repeated at increasing
offsets; the receiver checks each message byte for byte against the block at the offset it
expects, so loss, corruption, duplication and reordering all fail the run. A live one-line
readout goes to stderr (--quiet silences it), the summary to stdout (--json for machines). The
goodput is what the receiver verified, divided by the time until it had verified it. Exit status
1 if verification failed.

The transport numbers are the sender's: "declared lost" counts packets loss detection gave up
on, "spurious" those of them the receiver acknowledged afterwards (the path reordered them, it
did not lose them); "resent" counts stream bytes sent again, both for losses and for probe
timeouts: when ACKs are late the sender resends its oldest unacknowledged data as a probe, so
bytes can be resent with nothing declared lost. "drops" (--json) counts datagrams either node
discarded, all reasons together.

Bench protocol (--addr), per stream: the first message is
"sttfast-bench/1 size=N block=N key=HEX" (the block is ChaCha8 output for that key), then the
data, then FIN; serve checks the data as above, hashes it with xxhash64, and answers with one
message "sttfast-bench/1 ok bytes=N msgs=N xxh64=HEX" (or "fail ... bad=OFFSET") and FIN. The
client compares bytes, messages and hash with what it sent.

` + probBenchHelp + `

` + relayFeedHelp + `

` + seedHelp + `

Examples:
  sttfast bench                                   # 10 s loopback, what "make run" does
  sttfast bench --probabilistic --loss 0.2 --deadline 50ms --baseline
  sttfast bench --duration 5s --size 1200 --streams 4 --json
  sttfast bench --addr udp://10.0.0.2:9000 --seed stt.seed --sessions 2`

// benchOpts are bench's parsed flags.
type benchOpts struct {
	cc        ccFlag // congestion controller of both nodes (in process) or the dialing one
	idle      idleFlag
	addr      string
	transport string // the in-process loopback's: "udp" or "ws"
	duration  time.Duration
	size      int
	streams   int
	sessions  int
	payload   int
	json      bool
	quiet     bool
	interval  time.Duration
	ca        string      // --ca: PEM roots for a wss:// --addr
	tls       *tls.Config // loaded from ca (nil: the system roots)
	// forwardSecrecy makes the nodes require forward secrecy (--forward-secrecy).
	forwardSecrecy bool
	prob           probBenchOpts // --probabilistic and its flags
}

// benchResult is the machine-readable summary (--json).
type benchResult struct {
	Mode            string  `json:"mode"`      // "loopback" or "remote"
	Transport       string  `json:"transport"` // "udp" or "ws" (wss too, remote)
	Addr            string  `json:"addr,omitempty"`
	Duration        float64 `json:"duration_s"`
	MessageSize     int     `json:"message_size"`
	Streams         int     `json:"streams"`
	Sessions        int     `json:"sessions"`
	PayloadSize     int     `json:"payload_size"`
	PathMTU         int     `json:"path_mtu,omitempty"` // packet size at the end: PayloadSize, or what path MTU discovery raised it to
	BytesSent       uint64  `json:"bytes_sent"`
	BytesVerified   uint64  `json:"bytes_verified"`
	Messages        uint64  `json:"messages"`
	Gbps            float64 `json:"goodput_gbps"`
	MessagesPerSec  float64 `json:"messages_per_s"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsPerSec   float64 `json:"packets_per_s"`
	Retransmitted   uint64  `json:"retransmitted_bytes"`
	PacketsLost     uint64  `json:"packets_lost"`
	SpuriousLosses  uint64  `json:"spurious_losses"` // declared lost, acknowledged later (reordering)
	ProbeTimeouts   uint64  `json:"probe_timeouts"`
	SmoothedRTTus   float64 `json:"srtt_us"`
	Verified        bool    `json:"verified"`
	Problem         string  `json:"problem,omitempty"`
	GSO             bool    `json:"gso"`
	GRO             bool    `json:"gro"`
	RecvBufferBytes int     `json:"recv_buffer"`
	Drops           uint64  `json:"drops"`
}

// runBench is the bench command.
func runBench(c *cli, args []string) error {
	fs := newFlags(c, "bench", benchUsage)
	var o benchOpts
	fs.StringVar(&o.addr, "addr", "", "benchmark against the sttfast serve at `udp://HOST:PORT` or ws://HOST:PORT/PATH (default: in-process loopback)")
	var sf seedFlags
	sf.register(fs)
	o.cc.register(fs)
	o.idle.register(fs)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	size := sizeFlag{64 << 10}
	fs.Var(&size, "size", "message `SIZE` (bytes, or with KiB/MiB)")
	fs.IntVar(&o.streams, "streams", 1, "streams per session (with --addr: at most the server's stream limit, 256 by default)")
	fs.IntVar(&o.sessions, "sessions", 1, "sessions")
	fs.IntVar(&o.payload, "mtu", 1200, "UDP payload size of a packet, 256-65507 (loopback takes large ones)")
	transport := fs.String("transport", "udp", "in-process loopback's transport: udp or ws (with --addr, the address's scheme chooses)")
	fs.StringVar(&o.ca, "ca", "", caHelp)
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON")
	fs.BoolVar(&o.quiet, "quiet", false, "no live readout")
	fs.DurationVar(&o.interval, "interval", time.Second, "live readout interval")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the run to `FILE`")
	o.prob.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := o.prob.check(); err != nil {
		return err
	}
	if (o.prob.on || o.prob.feed) && fs.Lookup("addr").Value.String() != "" {
		return usagef("--probabilistic and --relay-feed run in process: not with --addr")
	}
	var err error
	if o.transport, err = checkTransport(*transport); err != nil {
		return err
	}
	if o.tls, err = loadCA(o.ca); err != nil {
		return err
	}
	o.size = size.n
	o.forwardSecrecy = sf.forwardSecrecy
	if o.streams < 1 || o.sessions < 1 || o.duration <= 0 || o.interval <= 0 {
		return usagef("--streams, --sessions, --duration and --interval must be positive")
	}
	if o.size > benchMaxBlock {
		return usagef("--size %d: at most 64MiB (the largest message)", o.size)
	}
	if o.payload < 256 || o.payload > 65507 {
		return usagef("--mtu %d: want 256-65507", o.payload)
	}
	if err := o.idle.check(); err != nil {
		return err
	}
	var seed *stc.Seed
	if o.addr != "" {
		if o.addr, err = checkAddr("--addr", o.addr); err != nil {
			return err
		}
		if o.transport == "ws" && !strings.HasPrefix(o.addr, "ws") {
			return usagef("--transport ws with --addr %s: the address chooses the transport; give a ws:// one", o.addr)
		}
		if seed, err = sf.load(c.getenv); err != nil {
			return err
		}
	}
	ctx, stop := withSignals(c.stderr)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return failf(err, "bench: cpu profile")
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return failf(err, "bench: cpu profile")
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 4096
		defer writeHeapProfile(*memProfile)
	}
	if o.prob.feed {
		return benchRelayFeed(ctx, o, o.prob, c.stdout)
	}
	if o.prob.on {
		return benchProbabilistic(ctx, o, o.prob, c.stdout)
	}
	var res *benchResult
	if o.addr != "" {
		res, err = benchRemote(ctx, o, seed, c.stderr)
	} else {
		res, err = benchLoopback(ctx, o, c.stderr)
	}
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return failf(err, "bench: write stdout")
		}
	} else {
		printBenchSummary(c.stdout, res)
	}
	if !res.Verified {
		return failf(errors.New(res.Problem), "bench: verification failed")
	}
	return nil
}

// writeHeapProfile saves the allocation profile for --memprofile.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	pprof.Lookup("allocs").WriteTo(f, 0)
}

// printBenchSummary writes the human summary.
func printBenchSummary(w io.Writer, r *benchResult) {
	where := "in-process loopback"
	if r.Transport == "ws" {
		where += " over WebSocket"
	}
	if r.Mode == "remote" {
		where = "against " + r.Addr
	}
	fmt.Fprintf(w, "sttfast bench (%s): %d session(s) x %d stream(s), %d-byte messages, %d-byte packets, %.1fs\n",
		where, r.Sessions, r.Streams, r.MessageSize, r.PayloadSize, r.Duration)
	fmt.Fprintf(w, "  goodput   %.2f Gbit/s (%s verified at the receiver, %.0f msg/s)\n", r.Gbps, humanBytes(r.BytesVerified), r.MessagesPerSec)
	fmt.Fprintf(w, "  packets   %d sent (%.0f/s), %d declared lost (%d of them spurious: acknowledged later)\n",
		r.PacketsSent, r.PacketsPerSec, r.PacketsLost, r.SpuriousLosses)
	fmt.Fprintf(w, "  resent    %s of stream data, for losses and for %d probe timeouts (a probe resends data whose ACK is late)\n",
		humanBytes(r.Retransmitted), r.ProbeTimeouts)
	fmt.Fprintf(w, "  rtt       %.1f us smoothed\n", r.SmoothedRTTus)
	if r.PathMTU > 0 && r.PathMTU != r.PayloadSize {
		fmt.Fprintf(w, "  path MTU  %d-byte packets at the end (path MTU discovery, from %d)\n", r.PathMTU, r.PayloadSize)
	}
	if strings.HasPrefix(r.Transport, "ws") {
		fmt.Fprintf(w, "  path      WebSocket over TCP: no loss timers or window, paced by the connection's budget\n")
	} else {
		fmt.Fprintf(w, "  offload   GSO %v, GRO %v, receive buffer %s\n", r.GSO, r.GRO, humanBytes(uint64(r.RecvBufferBytes)))
	}
	if r.Verified {
		fmt.Fprintf(w, "  verify    OK: %d of %d bytes sent checked byte for byte, in order\n", r.BytesVerified, r.BytesSent)
	} else {
		fmt.Fprintf(w, "  verify    FAILED: %s\n", r.Problem)
	}
}

// streamKey names a stream on both ends: the session id and the stream id are shared.
type streamKey struct {
	session [8]byte
	stream  uint64
}

// streamTally is one stream's count on one side.
type streamTally struct {
	key   streamKey
	bytes uint64
	msgs  uint64
	bad   bool
	badAt uint64
	err   error
}

// benchLoopback runs the in-process benchmark: two nodes on 127.0.0.1, a fresh seed.
func benchLoopback(ctx context.Context, o benchOpts, stderr io.Writer) (*benchResult, error) {
	seed, err := stc.GenerateSeed()
	if err != nil {
		return nil, failf(err, "bench: seed")
	}
	// Both nodes allow as many concurrent streams as the run opens (the default is 256): no
	// stream ends before the duration does, so an open past the limit would wait for good.
	tcfg := dataplane.Config{PayloadSize: o.payload, Congestion: o.cc.algo, MaxStreams: o.streams, IdleTimeout: o.idle.d}
	listenAt := "udp://127.0.0.1:0"
	if o.transport == "ws" {
		listenAt = "ws://127.0.0.1:0/stt"
	}
	srv, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: listenAt, Transport: tcfg, ForwardSecrecy: o.forwardSecrecy})
	if err != nil {
		return nil, failf(err, "bench: listen")
	}
	defer srv.Close()
	cli, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", Transport: tcfg, ForwardSecrecy: o.forwardSecrecy})
	if err != nil {
		return nil, failf(err, "bench: listen")
	}
	defer cli.Close()

	h := newBenchHeader(o.size)
	content := h.content()
	var verified atomic.Uint64
	nstreams := o.sessions * o.streams
	received := make(chan streamTally, nstreams)
	go func() { // receiver: every stream of every session, checked against the content
		for i := 0; i < o.sessions; i++ {
			s, err := srv.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				for {
					st, err := s.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go func() { received <- benchReceive(st, h, content, &verified) }()
				}
			}()
		}
	}()

	sessions := make([]*ctrl.Session, 0, o.sessions)
	for i := 0; i < o.sessions; i++ {
		s, err := cli.Dial(ctx, srv.Addrs()[0].String())
		if err != nil {
			return nil, failf(err, "bench: dial %s", srv.Addrs()[0])
		}
		sessions = append(sessions, s)
	}
	stopSend := make(chan struct{})
	sentc := make(chan streamTally, nstreams)
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range sessions {
		for j := 0; j < o.streams; j++ {
			st, err := openBenchStream(ctx, s, j, o.streams, "the receiving node")
			if err != nil {
				close(stopSend)
				return nil, err
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sentc <- benchSend(st, newBenchSource(h, content), stopSend, nil)
			}()
		}
	}
	benchWatch(ctx, o, stderr, start, cli, sessions, &verified, "verified")
	close(stopSend)
	wg.Wait()
	close(sentc)

	// Every receiver reaches EOF once the data in flight has arrived.
	got := make(map[streamKey]streamTally, nstreams)
	guard := time.NewTimer(60 * time.Second)
	defer guard.Stop()
	for len(got) < nstreams {
		select {
		case t := <-received:
			got[t.key] = t
		case <-guard.C:
			return nil, failf(fmt.Errorf("%d of %d streams finished within 60 s after the senders stopped", len(got), nstreams), "bench: receiver")
		}
	}
	elapsed := time.Since(start)
	res := &benchResult{Mode: "loopback", Transport: o.transport, MessageSize: o.size, Streams: o.streams, Sessions: o.sessions,
		PayloadSize: o.payload, Verified: true}
	if o.transport == "ws" { // packets are sized for the path, not the MTU (--mtu)
		res.PayloadSize = dataplane.DefaultReliablePacketSize
	}
	for sent := range sentc {
		res.BytesSent += sent.bytes
		r, ok := got[sent.key]
		switch {
		case !ok:
			res.fail(fmt.Sprintf("stream %d never reached the receiver", sent.key.stream))
		case r.err != nil:
			res.fail(fmt.Sprintf("stream %d: %s", sent.key.stream, explain(r.err)))
		case r.bad:
			res.fail(fmt.Sprintf("stream %d: wrong byte at offset %d", sent.key.stream, r.badAt))
		case r.bytes != sent.bytes || r.msgs != sent.msgs:
			res.fail(fmt.Sprintf("stream %d: sent %d bytes in %d messages, received %d in %d", sent.key.stream, sent.bytes, sent.msgs, r.bytes, r.msgs))
		case sent.err != nil:
			res.fail(fmt.Sprintf("stream %d: send: %s", sent.key.stream, explain(sent.err)))
		}
	}
	for _, r := range got {
		res.Messages += r.msgs
	}
	res.BytesVerified = verified.Load()
	res.finish(elapsed, sessions, cli.Stats(), srv.Stats())
	return res, nil
}

// benchOpenWait is how long an open may wait for a stream slot. No bench stream ends before the
// duration does, so an open that finds none has met the peer's stream limit and would wait for
// good; a slot that is coming arrives within a round trip (the peer's MAX_STREAMS).
const benchOpenWait = 3 * time.Second

// openBenchStream opens stream j (0-based) of n on s, or fails with one line saying the peer's
// stream limit is below n.
func openBenchStream(ctx context.Context, s *ctrl.Session, j, n int, peer string) (*ctrl.Stream, error) {
	octx, cancel := context.WithTimeout(ctx, benchOpenWait)
	defer cancel()
	st, err := s.OpenStream(octx)
	switch {
	case err == nil:
		return st, nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return nil, failf(fmt.Errorf("%s lets a session open only %d streams at once (stream %d found no slot within %v)",
			peer, j, j+1, benchOpenWait), "bench: --streams %d", n)
	default:
		return nil, failf(err, "bench: open stream %d of %d", j+1, n)
	}
}

// fail marks the result unverified, keeping the first problem.
func (r *benchResult) fail(problem string) {
	if r.Verified {
		r.Problem = problem
	}
	r.Verified = false
}

// finish fills the rates and the transport numbers shared by both modes.
func (r *benchResult) finish(elapsed time.Duration, sessions []*ctrl.Session, snd, rcv ctrl.NodeStats) {
	r.Duration = elapsed.Seconds()
	for _, s := range sessions {
		ss := s.Stats()
		r.Retransmitted += ss.RetransmittedBytes
		r.PacketsLost += ss.PacketsLost
		r.SpuriousLosses += ss.SpuriousLosses
		r.ProbeTimeouts += ss.PTOs
		r.SmoothedRTTus = float64(ss.SmoothedRTT) / 1e3
		r.PathMTU = ss.PathMTU
	}
	r.PacketsSent = snd.TxDatagrams
	r.PacketsPerSec = float64(snd.TxDatagrams) / elapsed.Seconds()
	r.Gbps = float64(r.BytesVerified) * 8 / elapsed.Seconds() / 1e9
	r.MessagesPerSec = float64(r.Messages) / elapsed.Seconds()
	r.GSO, r.GRO = snd.GSO, rcv.GRO
	r.RecvBufferBytes = rcv.RecvBuffer
	r.Drops = snd.DropsTotal() + rcv.DropsTotal()
}

// benchWatch shows the live readout until the duration is over or a signal; counter is the
// byte count the readout reports (receiver-verified in loopback, sent in remote mode).
func benchWatch(ctx context.Context, o benchOpts, stderr io.Writer, start time.Time, cli *ctrl.Node,
	sessions []*ctrl.Session, counter *atomic.Uint64, what string) {
	live := newReadout(stderr, o.quiet)
	defer live.done()
	timer := time.NewTimer(o.duration)
	defer timer.Stop()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	var lastBytes, lastPkts uint64
	lastT := start
	for {
		select {
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			b := counter.Load()
			cs := cli.Stats()
			var retx uint64
			var rtt int64
			for _, s := range sessions {
				ss := s.Stats()
				retx += ss.RetransmittedBytes
				rtt = ss.SmoothedRTT
			}
			dt := now.Sub(lastT).Seconds()
			live.line(fmt.Sprintf("%6.1fs  %7.2f Gbit/s %s  %9.0f pkt/s  retx %s  rtt %.0fus",
				now.Sub(start).Seconds(), float64(b-lastBytes)*8/dt/1e9, what, float64(cs.TxDatagrams-lastPkts)/dt,
				humanBytes(retx), float64(rtt)/1e3))
			lastBytes, lastPkts, lastT = b, cs.TxDatagrams, now
		}
	}
}

// benchSend writes the source's messages on st until stop, then ends the stream (FIN). With
// hash non-nil it also hashes what it sent (remote mode compares it with the server's hash).
func benchSend(st *ctrl.Stream, src *benchSource, stop <-chan struct{}, hash io.Writer) streamTally {
	t := streamTally{key: streamKey{st.Session().ID(), st.ID()}}
	for {
		select {
		case <-stop:
			t.err = st.CloseWrite()
			return t
		default:
		}
		msg := src.next()
		if err := st.WriteMessage(msg); err != nil {
			t.err = err
			return t
		}
		if hash != nil {
			hash.Write(msg)
		}
		t.bytes += uint64(len(msg))
		t.msgs++
	}
}

// benchReceive reads st to its end, checking every message; verified counts correct bytes live.
func benchReceive(st *ctrl.Stream, h benchHeader, content []byte, verified *atomic.Uint64) streamTally {
	t := streamTally{key: streamKey{st.Session().ID(), st.ID()}}
	v := newBenchVerifier(h, content)
	buf := make([]byte, 0, h.size)
	defer st.Close()
	for {
		msg, err := st.ReadMessage(buf[:0])
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.err = err
			}
			break
		}
		buf = msg
		if v.check(msg) {
			verified.Add(uint64(len(msg)))
		}
	}
	t.bytes, t.msgs, t.bad, t.badAt = v.bytes, v.msgs, v.bad, v.badAt
	return t
}
