package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// sendResult is the last stdout line of sttpeer send.
type sendResult struct {
	Event string `json:"event"` // "result"
	OK    bool   `json:"ok"`    // every byte was written out by the peer and the session closed cleanly
	Error string `json:"error,omitempty"`
	closeInfo
	ClosedUnixNs int64   `json:"closed_unix_ns"` // when the session ended (wall clock)
	Bytes        int64   `json:"bytes"`          // stream bytes written (all of them, when OK)
	SHA256       string  `json:"sha256"`         // of those bytes
	DialMs       float64 `json:"dial_ms"`
	Seconds      float64 `json:"seconds"` // first byte written to the peer's end of stream (its output has everything)
	GoodputMbps  float64 `json:"goodput_mbps"`
	PacketsSent  uint64  `json:"packets_sent"`
	PacketsLost  uint64  `json:"packets_lost"`
	Retransmit   uint64  `json:"retransmitted_bytes"`
	LossRate     float64 `json:"loss_rate"` // packets_lost / packets_sent, as the sender's loss detection saw it
	MinRTTms     float64 `json:"min_rtt_ms"`
	SRTTms       float64 `json:"srtt_ms"` // at the end
	Loaded       rttDist `json:"loaded_srtt"`
}

// sendOpts are send's flags.
type sendOpts struct {
	common
	size     sizeValue
	chunk    sizeValue
	forever  bool
	dataSeed uint64
	bind     string
	sample   time.Duration
	trace    bool
	verify   bool
	paths    string
}

// runSend dials addr, sends size pattern bytes on one stream (chunk bytes per message), ends the
// stream, waits for the peer to end its half (sttfast listen does once every byte is on its
// stdout), closes the session with code 0 and prints a sendResult. With --forever it sends
// until the session fails, for peer-failure tests; the result then tells how it ended.
func runSend(args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var o sendOpts
	o.register(fs)
	o.chunk.n = 64 << 10
	fs.Var(&o.size, "size", "bytes to send (e.g. 16MiB)")
	fs.Var(&o.chunk, "chunk", "bytes per message")
	fs.BoolVar(&o.forever, "forever", false, "send until the session fails")
	fs.Uint64Var(&o.dataSeed, "data-seed", 1, "seed of the pseudo-random content")
	fs.StringVar(&o.bind, "bind", "udp://0.0.0.0:0", "local udp://HOST:PORT")
	fs.DurationVar(&o.sample, "sample", 10*time.Millisecond, "how often to sample the session's RTT")
	fs.BoolVar(&o.trace, "trace", false, "print every sample on stderr")
	fs.BoolVar(&o.verify, "verify-echo", false, "the peer echoes (sttfast serve): check every byte that comes back")
	fs.StringVar(&o.paths, "paths", "", "more addresses of the peer, comma-separated (ws://HOST:PORT/PATH): dial with DialPaths, keep the session across them, report each move as a \"path\" event")
	parse(fs, args)
	if o.chunk.n <= 0 || o.chunk.n > 64<<20 {
		return fmt.Errorf("--chunk %d out of range", o.chunk.n)
	}
	cfg, err := o.config(o.bind)
	if err != nil {
		return err
	}
	cfg.OnEvent = reportMoves
	node, err := ctrl.Listen(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer node.Close()

	r := sendResult{Event: "result"}
	t0 := time.Now()
	var s *ctrl.Session
	if o.paths == "" {
		s, err = node.Dial(context.Background(), o.addr)
	} else {
		s, err = node.DialPaths(context.Background(), append([]string{o.addr}, strings.Split(o.paths, ",")...)...)
	}
	if err != nil {
		r.Error = err.Error()
		emit(r)
		return err
	}
	r.DialMs = ms(time.Since(t0))
	endedAt := watchDone(s)
	id := s.ID()
	emit(map[string]any{"event": "connected", "local": node.Addr().String(), "session": hex.EncodeToString(id[:]), "dial_ms": r.DialMs})
	go discardIncoming(s)

	err = o.transfer(s, &r)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.Close(ctx)
		cancel()
	}
	r.ClosedUnixNs = waitEnd(s, endedAt, 5*time.Second)
	if serr := s.Err(); err != nil && serr != nil {
		err = serr // the session's end explains a failed write better than the write's error
	}
	r.closeInfo = closeOf(s.Err())
	r.OK = err == nil && r.Code == 0 && !r.Remote
	if err != nil {
		r.Error = err.Error()
	}
	emit(r)
	if !r.OK {
		return fmt.Errorf("transfer failed after %d bytes: %v", r.Bytes, err)
	}
	return nil
}

// waitEnd waits up to bound for s to end (a closing session lingers for its drain period) and
// returns when it ended, or 0 if it is still open.
func waitEnd(s *ctrl.Session, endedAt func() int64, bound time.Duration) int64 {
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-s.Done():
		return endedAt()
	case <-t.C:
		return 0
	}
}

// transfer writes the pattern, waits for the peer's end of stream and fills r's numbers.
func (o *sendOpts) transfer(s *ctrl.Session, r *sendResult) error {
	st, err := s.OpenStream(context.Background())
	if err != nil {
		return err
	}
	peerEOF := make(chan error, 1)
	var echoed *verifier
	if o.verify {
		echoed = newVerifier(o.dataSeed)
		go func() { peerEOF <- verifyEcho(st, echoed) }()
	} else {
		go func() { peerEOF <- drain(st) }()
	}
	smp := startSampler(s, o.sample, o.trace)
	h := sha256.New()
	p := newPattern(o.dataSeed)
	buf := make([]byte, o.chunk.n)
	start := time.Now()
	for o.forever || r.Bytes < o.size.n {
		n := int64(len(buf))
		if !o.forever {
			n = min(n, o.size.n-r.Bytes)
		}
		p.fill(buf[:n])
		h.Write(buf[:n])
		if err = st.WriteMessage(buf[:n]); err != nil {
			break
		}
		r.Bytes += n
	}
	if err == nil {
		st.CloseWrite()
		select {
		case err = <-peerEOF:
		case <-s.Done():
			err = s.Err()
		}
	}
	if err == nil && echoed != nil && echoed.verified() != r.Bytes {
		err = fmt.Errorf("sent %d bytes, %d came back", r.Bytes, echoed.verified())
	}
	elapsed := time.Since(start)
	r.Loaded = smp.stop()
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	r.Seconds = elapsed.Seconds()
	r.GoodputMbps = float64(r.Bytes) * 8 / elapsed.Seconds() / 1e6
	ss := s.Stats()
	r.PacketsSent, r.PacketsLost, r.Retransmit = ss.PacketsSent, ss.PacketsLost, ss.RetransmittedBytes
	if ss.PacketsSent > 0 {
		r.LossRate = float64(ss.PacketsLost) / float64(ss.PacketsSent)
	}
	r.MinRTTms, r.SRTTms = float64(ss.MinRTT)/1e6, float64(ss.SmoothedRTT)/1e6
	return err
}

// drain reads st until the peer ends its half: nil at a clean end.
func drain(st *ctrl.Stream) error {
	buf := make([]byte, 64<<10)
	for {
		if _, err := st.Read(buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// verifyEcho reads st until the peer ends its half, checking each byte against v.
func verifyEcho(st *ctrl.Stream, v *verifier) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := st.Read(buf)
		if n > 0 {
			if verr := v.check(buf[:n]); verr != nil {
				return fmt.Errorf("echo: %w", verr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// discardIncoming reads and drops every stream the peer opens.
func discardIncoming(s *ctrl.Session) {
	for {
		st, err := s.AcceptStream(context.Background())
		if err != nil {
			return
		}
		go func() {
			drain(st)
			st.Close()
		}()
	}
}

// moveEvent is the stdout line of a session's move to another path (--paths).
type moveEvent struct {
	Event    string  `json:"event"` // "path"
	UnixNs   int64   `json:"unix_ns"`
	Reason   string  `json:"reason"`   // "failover: udp A -> ws B" and so on
	Reliable bool    `json:"reliable"` // the new path is the WebSocket one
	SRTTms   float64 `json:"srtt_ms"`  // the session's smoothed RTT just before the move
}

// lastSRTT is the session's smoothed RTT as last sampled before a move (a move restarts it).
var lastSRTT atomic.Int64

// reportMoves prints each EventPathMigrated as a moveEvent.
func reportMoves(ev ctrl.Event) {
	if ev.Kind != ctrl.EventPathMigrated || ev.Session == nil {
		return
	}
	emit(moveEvent{Event: "path", UnixNs: ev.Time.UnixNano(), Reason: ev.Reason,
		Reliable: ev.Session.Reliable(), SRTTms: float64(lastSRTT.Load()) / 1e6})
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / 1e6 }
