package ctrl

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// The data plane's types are the control API's: a Session and a Stream are used directly, with
// no wrapper in between.
type (
	// Session is an encrypted association with one peer, from Node.Dial or Node.Accept. Its
	// methods (documented on dataplane.Session, the same type):
	//
	//	OpenStream(ctx) / AcceptStream(ctx)  a new stream, ours or the peer's
	//	SendFrame(t, data)                   an application frame, 0x80-0xFF (Node.HandleFrame)
	//	Close(ctx)                           graceful: waits until everything written is acknowledged
	//	CloseWithError(code, reason)         at once, with a code the peer reads from Err
	//	Done() / Err()                       when and why it ended (a *dataplane.CloseError)
	//	Stats()                              counters: bytes, losses, RTT, window, controller
	//	ID() / Peer() / PeerNodeID()         who it is with; Peer is a netip.AddrPort
	//	Paths() / ActivePath() / Migrate()   the peer's addresses, the one in use, a move by hand
	//	Reliable()                           whether the path in use is a WebSocket (TCP) one
	//	Established() / EstablishedC()       the handshake's outcome
	//	MaxFrameSize()                       the largest SendFrame payload on the current path
	Session = dataplane.Session
	// Stream is an ordered, reliable, message-preserving flow in a session: an io.ReadWriteCloser
	// where each Write is one message. Its methods (documented on dataplane.Stream):
	//
	//	Write / Read / Close          io.ReadWriteCloser; Close ends our side after the data
	//	WriteMessage / ReadMessage    whole messages; ReadMessage(buf[:0]) reuses buf
	//	TryWriteMessage               never blocks: false when the buffer or budget is full
	//	CloseWrite / CloseWithError   half-close, or abort with a code
	//	Set(Read|Write)Deadline       as net.Conn
	//	Flush                         send coalesced small messages now
	Stream = dataplane.Stream
	// OpenStreamOptions chooses the kind of stream Session.OpenStreamWith opens: a
	// probabilistic one delivers each message with a target taken from its entropy and may
	// abandon it (dataplane.OpenStreamOptions).
	OpenStreamOptions = dataplane.OpenStreamOptions
	// MessageRange names a stream's messages by number, as Stream.LastLost reports lost ones.
	MessageRange = dataplane.MessageRange
	// Event is a structured notification (see dataplane.Event).
	Event = dataplane.Event
	// EventKind names an Event.
	EventKind = dataplane.EventKind
	// FrameHandler receives application frames 0x80-0xFF.
	FrameHandler = dataplane.FrameHandler
)

// Event kinds, re-exported.
const (
	EventSessionOpened = dataplane.EventSessionOpened
	EventSessionClosed = dataplane.EventSessionClosed
	EventStreamOpened  = dataplane.EventStreamOpened
	EventStreamClosed  = dataplane.EventStreamClosed
	EventKeyRotated    = dataplane.EventKeyRotated
	EventPathCandidate = dataplane.EventPathCandidate
	EventPathMigrated  = dataplane.EventPathMigrated
	// EventAuthFailed reports refused handshakes, at most one event a second per socket: a HELLO
	// with another seed's MAC, an AUTH_PROOF that does not answer our challenge, or a HELLO with
	// our seed but outside the clock window. Code is the HandshakeRefusal, Reason a sentence
	// naming the peer's address; NodeStats.Refused has the exact counts.
	EventAuthFailed = dataplane.EventAuthFailed
	EventPathMTU    = dataplane.EventPathMTU
)

// Node is an sttfast endpoint: it listens (server mode), dials peers by address, and holds any
// number of sessions, all authenticated by the same seed.
type Node struct {
	cfg       Config
	seed      *stc.Seed
	hsKey     stc.MACKey
	cookieKey stc.MACKey
	nodeID    [8]byte
	addr      netip.AddrPort // the first listening address's (Addr)

	table     *dataplane.Table
	listeners []*listener         // one per listening address, in Config order
	engines   []*dataplane.Engine // every listener's, in order
	conns     []*batchio.Conn

	nonces      *expiringSet[[32]byte]
	recent      *expiringSet[[8]byte]
	clockNonces *expiringSet[[32]byte] // HELLOs answered with a CLOCK
	clockLimit  rateLimiter
	resumeLimit rateLimiter // RESUME_REFUSED answers (resume.go)
	acceptMu    sync.Mutex
	accepts     map[[8]byte]acceptRecord // the last RESUME_ACCEPT of each session resumed lately

	dialMu sync.Mutex
	dials  map[[8]byte]*dialState
	// resumes maps the tag of each RESUME sent to its Node.Resume (under dialMu).
	resumes map[[8]byte]*resumeDial

	// The engines of dialed WebSocket connections (wsdial.go), and the frame handlers every
	// engine gets, which a new one is given when it starts.
	pathMu        sync.Mutex
	paths         map[*pathEngine]struct{}
	endedPaths    pathTotals // what the dialed connections that have ended carried
	frameHandlers [128]FrameHandler

	acceptq chan *Session

	bcastMu  sync.Mutex
	bcastBuf []*Session

	clockForTest     func() time.Time  // the dialer's clock when set (tests of a device's wrong clock)
	dialTraceForTest func(step string) // told each step of a DialAny (tests of its order)

	// The ephemeral X25519 keys of forward-secret handshakes (fs.go), as dialer and responder.
	dialEphemeral, respEphemeral ephemeralKeys

	keyLog      *stc.KeyLog // nil unless keys are logged (keylog.go)
	keyLogClose io.Closer   // the STTKEYLOGFILE file, closed with the node

	stats     nodeCounters
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Listen starts a node on cfg.Addr and every address of cfg.Addrs: it binds the sockets, starts
// the data plane and the handshake handlers, and returns once the node accepts and dials. All
// the addresses share one session table. Cancelling ctx closes the node.
func Listen(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Seed == nil {
		return nil, ErrNoSeed
	}
	cfg.setDefaults()
	keyLog, keyLogClose, err := openKeyLog(&cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		keyLog:      keyLog,
		keyLogClose: keyLogClose,
		cfg:         cfg,
		seed:        cfg.Seed,
		hsKey:       cfg.Seed.HandshakeKey(),
		nodeID:      cfg.NodeID,
		table:       dataplane.NewTable(),
		nonces:      newExpiringSet[[32]byte](cfg.NonceCache),
		recent:      newExpiringSet[[8]byte](1 << 20),
		clockNonces: newExpiringSet[[32]byte](4096),
		dials:       make(map[[8]byte]*dialState),
		resumes:     make(map[[8]byte]*resumeDial),
		accepts:     make(map[[8]byte]acceptRecord),
		acceptq:     make(chan *Session, cfg.AcceptQueue),
		closed:      make(chan struct{}),
	}
	if err := n.bind(); err != nil {
		n.hsKey.Erase()
		if keyLogClose != nil {
			keyLogClose.Close()
		}
		return nil, err
	}
	rand.Read(n.cookieKey[:])
	// A key is kept as long as a handshake that used it may take: the dial's timeout, and as
	// long as the responder honours a CHALLENGE; a second more for the clocks' rounding.
	n.dialEphemeral.keep = cfg.HandshakeTimeout + time.Second
	n.respEphemeral.keep = cfg.HandshakeTimeout + time.Second
	if n.nodeID == ([8]byte{}) {
		rand.Read(n.nodeID[:])
	}
	for _, e := range n.engines {
		e.Start()
		n.wg.Add(2)
		go n.handshakeLoop(e)
		go n.eventLoop(e)
	}
	if ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				n.Close()
			case <-n.closed:
			}
		}()
	}
	return n, nil
}

func (n *Node) closeConns() {
	for _, c := range n.conns {
		c.Close()
	}
	for _, l := range n.listeners {
		if l.ws != nil {
			l.ws.Close()
		}
	}
}

// Addr is the address the node listens on: Config.Addr's, as bound (Addrs lists them all).
func (n *Node) Addr() netip.AddrPort { return n.addr }

// NodeID is the id this node announces in handshakes.
func (n *Node) NodeID() [8]byte { return n.nodeID }

// Accept waits for the next session a peer dialed.
func (n *Node) Accept(ctx context.Context) (*Session, error) {
	select {
	case s := <-n.acceptq:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.closed:
		return nil, ErrNodeClosed
	}
}

// Session returns the live session with id, or nil.
func (n *Node) Session(id [8]byte) *Session { return n.table.Lookup(id) }

// Sessions returns every live session.
func (n *Node) Sessions() []*Session { return n.table.Snapshot(nil) }

// NumSessions is how many sessions are live.
func (n *Node) NumSessions() int { return n.table.Len() }

// HandleFrame registers h for application frame type t (0x80-0xFF) on every session of the
// node; nil unregisters. h runs on an RX loop and must not block.
func (n *Node) HandleFrame(t frame.Type, h FrameHandler) error {
	n.pathMu.Lock()
	defer n.pathMu.Unlock()
	for _, e := range n.engines {
		if err := e.HandleFrame(t, h); err != nil {
			return err
		}
	}
	for p := range n.paths {
		p.e.HandleFrame(t, h)
	}
	n.frameHandlers[t-frame.TypeAppMin] = h
	return nil
}

// SendToAll writes msg as one message to every live session (on each session's broadcast
// stream, opened on first use), waking each TX loop once so the packets leave in batches. It
// returns how many sessions took the message and the first error. Like Stream.Write it blocks
// while a session's send buffer is full, and also while the node's sessions together hold
// Transport.NodeSendBuffer bytes for sending (64 MiB by default), so that a broadcast to many
// sessions congestion-limited to one receiver queues what the path can carry, not every send buffer.
func (n *Node) SendToAll(msg []byte) (int, error) { return n.SendToAllExcept(nil, msg) }

// SendToAllExcept is SendToAll minus one session (a relay forwarding what that session sent).
func (n *Node) SendToAllExcept(except *Session, msg []byte) (int, error) {
	n.bcastMu.Lock()
	defer n.bcastMu.Unlock()
	sent, err := dataplane.Broadcast(n.others(except), msg)
	clear(n.bcastBuf)
	return sent, err
}

// TrySendToAllExcept is SendToAllExcept for live traffic: it never blocks, and skips (rather
// than waits for) every session whose send buffer has no room for the whole message, so one
// slow subscriber cannot stall a relay. It returns how many sessions took the message and how
// many were skipped.
func (n *Node) TrySendToAllExcept(except *Session, msg []byte) (sent, skipped int) {
	n.bcastMu.Lock()
	defer n.bcastMu.Unlock()
	sent, skipped = dataplane.TryBroadcast(n.others(except), msg)
	clear(n.bcastBuf)
	return sent, skipped
}

// others fills bcastBuf with every live session but except (nil: all of them). bcastMu held.
func (n *Node) others(except *Session) []*Session {
	n.bcastBuf = n.table.Snapshot(n.bcastBuf[:0])
	if i := slices.Index(n.bcastBuf, except); i >= 0 {
		last := len(n.bcastBuf) - 1
		n.bcastBuf[i] = n.bcastBuf[last]
		n.bcastBuf = n.bcastBuf[:last]
	}
	return n.bcastBuf
}

// SendToSessions writes msg to the sessions with the given ids (unknown ids are skipped) and
// returns how many took it.
func (n *Node) SendToSessions(ids [][8]byte, msg []byte) (int, error) {
	n.bcastMu.Lock()
	defer n.bcastMu.Unlock()
	n.bcastBuf = n.bcastBuf[:0]
	for _, id := range ids {
		if s := n.table.Lookup(id); s != nil {
			n.bcastBuf = append(n.bcastBuf, s)
		}
	}
	sent, err := dataplane.Broadcast(n.bcastBuf, msg)
	clear(n.bcastBuf)
	return sent, err
}

// Close closes every session (SESSION_CLOSE, code 8), stops the loops and releases the sockets.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.closed)
		n.closePaths()
		for _, e := range n.engines {
			if e2 := e.Close(); e2 != nil && err == nil {
				err = e2
			}
		}
		n.wg.Wait()
		n.seed = nil
		n.hsKey.Erase()
		n.cookieKey.Erase()
		n.dialEphemeral.eraseAll()
		n.respEphemeral.eraseAll()
		if n.keyLogClose != nil {
			n.keyLogClose.Close()
		}
	})
	return err
}

// Shutdown closes every session with SESSION_CLOSE (code 8) and waits, until ctx ends, for each
// to finish its drain period (during which a peer that missed the close is told again), then
// closes the node. Close alone sends SESSION_CLOSE once, best effort.
func (n *Node) Shutdown(ctx context.Context) error {
	sessions := n.Sessions()
	for _, s := range sessions {
		s.CloseWithError(dataplane.CodeShutdown, "node shutting down")
	}
wait:
	for _, s := range sessions {
		select {
		case <-s.Done():
		case <-ctx.Done():
			break wait
		case <-n.closed:
			break wait
		}
	}
	return n.Close()
}

// Done is closed when the node closes.
func (n *Node) Done() <-chan struct{} { return n.closed }

func (n *Node) eventLoop(e *dataplane.Engine) {
	defer n.wg.Done()
	for {
		ev, err := e.Events().PopWait(nil)
		if err != nil {
			return
		}
		n.dispatch(ev)
	}
}

func (n *Node) dispatch(ev Event) {
	log := n.cfg.Logger
	if log.Enabled(context.Background(), -4) {
		attrs := []any{"event", ev.Kind.String()}
		if ev.Session != nil {
			id := ev.Session.ID()
			attrs = append(attrs, "session", fmt.Sprintf("%x", id[:]))
		}
		if ev.Kind == EventStreamOpened || ev.Kind == EventStreamClosed {
			attrs = append(attrs, "stream", ev.StreamID)
		}
		if ev.Reason != "" {
			attrs = append(attrs, "reason", ev.Reason)
		}
		log.Debug("sttfast event", attrs...)
	}
	if f := n.cfg.OnEvent; f != nil {
		f(ev)
	}
}

// isClosed reports whether Close has been called.
func (n *Node) isClosed() bool {
	select {
	case <-n.closed:
		return true
	default:
		return false
	}
}
