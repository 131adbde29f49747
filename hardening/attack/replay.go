package attack

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// ReplayConfig configures RunReplay.
type ReplayConfig struct {
	Seed        *stc.Seed
	Count       int64         // datagrams replayed while the session is live
	Rate        float64       // their rate (0: full rate)
	CloseRate   float64       // rate while the session drains (default 20000/s)
	Tail        int64         // datagrams replayed once the session is gone (default 5000)
	LegitBytes  int64         // bytes of the captured transfer
	DrainDelay  time.Duration // one-way delay added before the close (default 100 ms)
	MangleEvery int           // every n-th replayed datagram is renumbered (default 10)
	RandSeed    uint64
	Logf        func(format string, args ...any)
}

// Phase is the accounting of one phase of an attack: what was sent, what the listener counted.
type Phase struct {
	Blast       BlastResult `json:"sent"`
	Delta       Counters    `json:"delta"`
	KernelDrops uint64      `json:"kernel_drops"`
	// Delivered is a lower bound of the attack datagrams the listener's socket received: sent
	// minus every datagram the kernel dropped at that socket during the phase.
	Delivered int64 `json:"delivered_lower_bound"`
	// Uncounted is Delivered minus the drops the listener counted: ≤ 0 when every delivered
	// attack datagram was counted as a drop (legitimate drops can only make it smaller).
	Uncounted int64 `json:"uncounted"`
	Replies   int64 `json:"replies"` // datagrams the listener sent to the attack sockets, but CLOCKs
	// ClockReplies are the CLOCKs (smaller than a HELLO) the listener sent: a replayed HELLO
	// older than its clock window is answered with its time, once per two windows (PROTOCOL.md §3).
	ClockReplies int64 `json:"clock_replies"`
}

// ReplayReport is what RunReplay measured.
type ReplayReport struct {
	Scenario string `json:"scenario"`
	Capture  struct {
		Handshake   int    `json:"handshake"`
		ToTarget    int    `json:"to_listener"`
		ToClient    int    `json:"to_client"`
		LargestPN   uint64 `json:"largest_pn"`
		InWindow    int    `json:"in_window"`
		BelowWindow int    `json:"below_window"`
	} `json:"capture"`
	SessionID string `json:"session_id"`
	// CaptureKernelDrops counts datagrams the kernel dropped at the listener's socket while the
	// transfer was captured: a captured packet the listener never received is not a replay, and
	// may be accepted once when it is sent again.
	CaptureKernelDrops uint64 `json:"capture_kernel_drops"`
	// Live: replays while the session is open and its stream still reading (half from the
	// peer's own address, half from another); Draining: after the peer closed the session,
	// until it left GET /sessions; Gone: after that.
	Live     Phase `json:"live"`
	Draining Phase `json:"draining"`
	Gone     Phase `json:"gone"`
	// SessionBytes is the session's bytes_received before and after the live phase.
	SessionBytes [2]uint64  `json:"session_bytes_received"`
	Legit        EchoResult `json:"legit"`
	Mem          MemReport  `json:"memory"`
	CPUSeconds   float64    `json:"listener_cpu_s"`
	Alive        bool       `json:"listener_alive"`
}

// Total sums the phases.
func (r *ReplayReport) Total() (sent, drops int64) {
	for _, p := range []*Phase{&r.Live, &r.Draining, &r.Gone} {
		sent += p.Blast.Sent
		drops += int64(p.Delta.DropsTotal())
	}
	return sent, drops
}

// RunReplay captures a real transfer through a forwarder and replays it into the listener.
func RunReplay(ctx context.Context, t *Target, cfg ReplayConfig) (*ReplayReport, error) {
	if cfg.Seed == nil {
		return nil, errNoSeed
	}
	if cfg.CloseRate == 0 {
		cfg.CloseRate = 20000
	}
	if cfg.Tail == 0 {
		cfg.Tail = 5000
	}
	if cfg.DrainDelay == 0 {
		cfg.DrainDelay = 100 * time.Millisecond
	}
	if cfg.MangleEvery == 0 {
		cfg.MangleEvery = 10
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rep := &ReplayReport{Scenario: "replay"}
	p0 := t.procSample()
	rss := sampleRSS(t.PID, 20*time.Millisecond)
	k0, _ := t.kernelDrops()

	// 1. A real transfer through the forwarder; the stream stays open.
	peer, err := NewPeer(cfg.Seed)
	if err != nil {
		return nil, err
	}
	fwd, s, err := peer.DialVia(ctx, t.Addr, 1<<20)
	if err != nil {
		peer.Close()
		return nil, fmt.Errorf("replay: dial: %w", err)
	}
	defer fwd.Close()
	defer peer.Close() // before the forwarder, so its SESSION_CLOSE reaches the listener
	echo, err := StartEcho(ctx, s, cfg.RandSeed)
	if err != nil {
		return nil, err
	}
	if err := echo.Send(cfg.LegitBytes); err != nil {
		return nil, err
	}
	if err := echo.WaitEchoed(ctx, cfg.LegitBytes); err != nil {
		return nil, err
	}
	id, err := findSession(ctx, t.Admin, fwd.UpstreamAddr())
	if err != nil {
		return nil, err
	}
	rep.SessionID = id
	if _, err := Settle(ctx, t.Admin, 50*time.Millisecond); err != nil {
		return nil, err
	}
	k1, _ := t.kernelDrops()
	rep.CaptureKernelDrops = k1 - k0
	cs := Sort(fwd.Captures(ToTarget), fwd.Captures(ToClient))
	rep.Capture.Handshake, rep.Capture.ToTarget, rep.Capture.ToClient = len(cs.Handshake), len(cs.ToTarget), len(cs.ToClient)
	rep.Capture.LargestPN = cs.LargestTo
	for _, p := range cs.ToTarget {
		if p.PN+2048 <= cs.LargestTo {
			rep.Capture.BelowWindow++
		} else {
			rep.Capture.InWindow++
		}
	}
	logf("replay: captured %d handshake, %d client→listener (largest pn %d), %d listener→client packets",
		rep.Capture.Handshake, rep.Capture.ToTarget, cs.LargestTo, rep.Capture.ToClient)

	conns, err := NewSenders(1)
	if err != nil {
		return nil, err
	}
	attacker := conns[0]
	var replies, clocks atomic.Int64
	_, stopReaders := startReaders(conns[:1], func(_ netip.AddrPort, d []byte) {
		if ParseReply(d).Type == frame.TypeClock && len(d) < frame.HelloMinSize {
			clocks.Add(1)
		} else {
			replies.Add(1)
		}
	})
	defer stopReaders()
	phase := newPhaser(ctx, t, &replies)
	phase.clocks = &clocks

	// 2. Live: half from the peer's own address (through the forwarder's upstream socket), half
	// from another. From the peer's address a replayed AUTH_PROOF passes the cookie check and is
	// refused as a retransmission; from another it fails the cookie.
	rep.SessionBytes[0] = sessionBytes(ctx, t.Admin, id)
	if err := phase.begin(); err != nil {
		return nil, err
	}
	same := NewReplaySource(&cs, cfg.RandSeed, ReplayOptions{Handshake: true, MangleEvery: cfg.MangleEvery})
	other := NewReplaySource(&cs, cfg.RandSeed+1, ReplayOptions{Handshake: true, MangleEvery: cfg.MangleEvery})
	a := Blast(BlastConfig{Target: t.Addr, Senders: []Sender{fwd}, Rate: cfg.Rate, Count: cfg.Count / 2, Stop: ctx.Done()}, same)
	b := Blast(BlastConfig{Target: t.Addr, Senders: []Sender{attacker}, Rate: cfg.Rate, Count: cfg.Count - cfg.Count/2, Stop: ctx.Done()}, other)
	if rep.Live, err = phase.end(merge(a, b)); err != nil {
		return rep, err
	}
	rep.SessionBytes[1] = sessionBytes(ctx, t.Admin, id)
	logf("replay: live phase: %d sent (%.0f/s), drops %v", rep.Live.Blast.Sent, rep.Live.Blast.Rate, rep.Live.Delta.Drops)

	// 3. The stream ends: what came back must be exactly what was sent, once.
	if err := echo.Send(4 << 10); err != nil {
		return rep, err
	}
	rep.Legit = echo.Finish(ctx)

	// 4. Raise the path's RTT so the listener's drain period (3 PTO) is long, then close from
	// the peer while replaying: the listener drains (DropClosed), then forgets the session
	// (DropUnknownSession).
	fwd.SetDelay(cfg.DrainDelay)
	for i := 0; i < 4; i++ {
		ping, err := StartEcho(ctx, s, cfg.RandSeed+uint64(i)+2)
		if err != nil {
			return rep, err
		}
		if err := ping.Send(64); err != nil {
			return rep, err
		}
		if r := ping.Finish(ctx); !r.OK {
			return rep, fmt.Errorf("replay: ping: %+v", r)
		}
	}
	if err := phase.begin(); err != nil {
		return rep, err
	}
	stop := make(chan struct{})
	draining := make(chan BlastResult, 1)
	src := NewReplaySource(&cs, cfg.RandSeed+2, ReplayOptions{Handshake: true, MangleEvery: cfg.MangleEvery})
	go func() {
		draining <- Blast(BlastConfig{Target: t.Addr, Senders: []Sender{attacker}, Rate: cfg.CloseRate, Stop: stop}, src)
	}()
	closeErr := s.Close(ctx)
	goneErr := waitGone(ctx, t.Admin, id)
	close(stop)
	if rep.Draining, err = phase.end(<-draining); err != nil {
		return rep, err
	}
	if closeErr != nil || goneErr != nil {
		return rep, fmt.Errorf("replay: close: %v, %v", closeErr, goneErr)
	}
	if err := phase.begin(); err != nil {
		return rep, err
	}
	gone := Blast(BlastConfig{Target: t.Addr, Senders: []Sender{attacker}, Rate: cfg.CloseRate, Count: cfg.Tail, Stop: ctx.Done()}, src)
	if rep.Gone, err = phase.end(gone); err != nil {
		return rep, err
	}
	rep.Alive = true
	p1 := t.procSample()
	rep.Mem = memReport(p0, p1, rss)
	rep.CPUSeconds = (p1.CPU - p0.CPU).Seconds()
	logf("replay: draining %v, gone %v", rep.Draining.Delta.Drops, rep.Gone.Delta.Drops)
	return rep, nil
}

// phaser measures the listener around one phase.
type phaser struct {
	ctx     context.Context
	t       *Target
	replies *atomic.Int64
	clocks  *atomic.Int64 // CLOCK replies, when counted apart
	before  Counters
	k0      uint64
	r0, c0  int64
}

func newPhaser(ctx context.Context, t *Target, replies *atomic.Int64) *phaser {
	return &phaser{ctx: ctx, t: t, replies: replies}
}

// begin lets the listener finish what it was doing and takes the starting counters.
func (p *phaser) begin() error {
	c, err := Settle(p.ctx, p.t.Admin, 50*time.Millisecond)
	if err != nil {
		return err
	}
	p.before = c
	p.k0, _ = p.t.kernelDrops()
	p.r0 = p.replies.Load()
	if p.clocks != nil {
		p.c0 = p.clocks.Load()
	}
	return nil
}

// end waits for the listener to process what was sent and accounts for the phase.
func (p *phaser) end(b BlastResult) (Phase, error) {
	ph := Phase{Blast: b}
	c, err := Settle(p.ctx, p.t.Admin, 50*time.Millisecond)
	if err != nil {
		return ph, err
	}
	k1, _ := p.t.kernelDrops()
	ph.Delta = c.Sub(p.before)
	ph.KernelDrops = k1 - p.k0
	ph.Delivered = b.Sent - int64(ph.KernelDrops)
	ph.Uncounted = ph.Delivered - int64(ph.Delta.DropsTotal())
	ph.Replies = p.replies.Load() - p.r0
	if p.clocks != nil {
		ph.ClockReplies = p.clocks.Load() - p.c0
	}
	return ph, nil
}

// merge adds two blasts that ran one after the other.
func merge(a, b BlastResult) BlastResult {
	m := BlastResult{Sent: a.Sent + b.Sent, Errors: a.Errors + b.Errors, Elapsed: a.Elapsed + b.Elapsed, ByClass: map[Class]int64{}}
	for _, x := range []BlastResult{a, b} {
		for c, n := range x.ByClass {
			m.ByClass[c] += n
		}
	}
	if s := m.Elapsed.Seconds(); s > 0 {
		m.Rate = float64(m.Sent) / s
	}
	return m
}

// sessionBytes is the listener's bytes_received for session id (0 if it is not listed).
func sessionBytes(ctx context.Context, a *Admin, id string) uint64 {
	ss, _ := a.Sessions(ctx)
	for _, s := range ss {
		if s.ID == id {
			return s.BytesReceived
		}
	}
	return 0
}

// waitGone polls GET /sessions until id is no longer listed (bounded by ctx).
func waitGone(ctx context.Context, a *Admin, id string) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		ss, err := a.Sessions(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, s := range ss {
			found = found || s.ID == id
		}
		if !found {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("session %s still listed: %w", id, ctx.Err())
		case <-t.C: // polling interval of a bounded wait
		}
	}
}
