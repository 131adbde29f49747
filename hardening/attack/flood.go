package attack

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// FloodConfig configures RunFlood.
type FloodConfig struct {
	Seed      *stc.Seed
	Rate      float64       // HELLOs per second (default 100000)
	Duration  time.Duration // flood length (default 2 s)
	Senders   int           // flood sockets (default 4)
	Mix       FloodMix      // default 80% bad MAC, 10% captured, 10% valid with 64 nonces renewed every 10 s
	DialEvery time.Duration // a legitimate dial this often during the flood (default 250 ms)
	RandSeed  uint64
	Logf      func(format string, args ...any)
}

// ReplyStats judges what the listener sent back to the flood sockets.
type ReplyStats struct {
	Total      int64           `json:"total"`
	ByClass    map[Class]int64 `json:"by_class"`   // by the kind of HELLO whose tag the reply carried
	Challenges int64           `json:"challenges"` // CHALLENGE replies
	// Clocks are the CLOCK replies: our time for the captured HELLO once it is older than the
	// clock window, at most once per two windows (PROTOCOL.md §3).
	Clocks  int64 `json:"clocks"`
	MaxSize int   `json:"max_size"`
	// Forbidden counts replies that must not exist: to a bad MAC, a CHALLENGE to the captured
	// (already used) HELLO, to an unknown tag, anything but a CHALLENGE or that CLOCK, or a
	// second reply to one nonce.
	Forbidden int64 `json:"forbidden"`
	// Larger counts replies not smaller than the HELLO they answer (HelloMinSize).
	Larger     int64 `json:"not_smaller_than_request"`
	Duplicates int64 `json:"second_replies_to_one_nonce"`
}

// FloodReport is what RunFlood measured.
type FloodReport struct {
	Scenario    string      `json:"scenario"`
	Blast       BlastResult `json:"flood"`
	ValidNonces int         `json:"valid_nonces"` // distinct valid nonces sent: the most CHALLENGEs allowed
	Replies     ReplyStats  `json:"replies"`
	Dials       Durations   `json:"legit_dials"`
	Delta       Counters    `json:"delta"`
	KernelDrops uint64      `json:"kernel_drops"`
	Delivered   int64       `json:"delivered_lower_bound"`
	Uncounted   int64       `json:"uncounted"` // delivered − (drops + CHALLENGEs allowed); ≤ 0 expected
	CPUSeconds  float64     `json:"listener_cpu_s"`
	// CPU time of the listener over the flood (until it settled) per HELLO sent, and per HELLO
	// its socket received (sent − kernel drops).
	USPerHelloSent      float64   `json:"us_per_hello_sent"`
	USPerHelloDelivered float64   `json:"us_per_hello_delivered"`
	Mem                 MemReport `json:"memory"`
	Alive               bool      `json:"listener_alive"`
}

// RunFlood floods t with HELLOs while timing legitimate dials.
func RunFlood(ctx context.Context, t *Target, cfg FloodConfig) (*FloodReport, error) {
	if cfg.Seed == nil {
		return nil, errNoSeed
	}
	if cfg.Rate == 0 {
		cfg.Rate = 100000
	}
	if cfg.Duration == 0 {
		cfg.Duration = 2 * time.Second
	}
	if cfg.Senders == 0 {
		cfg.Senders = 4
	}
	if cfg.Mix == (FloodMix{}) {
		cfg.Mix = FloodMix{BadMAC: 0.8, Captured: 0.1, ValidNonces: 64, Renew: 10 * time.Second}
	}
	if cfg.DialEvery == 0 {
		cfg.DialEvery = 250 * time.Millisecond
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rep := &FloodReport{Scenario: "flood"}

	// A real HELLO, captured on its way through the forwarder.
	peer, err := NewPeer(cfg.Seed)
	if err != nil {
		return nil, err
	}
	defer peer.Close()
	captured, err := captureHello(ctx, t, peer)
	if err != nil {
		return nil, err
	}
	src := NewFloodSource(NewHelloKit(cfg.Seed), captured, cfg.Mix, cfg.RandSeed)

	conns, err := NewSenders(cfg.Senders)
	if err != nil {
		return nil, err
	}
	judge := newReplyJudge(src)
	senders, stopReaders := startReaders(conns, judge.add)
	defer stopReaders()

	before, err := Settle(ctx, t.Admin, 50*time.Millisecond)
	if err != nil {
		return nil, err
	}
	k0, _ := t.kernelDrops()
	p0 := t.procSample()
	rss := sampleRSS(t.PID, 20*time.Millisecond)

	stop := make(chan struct{})
	dials := make(chan Durations, 1)
	go func() { dials <- dialLoop(ctx, t, peer, cfg.DialEvery, stop) }()
	logf("flood: %s of HELLOs at %.0f/s from %d sockets", cfg.Duration, cfg.Rate, len(conns))
	rep.Blast = Blast(BlastConfig{Target: t.Addr, Senders: senders, Rate: cfg.Rate, Duration: cfg.Duration, Stop: ctx.Done()}, src)
	close(stop)
	rep.Dials = <-dials

	after, err := Settle(ctx, t.Admin, 100*time.Millisecond)
	rep.Alive = err == nil
	p1 := t.procSample()
	k1, _ := t.kernelDrops()
	stopReaders()
	rep.Replies = judge.stats()
	rep.ValidNonces = src.ValidNonces()
	if err != nil {
		return rep, fmt.Errorf("flood: listener metrics after the flood: %w", err)
	}
	rep.Delta = after.Sub(before)
	rep.KernelDrops = k1 - k0
	rep.Delivered = rep.Blast.Sent - int64(rep.KernelDrops)
	rep.Uncounted = rep.Delivered - int64(rep.Delta.DropsTotal()) - int64(rep.ValidNonces)
	rep.CPUSeconds = (p1.CPU - p0.CPU).Seconds()
	if rep.Blast.Sent > 0 {
		rep.USPerHelloSent = rep.CPUSeconds * 1e6 / float64(rep.Blast.Sent)
	}
	if rep.Delivered > 0 {
		rep.USPerHelloDelivered = rep.CPUSeconds * 1e6 / float64(rep.Delivered)
	}
	rep.Mem = memReport(p0, p1, rss)
	logf("flood: sent %d (%.0f/s), dials median %.1f ms max %.1f ms, %.2f µs CPU per HELLO delivered",
		rep.Blast.Sent, rep.Blast.Rate, rep.Dials.MedMs, rep.Dials.MaxMs, rep.USPerHelloDelivered)
	return rep, nil
}

// captureHello dials t once through a forwarder and returns the HELLO that went through.
func captureHello(ctx context.Context, t *Target, peer *Peer) ([]byte, error) {
	fwd, s, err := peer.DialVia(ctx, t.Addr, 16)
	if err != nil {
		return nil, fmt.Errorf("flood: capture dial: %w", err)
	}
	defer fwd.Close()
	s.CloseWithError(0, "")
	for _, c := range fwd.Captures(ToTarget) {
		if r := ParseReply(c.B); r.Kind == frame.KindHandshake && r.Type == frame.TypeHello {
			return c.B, nil
		}
	}
	return nil, fmt.Errorf("flood: no HELLO captured")
}

// dialLoop dials t every period until stop, closing each session at once, and summarises how
// long the dials took. A dial gets the handshake timeout (10 s) before it counts as failed.
func dialLoop(ctx context.Context, t *Target, peer *Peer, period time.Duration, stop <-chan struct{}) Durations {
	var ds []time.Duration
	failed := 0
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return summarize(ds, failed)
		case <-ctx.Done():
			return summarize(ds, failed)
		case <-tick.C:
		}
		s, d, err := peer.Dial(ctx, t.URL())
		if err != nil {
			failed++
			continue
		}
		ds = append(ds, d)
		s.CloseWithError(0, "")
	}
}

// replyJudge classifies the replies to the flood sockets.
type replyJudge struct {
	src     *FloodSource
	mu      sync.Mutex
	st      ReplyStats
	perNonc map[[8]byte]int
}

func newReplyJudge(src *FloodSource) *replyJudge {
	return &replyJudge{src: src, st: ReplyStats{ByClass: map[Class]int64{}}, perNonc: map[[8]byte]int{}}
}

// add judges one reply.
func (j *replyJudge) add(_ netip.AddrPort, d []byte) {
	r := ParseReply(d)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.st.Total++
	j.st.MaxSize = max(j.st.MaxSize, r.Size)
	if r.Size >= frame.HelloMinSize {
		j.st.Larger++
	}
	c, known := j.src.TagClass(r.Tag)
	if known {
		j.st.ByClass[c]++
	}
	isChallenge := r.Valid && r.Kind == frame.KindHandshake && r.Type == frame.TypeChallenge
	if isChallenge {
		j.st.Challenges++
	}
	if r.Valid && r.Kind == frame.KindHandshake && r.Type == frame.TypeClock && known && c == ClassCapturedHello {
		j.st.Clocks++
		if j.perNonc[r.Tag]++; j.perNonc[r.Tag] > 1 {
			j.st.Duplicates++
			j.st.Forbidden++
		}
		return
	}
	switch {
	case !isChallenge || !known || c != ClassValidRepeat:
		j.st.Forbidden++
	default:
		j.perNonc[r.Tag]++
		if j.perNonc[r.Tag] > 1 {
			j.st.Duplicates++
			j.st.Forbidden++
		}
	}
}

func (j *replyJudge) stats() ReplyStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st
}
