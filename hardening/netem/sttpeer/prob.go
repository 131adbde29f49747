package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/metrics"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/delivery"
)

// probMsgLen is the size of every probsend message (delivery.SampleMessage).
const probMsgLen = delivery.SampleSize

// probSendResult is the last stdout line of sttpeer probsend.
type probSendResult struct {
	Event       string                                       `json:"event"` // "result"
	OK          bool                                         `json:"ok"`
	Error       string                                       `json:"error,omitempty"`
	Messages    int                                          `json:"messages"`
	Classes     [delivery.NumClasses]dataplane.ClassCounters `json:"classes"`
	LossRate    float64                                      `json:"loss_rate"` // the stream's measured loss rate at the end
	PacketsSent uint64                                       `json:"packets_sent"`
	PacketsLost uint64                                       `json:"packets_lost"`
	SRTTms      float64                                      `json:"srtt_ms"`
	Seconds     float64                                      `json:"seconds"`
	Memory      memPeak                                      `json:"memory"`
}

// probRecvResult is the last stdout line of sttpeer probrecv.
type probRecvResult struct {
	Event     string  `json:"event"` // "result"
	OK        bool    `json:"ok"`
	Error     string  `json:"error,omitempty"`
	Messages  int     `json:"messages"`   // delivered or reported lost: the reader's position at the end
	Delivered int     `json:"delivered"`  // read whole, in order, of the class they were sent as
	Lost      int     `json:"lost"`       // reported lost (ErrMessagesLost)
	Reports   int     `json:"reports"`    // ErrMessagesLost returns
	MaxGapMs  float64 `json:"max_gap_ms"` // longest time the reader waited between two results
	EOF       bool    `json:"eof"`        // the reader reached the end of the stream
	// PeerProbabilistic: the stream's STREAM_KIND (probabilistic) had arrived at the end.
	PeerProbabilistic bool    `json:"peer_probabilistic"`
	Memory            memPeak `json:"memory"`
}

// memPeak is the largest heap and RSS a process had while sampled.
type memPeak struct {
	HeapBytes uint64 `json:"heap_bytes"`
	RSSKiB    int64  `json:"rss_kib"`
}

// sampleMemory records the peak heap (live and not yet collected objects, plus the stream
// buffers' chunks, which live outside it) and RSS every interval until the returned function is
// called; that function returns the peaks.
func sampleMemory(interval time.Duration) func() memPeak {
	var peak memPeak
	stop, done := make(chan struct{}), make(chan struct{})
	sample := func() {
		rt := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(rt)
		peak.HeapBytes = max(peak.HeapBytes, withStreamBuffers(rt[0].Value.Uint64()))
		peak.RSSKiB = max(peak.RSSKiB, selfRSS())
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			sample()
			select {
			case <-stop:
				sample()
				return
			case <-t.C:
			}
		}
	}()
	return func() memPeak {
		close(stop)
		<-done
		return peak
	}
}

// writeTimes writes ts to path as little-endian int64 Unix nanoseconds, one per message (0: the
// message was never delivered), for the test to join sender and receiver times: both processes
// run on one host, on one clock.
func writeTimes(path string, ts []int64) error {
	b := make([]byte, 8*len(ts))
	for i, v := range ts {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return os.WriteFile(path, b, 0o644)
}

// runProbSend dials addr, opens a probabilistic stream and writes --per-class messages of every
// entropy class, interleaved (message i has class i mod 5), as fast as the stream takes them
// or one every --gap;
// it ends the stream, waits for the peer to end its half (probrecv does once its reader reached
// the end) and reports the stream's per-class counters and the process's peak memory. The send
// time of each message goes to --times.
func runProbSend(args []string) error {
	fs := flag.NewFlagSet("probsend", flag.ContinueOnError)
	var c common
	c.register(fs)
	bind := fs.String("bind", "udp://0.0.0.0:0", "local udp://HOST:PORT")
	perClass := fs.Int("per-class", 2000, "messages of each entropy class")
	deadline := fs.Duration("deadline", 0, "the stream's message deadline (0: none)")
	gap := fs.Duration("gap", 0, "write a message every gap, a live feed's pace (0: as fast as the stream takes them)")
	dataSeed := fs.Uint64("data-seed", 7, "seed of the messages' content")
	timesPath := fs.String("times", "", "file for each message's send time (little-endian int64 Unix ns)")
	parse(fs, args)
	if *perClass <= 0 || *timesPath == "" {
		return errors.New("--per-class must be positive and --times given")
	}
	cfg, err := c.config(*bind)
	if err != nil {
		return err
	}
	node, err := ctrl.Listen(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	memDone := sampleMemory(20 * time.Millisecond)
	r := probSendResult{Event: "result", Messages: *perClass * delivery.NumClasses}
	s, err := node.Dial(context.Background(), c.addr)
	if err == nil {
		emit(map[string]any{"event": "connected", "local": node.Addr().String()})
		err = probSend(s, &r, probFeed{*deadline, *gap, *dataSeed}, *timesPath)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if cerr := s.Close(ctx); err == nil {
			err = cerr
		}
		cancel()
		// Linger through the closing drain, which answers the peer's stragglers with
		// SESSION_CLOSE again, instead of leaving with the node.
		waitEnd(s, watchDone(s), 3*time.Second)
	}
	r.Memory = memDone()
	r.OK = err == nil
	if err != nil {
		r.Error = err.Error()
	}
	emit(r)
	return err
}

// probFeed is how probsend writes its messages.
type probFeed struct {
	deadline time.Duration // the stream's message deadline (0: none)
	gap      time.Duration // pace: one message every gap (0: as fast as the stream takes them)
	seed     uint64        // of the messages' content
}

// probSend writes r.Messages messages on a new probabilistic stream of s and waits for the
// peer's end of stream.
func probSend(s *ctrl.Session, r *probSendResult, feed probFeed, timesPath string) error {
	st, err := s.OpenStreamWith(context.Background(), ctrl.OpenStreamOptions{Probabilistic: true, Deadline: feed.deadline})
	if err != nil {
		return err
	}
	peerEOF := make(chan error, 1)
	go func() { peerEOF <- drain(st) }()
	sentAt := make([]int64, r.Messages)
	rng := rand.New(rand.NewPCG(feed.seed, 7))
	buf := make([]byte, probMsgLen)
	start := time.Now()
	next := start
	for i := range sentAt {
		if feed.gap > 0 {
			// The feed's own clock: a late wake-up is made up by the next messages.
			next = next.Add(feed.gap)
			time.Sleep(time.Until(next))
		}
		msg := delivery.SampleMessage(buf, delivery.Class(i%delivery.NumClasses), rng)
		sentAt[i] = time.Now().UnixNano()
		if err := st.WriteMessage(msg); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	if err := st.CloseWrite(); err != nil {
		return err
	}
	select {
	case err = <-peerEOF:
	case <-s.Done():
		err = s.Err()
	}
	r.Seconds = time.Since(start).Seconds()
	ps := st.ProbStats()
	r.Classes, r.LossRate = ps.Classes, ps.LossRate
	ss := s.Stats()
	r.PacketsSent, r.PacketsLost, r.SRTTms = ss.PacketsSent, ss.PacketsLost, float64(ss.SmoothedRTT)/1e6
	if werr := writeTimes(timesPath, sentAt); err == nil {
		err = werr
	}
	return err
}

// runProbRecv listens on --addr, accepts one session and its one stream, and reads it message
// by message to the end: each message must be the next one, of the class it was sent as (i mod
// 5), or be reported lost by ErrMessagesLost with the range that starts at the reader's
// position. It then ends its half of the stream, waits for the session to end and reports what
// the reader saw and the process's peak memory; each message's arrival time goes to --times.
func runProbRecv(args []string) error {
	fs := flag.NewFlagSet("probrecv", flag.ContinueOnError)
	var c common
	c.register(fs)
	messages := fs.Int("messages", 0, "messages the sender writes (per-class × 5)")
	timesPath := fs.String("times", "", "file for each message's arrival time (little-endian int64 Unix ns, 0: lost)")
	parse(fs, args)
	if *messages <= 0 || *timesPath == "" {
		return errors.New("--messages must be positive and --times given")
	}
	node, ctx, stop, err := c.listen()
	if err != nil {
		return err
	}
	defer stop()
	defer node.Close()
	memDone := sampleMemory(20 * time.Millisecond)
	r := probRecvResult{Event: "result"}
	recvAt := make([]int64, *messages)
	s, err := node.Accept(ctx)
	if err == nil {
		err = probRecv(ctx, s, &r, recvAt)
		if werr := writeTimes(*timesPath, recvAt); err == nil {
			err = werr
		}
		// The sender closes the session once it has read our end of stream. Leaving before
		// would close it with code 8 under the sender; after 5 s the FIN has long been
		// acknowledged, and a lost SESSION_CLOSE is not worth the idle timeout's 30 s.
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
		}
	}
	r.Memory = memDone()
	r.OK = err == nil && r.EOF && r.Messages == *messages
	if err != nil {
		r.Error = err.Error()
	}
	emit(r)
	if !r.OK && err == nil {
		err = fmt.Errorf("reader ended at message %d of %d (eof %v)", r.Messages, *messages, r.EOF)
	}
	return err
}

// probRecv reads the one stream of s to its end, filling r and recvAt.
func probRecv(ctx context.Context, s *ctrl.Session, r *probRecvResult, recvAt []int64) error {
	st, err := s.AcceptStream(ctx)
	if err != nil {
		return err
	}
	// STREAM_KIND is not checked here: it may still be on its way (its first packet lost), and
	// a reader reads either kind the same; it has arrived by the end (see below).
	buf := make([]byte, 0, probMsgLen)
	idx := 0
	last := time.Now()
	for {
		got, err := st.ReadMessage(buf[:0])
		now := time.Now()
		r.MaxGapMs = max(r.MaxGapMs, ms(now.Sub(last)))
		last = now
		switch {
		case err == io.EOF:
			r.EOF, r.Messages = true, idx
			r.PeerProbabilistic = st.PeerOptions().Probabilistic
			return st.CloseWrite()
		case errors.Is(err, ctrl.ErrMessagesLost):
			lost := st.LastLost()
			if lost.First != uint64(idx) || lost.Count == 0 {
				return fmt.Errorf("lost %+v while expecting message %d", lost, idx)
			}
			idx += int(lost.Count)
			r.Lost += int(lost.Count)
			r.Reports++
		case err != nil:
			return fmt.Errorf("read message %d: %w", idx, err)
		default:
			if idx >= len(recvAt) || len(got) != probMsgLen {
				return fmt.Errorf("message %d of %d bytes", idx, len(got))
			}
			if c := delivery.ClassOf(delivery.Entropy(got)); c != delivery.Class(idx%delivery.NumClasses) {
				return fmt.Errorf("message %d has class %d, sent as %d", idx, c, idx%delivery.NumClasses)
			}
			recvAt[idx] = now.UnixNano()
			idx++
			r.Delivered++
		}
		r.Messages = idx
	}
}
