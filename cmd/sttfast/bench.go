package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

type benchOpts struct {
	duration time.Duration
	size     int
	streams  int
	sessions int
	payload  int
	json     bool
	quiet    bool
	interval time.Duration
}

// benchResult is the machine-readable summary (--json).
type benchResult struct {
	Duration        float64 `json:"duration_s"`
	MessageSize     int     `json:"message_size"`
	Streams         int     `json:"streams"`
	Sessions        int     `json:"sessions"`
	PayloadSize     int     `json:"payload_size"`
	BytesVerified   uint64  `json:"bytes_verified"`
	Messages        uint64  `json:"messages"`
	Gbps            float64 `json:"goodput_gbps"`
	MessagesPerSec  float64 `json:"messages_per_s"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsPerSec   float64 `json:"packets_per_s"`
	Retransmitted   uint64  `json:"retransmitted_bytes"`
	PacketsLost     uint64  `json:"packets_lost"`
	SmoothedRTTus   float64 `json:"srtt_us"`
	Verified        bool    `json:"verified"`
	GSO             bool    `json:"gso"`
	GRO             bool    `json:"gro"`
	RecvBufferBytes int     `json:"recv_buffer"`
	Drops           uint64  `json:"drops"`
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o benchOpts
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	sizeStr := fs.String("size", "64KiB", "message size (bytes, or with KiB/MiB)")
	fs.IntVar(&o.streams, "streams", 1, "streams per session")
	fs.IntVar(&o.sessions, "sessions", 1, "sessions")
	fs.IntVar(&o.payload, "mtu", 1200, "UDP payload size of a packet")
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON")
	fs.BoolVar(&o.quiet, "quiet", false, "no live readout")
	fs.DurationVar(&o.interval, "interval", time.Second, "live readout interval")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the run to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: sttfast bench [flags]")
		fmt.Fprintln(stderr, "\nStarts a listener and a dialer on loopback with a fresh random seed, streams data")
		fmt.Fprintln(stderr, "for --duration with a live one-line readout on stderr, verifies every byte at the")
		fmt.Fprintln(stderr, "receiver (xxhash64 per stream) and prints a summary on stdout.")
		fmt.Fprintln(stderr, "\nExample:\n  sttfast bench --duration 5s --size 1200 --streams 4")
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	size, err := parseSize(*sizeStr)
	if err != nil || size <= 0 {
		return usagef("bad --size %q", *sizeStr)
	}
	o.size = size
	if o.streams < 1 || o.sessions < 1 || o.duration <= 0 {
		return usagef("--streams, --sessions and --duration must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 4096
		defer writeHeapProfile(*memProfile)
	}
	res, err := benchLoopback(ctx, o, stderr)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printBenchSummary(stdout, res)
	if !res.Verified {
		return errors.New("verification failed: received bytes differ from sent bytes")
	}
	return nil
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	pprof.Lookup("allocs").WriteTo(f, 0)
}

func printBenchSummary(w io.Writer, r *benchResult) {
	fmt.Fprintf(w, "sttfast bench: %d session(s) x %d stream(s), %d-byte messages, %d-byte packets, %.1fs\n",
		r.Sessions, r.Streams, r.MessageSize, r.PayloadSize, r.Duration)
	fmt.Fprintf(w, "  goodput   %.2f Gbit/s (%s verified at the receiver, %.0f msg/s)\n", r.Gbps, humanBytes(r.BytesVerified), r.MessagesPerSec)
	fmt.Fprintf(w, "  packets   %d sent (%.0f/s), %d lost, %s retransmitted\n", r.PacketsSent, r.PacketsPerSec, r.PacketsLost, humanBytes(r.Retransmitted))
	fmt.Fprintf(w, "  rtt       %.1f us smoothed\n", r.SmoothedRTTus)
	fmt.Fprintf(w, "  offload   GSO %v, GRO %v, receive buffer %s\n", r.GSO, r.GRO, humanBytes(uint64(r.RecvBufferBytes)))
	v := "OK"
	if !r.Verified {
		v = "FAILED"
	}
	fmt.Fprintf(w, "  verify    %s\n", v)
}

// benchStream is one sender/receiver pair's verification state.
type benchStream struct {
	sentHash, recvHash *xxhash.Digest
	sent, recv         atomic.Uint64
	msgs               atomic.Uint64
	recvErr            error
	done               chan struct{}
}

func benchLoopback(ctx context.Context, o benchOpts, stderr io.Writer) (*benchResult, error) {
	seed, err := stc.GenerateSeed()
	if err != nil {
		return nil, err
	}
	tcfg := dataplane.Config{PayloadSize: o.payload}
	srv, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", Transport: tcfg})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer srv.Close()
	cli, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", Transport: tcfg})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer cli.Close()

	// One random block, sent over and over: the content is incompressible and verification
	// costs one xxhash pass on each side.
	block := make([]byte, max(o.size, 1<<20))
	rand.Read(block)

	var mu sync.Mutex
	var streams []*benchStream
	var wg sync.WaitGroup
	serverErr := make(chan error, 1)
	// Receiver side: accept sessions and streams, hash everything.
	go func() {
		for i := 0; i < o.sessions; i++ {
			s, err := srv.Accept(ctx)
			if err != nil {
				serverErr <- err
				return
			}
			go func(s *ctrl.Session) {
				for {
					st, err := s.AcceptStream(ctx)
					if err != nil {
						return
					}
					id := st.ID()
					go benchReceive(st, func() *benchStream {
						mu.Lock()
						defer mu.Unlock()
						_ = id
						return streams[len(streams)-1]
					})
				}
			}(s)
		}
	}()
	_ = serverErr

	var sessions []*ctrl.Session
	for i := 0; i < o.sessions; i++ {
		s, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
		if err != nil {
			return nil, err
		}
		sessions = append(sessions, s)
	}
	stopSend := make(chan struct{})
	start := time.Now()
	for _, s := range sessions {
		for j := 0; j < o.streams; j++ {
			bs := &benchStream{sentHash: xxhash.New(), recvHash: xxhash.New(), done: make(chan struct{})}
			st, err := s.OpenStream(ctx)
			if err != nil {
				return nil, err
			}
			registerBenchStream(st, bs)
			mu.Lock()
			streams = append(streams, bs)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				benchSend(st, bs, block, o.size, stopSend)
			}()
		}
	}
	live := newReadout(stderr, o.quiet, o.interval)
	timer := time.NewTimer(o.duration)
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	var lastBytes, lastPkts uint64
	lastT := start
loop:
	for {
		select {
		case <-timer.C:
			break loop
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			var b uint64
			mu.Lock()
			for _, bs := range streams {
				b += bs.recv.Load()
			}
			mu.Unlock()
			cs := cli.Stats()
			var retx, rtt uint64
			for _, s := range sessions {
				ss := s.Stats()
				retx += ss.RetransmittedBytes
				rtt = uint64(ss.SmoothedRTT)
			}
			dt := now.Sub(lastT).Seconds()
			live.line(fmt.Sprintf("%6.1fs  %7.2f Gbit/s  %9.0f pkt/s  retx %s  rtt %.0fus",
				now.Sub(start).Seconds(), float64(b-lastBytes)*8/dt/1e9, float64(cs.TxDatagrams-lastPkts)/dt,
				humanBytes(retx), float64(rtt)/1e3))
			lastBytes, lastPkts, lastT = b, cs.TxDatagrams, now
		}
	}
	close(stopSend)
	wg.Wait()
	elapsedSend := time.Since(start)
	// Wait for every stream's receiver to reach EOF (all data delivered).
	drain := time.NewTimer(30 * time.Second)
	defer drain.Stop()
	mu.Lock()
	all := append([]*benchStream(nil), streams...)
	mu.Unlock()
	for _, bs := range all {
		select {
		case <-bs.done:
		case <-drain.C:
			return nil, errors.New("receiver did not finish within 30 s after the senders stopped")
		}
	}
	live.done()
	elapsed := time.Since(start)
	_ = elapsedSend
	res := &benchResult{
		Duration: elapsed.Seconds(), MessageSize: o.size, Streams: o.streams, Sessions: o.sessions,
		PayloadSize: o.payload, Verified: true,
	}
	for _, bs := range all {
		res.BytesVerified += bs.recv.Load()
		res.Messages += bs.msgs.Load()
		if bs.recvErr != nil || bs.sentHash.Sum64() != bs.recvHash.Sum64() || bs.sent.Load() != bs.recv.Load() {
			res.Verified = false
		}
	}
	for _, s := range sessions {
		ss := s.Stats()
		res.Retransmitted += ss.RetransmittedBytes
		res.PacketsLost += ss.PacketsLost
		res.SmoothedRTTus = float64(ss.SmoothedRTT) / 1e3
	}
	cs, ss := cli.Stats(), srv.Stats()
	res.PacketsSent = cs.TxDatagrams
	res.PacketsPerSec = float64(cs.TxDatagrams) / elapsed.Seconds()
	res.Gbps = float64(res.BytesVerified) * 8 / elapsed.Seconds() / 1e9
	res.MessagesPerSec = float64(res.Messages) / elapsed.Seconds()
	res.GSO, res.GRO = cs.GSO, ss.GRO
	res.RecvBufferBytes = ss.RecvBuffer
	res.Drops = ss.DropsTotal() + cs.DropsTotal()
	return res, nil
}

// benchStreams maps stream pointers to their state; the receiver side finds its state by the
// stream id, which is the same on both ends.
var benchRegistry sync.Map

func registerBenchStream(st *ctrl.Stream, bs *benchStream) {
	benchRegistry.Store(benchKey(st), bs)
}

func benchKey(st *ctrl.Stream) [16]byte {
	var k [16]byte
	id := st.Session().ID()
	copy(k[:8], id[:])
	for i := 0; i < 8; i++ {
		k[8+i] = byte(st.ID() >> (8 * i))
	}
	return k
}

func benchSend(st *ctrl.Stream, bs *benchStream, block []byte, size int, stop <-chan struct{}) {
	off := 0
	for {
		select {
		case <-stop:
			st.CloseWrite()
			return
		default:
		}
		if off+size > len(block) {
			off = 0
		}
		msg := block[off : off+size]
		if err := st.WriteMessage(msg); err != nil {
			return
		}
		bs.sentHash.Write(msg)
		bs.sent.Add(uint64(size))
		off += size
	}
}

func benchReceive(st *ctrl.Stream, _ func() *benchStream) {
	var bs *benchStream
	for i := 0; i < 1000 && bs == nil; i++ {
		if v, ok := benchRegistry.Load(benchKey(st)); ok {
			bs = v.(*benchStream)
			break
		}
		time.Sleep(time.Millisecond)
	}
	if bs == nil {
		return
	}
	defer close(bs.done)
	buf := make([]byte, 0, 1<<20)
	for {
		var err error
		buf, err = st.ReadMessage(buf[:0])
		if err != nil {
			if !errors.Is(err, io.EOF) {
				bs.recvErr = err
			}
			st.Close()
			return
		}
		bs.recvHash.Write(buf)
		bs.recv.Add(uint64(len(buf)))
		bs.msgs.Add(1)
	}
}
