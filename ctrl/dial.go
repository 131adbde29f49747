package ctrl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// Handshake retransmission: the first retry after 200 ms, doubling, at most 2 s apart.
const (
	hsInitialRTO = 200 * time.Millisecond
	hsMaxRTO     = 2 * time.Second
)

// maxClockRetries bounds the HELLOs a dial sends at once on a CLOCK answer; later CLOCKs only
// update the offset the timer's HELLOs use.
const maxClockRetries = 3

// dialState is one Dial in progress. Each HELLO attempt has a fresh nonce, hence its own tag.
type dialState struct {
	n     *Node
	e     *dataplane.Engine
	local netip.AddrPort // e's socket's local address, to explain a send it refuses
	peer  netip.AddrPort
	// timeout bounds the handshake: Config.HandshakeTimeout, less what a WebSocket dial spent
	// connecting.
	timeout time.Duration

	mu         sync.Mutex
	attempts   []helloAttempt
	sess       *Session
	proof      []byte // AUTH_PROOF datagram, for retransmission
	challenged chan struct{}
	abandoned  bool // Dial has returned: a late CHALLENGE must not install a session

	// What the network said about our HELLOs (Node.onPeerError): hard ends the dial at once
	// (nothing listens, this host cannot send there), soft may explain a silence.
	hard, soft error
	netErr     chan struct{} // a hard error arrived (buffered, never closed)

	// The peer's CLOCK answers: its clock minus ours, applied to every later HELLO.
	offset      time.Duration
	clocks      int           // CLOCK answers accepted
	clockRetry  chan struct{} // a CLOCK arrived: send a corrected HELLO now (buffered)
	clockResent int           // HELLOs sent at once on a CLOCK
}

type helloAttempt struct {
	tag     [8]byte
	nonce   [32]byte
	ts      uint64
	mac     [32]byte
	sent    time.Time     // when it was built (monotonic), to measure the round trip
	local   time.Time     // our clock then (the wall clock, but for tests), to measure the peer's
	clocked bool          // a CLOCK answered it
	fs      bool          // it offered forward secrecy with eph's public key
	eph     stc.Ephemeral // erased once the CHALLENGE is handled or the dial ends
}

// Dial establishes a session with the node at addr ("udp://HOST:PORT" or "HOST:PORT", or
// "ws://HOST:PORT/PATH" and "wss://HOST:PORT/PATH" over a WebSocket connection of its own, where
// a refused TCP connection is ErrNothingListening and one that times out ErrNoAnswer). It fails
// at once with ErrNothingListening when the peer's host answers that nothing listens on that
// port, or ErrSendFailed when this host cannot send there; after the handshake timeout with
// ErrNoAnswer when nothing came back (no node, a firewall, or another seed), a *ClockSkewError
// (ErrClockSkew) when the peer proved the seed but refused our clock, or ErrHandshakeTimeout
// when the exchange started but did not finish; with ErrSessionLimit when the peer is full, or
// ctx's error. The error is a *DialError naming addr, but for ErrNodeClosed and for an address
// that ParseAddr refuses or that does not resolve (ErrBadAddress, which names it). A peer that answers our HELLO with its own
// time (a CLOCK: our clock is off by more than its window) is dialed again at once with its
// time. Dial is DialAny with one address.
func (n *Node) Dial(ctx context.Context, addr string) (*Session, error) {
	s, _, err := n.DialAnyIndex(ctx, addr)
	return s, err
}

// DialError is a dial of one address that failed: Dial's error, and each of DialAny's when
// every address failed. errors.Is and errors.As see through it to the reason (ErrNoAnswer...).
type DialError struct {
	// Addr is the address as the caller gave it.
	Addr string
	// Err is why the dial failed.
	Err error
}

// Error is "sttfast: dial ADDR: why".
func (e *DialError) Error() string { return "sttfast: dial " + e.Addr + ": " + e.Err.Error() }

// Unwrap returns why the dial failed.
func (e *DialError) Unwrap() error { return e.Err }

// dialOne is one dial of one address: over UDP, the handshake on the engine that reaches it;
// over WebSocket, a connection of its own and an engine over it (dialWS). It runs to the end (a
// session, an error, or ctx done) and leaves no dial state behind, and no session but the one it
// returns.
func (n *Node) dialOne(ctx context.Context, addr string) (*Session, error) {
	if n.isClosed() {
		return nil, ErrNodeClosed
	}
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	var peer netip.AddrPort
	if a.Transport != "ws" && a.Transport != "wss" {
		if peer, err = resolve(ctx, addr); err != nil {
			return nil, err
		}
	}
	n.stats.dials.Add(1)
	var s *Session
	var d *dialState
	if peer.IsValid() {
		s, d, err = n.dialUDP(ctx, peer)
	} else {
		s, d, err = n.dialWS(ctx, a)
	}
	if err != nil {
		n.stats.dialsFailed.Add(1)
		return nil, &DialError{Addr: addr, Err: err}
	}
	n.stats.dialsOK.Add(1)
	if d.clocks > 0 {
		n.cfg.Logger.Warn("sttfast: our clock differs from the peer's; dialed with the peer's time",
			"peer", addr, "offset", d.offset.Round(time.Millisecond))
	}
	return s, nil
}

// dialUDP runs the handshake with peer on the UDP engine that reaches it.
func (n *Node) dialUDP(ctx context.Context, peer netip.AddrPort) (*Session, *dialState, error) {
	e, local := n.engineFor(peer)
	if e == nil {
		return nil, nil, fmt.Errorf("%w: the node listens on no udp address to send from", ErrSendFailed)
	}
	d := n.newDial(e, local, peer, n.cfg.HandshakeTimeout)
	s, err := d.handshake(ctx)
	return s, d, err
}

// newDial prepares the handshake with peer through engine e (whose socket's local address is
// local), to be over within timeout.
func (n *Node) newDial(e *dataplane.Engine, local, peer netip.AddrPort, timeout time.Duration) *dialState {
	return &dialState{n: n, e: e, local: local, peer: peer, timeout: timeout, challenged: make(chan struct{}),
		netErr: make(chan struct{}, 1), clockRetry: make(chan struct{}, 1)}
}

// handshake runs the dial and unregisters it; a session installed after it gave up is closed.
func (d *dialState) handshake(ctx context.Context) (*Session, error) {
	s, err := d.run(ctx)
	late := d.unregister()
	if err != nil {
		if late != nil { // installed after run gave up: nobody else holds it
			late.CloseWithError(dataplane.CodeNoError, "dial abandoned")
		}
		return nil, err
	}
	return s, nil
}

func (d *dialState) run(ctx context.Context) (*Session, error) {
	n := d.n
	timeout := time.NewTimer(d.timeout)
	defer timeout.Stop()
	retry := time.NewTimer(hsInitialRTO)
	defer retry.Stop()
	rto := hsInitialRTO
	if err := d.sendHello(); err != nil {
		return nil, err
	}
	challenged := d.challenged
	var established, done <-chan struct{}
	for {
		select {
		case <-challenged:
			challenged = nil
			d.mu.Lock()
			s := d.sess
			d.mu.Unlock()
			established, done = s.EstablishedC(), s.Done()
			rto = hsInitialRTO
			retry.Reset(rto)
		case <-established:
			return d.sess, nil
		case <-done:
			return nil, d.refusedErr()
		case <-d.netErr:
			d.mu.Lock()
			err := d.hard
			d.mu.Unlock()
			return nil, err
		case <-d.clockRetry:
			// The peer told us its time: a HELLO with it goes out now, the timer starts over.
			if challenged != nil {
				if err := d.sendHello(); err != nil {
					return nil, err
				}
				rto = hsInitialRTO
				retry.Reset(rto)
			}
		case <-retry.C:
			rto = min(2*rto, hsMaxRTO)
			retry.Reset(rto)
			if challenged == nil {
				d.resendProof()
			} else if err := d.sendHello(); err != nil {
				return nil, err
			}
		case <-timeout.C:
			if challenged != nil {
				return nil, d.silenceErr()
			}
			return nil, ErrHandshakeTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.closed:
			return nil, ErrNodeClosed
		}
	}
}

// silenceErr explains a dial that got no CHALLENGE: the peer's clock if it answered with one,
// else no answer, with what the network said on the way if anything.
func (d *dialState) silenceErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.clocks > 0 {
		return &ClockSkewError{Offset: d.offset}
	}
	if d.soft != nil {
		return fmt.Errorf("%w; the network said: %v", ErrNoAnswer, d.soft)
	}
	return ErrNoAnswer
}

// refusedErr explains why a session ended before it was established.
func (d *dialState) refusedErr() error {
	err := d.sess.Err()
	var ce *dataplane.CloseError
	if errors.As(err, &ce) && ce.Code == dataplane.CodeRefused {
		return fmt.Errorf("%w: %v", ErrSessionLimit, err)
	}
	if err == nil {
		return ErrHandshakeTimeout
	}
	return err
}

// sendHello sends a new HELLO attempt with a fresh nonce.
func (d *dialState) sendHello() error {
	n := d.n
	var a helloAttempt
	rand.Read(a.nonce[:])
	copy(a.tag[:], a.nonce[:8])
	out := dataplane.NewDatagram()
	d.mu.Lock()
	a.sent, a.local = time.Now(), n.wallClock()
	// Our clock, corrected by the peer's CLOCK answers if any (never below the epoch).
	a.ts = uint64(max(0, a.local.Add(d.offset).UnixMilli()))
	var share *[frame.KeyShareSize]byte
	if n.cfg.ForwardSecrecy {
		eph, err := n.dialEphemeral.current(a.local.UnixMilli())
		if err != nil {
			d.mu.Unlock()
			out.Free()
			return err
		}
		a.fs, a.eph = true, eph
		share = &a.eph.Public
	}
	b := buildHelloShare(out.Buffer(), &n.hsKey, &a.nonce, &n.nodeID, a.ts, uint64(len(d.attempts)), share)
	copy(a.mac[:], b[len(b)-frame.MACSize:])
	d.attempts = append(d.attempts, a)
	a.eph.Erase() // this copy; the attempt's own is erased with the dial
	// Under mu: a CHALLENGE handled meanwhile sets the peer (onChallenge).
	out.Addr = d.peer
	d.mu.Unlock()
	out.N = len(b)
	n.dialMu.Lock()
	n.dials[a.tag] = d
	n.dialMu.Unlock()
	if !d.e.SendDatagram(out) {
		return ErrNodeClosed
	}
	return nil
}

func (d *dialState) resendProof() {
	d.mu.Lock()
	p, peer := d.proof, d.peer
	d.mu.Unlock()
	if p == nil {
		return
	}
	out := dataplane.NewDatagram()
	out.N = copy(out.Buffer()[:len(p)], p)
	out.Addr = peer
	d.e.SendDatagram(out)
}

// unregister ends the dial: no CHALLENGE is matched to it any more, and none that is being
// handled now can install a session. It returns the session installed, if any.
func (d *dialState) unregister() *Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.abandoned = true
	d.n.dialMu.Lock()
	for i, a := range d.attempts {
		if d.n.dials[a.tag] == d {
			delete(d.n.dials, a.tag)
		}
		d.attempts[i].eph.Erase()
	}
	d.n.dialMu.Unlock()
	return d.sess
}

// sessionKeys derives the keys of the session a verified CHALLENGE to attempt a completes
// (d.mu held): forward-secret with the responder's KEY_SHARE when a offered it, its private key
// erased right after the exchange, else from the seed and the nonces.
func (d *dialState) sessionKeys(a *helloAttempt, m *hsMsg) (stc.SessionKeys, error) {
	n := d.n
	if !a.fs {
		return n.seed.DeriveSession(&a.nonce, &m.respNonce), nil
	}
	defer a.eph.Erase()
	keys, err := n.deriveFS(&a.eph, &m.share, true, &a.nonce, &m.respNonce, m.respNodeID)
	if err != nil {
		return stc.SessionKeys{}, errMalformed
	}
	return keys, nil
}

// fail ends the dial at once with err, as a hard network error does (d.mu held).
func (d *dialState) fail(err error) {
	if d.hard == nil {
		d.hard = err
		select {
		case d.netErr <- struct{}{}:
		default:
		}
	}
}

// onClock handles a CLOCK: like a CHALLENGE, it answers one of our HELLOs and is verified
// against that HELLO's MAC (onChallenge does both).
func (w *hsWorker) onClock(dg *dataplane.Datagram) error { return w.onChallenge(dg) }

// onClock takes the peer's time from a verified CLOCK answering attempt a (d.mu held): the
// peer's clock minus ours is its timestamp minus the middle of the round trip, our clock's best
// guess of the moment the peer read its own. The next HELLO carries our clock plus that offset,
// with a fresh nonce: it is an ordinary HELLO, subject to the peer's window and nonce cache.
func (d *dialState) onClock(a *helloAttempt, m *hsMsg) error {
	if a.clocked || d.sess != nil || d.abandoned {
		return nil // a duplicate, or the dial is past the HELLOs
	}
	a.clocked = true
	mid := a.local.UnixMilli() + time.Since(a.sent).Milliseconds()/2
	d.offset = time.Duration(clampSkew(int64(m.respTS)-mid)) * time.Millisecond
	d.clocks++
	if d.clockResent < maxClockRetries {
		d.clockResent++
		select {
		case d.clockRetry <- struct{}{}:
		default:
		}
	}
	return nil
}

// maxSkewMs bounds a clock offset taken from a CLOCK (a century), so that no timestamp, however
// wrong, overflows a time.Duration.
const maxSkewMs = 100 * 366 * 24 * 3600 * 1000

func clampSkew(ms int64) int64 { return min(max(ms, -maxSkewMs), maxSkewMs) }

// wallClock is our clock for HELLO timestamps: time.Now, or a skewed one in tests.
func (n *Node) wallClock() time.Time {
	if n.clockForTest != nil {
		return n.clockForTest()
	}
	return time.Now()
}

// onChallenge handles a CHALLENGE (or a CLOCK) on the handshake goroutine: verify it against the
// HELLO it answers, derive the keys, install the session and send AUTH_PROOF.
func (w *hsWorker) onChallenge(dg *dataplane.Datagram) error {
	n := w.n
	var h frame.Header
	frame.ParseHeader(dg.Bytes(), &h)
	n.dialMu.Lock()
	d := n.dials[h.SessionID]
	n.dialMu.Unlock()
	if d == nil {
		return errUnknown
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var a *helloAttempt
	for i := range d.attempts {
		if d.attempts[i].tag == h.SessionID {
			a = &d.attempts[i]
		}
	}
	if a == nil {
		return errUnknown
	}
	var m hsMsg
	if err := parseHandshake(dg.Bytes(), w.mac, a.mac[:], &m); err != nil {
		return err
	}
	if m.typ == frame.TypeClock {
		return d.onClock(a, &m)
	}
	if m.typ == frame.TypeFSRequired {
		d.fail(ErrPeerRequiresFS)
		return nil
	}
	if m.typ != frame.TypeChallenge {
		return errMalformed
	}
	if d.sess != nil || d.abandoned {
		return nil // a later attempt's answer, a duplicate, or too late: nothing to install
	}
	if a.fs && !m.hasShare {
		// A peer that does not know KEY_SHARE would have dropped the HELLO; one that answers
		// without it does not agree, and a seed-only session is what we must never make.
		d.fail(ErrNoForwardSecrecy)
		return nil
	}
	keys, err := d.sessionKeys(a, &m)
	if err != nil {
		return err
	}
	defer keys.Erase()
	s, err := d.e.Install(dataplane.SessionParams{
		ID: keys.ID, Initiator: true, Peer: dg.Addr, PeerNodeID: m.respNodeID, ForwardSecret: a.fs,
		Handshake: transcript(&a.nonce, &m.respNonce), Send: keys.I2R, Recv: keys.R2I, KeyLog: n.keyLog,
		Resumption: keys.Resumption,
	})
	if err != nil {
		return errDuplicate
	}
	m.nonce, m.ts = a.nonce, a.ts
	out := dataplane.NewDatagram()
	var share *[frame.KeyShareSize]byte
	if a.fs {
		share = &a.eph.Public // public: kept for the AUTH_PROOF after the private key is erased
	}
	b := buildProofShare(out.Buffer(), &n.hsKey, a.tag, m.attempt, &m, &n.nodeID, share)
	out.N = len(b)
	out.Addr = dg.Addr
	d.proof = append([]byte(nil), b...)
	d.peer = dg.Addr
	d.sess = s
	close(d.challenged)
	w.e.SendDatagram(out)
	return nil
}
