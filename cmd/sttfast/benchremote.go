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

	"github.com/cespare/xxhash/v2"
	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

// remoteTally is one stream's outcome in remote mode: what the client sent and what the server
// says it verified.
type remoteTally struct {
	sent  streamTally
	hash  uint64
	reply benchReply
	err   error
}

// liveCounter adds a stream's sent bytes to the readout's total as they are written.
type liveCounter struct{ n *atomic.Uint64 }

// Write counts p (benchSend calls it once per message sent).
func (l liveCounter) Write(p []byte) (int, error) {
	l.n.Add(uint64(len(p)))
	return len(p), nil
}

// benchRemote runs the benchmark against a sttfast serve: the server verifies and reports.
func benchRemote(ctx context.Context, o benchOpts, seed *stc.Seed, stderr io.Writer) (*benchResult, error) {
	cli, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, ForwardSecrecy: o.forwardSecrecy, Addr: bindFor(o.addr), WebSocket: wspath.Config{TLS: o.tls},
		Transport: dataplane.Config{PayloadSize: o.payload, Congestion: o.cc.algo, IdleTimeout: o.idle.d}})
	if err != nil {
		return nil, failf(err, "bench: bind")
	}
	defer cli.Close()
	sessions := make([]*ctrl.Session, 0, o.sessions)
	for i := 0; i < o.sessions; i++ {
		s, err := cli.Dial(ctx, o.addr)
		if err != nil {
			return nil, failf(err, "bench: dial %s", o.addr)
		}
		sessions = append(sessions, s)
	}
	h := newBenchHeader(o.size)
	content := h.content()
	nstreams := o.sessions * o.streams
	results := make(chan remoteTally, nstreams)
	stopSend := make(chan struct{})
	var sent atomic.Uint64
	start := time.Now()
	for _, s := range sessions {
		for j := 0; j < o.streams; j++ {
			st, err := openBenchStream(ctx, s, j, o.streams, "the server at "+o.addr)
			if err != nil {
				close(stopSend)
				return nil, err
			}
			if err := st.WriteMessage([]byte(h.String())); err != nil {
				close(stopSend)
				return nil, failf(err, "bench: open a stream to %s", o.addr)
			}
			go func() { results <- benchRemoteStream(st, h, content, stopSend, &sent) }()
		}
	}
	benchWatch(ctx, o, stderr, start, cli, sessions, &sent, "sent")
	close(stopSend)

	res := &benchResult{Mode: "remote", Transport: strings.SplitN(o.addr, ":", 2)[0], Addr: o.addr, MessageSize: o.size, Streams: o.streams,
		Sessions: o.sessions, PayloadSize: o.payload, Verified: true}
	if strings.HasPrefix(res.Transport, "ws") { // packets are sized for the path, not the MTU (--mtu)
		res.PayloadSize = dataplane.DefaultReliablePacketSize
	}
	guard := time.NewTimer(60 * time.Second)
	defer guard.Stop()
	for i := 0; i < nstreams; i++ {
		select {
		case t := <-results:
			res.addRemote(t)
		case <-guard.C:
			return nil, failf(fmt.Errorf("%d of %d streams answered within 60 s after the senders stopped", i, nstreams), "bench: %s", o.addr)
		}
	}
	elapsed := time.Since(start)
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close(ctx)
			awaitDone(s)
		}()
	}
	cs := cli.Stats()
	res.finish(elapsed, sessions, cs, cs)
	res.Drops = cs.DropsTotal() // one node here: finish would count it twice
	wg.Wait()
	return res, nil
}

// benchRemoteStream sends on st until stop, then waits for the server's verdict.
func benchRemoteStream(st *ctrl.Stream, h benchHeader, content []byte, stop <-chan struct{}, live *atomic.Uint64) remoteTally {
	hash := xxhash.New()
	t := remoteTally{}
	t.sent = benchSend(st, newBenchSource(h, content), stop, io.MultiWriter(hash, liveCounter{live}))
	t.hash = hash.Sum64()
	if t.sent.err != nil {
		t.err = t.sent.err
		return t
	}
	msg, err := st.ReadMessage(nil)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the server ended the stream without a verdict (is it sttfast serve?)")
		}
		t.err = err
		return t
	}
	st.Close()
	if t.reply, err = parseBenchReply(msg); err != nil {
		t.err = fmt.Errorf("bad verdict from the server: %w", err)
	}
	return t
}

// addRemote folds one stream's verdict into the result: verified bytes are the server's.
func (r *benchResult) addRemote(t remoteTally) {
	r.BytesSent += t.sent.bytes
	id := t.sent.key.stream
	switch {
	case t.err != nil:
		r.fail(fmt.Sprintf("stream %d: %s", id, explain(t.err)))
		return
	case t.reply.err != "":
		r.fail(fmt.Sprintf("stream %d: the server refused the bench: %s", id, t.reply.err))
		return
	}
	r.Messages += t.reply.msgs
	switch {
	case !t.reply.ok:
		r.BytesVerified += t.reply.badAt
		r.fail(fmt.Sprintf("stream %d: the server found a wrong byte at offset %d", id, t.reply.badAt))
	case t.reply.bytes != t.sent.bytes || t.reply.msgs != t.sent.msgs:
		r.BytesVerified += t.reply.bytes
		r.fail(fmt.Sprintf("stream %d: sent %d bytes in %d messages, the server verified %d in %d", id, t.sent.bytes, t.sent.msgs, t.reply.bytes, t.reply.msgs))
	case t.reply.xxh != t.hash:
		r.fail(fmt.Sprintf("stream %d: xxhash64 of what the server received (%016x) differs from what was sent (%016x)", id, t.reply.xxh, t.hash))
	default:
		r.BytesVerified += t.reply.bytes
	}
}

// serveBench is serve's side of the bench protocol on st, whose first message was header.
func serveBench(st *ctrl.Stream, header []byte) {
	defer st.Close()
	h, err := parseBenchHeader(header)
	if err != nil {
		st.WriteMessage([]byte(benchReply{err: err.Error()}.String()))
		return
	}
	v := newBenchVerifier(h, h.content())
	hash := xxhash.New()
	buf := make([]byte, 0, h.size)
	for {
		msg, err := st.ReadMessage(buf[:0])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return // the session or the stream failed: nobody to answer
		}
		buf = msg
		v.check(msg)
		hash.Write(msg)
	}
	r := benchReply{ok: !v.bad, bytes: v.bytes, msgs: v.msgs, xxh: hash.Sum64(), badAt: v.badAt}
	st.WriteMessage([]byte(r.String()))
}
