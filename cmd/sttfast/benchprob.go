package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/delivery"
	"github.com/sttfast/sttfast/dataplane/impair"
	"github.com/sttfast/sttfast/stc"
)

// probBenchHelp is the part of bench's --help about --probabilistic.
const probBenchHelp = `Probabilistic delivery (--probabilistic): in process, over a loopback link that loses --loss of
the datagrams in each direction (seeded by --loss-seed, so a run can be replayed) and delays each
by --delay, sends --messages messages of every entropy class (five classes, from repetitive
telemetry to random bytes: 256-byte messages whose normalised entropy is 1/8, 3/8, 5/8, 7/8 and
1), interleaved, --rate messages a second, on one probabilistic stream (with --deadline when
given), and reports per class: messages sent, delivered, abandoned, retransmissions per message
beside the minimum the measured loss rate implies for the class's target (for messages in one
packet, and the 22% cut across two), and the latency of the
delivered messages (p50, p99), from write to read. --baseline runs the same feed on a reliable
stream as well, for comparison.`

// probBenchOpts are bench's flags for --probabilistic.
type probBenchOpts struct {
	on       bool
	loss     float64
	lossSeed uint64
	delay    time.Duration
	deadline time.Duration
	rate     int
	messages int
	baseline bool
	feed     bool   // --relay-feed
	svg      string // --svg: the relay feed's latency plot
}

func (p *probBenchOpts) register(fs *flag.FlagSet) {
	fs.BoolVar(&p.on, "probabilistic", false, "benchmark a probabilistic stream over an in-process lossy link (see below)")
	fs.Float64Var(&p.loss, "loss", 0.2, "with --probabilistic: the link's loss rate in each direction, 0-0.9")
	fs.Uint64Var(&p.lossSeed, "loss-seed", 1, "with --probabilistic: the seed of the link's loss decisions")
	fs.DurationVar(&p.delay, "delay", 10*time.Millisecond, "with --probabilistic: one-way delay of the link")
	fs.DurationVar(&p.deadline, "deadline", 0, "with --probabilistic: the stream's message `DURATION` (0: none)")
	fs.IntVar(&p.rate, "rate", 500, "with --probabilistic: messages per second (0: as fast as the stream takes them)")
	fs.IntVar(&p.messages, "messages", 2000, "with --probabilistic: messages per entropy class")
	fs.BoolVar(&p.baseline, "baseline", false, "with --probabilistic: run the same feed on a reliable stream too")
	fs.BoolVar(&p.feed, "relay-feed", false, "a 30 frames/s feed through an in-process relay to two subscribers (see below)")
	fs.StringVar(&p.svg, "svg", "", "with --relay-feed: draw the frame latency over time into `FILE`")
}

func (p *probBenchOpts) check() error {
	if p.svg != "" && !p.feed {
		return usagef("--svg draws the --relay-feed run: give --relay-feed")
	}
	if !p.on && !p.feed {
		return nil
	}
	switch {
	case p.loss < 0 || p.loss > 0.9:
		return usagef("--loss %v: want 0-0.9", p.loss)
	case p.delay < 0 || p.deadline < 0 || p.rate < 0:
		return usagef("--delay, --deadline and --rate must not be negative")
	case p.messages < 1:
		return usagef("--messages must be positive")
	}
	return nil
}

// probClassResult is one entropy class's line of the report.
type probClassResult struct {
	Class           string  `json:"class"`
	Target          float64 `json:"target"`
	Sent            int     `json:"sent"`
	Delivered       int     `json:"delivered"`
	Abandoned       uint64  `json:"abandoned"`
	Retransmissions uint64  `json:"retransmissions"`
	PerMessage      float64 `json:"retransmissions_per_msg"`
	Minimum         float64 `json:"minimum_per_msg"` // what the target needs at the measured loss rate
	P50ms           float64 `json:"latency_p50_ms"`
	P99ms           float64 `json:"latency_p99_ms"`
}

// probRunResult is one stream's run: probabilistic, or the reliable baseline.
type probRunResult struct {
	Kind     string            `json:"kind"` // "probabilistic" or "reliable"
	LossRate float64           `json:"measured_loss"`
	SRTTms   float64           `json:"srtt_ms"`
	Classes  []probClassResult `json:"classes"`
	P99ms    float64           `json:"latency_p99_ms"` // every class together
	Seconds  float64           `json:"duration_s"`
}

// probBenchResult is bench --probabilistic's summary (--json).
type probBenchResult struct {
	Loss       float64         `json:"link_loss"`
	Delay      float64         `json:"link_delay_ms"`
	DeadlineMS float64         `json:"deadline_ms"`
	Rate       int             `json:"rate"`
	Runs       []probRunResult `json:"runs"`
}

// benchProbabilistic runs bench --probabilistic and prints its report.
func benchProbabilistic(ctx context.Context, o benchOpts, p probBenchOpts, stdout io.Writer) error {
	res := probBenchResult{Loss: p.loss, Delay: ms(p.delay), DeadlineMS: ms(p.deadline), Rate: p.rate}
	kinds := []bool{true}
	if p.baseline {
		kinds = append(kinds, false)
	}
	for _, prob := range kinds {
		run, err := probRun(ctx, o, p, prob)
		if err != nil {
			return err
		}
		res.Runs = append(res.Runs, run)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return failf(err, "bench: write stdout")
		}
		return nil
	}
	printProbReport(stdout, &res)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// probRun sends the feed once over a fresh pair of nodes and measures it.
func probRun(ctx context.Context, o benchOpts, p probBenchOpts, prob bool) (probRunResult, error) {
	run := probRunResult{Kind: "reliable"}
	if prob {
		run.Kind = "probabilistic"
	}
	seed, err := stc.GenerateSeed()
	if err != nil {
		return run, failf(err, "bench: seed")
	}
	wrap := func(salt uint64) func(dataplane.PacketConn) dataplane.PacketConn {
		return func(pc dataplane.PacketConn) dataplane.PacketConn {
			return impair.Wrap(pc, impair.Config{Seed: p.lossSeed + salt, Loss: p.loss, Delay: p.delay})
		}
	}
	tcfg := dataplane.Config{Congestion: o.cc.algo}
	srv, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", Transport: tcfg, WrapConn: wrap(100)})
	if err != nil {
		return run, failf(err, "bench: listen")
	}
	defer srv.Close()
	cli, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", Transport: tcfg, WrapConn: wrap(200)})
	if err != nil {
		return run, failf(err, "bench: listen")
	}
	defer cli.Close()
	s, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		return run, failf(err, "bench: dial")
	}
	peer, err := srv.Accept(ctx)
	if err != nil {
		return run, failf(err, "bench: accept")
	}
	st, err := s.OpenStreamWith(ctx, ctrl.OpenStreamOptions{Probabilistic: prob, Deadline: p.deadline})
	if err != nil {
		return run, failf(err, "bench: open a stream")
	}
	n := p.messages * delivery.NumClasses
	sentAt := make([]int64, n)
	recvAt := make([]int64, n)
	start := time.Now()
	werr := make(chan error, 1)
	go func() { werr <- writeProbFeed(st, p.rate, sentAt) }()
	pst, err := peer.AcceptStream(ctx)
	if err != nil {
		return run, failf(err, "bench: accept a stream")
	}
	if err := readProbFeed(pst, recvAt); err != nil {
		return run, failf(err, "bench: read")
	}
	if err := <-werr; err != nil {
		return run, failf(err, "bench: write")
	}
	run.Seconds = time.Since(start).Seconds()
	ps := st.ProbStats()
	ss := s.Stats()
	run.SRTTms = ms(time.Duration(ss.SmoothedRTT))
	run.LossRate = ps.LossRate
	if !prob && ss.PacketsSent > 0 {
		run.LossRate = float64(ss.PacketsLost) / float64(ss.PacketsSent)
	}
	var all []time.Duration
	for c := delivery.Class(0); c < delivery.NumClasses; c++ {
		var lat []time.Duration
		r := probClassResult{Class: c.String(), Target: c.Target()}
		for i := int(c); i < n; i += delivery.NumClasses {
			r.Sent++
			if recvAt[i] != 0 {
				r.Delivered++
				lat = append(lat, time.Duration(recvAt[i]-sentAt[i]))
			}
		}
		all = append(all, lat...)
		r.Abandoned, r.Retransmissions = ps.Classes[c].Abandoned, ps.Classes[c].Retransmissions
		r.PerMessage = float64(r.Retransmissions) / float64(r.Sent)
		if prob {
			// A 257-byte message is cut across two packets of about 1160 bytes of stream data
			// in 257 cases of 1160, and then needs both.
			r.Minimum = delivery.MinimumRetransmissions(c.Target(), run.LossRate, 257.0/1160)
		}
		r.P50ms, r.P99ms = ms(quantile(lat, 0.50)), ms(quantile(lat, 0.99))
		run.Classes = append(run.Classes, r)
	}
	run.P99ms = ms(quantile(all, 0.99))
	s.Close(ctx)
	return run, nil
}

// writeProbFeed writes len(sentAt) messages, classes in turn, rate a second (0: unpaced),
// noting when each was written, then ends the stream.
func writeProbFeed(st *ctrl.Stream, rate int, sentAt []int64) error {
	rng := rand.New(rand.NewPCG(uint64(len(sentAt)), 7))
	buf := make([]byte, 256)
	next := time.Now()
	for i := range sentAt {
		if rate > 0 {
			next = next.Add(time.Second / time.Duration(rate))
			time.Sleep(time.Until(next))
		}
		msg := delivery.SampleMessage(buf, delivery.Class(i%delivery.NumClasses), rng)
		sentAt[i] = time.Now().UnixNano()
		if err := st.WriteMessage(msg); err != nil {
			return err
		}
	}
	return st.CloseWrite()
}

// readProbFeed reads the feed to its end, noting when each message arrived (0: lost).
func readProbFeed(st *ctrl.Stream, recvAt []int64) error {
	buf := make([]byte, 0, 256)
	idx := uint64(0)
	for {
		_, err := st.ReadMessage(buf[:0])
		switch {
		case err == io.EOF:
			if idx != uint64(len(recvAt)) {
				return fmt.Errorf("the stream ended at message %d of %d", idx, len(recvAt))
			}
			return nil
		case errors.Is(err, ctrl.ErrMessagesLost):
			r := st.LastLost()
			idx = r.First + r.Count
		case err != nil:
			return err
		case idx < uint64(len(recvAt)):
			recvAt[idx] = time.Now().UnixNano()
			idx++
		default:
			return fmt.Errorf("more messages than sent")
		}
	}
}

// quantile returns the q-quantile of ds (0 for none).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func printProbReport(w io.Writer, r *probBenchResult) {
	dl := "no deadline"
	if r.DeadlineMS > 0 {
		dl = fmt.Sprintf("deadline %.0f ms", r.DeadlineMS)
	}
	fmt.Fprintf(w, "sttfast bench --probabilistic: in-process link, %.0f%% loss each way, %.0f ms one-way delay, %d msg/s, %s\n",
		r.Loss*100, r.Delay, r.Rate, dl)
	for _, run := range r.Runs {
		fmt.Fprintf(w, "%s stream: measured loss %.3f, srtt %.1f ms, %.1f s, latency p99 %.1f ms (all classes)\n",
			run.Kind, run.LossRate, run.SRTTms, run.Seconds, run.P99ms)
		fmt.Fprintf(w, "  %-15s %6s %9s %9s %9s %8s %8s %8s %8s\n", "class (target)", "sent", "delivered", "ratio", "abandoned", "resent/m", "minimum", "p50 ms", "p99 ms")
		for _, c := range run.Classes {
			fmt.Fprintf(w, "  %-15s %6d %9d %9.4f %9d %8.3f %8.3f %8.1f %8.1f\n", c.Class, c.Sent, c.Delivered,
				float64(c.Delivered)/float64(c.Sent), c.Abandoned, c.PerMessage, c.Minimum, c.P50ms, c.P99ms)
		}
	}
}
