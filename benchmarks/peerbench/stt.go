package peerbench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/stc"
)

// sttContender is sttfast through its public API (ctrl.Listen, Dial, Accept, OpenStream,
// SendToAll) with the default configuration. payload != 0 is the clearly labelled variant with
// larger packets, which only a loopback or jumbo-frame path carries; cc != Cubic is the variant
// with another congestion controller (issue 10 compares CUBIC and BBR through a delay line); ws
// is sttfast over its WebSocket path (issue 12): the receivers listen on ws://HOST:0/stt and the
// sender"s node (on UDP, unused) dials those addresses, one TCP connection per session. fs is
// sttfast with Config.ForwardSecrecy on both nodes (issue 16): it runs the handshake workload only,
// the one its ephemeral X25519 exchange changes, beside the seed-only rate of the same run. batch
// is sttfast with the batch message calls (Stream.WriteMessages/ReadMessages, issue 15): small
// messages only, beside the single-call row, as an application that has several messages at hand
// would send them. fixedWin is sttfast with its windows pinned at their starting sizes (the caps
// set to them), as they were before they followed the path: the longfat suite's before/after in
// one run.
type sttContender struct {
	payload  int
	cc       recovery.Algorithm
	ws       bool
	fs       bool
	batch    bool
	fixedWin bool
}

// sttWSPath is the request path the ws variant"s receivers listen on.
const sttWSPath = "/stt"

func (s *sttContender) Name() string {
	switch {
	case s.ws:
		return "sttfast-ws"
	case s.fs:
		return "sttfast-fs"
	case s.fixedWin:
		return "sttfast-fixedwin"
	case s.batch:
		return "sttfast-batch"
	case s.payload != 0:
		return "sttfast-" + strconv.Itoa(s.payload)
	case s.cc != recovery.Cubic:
		return "sttfast-" + s.cc.String()
	}
	return "sttfast"
}

func (s *sttContender) Class() Class {
	if s.payload != 0 || s.cc != recovery.Cubic || s.ws || s.fs || s.batch || s.fixedWin {
		return classVariant
	}
	return classSTT
}

func (s *sttContender) Describe() string {
	d := "ctrl.Listen/Dial with the default Config: UDP payloads from 1200 bytes up to what path MTU discovery finds (8972 on loopback), AES-256-GCM, 8 MiB stream / 16 MiB session windows and 8 MiB send buffer growing with the path up to 64 / 128 / 64 MiB, CUBIC with pacing, GSO/GRO on, 8 MiB socket buffers, one socket per node; the receiver reads with Stream.ReadMessage (whole messages), fan-out uses Node.SendToAll with one node per receiver"
	if s.payload != 0 {
		d = fmt.Sprintf("as sttfast but Transport.PayloadSize = %d (loopback only: no real path carries it; not a headline number)", s.payload)
	}
	if s.cc != recovery.Cubic {
		d = fmt.Sprintf("as sttfast but Transport.Congestion = recovery.%s (%s) on both nodes", strings.ToUpper(s.cc.String()), s.cc)
	}
	if s.fixedWin {
		d = "as sttfast but with fixed windows: Transport.MaxStreamWindow, MaxSessionWindow, MaxSendBuffer and MaxSessionSendBuffer set to 4, 16, 4 and 16 MiB, and the stream window and send buffer starting at 4 MiB (no auto-tuning, the sizes before issue 15)"
	}
	if s.ws {
		d = "as sttfast but over the WebSocket path: each receiver node listens on ws://127.0.0.1:0/stt (Config.Addr), the sender's node dials those ws:// addresses (one TCP connection and engine per session, packets sized for the path, paced by its byte budget); same AES-256-GCM, windows and ReadMessage"
	}
	if s.fs {
		d = "as sttfast but Config.ForwardSecrecy on both nodes: every handshake adds an ephemeral X25519 exchange (a key pair per dial and per answer, two scalar multiplications a side) to the seed authentication; handshake workload only, and every dialed session is checked to be forward-secret"
	}
	if s.batch {
		d = fmt.Sprintf("as sttfast but the sender writes %d messages per Stream.WriteMessages call and the receiver reads up to %d per Stream.ReadMessages call (one lock, budget and guard round per batch); small-message workloads only", sttBatch, sttBatch)
	}
	return d
}

// sttBatch is how many messages the batch variant moves per call.
const sttBatch = 64

func (s *sttContender) Supports(w Workload) bool {
	if s.fs {
		return w.Kind == kindHandshake
	}
	if s.batch {
		return w.Kind == kindStream && (w.Name == "msg64" || w.Name == "msg1200")
	}
	if s.ws {
		return w.Kind == kindStream && w.Name != "bulk10s" || w.Kind == kindRTT || w.Kind == kindIdle
	}
	if s.payload != 0 {
		return w.Kind == kindStream && w.Name != "bulk10s"
	}
	if s.cc != recovery.Cubic {
		return w.Kind == kindStream && w.Name != "bulk10s" || w.Kind == kindTransfer
	}
	if s.fixedWin {
		return w.Kind == kindTransfer
	}
	return w.Kind != kindSeal
}

func (s *sttContender) Available() error { return nil }

func (s *sttContender) MessageOriented() bool { return true }

func (s *sttContender) config(e *Env) (ctrl.Config, error) {
	seed, err := stc.NewSeed(e.O.Secret)
	if err != nil {
		return ctrl.Config{}, err
	}
	tc := dataplane.Config{PayloadSize: s.payload, Congestion: s.cc}
	if s.fixedWin {
		tc.StreamWindow, tc.SendBuffer = 4<<20, 4<<20 // the starting sizes before they became 8 MiB
		tc.MaxStreamWindow, tc.MaxSessionWindow, tc.MaxSendBuffer, tc.MaxSessionSendBuffer = 4<<20, 16<<20, 4<<20, 16<<20
	}
	return ctrl.Config{Seed: seed, Addr: "udp://" + e.O.bindAddr(), ForwardSecrecy: s.fs, Transport: tc}, nil
}

// listenNode starts a node with the contender's configuration, adjusted by tune (nil: none).
func (s *sttContender) listenNode(ctx context.Context, e *Env, tune func(*ctrl.Config)) (*ctrl.Node, error) {
	cfg, err := s.config(e)
	if err != nil {
		return nil, err
	}
	if tune != nil {
		tune(&cfg)
	}
	node, err := ctrl.Listen(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return node, nil
}

func (s *sttContender) info(e *Env, n *ctrl.Node) {
	e.OnMark(chunkWindow(e))
	if s.ws {
		e.Info("path", "ws")
		return
	}
	st := n.Stats()
	e.Info("gso", strconv.FormatBool(st.GSO))
	e.Info("gro", strconv.FormatBool(st.GRO))
	e.Info("socket_recv_buffer", strconv.Itoa(st.RecvBuffer))
	p := s.payload
	if p == 0 {
		p = 1200
	}
	e.Info("udp_payload", strconv.Itoa(p))
	e.Info("congestion", s.cc.String())
	e.Info("forward_secrecy", strconv.FormatBool(s.fs))
}

// chunkWindow records, over the measurement window, the stream-buffer chunks this process's
// pool had to allocate (chunks_new) and the chunks its buffers held at the window's ends
// (chunks_held_start, chunks_held_end). A heap allocation or GC cycle in a bulk window is so
// traced to buffers that grew (more chunks held: memory following more data in flight) or to a
// pool that did not recycle (chunks allocated while the count held stays level).
func chunkWindow(e *Env) func(start bool) {
	var allocatedAtStart int64
	return func(start bool) {
		held, allocated := streambuf.PoolStats()
		if start {
			allocatedAtStart = allocated
			e.Info("chunks_held_start", strconv.FormatInt(held, 10))
			return
		}
		e.Info("chunks_new", strconv.FormatInt(allocated-allocatedAtStart, 10))
		e.Info("chunks_held_end", strconv.FormatInt(held, 10))
	}
}

// sessionWindow records, at the window's ends, the session's packets and DATA frames (how many
// messages a packet carried), its window growths, buffers and RTTs.
func sessionWindow(e *Env, s *ctrl.Session) func(start bool) {
	return func(start bool) {
		st := s.Stats()
		at := "_end"
		if start {
			at = "_start"
		}
		e.Info("growths"+at, strconv.FormatUint(st.WindowGrowths, 10))
		e.Info("packets_sent"+at, strconv.FormatUint(st.PacketsSent, 10))
		e.Info("packets_recv"+at, strconv.FormatUint(st.PacketsRecv, 10))
		e.Info("data_frames_sent"+at, strconv.FormatUint(st.DataFramesSent, 10))
		e.Info("srtt_us"+at, strconv.FormatInt(st.SmoothedRTT/1e3, 10))
		e.Info("min_rtt_us"+at, strconv.FormatInt(st.MinRTT/1e3, 10))
		e.Info("recv_window_kib"+at, strconv.FormatUint(st.RecvWindow>>10, 10))
		e.Info("send_budget_kib"+at, strconv.FormatInt(st.SendBudget>>10, 10))
		e.Info("send_buffered_kib"+at, strconv.FormatInt(st.SendBuffered>>10, 10))
		e.Info("send_peak_kib"+at, strconv.FormatInt(st.SendBufferedPeak>>10, 10))
	}
}

// Listen starts n nodes: each receiver is a distinct peer with its own socket, as n machines
// would be.
func (s *sttContender) Listen(ctx context.Context, e *Env, n int) (server, error) {
	cfg, err := s.config(e)
	if err != nil {
		return nil, err
	}
	if s.ws {
		cfg.Addr = "ws://" + e.O.bindAddr() + sttWSPath
	}
	srv := &sttServer{acceptQueue: newAcceptQueue(n), batch: s.batch, e: e}
	for i := 0; i < n; i++ {
		node, err := ctrl.Listen(ctx, cfg)
		if err != nil {
			srv.Close()
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		srv.nodes = append(srv.nodes, node)
		srv.addrs = append(srv.addrs, sttListenAddr(node))
		go srv.acceptOne(e.stopCtx, node)
	}
	s.info(e, srv.nodes[0])
	return srv, nil
}

// sttListenAddr is the address a receiver node hands the sender: host:port for UDP (the sender
// adds the scheme), the whole ws:// URL (its path included) for the WebSocket path.
func sttListenAddr(n *ctrl.Node) string {
	if b := n.Addrs()[0]; b.Transport == "ws" {
		return b.String()
	}
	return n.Addr().String()
}

// sttDialAddr is the URL to dial for an address from sttListenAddr.
func sttDialAddr(a string) string {
	if strings.Contains(a, "://") {
		return a
	}
	return "udp://" + a
}

type sttServer struct {
	batch     bool // hand out sttBatchConns
	nodes     []*ctrl.Node
	closeOnce sync.Once
	e         *Env
	mu        sync.Mutex
	sessions  []*ctrl.Session // accepted, for their end-of-transfer counters
	acceptQueue
}

// acceptOne takes the first session of a node and its first stream.
func (srv *sttServer) acceptOne(ctx context.Context, node *ctrl.Node) {
	sess, err := node.Accept(ctx)
	if err != nil {
		srv.deliver(nil, err)
		return
	}
	srv.mu.Lock()
	srv.sessions = append(srv.sessions, sess)
	if len(srv.sessions) == 1 {
		srv.e.OnMark(sessionWindow(srv.e, sess))
	}
	srv.mu.Unlock()
	st, err := sess.AcceptStream(ctx)
	if err != nil {
		srv.deliver(nil, err)
		return
	}
	srv.deliver(newSttConn(st, srv.batch), nil)
}

func (srv *sttServer) Close() error {
	srv.closeOnce.Do(func() {
		srv.mu.Lock()
		if srv.e.W.Kind == kindTransfer && len(srv.sessions) > 0 {
			sessionInfo(srv.e, srv.sessions[0])
		}
		srv.mu.Unlock()
		for _, n := range srv.nodes {
			n.Close()
		}
	})
	return nil
}

// Dial connects one node to every address. For fan-out no stream is opened here: SendToAll opens
// each session's broadcast stream on first use.
func (s *sttContender) Dial(ctx context.Context, e *Env, addrs []string) (client, error) {
	cfg, err := s.config(e)
	if err != nil {
		return nil, err
	}
	node, err := ctrl.Listen(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cl := &sttClient{node: node, fanout: e.W.Kind == kindFanout, e: e}
	for _, a := range addrs {
		sess, err := node.Dial(ctx, sttDialAddr(a))
		if err != nil {
			node.Close()
			return nil, err
		}
		cl.sessions = append(cl.sessions, sess)
		if cl.fanout {
			continue
		}
		st, err := sess.OpenStream(ctx)
		if err != nil {
			node.Close()
			return nil, err
		}
		cl.conns = append(cl.conns, newSttConn(st, s.batch))
	}
	s.info(e, node)
	if len(cl.sessions) > 0 {
		e.OnMark(sessionWindow(e, cl.sessions[0]))
	}
	return cl, nil
}

type sttClient struct {
	node     *ctrl.Node
	sessions []*ctrl.Session
	conns    []conn
	fanout   bool
	e        *Env
}

func (cl *sttClient) Conns() []conn { return cl.conns }

// Broadcast is Node.SendToAll; every session must take the message.
func (cl *sttClient) Broadcast(msg []byte) error {
	n, err := cl.node.SendToAll(msg)
	if err != nil {
		return err
	}
	if n != len(cl.sessions) {
		return fmt.Errorf("SendToAll reached %d of %d sessions", n, len(cl.sessions))
	}
	return nil
}

func (cl *sttClient) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if cl.e.W.Kind == kindTransfer && len(cl.sessions) > 0 {
		sessionInfo(cl.e, cl.sessions[0])
	}
	for _, s := range cl.sessions {
		s.Close(ctx)
	}
	return cl.node.Close()
}

type sttConn struct {
	st *ctrl.Stream
}

// sttBatchConn is an sttConn that also moves many messages per call (batchConn).
type sttBatchConn struct{ sttConn }

func newSttConn(st *ctrl.Stream, batch bool) conn {
	if batch {
		return &sttBatchConn{sttConn{st: st}}
	}
	return &sttConn{st: st}
}

func (c *sttBatchConn) WriteMsgs(msgs [][]byte) error {
	_, err := c.st.WriteMessages(msgs)
	return err
}

func (c *sttBatchConn) ReadMsgs(bufs [][]byte) (int, error) { return c.st.ReadMessages(bufs) }

func (c *sttConn) WriteMsg(p []byte) error { return c.st.WriteMessage(p) }

func (c *sttConn) ReadData(buf []byte) ([]byte, error) {
	m, err := c.st.ReadMessage(buf[:0])
	if err != nil {
		return nil, err
	}
	if len(m) > len(buf) {
		return nil, fmt.Errorf("%w: message of %d bytes, buffer of %d", errVerify, len(m), len(buf))
	}
	return m, nil
}

func (c *sttConn) Close() error { return c.st.CloseWrite() }

// Custom: the handshake and idle-memory workloads are sttfast's own (sttonly.go), and so is the
// fan-out scaling one (fanscale.go).
func (s *sttContender) Custom(w Workload) bool {
	return w.Kind == kindHandshake || w.Kind == kindIdle || w.Kind == kindFanScale
}

func (s *sttContender) RunRecv(ctx context.Context, e *Env) error {
	switch e.W.Kind {
	case kindHandshake:
		return s.handshakeListener(ctx, e)
	case kindIdle:
		return s.idleListener(ctx, e)
	case kindFanScale:
		return s.fanScaleListener(ctx, e)
	}
	return errors.New("not a custom workload")
}

func (s *sttContender) RunSend(ctx context.Context, e *Env) error {
	switch e.W.Kind {
	case kindHandshake:
		return s.handshakeDialer(ctx, e)
	case kindIdle:
		return s.idleDialer(ctx, e)
	case kindFanScale:
		return s.fanScaleSender(ctx, e)
	}
	return errors.New("not a custom workload")
}

// sessionInfo records a transfer's session counters at its end (the longfat report shows them):
// what the congestion controller and the windows reached, and what the path cost.
func sessionInfo(e *Env, s *ctrl.Session) {
	st := s.Stats()
	e.Info("srtt_ms", strconv.FormatFloat(float64(st.SmoothedRTT)/1e6, 'f', 1, 64))
	e.Info("cwnd_kib", strconv.Itoa(st.Window>>10))
	e.Info("packets_lost", strconv.FormatUint(st.PacketsLost, 10))
	e.Info("congestion_events", strconv.FormatUint(st.CongestionEvents, 10))
	e.Info("window_growths", strconv.FormatUint(st.WindowGrowths, 10))
	e.Info("recv_window_mib", strconv.FormatUint(st.RecvWindow>>20, 10))
	e.Info("send_budget_mib", strconv.FormatInt(st.SendBudget>>20, 10))
}
