package dataplane

import (
	"context"
	"errors"

	"github.com/sttfast/sttfast/ring"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
	"github.com/valyala/bytebufferpool"
)

type sessState uint8

const (
	stateHandshake sessState = iota // initiator: keys installed, FINAL not yet opened
	stateOpen
	stateClosing  // SESSION_CLOSE sent; answering stragglers until the drain deadline
	stateDraining // SESSION_CLOSE received; silent until the drain deadline
	stateClosed
)

// Protocol initial limits (docs/PROTOCOL.md §5): what a sender may assume before the peer's first
// MAX_* frames arrive. Receivers advertise their real windows in their first protected packet.
const (
	InitialMaxStreamData = 64 << 10
	InitialMaxData       = 256 << 10
	InitialMaxStreams    = 8
)

// Session is one encrypted association with a peer: its keys, packet-number spaces, recovery,
// flow control and streams. The engine's RX and TX loops drive it; applications use its streams.
type Session struct {
	id            [8]byte
	e             *Engine
	initiator     bool
	forwardSecret bool // keys from an ephemeral exchange (SessionParams.ForwardSecret)
	// flushNow, closeSent, established and the control flags are guarded by mu; they sit in
	// the padding before born, so that the struct stays within 1784 bytes (with the
	// allocator's 8-byte header, the 1792-byte size class), or an idle session costs 256 bytes
	// more. They moved here to make room for pmtu.
	flushNow       bool
	closeSent      bool
	established    bool
	needMaxData    bool
	needMaxStreams bool
	needPing       bool
	born           recovery.Time // when Install made the session, on the monotonic clock
	peerNode       [8]byte
	handshake      [32]byte // identifies the handshake that made the session (duplicate detection)

	txQueued atomic.Bool // queued on e.active, cleared by the TX loop
	state    atomic.Uint32
	payload  atomic.Int32 // largest UDP payload of a packet (see payloadSize); written under mu
	// rel: the session's current path is reliable and ordered (reliable.go); written under mu
	// when the session moves (migrate.go), read by the TX loop and admin views.
	rel atomic.Bool

	mu sync.Mutex
	// --- guarded by mu ---
	peer netip.AddrPort
	path *pathState  // path validation, allocated when the peer first shows a new address
	pmtu *pmtuSearch // path MTU discovery on the current path (pmtud.go); nil: none

	rxKeys       *stc.KeyChain
	rxPrevDrop   recovery.Time // when the previous receive key is erased
	rxStamp      uint64        // RX loop batch that last touched the session
	rxLaterStamp uint64        // RX loop batch that last queued it for a deadline
	rxLaterAt    recovery.Time
	sink         *[]*ring.Waker // while a loop holds mu: where wake-ups wait until it unlocks
	replay       stc.ReplayWindow
	sender       recovery.Sender
	receiver     recovery.Receiver
	lastRecv     recovery.Time
	lastSent     recovery.Time
	drainAt      recovery.Time
	res          *sessionResume // resumption state (resume.go); nil for a session without it

	streams        map[uint64]*Stream
	nextLocal      uint64 // next stream id this side opens
	peerMaxStreams uint64 // how many streams this side may open (peer's MAX_STREAMS)
	localOpened    uint64
	peerOpened     uint64 // peer stream ids below 2*peerOpened(+parity) have been opened
	ourMaxStreams  uint64 // cumulative limit advertised to the peer
	acceptq        []*Stream
	readyHead      *Stream // streams with something to send (circular order via readyNext)
	readyTail      *Stream
	creditq        []*Stream // streams owing a MAX_STREAM_DATA

	ctrlq  []ctrlFrame
	app    *appState // application frames, allocated on first use
	probes int       // ack-eliciting packets owed after a PTO

	peerMaxData uint64 // session send credit (peer's MAX_DATA)
	sentData    uint64 // new stream bytes sent on all streams
	ourMaxData  uint64 // session receive limit we advertised
	recvData    uint64 // sum over streams of the highest offset received
	flushAt     recovery.Time
	// (flushNow, closeSent, established and the control flags: at the top, in padding.)

	closeErr      *CloseError
	closeResendAt recovery.Time
	// (closeCopies: beside pathWait, in padding.)

	// --- owned by the engine's TX loop ---
	txKeys      *stc.KeyChain
	txGenStart  recovery.Time
	txPrevFlush uint64 // erase the previous send key after this flush
	heapIdx     int
	deadline    recovery.Time
	readyNextTx *Session
	inReadyTx   bool
	idleProbe   bool // mu: the KEEP_ALIVE in flight was sent because the session was idle
	// pathWait is the current wait for room on a reliable path in microseconds (reliable.go);
	// small, so that it fits the padding after inReadyTx and costs an idle session nothing.
	pathWait uint16
	// closeCopies (mu) counts the SESSION_CLOSE copies sent (at most maxCloseCopies); an int16
	// in the padding after pathWait, so that rxTune (autotune.go) fits in the 1784 bytes an idle
	// session may take, beside groupWait and groupTurn.
	closeCopies int16
	// groupWait and groupTurn (peergroup.go; under the group's mu, not the session's): the
	// session is queued for room in its peer group's window; it was woken from that queue and
	// may go ahead of the members still in it.
	groupWait, groupTurn bool
	pacedUntil           recovery.Time

	// --- application side ---
	consumed   atomic.Uint64 // stream bytes the application read (session flow control)
	advertised atomic.Uint64 // mirror of ourMaxData for the lock-free read path
	// rxTune is the session window's auto-tuning (autotune.go), made by the first MAX_DATA
	// after the opening one: a session that never received a window's worth costs 8 bytes.
	rxTune      atomic.Pointer[sessionTuner]
	waitCh      chan struct{} // closed and cleared by signal; made by the first waiter (mu)
	done        chan struct{}
	estab       chan struct{} // closed when the session is established; made on demand (mu)
	ctr         sessionCounters
	broadcastMu sync.Mutex                 // serializes opening the broadcast stream
	broadcast   atomic.Pointer[Stream]     // set once: a broadcast visit to 1000 sessions loads it, no lock
	budget      atomic.Pointer[sendBudget] // made by the first write (see sendBudget)
	// grp is the group of sessions to the same peer address whose congestion state this one
	// shares (peergroup.go); nil while it is the only one. Set under Engine.groupMu, by the
	// goroutine of whichever session made or left the group; the TX loop makes the sender
	// follow it (syncGroup). It takes the 8 bytes recovery's hystart gave back.
	grp atomic.Pointer[peerGroup]
}

// pathState is the path state of a session that has seen or been given another address of its
// peer (migrate.go): the validation under way, the known paths, the moves. Sessions that never
// move never allocate it.
type pathState struct {
	candidate netip.AddrPort // address being validated (not yet the session's path)
	chal      [8]byte        // PATH_CHALLENGE data outstanding for candidate
	chalN     bool
	chalWhy   moveReason
	chalAt    recovery.Time
	chalTries int
	resp      []pathResponse // PATH_RESPONSEs to send
	// candRecv and candSent are the bytes received from and sent to the candidate since its
	// validation began: ACK copies to it stay within amplificationFactor × candRecv.
	candRecv, candSent int

	known      []netip.AddrPort // the peer's addresses in order of preference (SetPaths)
	probedAt   recovery.Time    // last challenge to the preferred path while on another
	movedAt    recovery.Time    // last move: a new path is not silent before it had its chance
	pingedAt   recovery.Time    // last sign of life asked for with nothing in flight (pingAt)
	talkedAt   recovery.Time    // last packet from the peer with more than ACKs, keep-alives, probes
	altTries   int              // failover validations since the last move
	migrations uint64
	waiters    []chan error // Migrate callers waiting on the validation under way
}

func (s *Session) pathSt() *pathState {
	if s.path == nil {
		s.path = new(pathState)
	}
	return s.path
}

type pathResponse struct {
	data [8]byte
	to   netip.AddrPort
}

// ctrlFrame is a queued control frame; MAX_* values are read at pack time.
type ctrlFrame struct {
	typ frame.Type
	id  uint64
	val uint64
}

// appState holds a session's application frames: queued and unacknowledged ones on the send
// side, the de-duplication window on the receive side. Sessions that never use application
// frames never allocate it.
type appState struct {
	queue   []uint32 // slots waiting to be sent
	slots   []appSlot
	free    []uint32
	pending int               // slots in use
	seq     uint64            // sequence number of the next frame sent
	seen    *stc.ReplayWindow // sequence numbers delivered
}

type appSlot struct {
	typ frame.Type
	seq uint64
	buf *bytebufferpool.ByteBuffer
}

// holds reports whether slot holds the unacknowledged application frame with sequence number seq.
func (a *appState) holds(slot uint32, seq uint64) bool {
	return int(slot) < len(a.slots) && a.slots[slot].buf != nil && a.slots[slot].seq == seq
}

// SessionParams is what the control plane hands the data plane once a handshake has produced keys.
type SessionParams struct {
	ID         [8]byte
	Initiator  bool
	Peer       netip.AddrPort
	PeerNodeID [8]byte
	Handshake  [32]byte   // digest of the handshake nonces
	Send, Recv stc.Secret // traffic secrets for this side's send and receive directions
	Final      bool       // responder: queue FINAL(0) as the first frame
	// ForwardSecret records that the keys came from an ephemeral exchange (ctrl's
	// Config.ForwardSecrecy), not from the seed and the nonces alone.
	ForwardSecret bool
	// KeyLog, when set, is told both directions' traffic secrets now and each later
	// generation's when a key update installs it (docs/PROTOCOL.md §4, "Key log").
	KeyLog *stc.KeyLog
	// Resumption is the session's resumption secret, kept so that the session can be resumed
	// (exported by Snapshot, checked by the peer against a RESUME).
	Resumption stc.Secret
	// ResumeWindow keeps a silent session alive, and resumable, this long even when the idle
	// timeout or the dead-peer detector would end it sooner (0: no longer than they allow).
	ResumeWindow time.Duration
	// Resumed, when set, makes the session continue a snapshot taken on another device:
	// its streams, credits and epoch, packet numbers from FirstPN. It is open at once.
	Resumed *Snapshot
	FirstPN uint64
}

// Install creates a session from handshake results and puts it in the table. It fails with
// ErrDuplicateSession when the id is taken (the existing session is returned too, so the caller
// can tell a retransmitted AUTH_PROOF from a collision).
func (e *Engine) Install(p SessionParams) (*Session, error) {
	select {
	case <-e.closing:
		return nil, ErrEngineClosed
	default:
	}
	if old := e.table.Lookup(p.ID); old != nil {
		return old, ErrDuplicateSession
	}
	s, err := newSession(e, p)
	if err != nil {
		return nil, err
	}
	if !e.table.insert(s) {
		s.releaseKeys()
		return e.table.Lookup(p.ID), ErrDuplicateSession
	}
	s.mu.Lock()
	if sessState(s.state.Load()) != stateClosed { // terminate, which unregisters, has not run
		e.register(s, s.peer)
	}
	s.mu.Unlock()
	if !p.Initiator || p.Resumed != nil {
		s.mu.Lock()
		s.becomeOpen()
		s.mu.Unlock()
		e.emit(Event{Kind: EventSessionOpened, Session: s})
	}
	e.notify(s)
	return s, nil
}

func newSession(e *Engine, p SessionParams) (*Session, error) {
	tx, err := stc.NewKeyChain(p.Send)
	if err != nil {
		return nil, err
	}
	rx, err := stc.NewKeyChain(p.Recv)
	if err != nil {
		return nil, err
	}
	if p.KeyLog != nil {
		logKeys(&p, tx, rx)
	}
	now := recovery.Now()
	s := &Session{
		id:             p.ID,
		e:              e,
		initiator:      p.Initiator,
		born:           recovery.Now(),
		peerNode:       p.PeerNodeID,
		handshake:      p.Handshake,
		forwardSecret:  p.ForwardSecret,
		peer:           p.Peer,
		rxKeys:         rx,
		txKeys:         tx,
		txGenStart:     now,
		lastRecv:       now,
		lastSent:       now,
		heapIdx:        -1,
		peerMaxStreams: InitialMaxStreams,
		ourMaxStreams:  uint64(e.cfg.MaxStreams),
		peerMaxData:    InitialMaxData,
		ourMaxData:     uint64(e.cfg.SessionWindow),
		done:           make(chan struct{}),
	}
	s.advertised.Store(s.ourMaxData)
	if !p.Initiator {
		s.nextLocal = 1
	}
	// A reliable path (reliable.go): larger packets, fewer ACKs, no loss timers or window.
	rel := e.pathReliable(p.Peer)
	s.rel.Store(rel)
	payload, ackDelay, ackEvery := e.pathParams(rel)
	s.payload.Store(int32(payload))
	s.startPMTU()
	s.sender.Init(e.senderConfig(rel))
	s.receiver.Init(ackDelay, ackEvery)
	if p.Final {
		s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeFinal})
	}
	if p.Resumption != (stc.Secret{}) || p.Resumed != nil {
		s.res = &sessionResume{secret: p.Resumption, window: p.ResumeWindow}
	}
	if p.Resumed != nil {
		s.installResumed(p.Resumed, p.FirstPN)
	}
	s.state.Store(uint32(stateHandshake))
	return s, nil
}

// logKeys writes generation 0 of both directions to p.KeyLog and hooks both chains so that every
// later generation is written when it is installed: once per key update, never per packet. The
// hooks hold the session id and the log, not p, whose secrets must not outlive the handshake.
func logKeys(p *SessionParams, tx, rx *stc.KeyChain) {
	sendDir, recvDir := stc.ResponderToInitiator, stc.InitiatorToResponder
	if p.Initiator {
		sendDir, recvDir = recvDir, sendDir
	}
	id, log := p.ID, p.KeyLog
	hook := func(dir stc.Direction) func(uint64, *stc.Secret) {
		return func(gen uint64, s *stc.Secret) {
			e := stc.KeyLogEntry{SessionID: id, Dir: dir, Generation: gen, Secret: *s}
			log.Log(&e)
			e.Secret.Erase()
		}
	}
	hook(sendDir)(0, &p.Send)
	hook(recvDir)(0, &p.Recv)
	tx.OnAdvance(hook(sendDir))
	rx.OnAdvance(hook(recvDir))
}

// becomeOpen marks the session established and advertises this side's limits. mu held.
func (s *Session) becomeOpen() {
	if s.established {
		return
	}
	s.established = true
	if s.estab != nil {
		close(s.estab)
	}
	s.state.Store(uint32(stateOpen))
	s.needMaxData = true
	s.needMaxStreams = true
}

// ID is the session id both peers derived from the handshake.
func (s *Session) ID() [8]byte { return s.id }

// Initiator reports whether this side dialed.
func (s *Session) Initiator() bool { return s.initiator }

// PeerNodeID is the node id the peer announced in the handshake.
func (s *Session) PeerNodeID() [8]byte { return s.peerNode }

// ForwardSecret reports whether the session's keys came from an ephemeral X25519 exchange, so
// that the seed and a capture of the handshake do not recover them.
func (s *Session) ForwardSecret() bool { return s.forwardSecret }

// Handshake returns the digest of the handshake that made the session.
func (s *Session) Handshake() [32]byte { return s.handshake }

// Created is when the session was installed: now less its age on the monotonic clock, so that
// a step of the wall clock does not change how old a session is.
func (s *Session) Created() time.Time { return time.Now().Add(-s.age(recovery.Now())) }

// age is how long the session has existed at now (since Install), on the monotonic clock.
func (s *Session) age(now recovery.Time) time.Duration { return now.Sub(s.born) }

// Reliable reports whether the session runs over a reliable, ordered path (a WebSocket
// connection, see ReliableConn) rather than UDP: then it has no loss timers or congestion
// window of its own, and admin views name its path "ws". It changes when the session moves to
// a path of the other kind (migrate.go).
func (s *Session) Reliable() bool { return s.rel.Load() }

// Peer is the peer's current (validated) address.
func (s *Session) Peer() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer
}

// Established reports whether both sides have proven the keys (FINAL opened, or responder); a
// session that closed during the handshake never was.
func (s *Session) Established() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.established
}

// sendingClose reports whether this side closed the session and is sending its SESSION_CLOSE
// (rather than draining after the peer's).
func (s *Session) sendingClose() bool { return sessState(s.state.Load()) == stateClosing }

// wakeLater wakes w once the loop holding the session lock releases it: a reader or writer woken
// while the lock is held would run at once and block on the lock (Go hands the woken goroutine
// the rest of the waker's time slice). Outside a loop it wakes w at once. mu held.
func (s *Session) wakeLater(w *ring.Waker) {
	if s.sink != nil {
		*s.sink = append(*s.sink, w)
		return
	}
	w.Notify()
}

// flushWakes fires the wake-ups collected while a loop held a session lock.
func flushWakes(ws *[]*ring.Waker) {
	for i, w := range *ws {
		w.Notify()
		(*ws)[i] = nil
	}
	*ws = (*ws)[:0]
}

// EstablishedC returns a channel closed once the session is established.
func (s *Session) EstablishedC() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.estab == nil {
		s.estab = make(chan struct{})
		if s.established {
			close(s.estab)
		}
	}
	return s.estab
}

// waitChan returns a channel that signal will close: waiters for stream openings, stream limits
// and acknowledgements share it and re-check their condition when it fires. Idle sessions hold
// no channel. mu held.
func (s *Session) waitChan() <-chan struct{} {
	if s.waitCh == nil {
		s.waitCh = make(chan struct{})
	}
	return s.waitCh
}

// signal wakes every waiter. mu held.
func (s *Session) signal() {
	if s.waitCh != nil {
		close(s.waitCh)
		s.waitCh = nil
	}
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended or is ending (a *CloseError) once either side closed it, or
// nil while it is open.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeErr == nil {
		return nil // plain nil, not a nil *CloseError in an interface
	}
	return s.closeErr
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() SessionStats {
	st := SessionStats{
		PacketsRecv:        s.ctr.packetsRecv.Load(),
		BytesRecv:          s.ctr.bytesRecv.Load(),
		StreamBytesRecv:    s.ctr.streamBytesRecv.Load(),
		RetransmittedBytes: s.ctr.retransmits.Load(),
		KeyUpdates:         s.ctr.keyUpdates.Load(),
		DataFramesSent:     s.ctr.dataFramesSent.Load(),
		AckFramesSent:      s.ctr.acksSent.Load(),
		AppFramesSent:      s.ctr.appFramesSent.Load(),
		AppFramesRecv:      s.ctr.appFramesIn.Load(),
		SendBudget:         int64(s.e.cfg.SessionSendBuffer),
		RecvWindow:         s.recvWindow(),
	}
	if tu := s.rxTune.Load(); tu != nil {
		st.WindowGrowths = tu.growths.Load()
	}
	if b := s.budget.Load(); b != nil {
		st.SendBuffered, st.SendBufferedPeak, st.SendBudget = b.used.Load(), b.peak.Load(), b.limit.Load()
	}
	s.mu.Lock()
	rs := s.sender.Stats()
	st.PacketsSent, st.BytesSent, st.PacketsLost = rs.PacketsSent, rs.BytesSent, rs.PacketsLost
	st.StreamBytesSent = s.sentData
	st.SmoothedRTT = int64(rs.SRTT)
	st.MinRTT = int64(rs.MinRTT)
	st.Window = rs.Window
	st.BytesInFlight = rs.BytesInFlight
	st.Streams = len(s.streams)
	st.SpuriousLosses, st.UndoneEvents = rs.SpuriousLosses, rs.UndoneEvents
	st.PTOs = rs.PTOCount
	st.PacketThreshold, st.ReorderWindow = rs.PacketThreshold, int64(rs.ReorderWindow)
	st.CongestionEvents, st.BtlBw = rs.CongestionEvents, rs.BtlBw
	st.Congestion = s.e.cfg.Congestion.String()
	st.PathMTU = s.payloadSize()
	if p := s.pmtu; p != nil {
		st.PMTUProbes, st.PMTUProbesAcked, st.PMTUBlackHoles = uint64(p.sent), uint64(p.acked), uint64(p.blackHoles)
	}
	s.mu.Unlock()
	return st
}

// OpenStream opens a new stream, waiting while the peer's stream limit is reached.
func (s *Session) OpenStream(ctx context.Context) (*Stream, error) {
	return s.OpenStreamWith(ctx, OpenStreamOptions{})
}

// OpenStreamWith opens a new stream of the kind opts asks for (a probabilistic one, see
// OpenStreamOptions), waiting while the peer's stream limit is reached.
func (s *Session) OpenStreamWith(ctx context.Context, opts OpenStreamOptions) (*Stream, error) {
	for {
		s.mu.Lock()
		if s.closeErr != nil {
			err := s.closeErr
			s.mu.Unlock()
			return nil, err
		}
		if s.localOpened < s.peerMaxStreams {
			st := s.newStream(s.nextLocal)
			s.nextLocal += 2
			s.localOpened++
			s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeStreamOpen, id: st.id})
			if opts.Probabilistic {
				st.prob = newProbSender(opts.Deadline)
				s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeStreamKind, id: st.id, val: uint64(st.prob.deadline / time.Microsecond)})
			}
			s.mu.Unlock()
			s.e.notify(s)
			s.e.emit(Event{Kind: EventStreamOpened, Session: s, StreamID: st.id})
			return st, nil
		}
		ch := s.waitChan()
		s.mu.Unlock()
		s.e.endLease(0, true) // a new stream comes through the RX loop
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
		}
	}
}

// AcceptStream waits for the next stream the peer opened.
func (s *Session) AcceptStream(ctx context.Context) (*Stream, error) {
	for {
		s.mu.Lock()
		if len(s.acceptq) > 0 {
			st := s.acceptq[0]
			copy(s.acceptq, s.acceptq[1:])
			s.acceptq[len(s.acceptq)-1] = nil
			s.acceptq = s.acceptq[:len(s.acceptq)-1]
			s.mu.Unlock()
			return st, nil
		}
		if s.closeErr != nil {
			err := s.closeErr
			s.mu.Unlock()
			return nil, err
		}
		ch := s.waitChan()
		s.mu.Unlock()
		s.e.endLease(0, true) // a new stream comes through the RX loop
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
		}
	}
}

var (
	errNotAppType   = errors.New("sttfast: frame type is not an application type (0x80-0xff)")
	errAppQueueFull = errors.New("sttfast: too many application frames outstanding")
)

// MaxFrameSize is the largest application frame payload SendFrame accepts: what fits in one
// packet after the header, the tag and the frame's own type, sequence and length fields. It is
// smaller on a path found narrower than the configured payload size (see docs/PROTOCOL.md §1).
//
// Path MTU discovery does not raise it: frames stay within the path's base size, so that
// falling back from a black hole never strands one that no packet could carry.
func (s *Session) MaxFrameSize() int {
	base, _, _ := s.e.pathParams(s.rel.Load())
	return maxFrameSize(min(s.payloadSize(), base))
}

// maxFrameSize is MaxFrameSize for packets of payload bytes.
func maxFrameSize(payload int) int { return payload - maxOverhead - 1 - 8 - 4 }

// maxAppQueue bounds application frames queued or in flight per session. It must not exceed the
// receiver's de-duplication window (stc.ReplayWindowSize): then every retransmitted frame still
// falls inside that window and is recognised, so delivery is exactly once.
const maxAppQueue = stc.ReplayWindowSize

// SendFrame sends an application frame (type 0x80-0xFF) reliably, encrypted, unordered relative to
// streams. data is copied. It fails with ErrSessionClosed after close, and returns an error
// rather than queueing without bound when maxAppQueue frames are outstanding.
func (s *Session) SendFrame(t frame.Type, data []byte) error {
	if !t.IsApplication() {
		return errNotAppType
	}
	if len(data) > s.MaxFrameSize() {
		return ErrMessageTooLarge
	}
	buf := bytebufferpool.Get()
	buf.B = append(buf.B[:0], data...)
	s.mu.Lock()
	if s.closeErr != nil {
		err := s.closeErr
		s.mu.Unlock()
		bytebufferpool.Put(buf)
		return err
	}
	if s.app == nil {
		s.app = new(appState)
	}
	a := s.app
	if a.pending >= maxAppQueue {
		s.mu.Unlock()
		bytebufferpool.Put(buf)
		return errAppQueueFull
	}
	var slot uint32
	if n := len(a.free); n > 0 {
		slot = a.free[n-1]
		a.free = a.free[:n-1]
	} else {
		slot = uint32(len(a.slots))
		a.slots = append(a.slots, appSlot{})
	}
	a.slots[slot] = appSlot{typ: t, seq: a.seq, buf: buf}
	a.seq++
	a.pending++
	a.queue = append(a.queue, slot)
	s.mu.Unlock()
	s.ctr.appFramesSent.Add(1)
	s.e.notify(s)
	return nil
}

// freeAppSlot releases the acknowledged application frame with sequence number seq, if slot
// still holds it (a late ACK of an earlier copy may name a slot reused since). mu held.
func (s *Session) freeAppSlot(slot uint32, seq uint64) {
	a := s.app
	if a == nil || !a.holds(slot, seq) {
		return
	}
	bytebufferpool.Put(a.slots[slot].buf)
	a.slots[slot] = appSlot{}
	a.free = append(a.free, slot)
	a.pending--
}

// Close ends the session gracefully: it waits (up to the idle timeout, or ctx) until every stream's
// data has been acknowledged, then sends SESSION_CLOSE with code 0.
func (s *Session) Close(ctx context.Context) error {
	deadline := time.NewTimer(s.e.cfg.IdleTimeout)
	defer deadline.Stop()
	for {
		ch, ok := s.allAcked()
		if ok {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.CloseWithError(CodeNoError, "")
			return ctx.Err()
		case <-deadline.C:
			s.CloseWithError(CodeNoError, "")
			return nil
		case <-s.done:
			return nil
		}
	}
	s.CloseWithError(CodeNoError, "")
	return nil
}

// allAcked reports whether no stream holds unacknowledged data; if some does, it returns the
// channel to wait on.
func (s *Session) allAcked() (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeErr != nil {
		return nil, true
	}
	for _, st := range s.streams {
		if !st.sendSettled() {
			return s.waitChan(), false
		}
	}
	if s.app != nil && s.app.pending > 0 {
		return s.waitChan(), false
	}
	return nil, true
}

// CloseWithError ends the session at once with code and reason: queued data is discarded, the
// peer is told with SESSION_CLOSE, and local waiters get a *CloseError.
func (s *Session) CloseWithError(code uint64, reason string) {
	s.mu.Lock()
	if s.closeErr != nil {
		s.mu.Unlock()
		return
	}
	if len(reason) > frame.MaxReasonLen {
		reason = reason[:frame.MaxReasonLen]
	}
	s.closeErr = &CloseError{Code: code, Reason: reason}
	s.enterClosing(stateClosing)
	s.mu.Unlock()
	s.e.notify(s)
}

// enterClosing moves to closing or draining: streams fail, waiters wake, the session lingers for
// three PTOs to absorb stragglers, then the TX loop removes it. mu held.
func (s *Session) enterClosing(st sessState) {
	s.state.Store(uint32(st))
	s.drainAt = recovery.Now() + s.drainPeriod()
	// Out of its peer group at once: it sends no more data, and what it has in flight will not
	// be acknowledged now, so leaving it counted would hold the group's window for every live
	// member until the drain ends (short sessions to one peer, a dial and a close each, stalled
	// behind their own closing predecessors: TestPeerGroupShortSessions).
	s.leaveGroup()
	for _, st := range s.streams {
		st.fail(s.closeErr)
	}
	s.signal()
}

// PeerGone ends the drain of a session that closed and has sent its SESSION_CLOSE, because the
// network said nothing listens at from any more: an ICMP port unreachable quoting one of the
// session's packets (ctrl routes it here by the quoted session ID). The drain resends the close
// for a peer that may have missed the first copy; a peer whose port is closed has ended, and a
// process waiting for the drain before it exits (sttfast dial) would wait three PTOs for
// nobody: 20-30 ms on loopback, about half a second across a continent. A forged report needs
// the session ID, which only the path sees; at worst the peer misses the later copies and ends by
// its idle timeout, as it would had they been lost. It reports whether it ended the drain. It
// runs on a socket's loop and never blocks: if the session's lock is busy it leaves the drain
// to its timer, and the next report (one per copy) tries again.
func (s *Session) PeerGone(from netip.AddrPort) bool {
	if !s.sendingClose() || !s.mu.TryLock() {
		return false
	}
	cut := s.sendingClose() && s.closeCopies > 0 && s.peer == from && s.drainAt > recovery.Now()
	if cut {
		s.endDrain()
	}
	s.mu.Unlock()
	if cut {
		s.e.ctr.drainsCut.Add(1)
		s.e.notify(s)
	}
	return cut
}

// endDrain ends a closing or draining session's drain now: nothing more is to go to the peer
// (its path is gone, its port is closed, or it answered our close), so the TX loop's next pass
// removes the session, which keeps its close error. mu held.
func (s *Session) endDrain() {
	s.state.Store(uint32(stateDraining))
	s.closeSent = true // no copy, and no answer to the peer's close either
	s.drainAt = max(recovery.Now(), 1)
}

// drainPeriod is how long a closing or draining session lingers: three PTOs, at least 5 ms and
// at most 2 s. mu held.
func (s *Session) drainPeriod() recovery.Time {
	drain := min(max(3*s.sender.PTO(), 5*time.Millisecond), 2*time.Second)
	return recovery.Time(drain)
}

// terminate removes the session for good: out of the table, buffers released, Done closed.
func (s *Session) terminate(err *CloseError) {
	s.mu.Lock()
	if sessState(s.state.Load()) == stateClosed {
		s.mu.Unlock()
		return
	}
	if s.closeErr == nil {
		s.closeErr = err
		for _, st := range s.streams {
			st.fail(err)
		}
	}
	s.state.Store(uint32(stateClosed))
	for id, st := range s.streams {
		// Data already received stays readable after the session ends (a peer that closed
		// gracefully expects its last bytes to be read); the buffer goes when the reader is done
		// with it, or with the stream.
		st.dropSend()
		if st.readDone {
			st.recv.Release()
		}
		delete(s.streams, id)
	}
	if a := s.app; a != nil {
		for i := range a.slots {
			if a.slots[i].buf != nil {
				bytebufferpool.Put(a.slots[i].buf)
				a.slots[i] = appSlot{}
			}
		}
	}
	s.e.ctr.closedLost.Add(s.sender.Stats().PacketsLost)
	s.e.ctr.closedRetx.Add(s.ctr.retransmits.Load())
	s.e.ctr.closedSessions.Add(1)
	s.leaveGroup()
	s.sender.Drop(nil)
	s.receiver.Release()
	s.releaseKeys()
	ce := s.closeErr
	s.mu.Unlock()
	s.e.table.remove(s)
	close(s.done)
	s.e.emit(Event{Kind: EventSessionClosed, Session: s, Code: ce.Code, Remote: ce.Remote, Reason: ce.Reason})
}

func (s *Session) releaseKeys() {
	if s.rxKeys != nil {
		s.rxKeys.Erase()
	}
	if r := s.res; r != nil {
		r.secret.Erase()
		if r.tx != nil {
			r.tx.Erase()
			r.tx = nil
		}
	}
	// txKeys belong to the TX loop; it stops using them once the session is closed, and erasing
	// them here would race with a seal in progress. They are erased when the TX loop drops the
	// session (see txLoop.forget).
}
