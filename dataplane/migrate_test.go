package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/batchio/wspath"
)

// natBox is a one-client UDP NAT between a test's dialer and its server on loopback: the dialer
// sends to front, the box sends on from its current back socket (the address the server sees)
// and relays the server's answers to the dialer. rebind replaces the back socket with one on a
// new port, as a NAT that lost its mapping does; what the server still sends to the old port is
// dropped. blackhole makes it drop everything both ways, as a network that starts blocking UDP.
type natBox struct {
	front  *net.UDPConn
	client netip.AddrPort
	target netip.AddrPort

	mu       sync.Mutex
	back     *net.UDPConn
	old      []*net.UDPConn
	dropping atomic.Bool
	rebinds  atomic.Int32
	wg       sync.WaitGroup
}

func newNATBox(t *testing.T, client, target netip.AddrPort) *natBox {
	t.Helper()
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	front.SetReadBuffer(4 << 20) // the relay is slower than the engines: queue rather than drop
	nb := &natBox{front: front, client: client, target: target}
	nb.rebind(t)
	nb.wg.Add(1)
	go nb.pumpUp()
	t.Cleanup(nb.close)
	return nb
}

// frontAddr is where the dialer sends; backAddr the source the server sees now.
func (nb *natBox) frontAddr() netip.AddrPort { return nb.front.LocalAddr().(*net.UDPAddr).AddrPort() }
func (nb *natBox) backAddr() netip.AddrPort {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return nb.back.LocalAddr().(*net.UDPAddr).AddrPort()
}

// rebind gives the box a new back socket: the server sees the dialer's packets come from a new
// port from now on, and its packets to the old one go nowhere.
func (nb *natBox) rebind(t *testing.T) {
	back, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	back.SetReadBuffer(4 << 20)
	nb.mu.Lock()
	if nb.back != nil {
		nb.old = append(nb.old, nb.back)
	}
	nb.back = back
	nb.mu.Unlock()
	nb.rebinds.Add(1)
	nb.wg.Add(1)
	go nb.pumpDown(back)
}

func (nb *natBox) blackhole(on bool) { nb.dropping.Store(on) }

// pumpUp relays the dialer's datagrams to the server from the current back socket.
func (nb *natBox) pumpUp() {
	defer nb.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := nb.front.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if nb.dropping.Load() {
			continue
		}
		nb.mu.Lock()
		back := nb.back
		nb.mu.Unlock()
		back.WriteToUDPAddrPort(buf[:n], nb.target)
	}
}

// pumpDown relays the server's datagrams to back on to the dialer while back is the current
// socket; an old mapping's are dropped.
func (nb *natBox) pumpDown(back *net.UDPConn) {
	defer nb.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := back.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		nb.mu.Lock()
		current := back == nb.back
		nb.mu.Unlock()
		if !current || nb.dropping.Load() {
			continue
		}
		nb.front.WriteToUDPAddrPort(buf[:n], nb.client)
	}
}

func (nb *natBox) close() {
	nb.front.Close()
	nb.mu.Lock()
	nb.back.Close()
	for _, o := range nb.old {
		o.Close()
	}
	nb.mu.Unlock()
	nb.wg.Wait()
}

// listenUDP opens a batchio UDP socket on loopback.
func listenUDP(t *testing.T) *batchio.Conn {
	t.Helper()
	c, err := batchio.Listen("udp4", "127.0.0.1:0", batchio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventLog collects an engine's events with the time they were emitted, from a goroutine.
type eventLog struct {
	mu   sync.Mutex
	evs  []Event
	done chan struct{}
}

func watchEvents(t *testing.T, e *Engine) *eventLog {
	l := &eventLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			ev, err := e.Events().PopWait(nil)
			if err != nil {
				return
			}
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			l.mu.Unlock()
		}
	}()
	return l
}

// moves returns the EventPathMigrated events so far.
func (l *eventLog) moves() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, ev := range l.evs {
		if ev.Kind == EventPathMigrated {
			out = append(out, ev)
		}
	}
	return out
}

// waitMoves waits (polling; ctx guards against a hang) until l has seen n moves.
func (l *eventLog) waitMoves(ctx context.Context, t *testing.T, n int) []Event {
	t.Helper()
	for {
		if m := l.moves(); len(m) >= n {
			return m
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d path moves: %v; moves so far %v", n, ctx.Err(), l.moves())
		case <-time.After(time.Millisecond):
		}
	}
}

// startPair starts engines over the two conns and installs a session on each, the dialer's
// (initiator) sending to toSrv and the server's to toCli.
func startPair(t *testing.T, cliConn, srvConn PacketConn, toSrv, toCli netip.AddrPort) (cli, srv *Engine, cs, ss *Session) {
	t.Helper()
	return startPairConfig(t, Config{}, cliConn, srvConn, toSrv, toCli)
}

// startPairConfig is startPair with both engines configured by cfg.
func startPairConfig(t *testing.T, cfg Config, cliConn, srvConn PacketConn, toSrv, toCli netip.AddrPort) (cli, srv *Engine, cs, ss *Session) {
	t.Helper()
	cli, srv = NewEngine(cliConn, cfg, nil), NewEngine(srvConn, cfg, nil)
	cli.Start()
	srv.Start()
	t.Cleanup(func() { cli.Close(); srv.Close() })
	i2r, r2i := pairSecrets()
	var err error
	if cs, err = cli.Install(SessionParams{ID: pairID, Initiator: true, Peer: toSrv, Send: i2r, Recv: r2i}); err != nil {
		t.Fatal(err)
	}
	if ss, err = srv.Install(SessionParams{ID: pairID, Peer: toCli, Send: r2i, Recv: i2r, Final: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cs.EstablishedC():
	case <-time.After(20 * time.Second):
		t.Fatal("session not established")
	}
	return cli, srv, cs, ss
}

// progress is a transfer from the dialer to the server that the test can watch: how many bytes
// the server has read, and the longest time it read nothing once it had started.
type progress struct {
	got      atomic.Int64
	maxGap   atomic.Int64 // nanoseconds
	gapStart atomic.Int64 // Unix nanoseconds at the start of the longest gap
	done     chan error   // the writer's and the reader's results, one each
	// ended counts the results waitBytes took: the writer may finish (every byte in its send
	// buffer, the stream closed) long before the reader has read them all.
	ended int

	mu    sync.Mutex
	reads []time.Time // when each read returned data
}

// pauseAround is the longest time without delivery among the gaps that end within span after
// at: the pause an event at at caused (a gap that began before at counts whole).
func (p *progress) pauseAround(at time.Time, span time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var worst time.Duration
	for i := 1; i < len(p.reads); i++ {
		if end := p.reads[i]; end.After(at) && end.Before(at.Add(span)) {
			worst = max(worst, end.Sub(p.reads[i-1]))
		}
	}
	return worst
}

// transferWatched sends data from cs to ss on a new stream and checks it arrives byte-exact.
func transferWatched(ctx context.Context, cs, ss *Session, data []byte) *progress {
	p := &progress{done: make(chan error, 2)}
	go func() {
		st, err := cs.OpenStream(ctx)
		for off := 0; err == nil && off < len(data); off += 256 << 10 {
			_, err = st.Write(data[off:min(off+256<<10, len(data))])
		}
		if err == nil {
			err = st.Close()
		}
		p.done <- err
	}()
	go func() {
		st, err := ss.AcceptStream(ctx)
		if err != nil {
			p.done <- err
			return
		}
		buf := make([]byte, 256<<10)
		last := time.Now()
		n := 0
		for n < len(data) {
			k, err := st.Read(buf)
			now := time.Now()
			if k > 0 {
				if !bytes.Equal(buf[:k], data[n:n+k]) {
					p.done <- fmt.Errorf("bytes %d-%d differ from what was sent", n, n+k)
					return
				}
				if gap := now.Sub(last); n > 0 && int64(gap) > p.maxGap.Load() {
					p.maxGap.Store(int64(gap))
					p.gapStart.Store(last.UnixNano())
				}
				last = now
				n += k
				p.got.Store(int64(n))
				p.mu.Lock()
				p.reads = append(p.reads, now)
				p.mu.Unlock()
			}
			if err != nil {
				p.done <- fmt.Errorf("after %d bytes: %w", n, err)
				return
			}
		}
		p.done <- nil
	}()
	return p
}

// waitBytes waits until the server has read at least n bytes.
func (p *progress) waitBytes(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	for p.got.Load() < int64(n) {
		select {
		case <-ctx.Done():
			t.Fatalf("transfer stuck at %d bytes (waiting for %d)", p.got.Load(), n)
		case err := <-p.done:
			if err != nil {
				t.Fatalf("transfer ended early at %d bytes: %v", p.got.Load(), err)
			}
			p.ended++ // the writer is done; the reader sends nil only after the last byte
		case <-time.After(200 * time.Microsecond):
		}
	}
}

// wait waits for the writer's and the reader's results (those waitBytes has not taken) and
// fails the test on either's error.
func (p *progress) wait(ctx context.Context, t *testing.T) {
	t.Helper()
	for ; p.ended < 2; p.ended++ {
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatalf("transfer did not finish (%d bytes read)", p.got.Load())
		}
	}
}

// TestNATRebinding: the dialer's source port changes a third of the way through a transfer (the
// NAT box in front of it rebinds); the server moves to the new port after one validation round
// trip, keeps its RTT and window (same host), and the transfer ends byte-exact. While it
// validates the new port, the server also sends its ACKs there (packCandidateAck), so the
// dialer's ACK clock does not stop for the round trip.
//
// What the rebinding costs is logged against a control: the longest pause in delivery and the
// packets the dialer declared lost over the size/8 delivered from the rebinding on, beside the
// same over the size/8 delivered from size/6 on, where nothing happens to the path (the relay is
// a userspace loop in front of a default-sized socket buffer, so the transfer loses packets now
// and then whatever the path does: the difference is the rebinding's).
func TestNATRebinding(t *testing.T) {
	size := 64 << 20
	if testing.Short() || raceEnabled {
		size = 16 << 20
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a guard against hangs only
	defer cancel()
	cliConn, srvConn := listenUDP(t), listenUDP(t)
	nb := newNATBox(t, cliConn.LocalAddr(), srvConn.LocalAddr())
	_, srv, cs, ss := startPair(t, cliConn, srvConn, nb.frontAddr(), nb.backAddr())
	evs := watchEvents(t, srv)

	data := randomBytes(size, 13)
	p := transferWatched(ctx, cs, ss, data)
	window := size / 8
	quiet := p.costOf(ctx, t, cs, size/6, window, func() {})
	var rebound time.Time
	rebinding := p.costOf(ctx, t, cs, size/3, window, func() {
		rebound = time.Now()
		nb.rebind(t)
	})
	moves := evs.waitMoves(ctx, t, 1)
	p.wait(ctx, t)

	if got, want := ss.Peer(), nb.backAddr(); got != want {
		t.Fatalf("server sends to %v, want the new port %v", got, want)
	}
	if len(moves) != 1 || moveReason(moves[0].Code) != movePeer {
		t.Fatalf("moves %v, want one (the server following the dialer)", moves)
	}
	if cs.Migrations() != 0 {
		t.Fatal("the dialer moved: it has one path and chooses it")
	}
	es := srv.Stats()
	t.Logf("NAT rebinding during %d MiB: server moved %v after the rebinding (%s); server RTT %v; ACKs also sent to the new port while validating it: %d (%d withheld by the amplification limit)",
		size>>20, moves[0].Time.Sub(rebound).Round(time.Microsecond), moves[0].Reason,
		time.Duration(ss.Stats().SmoothedRTT).Round(time.Microsecond), es.CandidateAcks, es.AmplificationLimited)
	t.Logf("over %d MiB delivered: rebinding: %v; control (nothing happens): %v", window>>20, rebinding, quiet)
}

// transferCost is what an event cost a transfer over a span of delivered bytes.
type transferCost struct {
	pause        time.Duration // longest gap in delivery
	lost, resent uint64        // packets the sender declared lost, stream bytes it resent
}

func (c transferCost) String() string {
	return fmt.Sprintf("longest pause %v, %d packets declared lost, %d bytes resent",
		c.pause.Round(time.Microsecond), c.lost, c.resent)
}

// costOf waits until from bytes were delivered, runs event, and measures the span until window
// more bytes were: the longest pause in delivery and the sender's losses meanwhile.
func (p *progress) costOf(ctx context.Context, t *testing.T, sender *Session, from, window int, event func()) transferCost {
	t.Helper()
	p.waitBytes(ctx, t, from)
	before := sender.Stats()
	at := time.Now()
	event()
	p.waitBytes(ctx, t, from+window)
	after := sender.Stats()
	return transferCost{
		pause:  p.pauseAround(at, time.Since(at)),
		lost:   after.PacketsLost - before.PacketsLost,
		resent: after.RetransmittedBytes - before.RetransmittedBytes,
	}
}

// TestFailoverToWebSocketAndBack: a dialer and a server joined by UDP (through a box that can
// black-hole it) and by WebSocket, each on one engine over a MultiConn. UDP starts dropping
// everything a third of the way through a transfer: the dialer notices the silence, validates
// the WebSocket path and moves there, the server follows, and the transfer goes on. UDP comes
// back at two thirds: the dialer's probes of it are answered and both move back. The data
// arrives byte-exact and each side reports every move as an event.
func TestFailoverToWebSocketAndBack(t *testing.T) {
	t.Run("dialer sends", func(t *testing.T) { failoverAndBack(t, false, Config{}) })
	// A dialer that only receives has nothing in flight of its own: it must still notice the
	// silence (its liveness ping, pingAt) and fail over.
	t.Run("dialer receives", func(t *testing.T) { failoverAndBack(t, true, Config{}) })
	// Without the floor, failover takes what the PTO rule gives (3 PTO + 1 RTT, a few ms on
	// loopback); a pause of this loaded host may then move the session early, which the test
	// tolerates: it must still end byte-exact, on UDP.
	t.Run("no floor", func(t *testing.T) { failoverAndBack(t, false, Config{FailoverFloor: -1}) })
}

func failoverAndBack(t *testing.T, dialerReceives bool, cfg Config) {
	size := 64 << 20
	if testing.Short() || raceEnabled {
		size = 16 << 20
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a guard against hangs only
	defer cancel()
	cliUDP, srvUDP := listenUDP(t), listenUDP(t)
	srvWS, err := wspath.Listen("127.0.0.1:0", wspath.Config{Path: "/stt"})
	if err != nil {
		t.Fatal(err)
	}
	cliWS, err := wspath.Dial(ctx, "ws://"+srvWS.LocalAddr().String()+"/stt", wspath.Config{})
	if err != nil {
		srvWS.Close()
		t.Fatal(err)
	}
	cliMux, srvMux := NewMultiConn(cliUDP), NewMultiConn(srvUDP)
	if err := cliMux.AddPath(cliWS, "ws"); err != nil {
		t.Fatal(err)
	}
	if err := srvMux.AddPath(srvWS, "ws"); err != nil {
		t.Fatal(err)
	}
	nb := newNATBox(t, cliUDP.LocalAddr(), srvUDP.LocalAddr())
	udpPath, wsPath := nb.frontAddr(), TagAddr(cliWS.Peer(), "ws")
	cli, srv, cs, ss := startPairConfig(t, cfg, cliMux, srvMux, udpPath, nb.backAddr())
	cs.SetPaths(udpPath, wsPath)
	cliEvs, srvEvs := watchEvents(t, cli), watchEvents(t, srv)

	data := randomBytes(size, 17)
	p := transferWatched(ctx, cs, ss, data)
	if dialerReceives {
		p = transferWatched(ctx, ss, cs, data)
	}
	p.waitBytes(ctx, t, size/3)
	rttUDP := time.Duration(cs.Stats().SmoothedRTT)
	cs.mu.Lock()
	ptoAtCut := cs.sender.PTO()
	cs.mu.Unlock()
	onWS := func() bool { return cs.ActivePath() == wsPath && ss.Reliable() && cs.Reliable() }
	onUDP := func() bool { return cs.ActivePath() == udpPath && !ss.Reliable() && !cs.Reliable() }
	cut := time.Now()
	nb.blackhole(true)
	waitFor(ctx, t, "the move to WebSocket", onWS)
	atCut := p.got.Load()
	p.waitBytes(ctx, t, min(int(atCut)+size/6, size))
	rttWS := time.Duration(cs.Stats().SmoothedRTT)
	restored := time.Now()
	nb.blackhole(false)
	waitFor(ctx, t, "the move back to UDP", onUDP)
	p.wait(ctx, t)
	// A loaded host can make a working path look silent for a moment too (then the session
	// fails over early and comes back): whatever happened, it ends on UDP.
	waitFor(ctx, t, "the session to settle on UDP", onUDP)

	over, back := firstMove(cliEvs.moves(), cut, moveFailover), firstMove(cliEvs.moves(), restored, moveReturn)
	for _, ev := range cliEvs.moves() {
		if r := moveReason(ev.Code); r != moveFailover && r != moveReturn {
			t.Fatalf("dialer moved for another reason: %s", ev.Reason)
		}
	}
	for _, ev := range srvEvs.moves() {
		if moveReason(ev.Code) != movePeer {
			t.Fatalf("server moved on its own: %s", ev.Reason)
		}
	}
	if back == nil {
		t.Fatal("no return to UDP after it came back")
	}
	if over != nil {
		t.Logf("UDP dropped after %d MiB: dialer on WebSocket %v later (%s), UDP RTT %v, PTO %v, failover floor %v", atCut>>20, over.Time.Sub(cut).Round(time.Microsecond), over.Reason, rttUDP.Round(time.Microsecond), ptoAtCut.Round(time.Microsecond), cli.cfg.FailoverFloor)
	} else {
		t.Logf("UDP dropped after %d MiB: the dialer was on WebSocket already (an earlier silence)", atCut>>20)
	}
	t.Logf("UDP back: dialer on UDP %v later (%s), WebSocket RTT %v", back.Time.Sub(restored).Round(time.Microsecond), back.Reason, rttWS.Round(time.Microsecond))
	t.Logf("moves: dialer %d, server %d; pause in delivery at the cut %v, at the return %v",
		len(cliEvs.moves()), len(srvEvs.moves()), p.pauseAround(cut, time.Second).Round(time.Microsecond), p.pauseAround(restored, time.Second).Round(time.Microsecond))
}

// firstMove is the first move for why at or after since, or nil.
func firstMove(evs []Event, since time.Time, why moveReason) *Event {
	for i := range evs {
		if !evs[i].Time.Before(since) && moveReason(evs[i].Code) == why {
			return &evs[i]
		}
	}
	return nil
}

// waitFor polls cond until it holds; ctx guards against a hang.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(200 * time.Microsecond):
		}
	}
}
