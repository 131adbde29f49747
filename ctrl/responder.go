package ctrl

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// hsWorker runs the handshake for one engine: it owns reusable MAC states so that refusing a
// bogus HELLO costs one HMAC and no allocation.
type hsWorker struct {
	n      *Node
	e      *dataplane.Engine
	mac    *stc.MAC // HMAC(K_hs)
	cookie *stc.MAC // HMAC(cookie key)
	m      hsMsg    // the message being handled, reused

	lastAuthEvent time.Time     // when EventAuthFailed was last emitted
	suppressed    int           // authentication failures since then
	skew          time.Duration // of the HELLO refused last for its clock: its time minus ours
}

func (n *Node) handshakeLoop(e *dataplane.Engine) {
	defer n.wg.Done()
	w := &hsWorker{n: n, e: e, mac: stc.NewMAC(&n.hsKey), cookie: stc.NewMAC(&n.cookieKey)}
	for {
		dg, err := e.Handshakes().PopWait(n.closed)
		if err != nil {
			return
		}
		w.handle(dg)
		dg.Free()
	}
}

func (w *hsWorker) handle(dg *dataplane.Datagram) {
	d := dg.Bytes()
	var h frame.Header
	if err := frame.ParseHeader(d, &h); err != nil || len(d) <= h.Len {
		w.refuse(errMalformed, dg.Addr)
		return
	}
	var err error
	switch frame.Type(d[h.Len]) {
	case frame.TypeHello:
		err = w.onHello(dg)
	case frame.TypeChallenge:
		err = w.onChallenge(dg)
	case frame.TypeAuthProof:
		err = w.onProof(dg)
	case frame.TypeClock, frame.TypeFSRequired:
		err = w.onClock(dg)
	default:
		err = errMalformed
	}
	if err != nil {
		w.refuse(err, dg.Addr)
	}
}

// refuse counts a handshake message that was dropped, and reports authentication failures (and
// HELLOs from a peer with our seed but another clock) as events, at most one a second.
func (w *hsWorker) refuse(err error, from netip.AddrPort) {
	w.n.stats.refuse(err)
	w.e.CountDrop(dataplane.DropHandshake)
	if errors.Is(err, errMAC) || errors.Is(err, errCookie) || errors.Is(err, errClock) || errors.Is(err, errNoFS) {
		// At most one event a second: a flood of bogus HELLOs must cost the application one
		// callback a second, not one per packet (the counters have the exact numbers).
		now := time.Now()
		if now.Sub(w.lastAuthEvent) < time.Second {
			w.suppressed++
			return
		}
		var reason string
		switch {
		case errors.Is(err, errMAC):
			reason = "refused a HELLO from " + from.String() + ": its MAC does not match our seed (a peer with another seed?)"
		case errors.Is(err, errClock):
			way, d := "ahead of", w.skew
			if d < 0 {
				way, d = "behind", -d
			}
			reason = fmt.Sprintf("refused a HELLO from %s: its clock is %v %s ours (answered with our time)",
				from, d.Round(time.Millisecond), way)
		case errors.Is(err, errNoFS):
			reason = "refused a handshake from " + from.String() + ": it does not offer forward secrecy, which this node requires (the peer needs --forward-secrecy too)"
		default:
			reason = "refused an AUTH_PROOF from " + from.String() + ": it does not answer our challenge"
		}
		if w.suppressed > 0 {
			reason += fmt.Sprintf(" (and %d more refusals since the last report)", w.suppressed)
		}
		w.lastAuthEvent, w.suppressed = now, 0
		w.e.Emit(dataplane.Event{Kind: dataplane.EventAuthFailed, Code: uint64(refusalOf(err)), Reason: reason})
	}
}

// onHello answers a valid HELLO with a CHALLENGE, keeping no state but the nonce.
func (w *hsWorker) onHello(dg *dataplane.Datagram) error {
	n := w.n
	d := dg.Bytes()
	if len(d) < frame.HelloMinSize {
		return errShort
	}
	m := &w.m // reused: a refused HELLO allocates nothing
	*m = hsMsg{}
	if err := parseHandshake(d, w.mac, nil, m); err != nil {
		return err
	}
	now := time.Now()
	if !withinWindow(m.ts, now, n.cfg.ClockWindow) {
		// The MAC proved the seed: tell the initiator our time, so that it can try again with
		// it (docs/PROTOCOL.md §3, CLOCK). The HELLO itself is refused all the same.
		w.skew = time.Duration(clampSkew(int64(m.ts)-now.UnixMilli())) * time.Millisecond
		w.answerClock(dg, m, now)
		return errClock
	}
	if [8]byte(m.nonce[:8]) != m.tag {
		return errMalformed
	}
	ns := now.UnixNano()
	if !n.nonces.add(m.nonce, ns, ns+int64(2*n.cfg.ClockWindow)) {
		return errReplay
	}
	if !m.hasShare && n.cfg.ForwardSecrecy {
		w.answerFSRequired(dg, m)
		return errNoFS
	}
	tsR := uint64(now.UnixMilli())
	nonceR := cookieNonce(w.cookie, &m.nonce, tsR, dg.Addr)
	var share *[frame.KeyShareSize]byte
	if m.hasShare {
		// The initiator asks for forward secrecy: agree, with this period's key, which the
		// AUTH_PROOF finds again by tsR.
		eph, err := n.respEphemeral.current(int64(tsR))
		if err != nil {
			return errMalformed
		}
		eph.Erase() // our copy of the reference; the key stays in n.respEphemeral
		share = &eph.Public
	}
	out := dataplane.NewDatagram()
	b := buildChallengeShare(out.Buffer(), &n.hsKey, m.tag, m.attempt, &nonceR, &n.nodeID, tsR, m.mac[:], share)
	// Anti-amplification: the CHALLENGE (about 100 bytes) is far below the HELLO's 1200.
	out.N = len(b)
	out.Addr = dg.Addr
	// Counted before it is queued: a peer that has the CHALLENGE must find it in Stats.
	n.stats.challenges.Add(1)
	w.e.SendDatagram(out)
	return nil
}

// answerClock answers a HELLO whose MAC is valid but whose timestamp is outside the clock window
// with a CLOCK carrying our time, MACed with the seed and bound to that HELLO. Bounds: one
// answer per HELLO nonce per two clock windows (a replayed HELLO is answered once), at most
// clockAnswerRate answers a second for the whole node, and never more bytes than the HELLO (a
// CLOCK is at most 53 bytes, a HELLO at least 1200).
func (w *hsWorker) answerClock(dg *dataplane.Datagram, m *hsMsg, now time.Time) {
	n := w.n
	if [8]byte(m.nonce[:8]) != m.tag {
		return // malformed as well: not worth an answer
	}
	ns := now.UnixNano()
	if !n.clockNonces.add(m.nonce, ns, ns+int64(2*n.cfg.ClockWindow)) || !n.clockLimit.allow(now) {
		return
	}
	out := dataplane.NewDatagram()
	b := buildClock(out.Buffer(), &n.hsKey, m.tag, m.attempt, uint64(now.UnixMilli()), m.mac[:])
	if len(b) >= dg.N {
		out.Free()
		return
	}
	out.N = len(b)
	out.Addr = dg.Addr
	n.stats.clockAnswers.Add(1)
	w.e.SendDatagram(out)
}

// clockAnswerRate bounds the CLOCK answers of a node, per second (and its burst).
const clockAnswerRate = 64

// rateLimiter is a token bucket of rate tokens a second, holding at most rate.
type rateLimiter struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// allow takes a token if there is one.
func (r *rateLimiter) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last.IsZero() {
		r.tokens = clockAnswerRate
	} else if dt := now.Sub(r.last).Seconds(); dt > 0 {
		r.tokens = min(clockAnswerRate, r.tokens+dt*clockAnswerRate)
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// onProof verifies AUTH_PROOF against the stateless cookie and creates the session.
func (w *hsWorker) onProof(dg *dataplane.Datagram) error {
	n := w.n
	m := &w.m
	*m = hsMsg{}
	if err := parseHandshake(dg.Bytes(), w.mac, nil, m); err != nil {
		return err
	}
	if [8]byte(m.nonce[:8]) != m.tag {
		return errMalformed
	}
	now := time.Now()
	nowMs := uint64(now.UnixMilli())
	if m.respTS > nowMs+1000 || nowMs-m.respTS > uint64(n.cfg.HandshakeTimeout/time.Millisecond) {
		return errExpired
	}
	expect := cookieNonce(w.cookie, &m.nonce, m.respTS, dg.Addr)
	if !stc.Equal(expect[:], m.respNonce[:]) || m.respNodeID != n.nodeID {
		return errCookie
	}
	keys, err := w.sessionKeys(m, dg.Addr)
	if err != nil {
		return err
	}
	defer keys.Erase()
	tr := transcript(&m.nonce, &m.respNonce)
	if s := n.table.Lookup(keys.ID); s != nil {
		if s.Handshake() == tr {
			// A retransmitted (or replayed) AUTH_PROOF: the session already resends FINAL until
			// it is acknowledged, so this one is dropped, and counted like every other drop.
			return errRetransmit
		}
		return errDuplicate
	}
	// A session made from this proof that has since closed must never come back: its keys would
	// start again at packet number 0 (nonce reuse). Remember every id until its proof expires.
	ns := now.UnixNano()
	expiry := int64(m.respTS)*int64(time.Millisecond) + int64(n.cfg.HandshakeTimeout) + int64(time.Second)
	if !n.recent.add(keys.ID, ns, expiry) {
		return errReplay
	}
	if n.table.Len() >= n.cfg.MaxSessions || (!n.cfg.DiscardAccepted && len(n.acceptq) >= cap(n.acceptq)) {
		w.sendRefusal(&keys, dg.Addr)
		return errFull
	}
	// Counted before the session exists: its FINAL may reach the initiator, and a dial return,
	// before this goroutine runs again, and a peer that has its session must find it in Stats.
	n.stats.accepted.Add(1)
	s, err := w.e.Install(dataplane.SessionParams{
		ID: keys.ID, Initiator: false, ForwardSecret: m.hasShare, Peer: dg.Addr, PeerNodeID: m.nodeID, Handshake: tr,
		Send: keys.R2I, Recv: keys.I2R, Final: true, KeyLog: n.keyLog,
	})
	if err != nil {
		n.stats.accepted.Add(^uint64(0))
		return errDuplicate
	}
	if !n.cfg.DiscardAccepted {
		select {
		case n.acceptq <- s:
		default:
			s.CloseWithError(dataplane.CodeRefused, "accept queue full")
		}
	}
	return nil
}

// sessionKeys derives the keys of the session a verified AUTH_PROOF makes: forward-secret when
// it carries the initiator's KEY_SHARE (with our key of the CHALLENGE's period), from the seed
// alone otherwise, which a node requiring forward secrecy refuses.
func (w *hsWorker) sessionKeys(m *hsMsg, from netip.AddrPort) (stc.SessionKeys, error) {
	n := w.n
	if !m.hasShare {
		if n.cfg.ForwardSecrecy {
			return stc.SessionKeys{}, errNoFS
		}
		return n.seed.DeriveSession(&m.nonce, &m.respNonce), nil
	}
	eph, ok := n.respEphemeral.at(int64(m.respTS), time.Now().UnixMilli())
	if !ok {
		return stc.SessionKeys{}, errExpired
	}
	defer eph.Erase()
	keys, err := n.deriveFS(&eph, &m.share, false, &m.nonce, &m.respNonce, m.nodeID)
	if err != nil {
		return stc.SessionKeys{}, errMalformed
	}
	return keys, nil
}

// answerFSRequired tells the initiator of a HELLO without KEY_SHARE that this node requires
// forward secrecy, so that its dial fails at once with ErrPeerRequiresFS instead of timing out.
// Bounded like a CLOCK: the nonce was just added to the replay cache (one answer per HELLO), the
// node-wide rate limit applies, and the answer is far smaller than the HELLO.
func (w *hsWorker) answerFSRequired(dg *dataplane.Datagram, m *hsMsg) {
	n := w.n
	if !n.clockLimit.allow(time.Now()) {
		return
	}
	out := dataplane.NewDatagram()
	b := buildFSRequired(out.Buffer(), &n.hsKey, m.tag, m.attempt, m.mac[:])
	out.N = len(b)
	out.Addr = dg.Addr
	w.e.SendDatagram(out)
}

// sendRefusal answers a proven initiator with FINAL(refused) sealed under the session's keys,
// without creating the session.
func (w *hsWorker) sendRefusal(keys *stc.SessionKeys, to netip.AddrPort) {
	aead, err := stc.NewAEAD(&keys.R2I)
	if err != nil {
		return
	}
	defer aead.Erase()
	out := dataplane.NewDatagram()
	h := frame.Header{Kind: frame.KindProtected, SessionID: keys.ID, PNLen: 4}
	b := frame.AppendHeader(out.Buffer(), &h)
	hdr := len(b)
	b = frame.AppendFinal(b, dataplane.CodeRefused)
	b = frame.AppendSessionClose(b, dataplane.CodeRefused, []byte("node at its session limit"))
	b = aead.Seal(b, hdr, 0)
	out.N = len(b)
	out.Addr = to
	w.e.SendDatagram(out)
}

func withinWindow(tsMs uint64, now time.Time, window time.Duration) bool {
	d := time.Duration(int64(tsMs)-now.UnixMilli()) * time.Millisecond
	return d <= window && d >= -window
}

var (
	errDuplicate  = errors.New("handshake: duplicate session id")
	errFull       = errors.New("handshake: node at its session limit")
	errUnknown    = errors.New("handshake: no dial waits for this challenge")
	errRetransmit = errors.New("handshake: AUTH_PROOF for a session already made from it")
)
