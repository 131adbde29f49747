package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/impair"
	"github.com/sttfast/sttfast/stc"
)

// relayFeedHelp is the part of bench's --help about --relay-feed.
const relayFeedHelp = `Relay feed (--relay-feed): in process, a publisher sends a 30 frames/s synthetic feed (one
16 KiB high-entropy frame and one 100-byte low-entropy telemetry message per tick, for
--duration) through a relay (the relay command's forwarding) to two subscribers, every node's
datagrams lost at --loss and delayed by --delay, once on a probabilistic stream (--deadline)
and once on a reliable one. Reports per subscriber the frames delivered per second and their
latency (p50, p99, max); --svg FILE draws the latency of the first subscriber's frames over time.`

// feedMsgHeader is a feed message's header: kind ('F' frame, 'T' telemetry), tick, send time.
const feedMsgHeader = 1 + 4 + 8

// feedSample is one delivered frame: when it was sent (since the feed began) and its latency.
type feedSample struct {
	at, latency time.Duration
}

// feedSubResult is what one subscriber saw.
type feedSubResult struct {
	frames, telemetry int
	latency           []time.Duration // of frames
	samples           []feedSample
}

// feedRun is one run of the feed: probabilistic or reliable.
type feedRun struct {
	kind  string
	ticks int
	subs  [2]feedSubResult
}

// benchRelayFeed runs bench --relay-feed and prints its report.
func benchRelayFeed(ctx context.Context, o benchOpts, p probBenchOpts, stdout io.Writer) error {
	var runs []feedRun
	for _, prob := range []bool{true, false} {
		run, err := relayFeedRun(ctx, o, p, prob)
		if err != nil {
			return err
		}
		runs = append(runs, run)
	}
	fmt.Fprintf(stdout, "sttfast bench --relay-feed: 30 frames/s (16 KiB frame + 100 B telemetry) through a relay to 2 subscribers, %.0f%% loss on every link, %v one-way delay, %v\n",
		p.loss*100, p.delay, o.duration)
	for _, run := range runs {
		for i, sub := range run.subs {
			fmt.Fprintf(stdout, "  %-13s subscriber %d: %4d of %d frames (%.1f/s), %d telemetry; frame latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
				run.kind, i+1, sub.frames, run.ticks, float64(sub.frames)/o.duration.Seconds(), sub.telemetry,
				ms(quantile(sub.latency, 0.5)), ms(quantile(sub.latency, 0.99)), ms(quantile(sub.latency, 1)))
		}
	}
	if p.svg != "" {
		if err := os.WriteFile(p.svg, []byte(feedSVG(runs, p)), 0o644); err != nil {
			return failf(err, "bench: write %s", p.svg)
		}
	}
	return nil
}

// relayFeedRun builds publisher, relay and two subscribers on lossy links and sends the feed.
func relayFeedRun(ctx context.Context, o benchOpts, p probBenchOpts, prob bool) (feedRun, error) {
	run := feedRun{kind: "reliable"}
	if prob {
		run.kind = "probabilistic"
	}
	seed, err := stc.GenerateSeed()
	if err != nil {
		return run, failf(err, "bench: seed")
	}
	salt := uint64(0)
	newNode := func() (*ctrl.Node, error) {
		salt += 100
		s := salt
		return ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", ResumeWindow: noResume,
			Transport: dataplane.Config{Congestion: o.cc.algo},
			WrapConn: func(pc dataplane.PacketConn) dataplane.PacketConn {
				return impair.Wrap(pc, impair.Config{Seed: p.lossSeed + s, Loss: p.loss, Delay: p.delay})
			}})
	}
	var nodes []*ctrl.Node
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	for range 4 {
		n, err := newNode()
		if err != nil {
			return run, failf(err, "bench: listen")
		}
		nodes = append(nodes, n)
	}
	relayNode, pubNode := nodes[0], nodes[1]
	r := &relay{node: relayNode, log: func(string, ...any) {}}
	rctx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	go r.acceptLoop(rctx)
	relayAddr := "udp://" + relayNode.Addr().String()
	var subSessions [2]*ctrl.Session
	for i := range subSessions {
		if subSessions[i], err = nodes[2+i].Dial(ctx, relayAddr); err != nil {
			return run, failf(err, "bench: subscriber dial")
		}
	}
	// The relay forwards to the sessions in its table: wait until both subscribers are in it.
	for relayNode.NumSessions() < 2 {
		select {
		case <-ctx.Done():
			return run, context.Cause(ctx)
		case <-time.After(time.Millisecond):
		}
	}
	pub, err := pubNode.Dial(ctx, relayAddr)
	if err != nil {
		return run, failf(err, "bench: publisher dial")
	}
	st, err := pub.OpenStreamWith(ctx, ctrl.OpenStreamOptions{Probabilistic: prob, Deadline: p.deadline})
	if err != nil {
		return run, failf(err, "bench: open a stream")
	}
	start := time.Now()
	run.ticks = int(o.duration / (time.Second / 30))
	readUntil := start.Add(o.duration + 5*time.Second)
	var wg sync.WaitGroup
	for i, s := range subSessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run.subs[i] = readFeed(s, start, readUntil)
		}()
	}
	if err := writeFeed(st, start, run.ticks); err != nil {
		return run, failf(err, "bench: write the feed")
	}
	wg.Wait()
	return run, nil
}

// writeFeed writes ticks ticks of the feed at 30 a second.
func writeFeed(st *ctrl.Stream, start time.Time, ticks int) error {
	rng := rand.New(rand.NewPCG(30, 1))
	frame := make([]byte, feedMsgHeader+16<<10)
	telemetry := make([]byte, feedMsgHeader+100)
	for i := 0; i < ticks; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / 30))) // the feed's pace
		for j := feedMsgHeader; j < len(frame); j += 8 {
			binary.LittleEndian.PutUint64(frame[j:], rng.Uint64())
		}
		copy(telemetry[feedMsgHeader:], strings.Repeat(fmt.Sprintf("temp=21.%d ok ", i%3), 10))
		for _, m := range [][]byte{frame, telemetry} {
			m[0] = 'F'
			if len(m) == len(telemetry) {
				m[0] = 'T'
			}
			binary.BigEndian.PutUint32(m[1:], uint32(i))
			binary.BigEndian.PutUint64(m[5:], uint64(time.Now().UnixNano()))
			if err := st.WriteMessage(m); err != nil {
				return err
			}
		}
	}
	return st.CloseWrite()
}

// readFeed reads the relay's forwarding stream of session s until the deadline.
func readFeed(s *ctrl.Session, start, until time.Time) feedSubResult {
	var res feedSubResult
	ctx, cancel := context.WithDeadline(context.Background(), until)
	defer cancel()
	st, err := s.AcceptStream(ctx)
	if err != nil {
		return res
	}
	st.SetReadDeadline(until)
	buf := make([]byte, 0, 32<<10)
	for {
		msg, err := st.ReadMessage(buf[:0])
		if errors.Is(err, ctrl.ErrMessagesLost) {
			continue
		}
		if err != nil || len(msg) < feedMsgHeader {
			return res
		}
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(msg[5:])))
		lat := time.Since(sent)
		if msg[0] == 'T' {
			res.telemetry++
			continue
		}
		res.frames++
		res.latency = append(res.latency, lat)
		res.samples = append(res.samples, feedSample{at: sent.Sub(start), latency: lat})
	}
}

// feedSVG draws the first subscriber's frame latency over the feed's time, one line per run.
func feedSVG(runs []feedRun, p probBenchOpts) string {
	const w, h, left, bottom, top, right = 760, 380, 60, 40, 30, 20
	maxT, maxL := 1.0, 100.0
	for _, run := range runs {
		for _, s := range run.subs[0].samples {
			maxT = max(maxT, s.at.Seconds())
			maxL = max(maxL, ms(s.latency))
		}
	}
	x := func(t float64) float64 { return left + t/maxT*(w-left-right) }
	y := func(l float64) float64 { return h - bottom - l/maxL*(h-bottom-top) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18">Frame latency through a relay, 30 frames/s, %.0f%% loss per link, %v one-way, deadline %v (subscriber 1)</text>`+"\n",
		left, p.loss*100, p.delay, p.deadline)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n",
		left, h-bottom, w-right, h-bottom, left, top, left, h-bottom)
	for i := 0; i <= 5; i++ {
		l := maxL * float64(i) / 5
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%.0f ms</text>`+"\n", left-4, y(l)+4, l)
		t := maxT * float64(i) / 5
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%.1f s</text>`+"\n", x(t), h-bottom+16, t)
	}
	colors := map[string]string{"probabilistic": "#1f77b4", "reliable": "#d62728"}
	for k, run := range runs {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1" points="`, colors[run.kind])
		for _, s := range run.subs[0].samples {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(s.at.Seconds()), y(ms(s.latency)))
		}
		b.WriteString(`"/>` + "\n")
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s: p99 %.0f ms</text>`+"\n", w-right-200, top+16+16*k, colors[run.kind], run.kind,
			ms(quantile(run.subs[0].latency, 0.99)))
	}
	if p.deadline > 0 {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="gray" stroke-dasharray="4 3"/>`+"\n", left, y(ms(p.deadline)), w-right, y(ms(p.deadline)))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
