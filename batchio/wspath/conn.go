package wspath

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"

	"github.com/sttfast/sttfast/batchio"
)

// Conn is the WebSocket path as a batchio.PacketConn: a Listener's connections or one dialed
// connection, read and written as datagrams addressed by the peer's TCP address. One goroutine
// may call ReadBatch while another calls WriteBatch, as with batchio.Conn.
type Conn struct {
	cfg   Config
	q     *readQueue
	local netip.AddrPort
	srv   *server // set on a Listener's Conn
	cli   *client // set on a dialed Conn

	closed    atomic.Bool
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error

	dropNoPeer   atomic.Uint64
	dropOversize atomic.Uint64
	dropBudget   atomic.Uint64 // outbound budget exceeded, summed over connections
	dropPong     atomic.Uint64 // the pongs among dropBudget
	// closes counts the close frames sent to refuse a peer's frames: 1002, 1003, 1009.
	closedProtocol, closedText, closedTooBig atomic.Uint64

	// Why connections ended (see Stats).
	connsClosed, peerCloses atomic.Uint64

	// onGone, when set, is told of every upgraded connection that ends (OnPeerGone); gone is
	// ReadBatch's reused list of the notices it hands over.
	onGone atomic.Pointer[func(batchio.PeerGone)]
	gone   []batchio.PeerGone
}

// countClose counts a close frame sent with code because of the peer's frames.
func (c *Conn) countClose(code ws.StatusCode) {
	switch code {
	case ws.StatusUnsupportedData:
		c.closedText.Add(1)
	case ws.StatusMessageTooBig:
		c.closedTooBig.Add(1)
	default: // 1002 and any other refusal of the peer's frames
		c.closedProtocol.Add(1)
	}
}

var (
	_ batchio.PacketConn       = (*Conn)(nil)
	_ batchio.PeerGoneNotifier = (*Conn)(nil)
	_ batchio.BatchLender      = (*Conn)(nil)
)

func newConn(cfg Config) *Conn {
	return &Conn{cfg: cfg, q: newReadQueue(cfg.ReadQueueBytes), done: make(chan struct{})}
}

// ReadBatch blocks until at least one packet has arrived, then fills N and Addr (the peer's TCP
// address, IPv4-mapped addresses unmapped; Seg is 0) of msgs[:n] and returns n. It copies each
// packet into its Buf (a longer packet is truncated, as a UDP read) and does not allocate. After
// Close it returns net.ErrClosed, like batchio.Conn. On a dialed Conn whose connection has ended
// (the server closed it, a protocol error), it returns the packets already received and then an
// error saying why, matching ErrPeerClosed, ErrProtocol or the network error.
func (c *Conn) ReadBatch(msgs []batchio.Message) (int, error) { return c.read(msgs, false) }

// LendBatch is ReadBatch without the copy (batchio.BatchLender): it sets each Message's Buf to
// the packet's bytes in the read queue, exactly N long and writable, the caller's until its next
// ReadBatch or LendBatch, which takes them back. A reader that is done with a batch before it
// reads the next (the engine's RX loop) saves a copy of every packet.
func (c *Conn) LendBatch(msgs []batchio.Message) (int, error) { return c.read(msgs, true) }

func (c *Conn) read(msgs []batchio.Message, lend bool) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	var ended chan struct{}
	if c.cli != nil {
		ended = c.cli.ended
	}
	for {
		if c.closed.Load() {
			return 0, net.ErrClosed
		}
		if n, ok := c.popReport(msgs, lend); ok {
			return n, nil
		}
		select {
		case <-c.q.ready:
		case <-c.done:
			return 0, net.ErrClosed
		case <-ended:
			if n, ok := c.popReport(msgs, lend); ok {
				return n, nil
			}
			return 0, c.cli.err()
		}
	}
}

// popReport takes what the read queue holds into msgs (copied, or lent) and tells the OnPeerGone
// function of the ended connections that came after those packets. ok reports that there was
// anything: a ReadBatch that only reported ends returns 0 packets.
func (c *Conn) popReport(msgs []batchio.Message, lend bool) (n int, ok bool) {
	n, c.gone = c.q.take(msgs, c.gone[:0], lend)
	if f := c.onGone.Load(); f != nil {
		for _, g := range c.gone {
			(*f)(g)
		}
	}
	clear(c.gone) // the texts
	return n, n > 0 || len(c.gone) > 0
}

// OnPeerGone registers f, to be told of every connection of a Listener that ends after it was
// upgraded (the client closed the TCP connection or sent a close frame, it broke the protocol,
// it was idle too long, the Listener is closing) so that what ran over the connection can end
// at once rather than wait for a timeout. f runs on the goroutine that calls ReadBatch, inside
// the ReadBatch call that returns the last packets received before the end (or, when there are
// none, in one that returns 0 packets and no error): a reader that acts on the notice after it
// has handled the packets of that call handles each connection's packets before its end. f must
// not call ReadBatch. Set it before the first ReadBatch; nil unregisters. A dialed Conn never
// calls it: its one connection's end is ReadBatch's error.
func (c *Conn) OnPeerGone(f func(batchio.PeerGone)) {
	if f == nil {
		c.onGone.Store(nil)
		return
	}
	c.onGone.Store(&f)
}

// peerGone queues the notice that the connection to peer ended, if anyone listens for it.
func (c *Conn) peerGone(peer netip.AddrPort, why string) {
	if c.onGone.Load() != nil {
		c.q.pushGone(peer, why)
	}
}

// WriteBatch sends each datagram of msgs (each GSO segment of a Message on its own) as one binary
// WebSocket message to the connection whose remote address is Message.Addr, and returns
// len(msgs). It never blocks on the network: a datagram to an address with no connection, larger
// than Config.MaxMessage, or beyond its connection's outbound budget is dropped and counted (see
// Stats), as the network would drop a UDP datagram. It does not allocate. It fails only on a
// closed Conn (net.ErrClosed) or an invalid Message (ErrBadMessage, before anything is sent).
func (c *Conn) WriteBatch(msgs []batchio.Message) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	for i := range msgs {
		m := &msgs[i]
		if m.N < 0 || m.N > len(m.Buf) || !m.Addr.IsValid() {
			return 0, ErrBadMessage
		}
	}
	for i := range msgs {
		m := &msgs[i]
		addr := netip.AddrPortFrom(m.Addr.Addr().Unmap(), m.Addr.Port())
		it := m.Datagrams()
		if c.srv != nil {
			c.srv.send(addr, &it)
		} else {
			c.cli.send(addr, &it)
		}
	}
	return len(msgs), nil
}

// Reliable reports true: a WebSocket runs on TCP, which delivers every message it accepts, in
// order, and controls its own congestion. The engine (dataplane.ReliableConn) then runs its
// sessions without loss timers or a congestion window, pacing by Writable instead.
func (c *Conn) Reliable() bool { return true }

// MaxPacket returns Config.MaxMessage, the largest datagram WriteBatch sends.
func (c *Conn) MaxPacket() int { return c.cfg.MaxMessage }

// Writable reports how many bytes WriteBatch would accept for addr right now without dropping:
// a datagram of n bytes takes n plus its frame header (at most 14 bytes) of it. It is 0 when addr
// has no open connection or the Conn is closed. A writer that sends only what Writable allows
// never has a datagram dropped for the outbound budget: it holds its data instead (the engine in
// its send buffers) and asks again. When less than one largest message fits, Writable also asks
// the connection to refresh what the socket layer still holds, which otherwise only a write
// does, so asking again later sees the room a draining socket made. It never blocks and does not
// allocate.
func (c *Conn) Writable(addr netip.AddrPort) int {
	if c.closed.Load() {
		return 0
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	largest := c.cfg.MaxMessage + maxFrameHeader
	if c.srv != nil {
		c.srv.peersMu.RLock()
		sc := c.srv.peers[addr]
		c.srv.peersMu.RUnlock()
		if sc == nil {
			return 0
		}
		r, kick := sc.out.room(largest)
		if kick {
			sc.kick()
		}
		return r
	}
	cl := c.cli
	if addr != cl.peer {
		return 0
	}
	select {
	case <-cl.ended:
		return 0
	default:
	}
	r, kick := cl.out.room(largest)
	if kick {
		cl.kick()
	}
	return r
}

// LocalAddr returns the address the Listener is bound to, or the local end of a dialed
// connection, with IPv4-mapped addresses unmapped.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Close stops the Conn: a Listener sends every connection a close frame (1001, going away),
// stops its gnet engine and closes them; a dialed Conn sends a close frame (1000) and closes its
// connection. Either waits at most about a second for peers that stopped reading. Blocked and later ReadBatch and
// WriteBatch calls return net.ErrClosed. Closing twice returns net.ErrClosed, as batchio.Conn.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	close(c.done)
	if c.srv != nil {
		return c.srv.stop()
	}
	return c.cli.stop()
}

// Refusal names why a Listener turned a connection away before its upgrade, as counted in
// Stats.RefusedBy.
type Refusal uint8

// The reasons a connection is refused before its upgrade.
const (
	// RefusedRequest: its request was answered with an HTTP error (not HTTP at all, another
	// method, malformed, too large, a wrong path or origin).
	RefusedRequest Refusal = iota
	// RefusedConnCap: MaxConns connections were open and all had upgraded.
	RefusedConnCap
	// RefusedEvicted: it was the oldest still waiting for its upgrade when a new connection
	// needed the room (MaxPendingUpgrades or MaxConns reached).
	RefusedEvicted
	// RefusedDeadline: it had not finished its upgrade request within UpgradeTimeout.
	RefusedDeadline
	numRefusals
)

var refusalNames = [numRefusals]string{"request", "conn_cap", "evicted", "deadline"}

// String is the refusal's metric label.
func (r Refusal) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

// Refusals lists every refusal reason, for exporters.
func Refusals() []Refusal {
	rs := make([]Refusal, numRefusals)
	for i := range rs {
		rs[i] = Refusal(i)
	}
	return rs
}

// Stats counts what a Conn did and dropped, for metrics and tests.
type Stats struct {
	// Conns is the number of open WebSocket connections (upgraded, not yet closed); Pending the
	// connections of a Listener still waiting for their upgrade request.
	Conns, Pending int
	// Upgrades counts upgrades completed; Refused counts connections turned away before one,
	// RefusedBy the same by reason.
	Upgrades, Refused uint64
	RefusedBy         [numRefusals]uint64
	// ClosedProtocol, ClosedText and ClosedTooBig count the connections closed for the peer's
	// frames, by the close code sent: 1002 (protocol error: unmasked, reserved bits...), 1003 (a
	// text message), 1009 (a message over MaxMessage). ClosedIdle counts a Listener's upgraded
	// connections closed for IdleTimeout.
	ClosedProtocol, ClosedText, ClosedTooBig, ClosedIdle uint64
	// DropNoPeer counts datagrams written to an address with no connection; DropOversize those
	// larger than MaxMessage; DropBudget those over their connection's outbound budget, and
	// DropPong the pongs among them (a ping flood from a peer that does not read).
	DropNoPeer, DropOversize, DropBudget, DropPong uint64
	// DropQueue counts received packets dropped because the read queue was full.
	DropQueue uint64
	// ConnsClosed counts upgraded connections that have ended, for any reason (Upgrades minus
	// ConnsClosed is Conns); PeerCloses the close frames received from peers.
	ConnsClosed, PeerCloses uint64
}

// Add adds o's counters and gauges to s (a node sums its listeners).
func (s *Stats) Add(o *Stats) {
	s.Conns += o.Conns
	s.Pending += o.Pending
	s.Upgrades += o.Upgrades
	s.Refused += o.Refused
	for i := range s.RefusedBy {
		s.RefusedBy[i] += o.RefusedBy[i]
	}
	s.ClosedProtocol += o.ClosedProtocol
	s.ClosedText += o.ClosedText
	s.ClosedTooBig += o.ClosedTooBig
	s.ClosedIdle += o.ClosedIdle
	s.DropNoPeer += o.DropNoPeer
	s.DropOversize += o.DropOversize
	s.DropBudget += o.DropBudget
	s.DropPong += o.DropPong
	s.DropQueue += o.DropQueue
	s.ConnsClosed += o.ConnsClosed
	s.PeerCloses += o.PeerCloses
}

// Stats returns the Conn's counters.
func (c *Conn) Stats() Stats {
	// DropPong before DropBudget: a dropped pong counts into dropBudget first (the outbox) and
	// dropPong second, so read in this order the snapshot keeps DropPong <= DropBudget while a
	// flood goes on (read the other way round it once showed 35 more pongs than budget drops).
	pongs := c.dropPong.Load()
	s := Stats{
		ClosedProtocol: c.closedProtocol.Load(),
		ClosedText:     c.closedText.Load(),
		ClosedTooBig:   c.closedTooBig.Load(),
		DropNoPeer:     c.dropNoPeer.Load(),
		DropOversize:   c.dropOversize.Load(),
		DropBudget:     c.dropBudget.Load(),
		DropPong:       pongs,
		DropQueue:      c.q.drops.Load(),
		PeerCloses:     c.peerCloses.Load(),
	}
	if c.srv != nil {
		c.srv.stats(&s)
		s.ConnsClosed = c.connsClosed.Load()
		return s
	}
	s.Upgrades, s.ConnsClosed = 1, 1
	select {
	case <-c.cli.ended:
	default:
		if !c.closed.Load() {
			s.Conns, s.ConnsClosed = 1, 0
		}
	}
	return s
}
