package dataplane

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/ring"
)

// ReasonEngineClosed is the SESSION_CLOSE reason of sessions ended because their engine closed
// (Node.Close), so that callers can recognise it without matching text.
const ReasonEngineClosed = "engine closed"

// Engine runs the data plane of one socket: an RX loop that reads, opens and processes packets,
// and a TX loop that packs, seals and sends them, sharing a table of sessions. A node runs one
// engine per socket (several with SO_REUSEPORT).
type Engine struct {
	cfg  Config
	conn PacketConn
	gso  int // datagrams per send call when packing GSO super-packets (1: no GSO)
	// rel is conn when it is a reliable, ordered path (reliable.go), else nil; relSize is then
	// the size of its sessions' packets.
	rel     ReliableConn
	relSize int
	// multi is conn when it carries paths of several kinds (MultiConn): whether a session's path
	// is reliable is then asked per address, and budget is the conn's Writable for those that
	// are. For a single-kind conn budget is rel.
	multi multiPath
	// unfrag sends path MTU probes with fragmentation forbidden; nil: the conn cannot, and
	// sessions do not probe (pmtud_session.go).
	unfrag batchio.UnfragmentedWriter
	budget ReliableConn

	table *Table
	ctr   engineCounters

	active *ring.MPSC[*Session] // sessions that gained TX work, drained by the TX loop
	wake   *ring.Waker          // wakes a parked TX loop
	raw    *ring.MPSC[*Datagram]
	hs     *ring.Blocking[*Datagram]
	events *ring.Blocking[Event]

	handlers [128]atomic.Pointer[FrameHandler] // application frame types 0x80-0xFF

	activeOverflow atomic.Bool  // the active ring overflowed: the TX loop rescans the table
	txMu           sync.Mutex   // the TX baton: held by whoever runs the TX loop's work
	lastInline     atomic.Int64 // when the last inline send finished (recovery.Time)
	// The read-wake lease (rxpoll.go): the hold of a poll that got its answer, kept for the
	// exchange's next poll. leaseEnd is when it lapses (recovery.Time; 0: none out), changed
	// under leaseMu; parked counts goroutines parked on a stream of the engine, which need the
	// RX loop and so end the lease.
	leaseMu   sync.Mutex
	leaseEnd  atomic.Int64
	parked    atomic.Int32
	inlineOff atomic.Bool // tests of hand-driven pairs: writers never send inline
	tx        *txLoop
	started   atomic.Bool

	// groupMu guards the registry of sessions by peer address (peers: the lone ones; groups:
	// addresses with several) and each group's members (peergroup.go). peerSeed keys them.
	groupMu  sync.Mutex
	peers    map[uint64]*Session
	groups   map[uint64]*peerGroup
	peerSeed maphash.Seed

	// The RX baton: held by whoever runs the RX loop's packet work (the loop, or a reader polling
	// the socket itself, rxpoll.go). rx, poller and pollMsgs are set by Start when the conn can be
	// polled; pollMsgs belong to the baton's holder.
	rxMu     sync.Mutex
	rx       *rxLoop
	poller   batchPoller
	pollMsgs []batchio.Message

	// gone holds the peers the path reported gone during a ReadBatch (pathgone.go); RX loop only.
	gone []batchio.PeerGone

	closing   chan struct{} // closed by Close: the TX loop flushes and exits
	txDone    chan struct{}
	rxDone    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// FrameHandler receives an application frame (type 0x80-0xFF). It runs on the engine's RX loop:
// data is only valid during the call, and the handler must not block.
type FrameHandler func(s *Session, t frame.Type, data []byte)

// NewEngine prepares an engine over conn; Start runs it. Engines of one node pass the same
// table; nil gives the engine a table of its own.
func NewEngine(conn PacketConn, cfg Config, t *Table) *Engine {
	cfg.setDefaults()
	if t == nil {
		t = NewTable()
	}
	e := &Engine{
		cfg:     cfg,
		conn:    conn,
		gso:     1,
		table:   t,
		active:  ring.NewMPSC[*Session](4096),
		wake:    ring.NewWaker(),
		raw:     ring.NewMPSC[*Datagram](1024),
		hs:      ring.NewBlocking[*Datagram](ring.NewMPSC[*Datagram](cfg.HandshakeQueue)),
		events:  ring.NewBlocking[Event](ring.NewMPSC[Event](4096)),
		closing: make(chan struct{}),
		txDone:  make(chan struct{}),
		rxDone:  make(chan struct{}),
	}
	e.peerSeed = maphash.MakeSeed()
	e.unfrag = pmtuWriter(conn)
	if g, ok := conn.(gsoConn); ok && g.GSO() {
		e.gso = g.MaxGSOSegments()
	}
	if mp, ok := conn.(multiPath); ok {
		// Several paths, some reliable: GSO stays (the UDP path's), and the reliable ones get
		// their packet size and byte budget from the conn, which routes by address.
		e.multi = mp
		if r, ok := conn.(ReliableConn); ok {
			e.budget = r
			e.relSize = reliablePacketSize(&e.cfg, r)
		}
	} else if e.rel = reliablePath(conn); e.rel != nil {
		e.gso = 1
		e.budget = e.rel
		e.relSize = reliablePacketSize(&e.cfg, e.rel)
	}
	e.watchPeerGone()
	return e
}

// Start launches the RX and TX loops.
func (e *Engine) Start() {
	tx := newTxLoop(e)
	rx := newRxLoop(e)
	e.initPoll(rx)
	e.started.Store(true)
	go func() { defer close(e.rxDone); rx.run() }()
	go func() { defer close(e.txDone); tx.run() }()
}

// Config returns the engine's configuration with defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// LocalAddr is the address of the engine's socket.
func (e *Engine) LocalAddr() netip.AddrPort { return e.conn.LocalAddr() }

// Handshakes is the queue of handshake datagrams for the control plane. The consumer owns each
// datagram and must Free it.
func (e *Engine) Handshakes() *ring.Blocking[*Datagram] { return e.hs }

// Events is the queue of data-plane events for the control plane.
func (e *Engine) Events() *ring.Blocking[Event] { return e.events }

// Done is closed when the engine shuts down.
func (e *Engine) Done() <-chan struct{} { return e.closing }

// SendDatagram queues a handshake datagram for the TX loop, which frees it after sending. It
// reports false (and frees d) when the queue is full or the engine is closed.
func (e *Engine) SendDatagram(d *Datagram) bool {
	select {
	case <-e.closing:
		d.Free()
		return false
	default:
	}
	if !e.raw.Push(d) {
		d.Free()
		return false
	}
	e.wake.Notify()
	return true
}

// HandleFrame registers h for application frame type t (0x80-0xFF); nil unregisters.
func (e *Engine) HandleFrame(t frame.Type, h FrameHandler) error {
	if !t.IsApplication() {
		return fmt.Errorf("dataplane: frame type %#x is not an application type (0x80-0xff)", uint8(t))
	}
	if h == nil {
		e.handlers[t-frame.TypeAppMin].Store(nil)
		return nil
	}
	e.handlers[t-frame.TypeAppMin].Store(&h)
	return nil
}

// Lookup returns the installed session with id, or nil.
func (e *Engine) Lookup(id [8]byte) *Session { return e.table.Lookup(id) }

// Table is the session table the engine uses (shared by the engines of a node).
func (e *Engine) Table() *Table { return e.table }

// Sessions appends every installed session to dst.
func (e *Engine) Sessions(dst []*Session) []*Session { return e.table.Snapshot(dst) }

// NumSessions is how many sessions are installed.
func (e *Engine) NumSessions() int { return e.table.Len() }

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() EngineStats {
	var s EngineStats
	s.RxDatagrams = e.ctr.rxDatagrams.Load()
	s.RxBytes = e.ctr.rxBytes.Load()
	s.RxBatches = e.ctr.rxBatches.Load()
	s.RxPolled = e.ctr.rxPolled.Load()
	s.TxDatagrams = e.ctr.txDatagrams.Load()
	s.TxBytes = e.ctr.txBytes.Load()
	s.TxBatches = e.ctr.txBatches.Load()
	for i := range s.Drops {
		s.Drops[i] = e.ctr.drops[i].Load()
	}
	s.EventsDropped = e.ctr.eventsDropped.Load()
	s.TxRefused = e.ctr.txRefused.Load()
	s.SessionsClosed = e.ctr.closedSessions.Load()
	s.RetransmittedBytes = e.ctr.closedRetx.Load()
	s.PacketsLost = e.ctr.closedLost.Load()
	for _, ss := range e.table.Snapshot(nil) {
		if ss.e != e {
			continue
		}
		ss.mu.Lock()
		if sessState(ss.state.Load()) != stateClosed {
			s.Sessions++
			if AddrTag(ss.peer) != "" {
				s.TaggedSessions++
			}
			s.PacketsLost += ss.sender.Stats().PacketsLost
			s.RetransmittedBytes += ss.ctr.retransmits.Load()
		}
		ss.mu.Unlock()
	}
	s.GSO = e.gso > 1
	s.Reliable = e.rel != nil
	s.PathHeld = e.ctr.pathHeld.Load()
	s.Migrations = e.ctr.migrations.Load()
	s.PathResponsesDropped = e.ctr.pathResponsesDropped.Load()
	s.CandidateAcks = e.ctr.candidateAcks.Load()
	s.AmplificationLimited = e.ctr.amplificationLimited.Load()
	s.PMTUProbesSent = e.ctr.pmtuProbesSent.Load()
	s.PMTUProbesAcked = e.ctr.pmtuProbesAcked.Load()
	s.PMTUProbesLost = e.ctr.pmtuProbesLost.Load()
	s.PMTUBlackHoles = e.ctr.pmtuBlackHoles.Load()
	s.DrainsCut = e.ctr.drainsCut.Load()
	s.ClosesAnswered = e.ctr.closesAnswered.Load()
	if g, ok := e.conn.(groConn); ok {
		s.GRO = g.GRO()
	}
	return s
}

// CountDrop counts a datagram dropped for reason r (the control plane counts handshake refusals
// here too, so that one place holds every drop).
func (e *Engine) CountDrop(r DropReason) { e.ctr.drops[r].Add(1) }

// Close shuts the engine down: every session is closed with code (SESSION_CLOSE is sent best
// effort), the loops stop and the socket is closed.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.endLease(0, true)
		// Queue SESSION_CLOSE everywhere, let the TX loop send it in one last pass, then stop
		// the socket (which ends the RX loop).
		for _, s := range e.table.Snapshot(nil) {
			if s.e == e {
				s.CloseWithError(CodeShutdown, ReasonEngineClosed)
			}
		}
		close(e.closing)
		e.wake.Notify()
		if e.started.Load() {
			<-e.txDone
		}
		e.hs.Close()
		err := e.conn.Close()
		if e.started.Load() {
			<-e.rxDone
		}
		// A reader polling the socket may still be at work on what it read before the close.
		e.rxMu.Lock()
		e.rxMu.Unlock()
		for _, s := range e.table.Snapshot(nil) {
			if s.e != e {
				continue // another engine of the node owns it
			}
			s.terminate(&CloseError{Code: CodeShutdown, Reason: ReasonEngineClosed})
		}
		e.events.Close()
		for {
			d, ok := e.raw.Pop()
			if !ok {
				break
			}
			d.Free()
		}
		if err != nil && !errors.Is(err, net.ErrClosed) {
			e.closeErr = err
		}
	})
	return e.closeErr
}

// notify queues s for the TX loop (once until the loop picks it up) and wakes the loop.
func (e *Engine) notify(s *Session) {
	e.enqueue(s)
	e.wake.Notify()
}

// send queues s and then runs the TX loop's work on the caller's goroutine if the loop is
// parked, waking the loop only when it is busy (it then sees the queued session itself). reply
// says the write answers data received since the stream's previous write (runInline).
func (e *Engine) send(s *Session, reply bool) {
	e.enqueue(s)
	if !e.runInline(reply) {
		e.wake.Notify()
	}
}

// enqueue puts s on the TX loop's ring once until the loop picks it up.
func (e *Engine) enqueue(s *Session) {
	if s.txQueued.CompareAndSwap(false, true) {
		if !e.active.Push(s) {
			// The ring only fills with more sessions than its capacity all waking at once; the
			// TX loop then rescans the table, so nothing is lost.
			s.txQueued.Store(false)
			e.activeOverflow.Store(true)
		}
	}
}

// pathToken returns fresh unpredictable PATH_CHALLENGE data.
func (e *Engine) pathToken() (t [8]byte) {
	rand.Read(t[:])
	return t
}
