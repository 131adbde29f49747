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
)

// Handshake retransmission: the first retry after 200 ms, doubling, at most 2 s apart.
const (
	hsInitialRTO = 200 * time.Millisecond
	hsMaxRTO     = 2 * time.Second
)

// dialState is one Dial in progress. Each HELLO attempt has a fresh nonce, hence its own tag.
type dialState struct {
	n    *Node
	e    *dataplane.Engine
	peer netip.AddrPort

	mu         sync.Mutex
	attempts   []helloAttempt
	sess       *Session
	proof      []byte // AUTH_PROOF datagram, for retransmission
	challenged chan struct{}
	abandoned  bool // Dial has returned: a late CHALLENGE must not install a session
}

type helloAttempt struct {
	tag   [8]byte
	nonce [32]byte
	ts    uint64
	mac   [32]byte
}

// Dial establishes a session with the node at addr ("udp://HOST:PORT" or "HOST:PORT"). It fails
// with ErrAuthFailed when no valid CHALLENGE came back within the handshake timeout (the peer
// has another seed, or nothing answered), ErrHandshakeTimeout when the exchange started but did
// not finish, ErrSessionLimit when the peer is full, or ctx's error.
func (n *Node) Dial(ctx context.Context, addr string) (*Session, error) {
	if n.isClosed() {
		return nil, ErrNodeClosed
	}
	peer, err := resolve(ctx, addr)
	if err != nil {
		return nil, err
	}
	n.stats.dials.Add(1)
	d := &dialState{n: n, e: n.engine(), peer: peer, challenged: make(chan struct{})}
	s, err := d.run(ctx)
	late := d.unregister()
	if err != nil {
		n.stats.dialsFailed.Add(1)
		if late != nil { // installed after run gave up: nobody else holds it
			late.CloseWithError(dataplane.CodeNoError, "dial abandoned")
		}
		return nil, fmt.Errorf("sttfast: dial %s: %w", addr, err)
	}
	n.stats.dialsOK.Add(1)
	return s, nil
}

func (d *dialState) run(ctx context.Context) (*Session, error) {
	n := d.n
	timeout := time.NewTimer(n.cfg.HandshakeTimeout)
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
				return nil, ErrAuthFailed
			}
			return nil, ErrHandshakeTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.closed:
			return nil, ErrNodeClosed
		}
	}
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
	a.ts = uint64(time.Now().UnixMilli())
	out := dataplane.NewDatagram()
	d.mu.Lock()
	b := buildHello(out.Buffer(), &n.hsKey, &a.nonce, &n.nodeID, a.ts, uint64(len(d.attempts)))
	copy(a.mac[:], b[len(b)-frame.MACSize:])
	d.attempts = append(d.attempts, a)
	d.mu.Unlock()
	out.N = len(b)
	out.Addr = d.peer
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
	p := d.proof
	d.mu.Unlock()
	if p == nil {
		return
	}
	out := dataplane.NewDatagram()
	out.N = copy(out.Buffer()[:len(p)], p)
	out.Addr = d.peer
	d.e.SendDatagram(out)
}

// unregister ends the dial: no CHALLENGE is matched to it any more, and none that is being
// handled now can install a session. It returns the session installed, if any.
func (d *dialState) unregister() *Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.abandoned = true
	d.n.dialMu.Lock()
	for _, a := range d.attempts {
		if d.n.dials[a.tag] == d {
			delete(d.n.dials, a.tag)
		}
	}
	d.n.dialMu.Unlock()
	return d.sess
}

// onChallenge handles a CHALLENGE on the handshake goroutine: verify it against the HELLO it
// answers, derive the keys, install the session and send AUTH_PROOF.
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
	if m.typ != frame.TypeChallenge {
		return errMalformed
	}
	if d.sess != nil || d.abandoned {
		return nil // a later attempt's answer, a duplicate, or too late: nothing to install
	}
	keys := n.seed.DeriveSession(&a.nonce, &m.respNonce)
	defer keys.Erase()
	s, err := d.e.Install(dataplane.SessionParams{
		ID: keys.ID, Initiator: true, Peer: dg.Addr, PeerNodeID: m.respNodeID,
		Handshake: transcript(&a.nonce, &m.respNonce), Send: keys.I2R, Recv: keys.R2I,
	})
	if err != nil {
		return errDuplicate
	}
	m.nonce, m.ts = a.nonce, a.ts
	out := dataplane.NewDatagram()
	b := buildProof(out.Buffer(), &n.hsKey, a.tag, m.attempt, &m, &n.nodeID)
	out.N = len(b)
	out.Addr = dg.Addr
	d.proof = append([]byte(nil), b...)
	d.peer = dg.Addr
	d.sess = s
	close(d.challenged)
	w.e.SendDatagram(out)
	return nil
}
