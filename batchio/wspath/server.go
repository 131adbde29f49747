package wspath

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/sttfast/sttfast/batchio"
)

// Connection states (serverConn.state).
const (
	stUpgrading int32 = iota // waiting for the HTTP upgrade request
	stOpen                   // upgraded: frames flow
	stWaker                  // one of the Listener's own loopWaker connections
	stClosed                 // gnet called OnClose
)

// Listen starts a WebSocket server on addr (host:port; port 0 picks a free one) and returns it as
// a Conn whose peers are its connections. It returns once the gnet engine is accepting and its
// event loops can be woken. Packets are accepted only on upgrades to cfg.Path.
func Listen(addr string, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := newConn(cfg)
	s := &server{
		conn:    c,
		cfg:     cfg,
		booted:  make(chan struct{}),
		runDone: make(chan error, 1),
		all:     make(map[*serverConn]struct{}),
		peers:   make(map[netip.AddrPort]*serverConn),
		byLoop:  make(map[gnet.EventLoop]*loopWaker),
		ready:   make(chan struct{}),
	}
	if _, err := crand.Read(s.token[:]); err != nil {
		return nil, fmt.Errorf("wspath: listen %s: waker token: %w", addr, err)
	}
	c.srv = s
	tick := min(cfg.UpgradeTimeout, max(cfg.IdleTimeout, 0)) / 4
	if cfg.IdleTimeout < 0 {
		tick = cfg.UpgradeTimeout / 4
	}
	s.tick = min(max(tick, 5*time.Millisecond), time.Second)
	go func() {
		s.runDone <- gnet.Run(s, "tcp://"+addr,
			gnet.WithNumEventLoop(cfg.EventLoops),
			gnet.WithTicker(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(quietLogger{}))
	}()
	select {
	case <-s.booted:
	case err := <-s.runDone:
		return nil, fmt.Errorf("wspath: listen %s: %w", addr, err)
	}
	if s.bootErr != nil {
		s.stopEngine()
		return nil, fmt.Errorf("wspath: listen %s: %w", addr, s.bootErr)
	}
	c.local = s.local
	if err := s.startWakers(); err != nil {
		_ = s.stop() // closes the wakers dialed so far too
		return nil, fmt.Errorf("wspath: listen %s: %w", addr, err)
	}
	return c, nil
}

// server is the gnet event handler behind a Listener's Conn.
type server struct {
	gnet.BuiltinEventEngine
	conn    *Conn
	cfg     Config
	eng     gnet.Engine
	local   netip.AddrPort
	bootErr error
	booted  chan struct{}
	runDone chan error
	tick    time.Duration
	token   [16]byte

	mu  sync.Mutex
	all map[*serverConn]struct{} // every connection but wakers, for the ticker
	// pending lists the connections waiting for their upgrade request, oldest first (the order
	// OnOpen admitted them in), for eviction and the upgrade deadline.
	pending pendingList
	byLoop  map[gnet.EventLoop]*loopWaker
	wakers  []*loopWaker
	ready   chan struct{} // closed when every waker has reached its loop
	nReady  int

	peersMu sync.RWMutex
	peers   map[netip.AddrPort]*serverConn // upgraded connections by remote address

	nconns   atomic.Int64 // connections counted against MaxConns
	upgrades atomic.Uint64
	refusals [numRefusals]atomic.Uint64
	idled    atomic.Uint64 // upgraded connections closed for IdleTimeout
	stopping atomic.Bool   // stop has begun: the connections end because the Listener does
}

// serverConn is one accepted TCP connection, the context of its gnet.Conn.
type serverConn struct {
	s        *server
	gc       gnet.Conn
	peer     netip.AddrPort
	state    atomic.Int32
	born     time.Time
	lastRead atomic.Int64 // unix nanoseconds of the last bytes received
	closing  atomic.Bool  // the ticker or an eviction asked gnet to close it
	counted  atomic.Bool  // counted in nconns (until closed, evicted or found to be a waker)
	// prev and next link the connection in server.pending while it waits for its upgrade
	// request; listed says it is there. All three are guarded by server.mu.
	prev, next *serverConn
	listed     bool
	parser     frameParser
	out        *outbox
	waker      *loopWaker // this connection's event loop's waker, or nil
	why        string     // why the event loop closed it, when it did (for OnPeerGone)
}

// OnBoot records the engine and reads the bound address from a duplicate of the listener.
func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
	defer close(s.booted)
	s.eng = eng
	fd, err := eng.Dup()
	if err != nil {
		s.bootErr = fmt.Errorf("listener address: %w", err)
		return gnet.None
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		s.bootErr = fmt.Errorf("listener address: %w", err)
		return gnet.None
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		s.local = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		s.local = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	default:
		s.bootErr = errors.New("listener is not TCP")
	}
	return gnet.None
}

// startWakers dials one waker per event loop and waits until each has said which it is.
func (s *server) startWakers() error {
	dst := s.local
	if dst.Addr().IsUnspecified() {
		lo := netip.IPv6Loopback()
		if dst.Addr().Is4() {
			lo = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		dst = netip.AddrPortFrom(lo, dst.Port())
	}
	for i := range s.cfg.EventLoops {
		nc, err := net.DialTimeout("tcp", dst.String(), s.cfg.UpgradeTimeout)
		if err != nil {
			return fmt.Errorf("waker %d: %w", i, err)
		}
		w := &loopWaker{idx: i, nc: nc}
		s.mu.Lock()
		s.wakers = append(s.wakers, w)
		s.mu.Unlock()
		var tok [wakerTokenLen]byte
		copy(tok[:], s.token[:])
		tok[16] = byte(i)
		if _, err := nc.Write(tok[:]); err != nil {
			return fmt.Errorf("waker %d: %w", i, err)
		}
	}
	select {
	case <-s.ready:
		return nil
	case <-time.After(s.cfg.UpgradeTimeout):
		return errors.New("event loop wakers did not connect")
	}
}

// OnOpen counts the connection against MaxConns and MaxPendingUpgrades and gives it its
// context. When either cap is reached and some connection is still waiting for its upgrade, the
// oldest such one is evicted to make room; only when every connection has upgraded is the new one
// refused.
func (s *server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	sc := &serverConn{s: s, gc: gc, peer: addrPortOf(gc.RemoteAddr())}
	sc.parser = frameParser{max: s.cfg.MaxMessage, fromClient: true}
	var victim *serverConn
	s.mu.Lock()
	full := s.nconns.Load() >= int64(s.cfg.MaxConns)
	if full || s.pending.n >= s.cfg.MaxPendingUpgrades && s.wakersReady() {
		// Until the wakers have said who they are, a pending connection may be one of them:
		// only MaxConns applies, and nothing is evicted.
		if s.wakersReady() {
			victim = s.pending.head
		}
		if victim == nil {
			s.mu.Unlock()
			s.refusals[RefusedConnCap].Add(1)
			gc.SetContext(nil)
			return nil, gnet.Close
		}
		s.pending.remove(victim)
		victim.closing.Store(true)
		victim.uncount()
	}
	sc.born = time.Now() // under mu: the pending list stays in order of birth
	sc.lastRead.Store(sc.born.UnixNano())
	sc.counted.Store(true)
	s.nconns.Add(1)
	s.pending.push(sc)
	sc.waker = s.byLoop[gc.EventLoop()]
	s.all[sc] = struct{}{}
	s.mu.Unlock()
	gc.SetContext(sc)
	if victim != nil {
		s.refusals[RefusedEvicted].Add(1)
		_ = victim.gc.Close() // asynchronous: gnet closes it on its own event loop
	}
	return nil, gnet.None
}

// wakersReady reports whether every event loop's waker has connected and said which it is.
func (s *server) wakersReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// uncount takes the connection out of nconns, once: when it closes, is evicted, or turns out to
// be a waker.
func (sc *serverConn) uncount() {
	if sc.counted.CompareAndSwap(true, false) {
		sc.s.nconns.Add(-1)
	}
}

// OnClose forgets the connection.
func (s *server) OnClose(gc gnet.Conn, err error) gnet.Action {
	sc, _ := gc.Context().(*serverConn)
	if sc == nil {
		return gnet.None
	}
	prev := sc.state.Swap(stClosed)
	if prev == stWaker {
		return gnet.None
	}
	sc.uncount()
	s.mu.Lock()
	delete(s.all, sc)
	s.pending.remove(sc)
	s.mu.Unlock()
	if prev == stOpen {
		s.peersMu.Lock()
		if s.peers[sc.peer] == sc {
			delete(s.peers, sc.peer)
		}
		s.peersMu.Unlock()
		sc.out.shut()
		s.conn.connsClosed.Add(1)
		s.conn.peerGone(sc.peer, sc.endReason(err))
	}
	return gnet.None
}

// endReason says why an upgraded connection ended, for OnPeerGone: what the event loop or the
// ticker decided, else what gnet reports.
func (sc *serverConn) endReason(err error) string {
	switch {
	case sc.s.stopping.Load():
		return "the WebSocket listener is closing"
	case sc.closing.Load():
		return "the WebSocket connection was idle for " + sc.s.cfg.IdleTimeout.String()
	case sc.why != "":
		return sc.why
	case err != nil && !errors.Is(err, io.EOF):
		return "the WebSocket's TCP connection ended: " + err.Error()
	}
	return "the peer closed the WebSocket's TCP connection"
}

// OnTraffic parses what the connection has received: the upgrade request, then frames. It also
// runs when the connection is woken to flush (its loop has no waker), and for waker connections.
func (s *server) OnTraffic(gc gnet.Conn) gnet.Action {
	sc, _ := gc.Context().(*serverConn)
	if sc == nil {
		return gnet.Close
	}
	switch sc.state.Load() {
	case stWaker:
		_, _ = gc.Discard(-1)
		sc.waker.drain()
		return gnet.None
	case stUpgrading:
		if act, done := sc.upgrade(); !done {
			return act
		}
	}
	if gc.InboundBuffered() > 0 { // a flush-only wake (no waker on this loop) is not traffic
		sc.lastRead.Store(time.Now().UnixNano())
	}
	err := parseHeld(gc, &sc.parser, sc)
	if err != nil {
		var ce *closeError
		if errors.As(err, &ce) {
			s.conn.countClose(ce.code)
			sc.sendClose(ce.code)
			sc.why = "the WebSocket was closed for a protocol violation: " + ce.Error()
		}
		sc.flush()
		return gnet.Close
	}
	sc.flush()
	return gnet.None
}

// heldBytes is the part of gnet.Conn that frames are parsed through: the bytes a connection has
// received and not consumed, in gnet's inbound ring and the loop's read buffer.
type heldBytes interface {
	InboundBuffered() int
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
}

// parseHeld parses every complete frame in, calling sink, and discards them.
//
// The first frame is peeked alone. It is usually the one that straddles two reads: its first
// bytes left in gnet's inbound ring by the last OnTraffic, the rest at the start of this read.
// gnet's Peek(-1) with anything in the ring joins the whole ring and the whole read into one
// pooled copy, which over a busy connection would copy every received byte once more; peeking the
// straddling frame alone copies just that frame, and once it is discarded the ring is empty and
// Peek(-1) is the read itself, parsed in place.
func parseHeld(in heldBytes, p *frameParser, sink frameSink) error {
	total := in.InboundBuffered()
	if total == 0 {
		return nil
	}
	if fl := firstFrameLen(in, total, p); fl > 0 {
		if n, err := parsePeeked(in, fl, p, sink); err != nil || n < fl {
			return err
		}
	}
	_, err := parsePeeked(in, -1, p, sink)
	return err
}

// parsePeeked parses the frames in in.Peek(n) (n -1: all held bytes), discards the bytes of
// those it consumed and returns how many that was.
func parsePeeked(in heldBytes, n int, p *frameParser, sink frameSink) (int, error) {
	b, _ := in.Peek(n)
	used, err := p.parse(b, sink)
	if used > 0 { // gnet's Discard(0) discards everything
		_, _ = in.Discard(used)
	}
	return used, err
}

// firstFrameLen returns the length of the first frame in (total bytes) when it is complete and
// its payload within p's limit, else 0: parse then sees everything and decides to wait or to
// refuse.
func firstFrameLen(in heldBytes, total int, p *frameParser) int {
	hb, _ := in.Peek(min(total, maxFrameHeader))
	h, hl, err := p.header(hb)
	if hl == 0 || err != nil || h.Length > int64(p.max) || hl+int(h.Length) > total {
		return 0
	}
	return hl + int(h.Length)
}

// fromHost reports whether peer is this host: a loopback address, or the listener's own when it
// is bound to a specific one (its wakers then connect to that address and come from it too). Only
// such a connection may present the waker token.
func (s *server) fromHost(peer netip.AddrPort) bool {
	return peer.Addr().IsLoopback() || peer.Addr() == s.local.Addr()
}

// upgrade handles the bytes of a connection that has not upgraded yet. done reports that it has
// now (the rest of the buffer is frames); otherwise act says what gnet is to do.
func (sc *serverConn) upgrade() (act gnet.Action, done bool) {
	s, gc := sc.s, sc.gc
	b, _ := gc.Peek(-1)
	if s.fromHost(sc.peer) && len(b) > 0 {
		tok := s.token[:]
		if len(b) < wakerTokenLen && bytes.HasPrefix(tok, b[:min(len(b), len(tok))]) {
			return gnet.None, false // perhaps a waker: wait for the whole token
		}
		if len(b) >= wakerTokenLen && bytes.Equal(b[:len(tok)], tok) && int(b[16]) < s.cfg.EventLoops {
			_, _ = gc.Discard(wakerTokenLen)
			sc.becomeWaker(int(b[16]))
			return gnet.None, false
		}
	}
	res := parseUpgrade(b, s.cfg.Path, s.cfg.AllowedOrigins, s.cfg.MaxRequestBytes)
	if res.status != 0 {
		s.refusals[RefusedRequest].Add(1)
		_, _ = gc.Write(refusalResponse(res.status))
		return gnet.Close, false
	}
	if res.n == 0 {
		return gnet.None, false
	}
	// The connection is counted and reachable before the 101 leaves: a client that has read it
	// may look at Stats or send at once, and must find the upgrade done.
	s.mu.Lock()
	if sc.closing.Load() { // evicted or past its deadline while its request came in: too late
		s.mu.Unlock()
		return gnet.Close, false
	}
	s.pending.remove(sc)
	s.mu.Unlock()
	sc.out = newOutbox(s.cfg.OutboundBudget, false, &s.conn.dropBudget)
	_ = setNotSentLowat(gc.Fd(), s.cfg.OutboundBudget) // best effort: the budget still holds
	sc.state.Store(stOpen)
	s.upgrades.Add(1)
	s.peersMu.Lock()
	s.peers[sc.peer] = sc
	s.peersMu.Unlock()
	_, _ = gc.Write(acceptResponse(res.key))
	_, _ = gc.Discard(res.n)
	return gnet.None, true
}

// becomeWaker turns the connection into waker idx's loop end.
func (sc *serverConn) becomeWaker(idx int) {
	s := sc.s
	sc.state.Store(stWaker)
	sc.uncount()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.all, sc)
	s.pending.remove(sc)
	w := s.wakers[idx]
	sc.waker = w
	loop := sc.gc.EventLoop()
	if s.byLoop[loop] == nil {
		s.byLoop[loop] = w
	}
	s.nReady++
	if s.nReady == s.cfg.EventLoops {
		close(s.ready)
	}
}

// message delivers one received packet to the read queue (frameSink).
func (sc *serverConn) message(p []byte) { sc.s.conn.q.push(sc.peer, p) }

// ping answers a ping with a pong carrying the same payload (frameSink). A pong is dropped
// when the connection already holds MaxPongBacklog bytes unsent: a ping flood from a peer that
// does not read pins that much, not its OutboundBudget.
func (sc *serverConn) ping(p []byte) {
	if queued, _ := sc.out.pong(p); !queued {
		sc.s.conn.dropPong.Add(1)
	}
}

// peerClose answers the peer's close frame with one carrying the same code (frameSink); the
// connection is then closed.
func (sc *serverConn) peerClose(body []byte) {
	code := closeCode(body)
	sc.sendClose(code)
	sc.s.conn.peerCloses.Add(1)
	sc.why = fmt.Sprintf("the peer closed the WebSocket (close %d)", code)
}

// sendClose queues a close frame with code (none for 1005, no status).
func (sc *serverConn) sendClose(code ws.StatusCode) { sc.out.closeFrame(code) }

// flush hands the connection's pending frames to gnet; it runs on the connection's event loop.
func (sc *serverConn) flush() {
	if sc.state.Load() != stOpen {
		return
	}
	b := sc.out.take()
	if b != nil {
		_, _ = sc.gc.Write(b) // gnet writes what the socket takes and buffers the rest
	}
	sc.out.giveBack(b, sc.gc.OutboundBuffered())
}

// kick asks the connection's event loop to flush it.
func (sc *serverConn) kick() {
	if sc.waker != nil {
		sc.waker.schedule(sc)
		return
	}
	_ = sc.gc.Wake(nil) // allocates; only for a loop the wakers missed
}

// send frames each datagram of it to the connection at addr (Conn.WriteBatch).
func (s *server) send(addr netip.AddrPort, it *batchio.DatagramIter) {
	s.peersMu.RLock()
	sc := s.peers[addr]
	s.peersMu.RUnlock()
	for d, ok := it.Next(); ok; d, ok = it.Next() {
		switch {
		case len(d) > s.cfg.MaxMessage:
			s.conn.dropOversize.Add(1)
		case sc == nil:
			s.conn.dropNoPeer.Add(1)
		default:
			if _, kick := sc.out.frame(ws.OpBinary, d, false); kick {
				sc.kick()
			}
		}
	}
}

// OnTick closes connections past their upgrade deadline or idle timeout. It runs on gnet's ticker
// goroutine, so it only asks gnet to close them.
func (s *server) OnTick() (time.Duration, gnet.Action) {
	now := time.Now()
	s.mu.Lock()
	// The pending list is in order of birth: its expired connections are at its head.
	for sc := s.pending.head; sc != nil && now.Sub(sc.born) > s.cfg.UpgradeTimeout; sc = s.pending.head {
		s.pending.remove(sc)
		if sc.closing.CompareAndSwap(false, true) {
			s.refusals[RefusedDeadline].Add(1)
			_ = sc.gc.Close()
		}
	}
	if s.cfg.IdleTimeout > 0 {
		for sc := range s.all {
			if sc.state.Load() == stOpen && now.UnixNano()-sc.lastRead.Load() > int64(s.cfg.IdleTimeout) &&
				sc.closing.CompareAndSwap(false, true) {
				s.idled.Add(1)
				_ = sc.gc.Close()
			}
		}
	}
	s.mu.Unlock()
	return s.tick, gnet.None
}

// stop says goodbye to the peers, closes the wakers and stops the engine, waiting for gnet.Run
// to return.
func (s *server) stop() error {
	s.stopping.Store(true)
	s.goingAway()
	s.mu.Lock()
	for _, w := range s.wakers {
		_ = w.nc.Close()
	}
	s.mu.Unlock()
	return s.stopEngine()
}

// goingAway queues a close frame (1001, going away) for every open connection and waits, at
// most a second, until the event loops have handed them to gnet, which sends what it holds
// before it closes a connection on shutdown.
func (s *server) goingAway() {
	s.peersMu.RLock()
	for _, sc := range s.peers {
		var body [2]byte
		ws.PutCloseFrameBody(body[:], ws.StatusGoingAway, "")
		if _, kick := sc.out.frame(ws.OpClose, body[:], true); kick {
			sc.kick()
		}
	}
	s.peersMu.RUnlock()
	s.mu.Lock()
	wakers := s.wakers
	s.mu.Unlock()
	timeout := time.NewTimer(time.Second)
	defer timeout.Stop()
	for _, w := range wakers {
		select {
		case <-w.barrier():
		case <-timeout.C:
			return
		}
	}
}

func (s *server) stopEngine() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.eng.Stop(ctx) }() // polls every 500 ms; Run returning is what we wait for
	err := <-s.runDone
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("wspath: stop: %w", err)
	}
	return nil
}

// stats adds the server's counters to st.
func (s *server) stats(st *Stats) {
	s.peersMu.RLock()
	st.Conns = len(s.peers)
	s.peersMu.RUnlock()
	s.mu.Lock()
	st.Pending = s.pending.n
	s.mu.Unlock()
	st.Upgrades = s.upgrades.Load()
	for r := range s.refusals {
		st.RefusedBy[r] = s.refusals[r].Load()
		st.Refused += st.RefusedBy[r]
	}
	st.ClosedIdle = s.idled.Load()
}

// pendingList is an intrusive doubly linked list of the connections waiting for their upgrade
// request, in the order they were admitted: O(1) to add, remove and find the oldest, without a
// node allocation per connection. It is guarded by server.mu.
type pendingList struct {
	head, tail *serverConn
	n          int
}

// push appends sc (not listed) as the newest.
func (l *pendingList) push(sc *serverConn) {
	sc.prev, sc.next, sc.listed = l.tail, nil, true
	if l.tail != nil {
		l.tail.next = sc
	} else {
		l.head = sc
	}
	l.tail = sc
	l.n++
}

// remove unlinks sc if it is listed.
func (l *pendingList) remove(sc *serverConn) {
	if !sc.listed {
		return
	}
	if sc.prev != nil {
		sc.prev.next = sc.next
	} else {
		l.head = sc.next
	}
	if sc.next != nil {
		sc.next.prev = sc.prev
	} else {
		l.tail = sc.prev
	}
	sc.prev, sc.next, sc.listed = nil, nil, false
	l.n--
}

// addrPortOf converts a net.Addr from gnet or net to a netip.AddrPort, IPv4-mapped unmapped.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch t := a.(type) {
	case *net.TCPAddr:
		ap = t.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// quietLogger discards gnet's log lines: errors reach the caller through return values and Stats.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(string, ...any) {}
