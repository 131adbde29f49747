package ctrl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
)

// A dial to a ws:// or wss:// address opens a WebSocket connection of its own (one TCP
// connection per dialed session: a dialed wspath.Conn has exactly one peer) and starts an engine
// over it on the node's session table, with its own handshake and event goroutines, as a
// listening address's engine has. The handshake then runs through that engine, so the session
// it installs lives there. The engine and the connection live as long as the session: they are
// stopped when the session ends, when the connection ends under it (the session is then closed
// at once rather than after the idle timeout), when the dial fails, and when the node closes.

// pathEngine is the engine of one dialed WebSocket connection, or of a DialPaths session's paths.
type pathEngine struct {
	e    *dataplane.Engine
	conn *dialedWS     // the dialed WebSocket connection; nil for DialPaths (its paths come and go)
	sess chan *Session // the session the dial installed, once it is established (buffered)
}

// wsStats is the WebSocket counters of p's dialed connection (none for DialPaths, whose
// engine owns its paths' connections through a MultiConn).
func (p *pathEngine) wsStats() wspath.Stats {
	if p.conn == nil {
		return wspath.Stats{}
	}
	return p.conn.Stats()
}

// dialWS dials the WebSocket address a and runs the handshake through an engine over the new
// connection, all within Config.HandshakeTimeout.
func (n *Node) dialWS(ctx context.Context, a Address) (*Session, *dialState, error) {
	start := time.Now()
	wc := n.cfg.WebSocket
	if wc.UpgradeTimeout == 0 {
		wc.UpgradeTimeout = n.cfg.HandshakeTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, n.cfg.HandshakeTimeout)
	wsc, err := wspath.Dial(dctx, a.String(), wc)
	cancel()
	if err != nil {
		return nil, nil, wsDialError(ctx, err)
	}
	p, err := n.startPathEngine(wsc)
	if err != nil {
		return nil, nil, err
	}
	d := n.newDial(p.e, wsc.LocalAddr(), wsc.Peer(), n.cfg.HandshakeTimeout-time.Since(start))
	s, err := d.handshake(ctx)
	if err != nil {
		n.stopPathEngine(p)
		return nil, d, err
	}
	p.sess <- s
	return s, d, nil
}

// wsDialError says why a WebSocket connection could not be opened, in the words of a UDP dial
// where they apply (errors.Is holds for the same sentinels): nothing listens (the TCP connection
// was refused), no answer (it timed out), a bad address (the name does not resolve).
func wsDialError(ctx context.Context, err error) error {
	var dns *net.DNSError
	var ne net.Error
	var status ws.StatusError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, syscall.ECONNREFUSED):
		return &wsDialErr{kind: ErrNothingListening, text: "nothing listens there (its host refused the TCP connection)", err: err}
	case errors.As(err, &status):
		hint := ""
		switch int(status) {
		case 404:
			hint = " (not found: is the path right?)"
		case 403:
			hint = " (forbidden: an Origin the server does not allow?)"
		}
		return &wsDialErr{text: fmt.Sprintf("the server refused the WebSocket upgrade with HTTP %d%s", int(status), hint), err: err}
	case errors.As(err, &dns):
		return fmt.Errorf("%w: cannot resolve %q: %v", ErrBadAddress, dns.Name, dns.Err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &ne) && ne.Timeout():
		return &wsDialErr{kind: ErrNoAnswer, text: "no answer (the TCP connection or the WebSocket upgrade timed out)", err: err}
	}
	return err
}

// wsDialErr is a WebSocket dial that failed before the handshake, for which a sentinel of a UDP
// dial holds (errors.Is) but whose words are TCP's.
type wsDialErr struct {
	kind error // ErrNothingListening, ErrNoAnswer; nil for none
	text string
	err  error // wspath's
}

// Error is the sentence, without wspath's details (Unwrap has them).
func (e *wsDialErr) Error() string { return e.text }

// Is makes errors.Is(err, kind) hold.
func (e *wsDialErr) Is(target error) bool { return e.kind != nil && target == e.kind }

// Unwrap returns wspath's error (errors.Is sees syscall.ECONNREFUSED through it).
func (e *wsDialErr) Unwrap() error { return e.err }

// startPathEngine starts an engine over the dialed connection c on the node's table, with the
// node's frame handlers, and the goroutines that serve it; on a closed node it closes c.
func (n *Node) startPathEngine(c *wspath.Conn) (*pathEngine, error) {
	p := &pathEngine{conn: &dialedWS{Conn: c, ended: make(chan struct{})}, sess: make(chan *Session, 1)}
	p.e = dataplane.NewEngine(p.conn, n.cfg.Transport, n.table)
	if err := n.runPathEngine(p, func() { c.Close() }); err != nil {
		return nil, err
	}
	return p, nil
}

// runPathEngine gives p's engine the node's frame handlers, registers it, and starts it and the
// goroutines that serve it; on a closed node it calls closeConn instead.
func (n *Node) runPathEngine(p *pathEngine, closeConn func()) error {
	n.pathMu.Lock()
	if n.isClosed() {
		n.pathMu.Unlock()
		closeConn()
		return ErrNodeClosed
	}
	for i, h := range n.frameHandlers {
		if h != nil {
			p.e.HandleFrame(frame.TypeAppMin+frame.Type(i), h)
		}
	}
	if n.paths == nil {
		n.paths = make(map[*pathEngine]struct{})
	}
	n.paths[p] = struct{}{}
	// Under pathMu, so that Node.Close either sees this engine or refused it above: its Wait
	// never races these Adds.
	n.wg.Add(3)
	n.pathMu.Unlock()
	p.e.Start()
	go n.handshakeLoop(p.e)
	go n.eventLoop(p.e)
	go n.watchPath(p)
	return nil
}

// watchPath stops p's engine once its session is over, or its connection is.
func (n *Node) watchPath(p *pathEngine) {
	defer n.wg.Done()
	var s *Session
	select {
	case s = <-p.sess:
	case <-p.e.Done(): // the dial failed, or the node closed
	}
	var ended chan struct{} // nil, never ready, for DialPaths: a path's end is not the session's
	if p.conn != nil {
		ended = p.conn.ended
	}
	if s != nil {
		select {
		case <-s.Done():
		case <-p.e.Done():
		case <-ended:
			// Nothing more can come or go: the session ends at once, saying why.
			p.e.PeerGone(p.conn.Peer(), "the WebSocket connection ended: "+p.conn.why())
			select {
			case <-s.Done():
			case <-p.e.Done():
			}
		}
	}
	n.stopPathEngine(p)
}

// stopPathEngine closes p's engine, and with it its connection; the engine's goroutines end.
// What they carried stays in the node's counters (Stats), which never go down.
func (n *Node) stopPathEngine(p *pathEngine) {
	p.e.Close()
	es, ws := p.e.Stats(), p.wsStats()
	es.Sessions = 0
	n.pathMu.Lock()
	if _, ok := n.paths[p]; ok {
		delete(n.paths, p)
		n.endedPaths.engine.Add(&es)
		n.endedPaths.ws.Add(&ws)
	}
	n.pathMu.Unlock()
}

// closePaths stops every dialed WebSocket engine (Node.Close, after n.closed).
func (n *Node) closePaths() {
	n.pathMu.Lock()
	ps := make([]*pathEngine, 0, len(n.paths))
	for p := range n.paths {
		ps = append(ps, p)
	}
	n.pathMu.Unlock()
	for _, p := range ps {
		p.e.Close()
	}
}

// dialedWS is a dialed WebSocket connection as its engine reads it. Once the connection has
// ended and every packet it delivered has been read, wspath returns why; here that becomes
// net.ErrClosed, which ends the engine's RX loop (rather than have it retry a dead connection),
// and ended is closed for watchPath. The rest of wspath.Conn (WriteBatch, and Reliable, MaxPacket
// and Writable, which make it a dataplane.ReliableConn) is used as is.
type dialedWS struct {
	*wspath.Conn
	ended chan struct{}
	once  sync.Once
	mu    sync.Mutex
	err   error
}

// ReadBatch is wspath.Conn's, with the connection's end turned into net.ErrClosed.
func (c *dialedWS) ReadBatch(msgs []batchio.Message) (int, error) {
	n, err := c.Conn.ReadBatch(msgs)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.once.Do(func() {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			close(c.ended)
		})
		return n, net.ErrClosed
	}
	return n, err
}

// why is the reason the connection ended.
func (c *dialedWS) why() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return "closed"
	}
	return c.err.Error()
}
