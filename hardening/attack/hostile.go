package attack

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// HostileConfig configures RunHostile.
type HostileConfig struct {
	Seed       *stc.Seed     // the legitimate peer's seed; the attack datagrams never use it
	Count      int64         // attack datagrams to send (0: until Duration)
	Duration   time.Duration // attack length (0: until Count)
	Rate       float64       // datagrams per second (0: as fast as the kernel takes them)
	Senders    int           // attack sockets (source ports), default 1
	LegitBytes int64         // least bytes of the legitimate echo transfer; it runs until the attack ends
	RandSeed   uint64        // seeds the attack datagrams and the transfer's content
	Classes    []Class       // default HostileClasses()
	Logf       func(format string, args ...any)
}

// HostileReport is what RunHostile measured.
type HostileReport struct {
	Scenario string      `json:"scenario"`
	Blast    BlastResult `json:"attack"`
	Replies  int64       `json:"replies"` // datagrams the listener sent to the attack sockets, but CLOCKs
	// ClockReplies are CLOCKs (our time, smaller than a HELLO) answering replayed captured HELLOs
	// older than the clock window: at most one per captured HELLO per two windows.
	ClockReplies int64 `json:"clock_replies"`
	// ReplyKinds describes those replies: "kind/first-frame/size" to count.
	ReplyKinds  map[string]int64 `json:"reply_kinds,omitempty"`
	Legit       EchoResult       `json:"legit"`
	LegitActive bool             `json:"legit_active_at_attack_end"` // the transfer outlasted the attack
	LiveID      string           `json:"live_session_id"`            // learned from GET /sessions
	Captures    int              `json:"captures"`                   // real packets replayed and bit-flipped
	Delta       Counters         `json:"delta"`                      // listener counters, after − before
	// KernelDrops is how many datagrams the kernel discarded at the listener's socket (receive
	// buffer full) during the run: sk_drops from /proc/PID/net/udp.
	KernelDrops      uint64    `json:"kernel_drops"`
	KernelDropsKnown bool      `json:"kernel_drops_known"`
	Delivered        int64     `json:"delivered_lower_bound"` // attack datagrams sent − kernel drops
	Coverage         float64   `json:"coverage"`              // drops counted / attack datagrams sent
	Mem              MemReport `json:"memory"`
	CPUSeconds       float64   `json:"listener_cpu_s"`
	Alive            bool      `json:"listener_alive"`
}

// RunHostile attacks t with hostile datagrams while a legitimate transfer runs through a
// forwarder (whose captures feed the bit-flip and replay classes), then measures what the
// listener counted.
func RunHostile(ctx context.Context, t *Target, cfg HostileConfig) (*HostileReport, error) {
	if cfg.Seed == nil {
		return nil, errNoSeed
	}
	if cfg.Classes == nil {
		cfg.Classes = HostileClasses()
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rep := &HostileReport{Scenario: "hostile"}
	before, err := t.Admin.Counters(ctx)
	if err != nil {
		return nil, fmt.Errorf("hostile: listener metrics: %w", err)
	}
	k0, kok0 := t.kernelDrops()
	p0 := t.procSample()
	rss := sampleRSS(t.PID, 20*time.Millisecond)

	peer, err := NewPeer(cfg.Seed)
	if err != nil {
		return nil, err
	}
	fwd, s, err := peer.DialVia(ctx, t.Addr, 4096)
	if err != nil {
		peer.Close()
		return nil, fmt.Errorf("hostile: legitimate dial: %w", err)
	}
	defer fwd.Close()
	defer peer.Close() // before the forwarder, so its SESSION_CLOSE reaches the listener
	echo, err := StartEcho(ctx, s, cfg.RandSeed)
	if err != nil {
		return nil, err
	}
	// The transfer sends LegitBytes, then keeps going in 1 MiB steps until the attack is over,
	// so that it runs for the whole attack whatever the machine's speed.
	sendErr := make(chan error, 1)
	attackOver := make(chan struct{})
	go func() {
		err := echo.Send(cfg.LegitBytes)
		for err == nil && !stopped(attackOver) {
			err = echo.Send(1 << 20)
		}
		sendErr <- err
	}()

	live, err := findSession(ctx, t.Admin, fwd.UpstreamAddr())
	if err != nil {
		return nil, err
	}
	rep.LiveID = live
	var liveID [8]byte
	hex.Decode(liveID[:], []byte(live))
	// Let real traffic flow first, so there are packets to flip and replay. The forwarder sends
	// in the order it records, so once more data has come back after the snapshot, every
	// captured packet has reached the listener's socket ahead of any replay of it: a replay is
	// never the first copy the listener sees (unless its kernel dropped the original).
	if err := echo.WaitEchoed(ctx, 256<<10); err != nil {
		return nil, err
	}
	src := NewHostileSource(cfg.RandSeed, cfg.Classes)
	src.LiveIDs = [][8]byte{liveID}
	for _, d := range []Direction{ToTarget, ToClient} {
		for _, c := range fwd.Captures(d) {
			src.Captures = append(src.Captures, c.B)
		}
	}
	if err := echo.WaitEchoed(ctx, 512<<10); err != nil {
		return nil, err
	}

	conns, err := NewSenders(max(cfg.Senders, 1))
	if err != nil {
		return nil, err
	}
	var replies atomic.Int64
	var kindsMu sync.Mutex
	kinds := map[string]int64{}
	var clocks atomic.Int64
	senders, stopReaders := startReaders(conns, func(_ netip.AddrPort, d []byte) {
		r := ParseReply(d)
		if r.Kind == frame.KindHandshake && r.Type == frame.TypeClock && r.Size < frame.HelloMinSize {
			clocks.Add(1) // a replayed HELLO older than the clock window gets our time, once
			return
		}
		replies.Add(1)
		kindsMu.Lock()
		kinds[fmt.Sprintf("%v/%v/%d", r.Kind, r.Type, r.Size)]++
		kindsMu.Unlock()
	})
	defer stopReaders()
	rep.Captures = len(src.Captures)
	logf("hostile: attacking %s (live session %s, %d captures) while %d bytes echo", t.Addr, live, len(src.Captures), cfg.LegitBytes)
	rep.Blast = Blast(BlastConfig{Target: t.Addr, Senders: senders, Rate: cfg.Rate, Count: cfg.Count,
		Duration: cfg.Duration, Stop: ctx.Done()}, src)
	select {
	case err := <-sendErr:
		sendErr <- err // the transfer ended (or failed) before the attack did
	default:
		rep.LegitActive = true
	}
	close(attackOver)
	logf("hostile: sent %d datagrams in %v (%.0f/s); transfer still running: %v", rep.Blast.Sent, rep.Blast.Elapsed, rep.Blast.Rate, rep.LegitActive)

	if err := <-sendErr; err != nil {
		rep.Legit.Err = err.Error()
	}
	if rep.Legit.Err == "" {
		rep.Legit = echo.Finish(ctx)
	}
	s.Close(ctx)

	after, err := Settle(ctx, t.Admin, 100*time.Millisecond)
	rep.Alive = err == nil
	stopReaders()
	rep.Replies = replies.Load()
	rep.ClockReplies = clocks.Load()
	if len(kinds) > 0 {
		rep.ReplyKinds = kinds
	}
	if err != nil {
		return rep, fmt.Errorf("hostile: listener metrics after the attack: %w", err)
	}
	rep.Delta = after.Sub(before)
	k1, kok1 := t.kernelDrops()
	rep.KernelDropsKnown = kok0 && kok1
	rep.KernelDrops = k1 - k0
	rep.Delivered = rep.Blast.Sent - int64(rep.KernelDrops)
	if rep.Blast.Sent > 0 {
		rep.Coverage = float64(rep.Delta.DropsTotal()) / float64(rep.Blast.Sent)
	}
	p1 := t.procSample()
	rep.Mem = memReport(p0, p1, rss)
	rep.CPUSeconds = (p1.CPU - p0.CPU).Seconds()
	return rep, nil
}

// findSession polls GET /sessions (bounded by ctx) for the session whose peer is addr and
// returns its id: how an attacker on the admin network learns a live id.
func findSession(ctx context.Context, a *Admin, addr netip.AddrPort) (string, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		ss, err := a.Sessions(ctx)
		if err != nil {
			return "", err
		}
		for _, s := range ss {
			if s.Peer == addr.String() {
				return s.ID, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no session from %s in GET /sessions: %w", addr, ctx.Err())
		case <-t.C: // polling interval of a bounded wait
		}
	}
}
