package ctrl

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// Session resumption, the control plane's half (docs/PROTOCOL.md §3, "Resumption"): the RESUME
// exchange that moves a session to another device holding the same seed and the session's
// exported state.

// ErrResumeRefused is matched (errors.Is) by every *ResumeError: the state cannot resume its
// session, and trying again will not change that.
var ErrResumeRefused = errors.New("resume refused")

// ResumeRefusal says why a resumption was refused. The codes from 1 to 4 travel in
// RESUME_REFUSED.
type ResumeRefusal uint64

// Resume refusal reasons.
const (
	// ResumeExpired: the peer no longer has the session (it ended, or stayed silent beyond the
	// peer's resume window).
	ResumeExpired ResumeRefusal = 1
	// ResumeSuperseded: a later resume of the session took over; this state is stale.
	ResumeSuperseded ResumeRefusal = 2
	// ResumeMismatch: the peer has a session of that id, but not with this state's secret.
	ResumeMismatch ResumeRefusal = 3
	// ResumeTransport: the session lives on a path of another kind (UDP and WebSocket), which a
	// resumption does not cross (path migration does).
	ResumeTransport ResumeRefusal = 4
	// ResumeWrongSeed: the state was sealed under another seed (found locally, never sent).
	ResumeWrongSeed ResumeRefusal = 100
)

// ResumeError is a refused resumption. errors.Is(err, ErrResumeRefused) holds for it.
type ResumeError struct {
	Reason ResumeRefusal
	Epoch  uint64 // the epoch proposed
}

// Error says why, in the user's words.
func (e *ResumeError) Error() string {
	switch e.Reason {
	case ResumeExpired:
		return "expired: the peer no longer has this session (it ended, or was silent longer than the peer keeps it)"
	case ResumeSuperseded:
		return fmt.Sprintf("superseded: a later resume of this session took over (this state proposes epoch %d)", e.Epoch)
	case ResumeMismatch:
		return "refused: the peer's session of this id has another secret"
	case ResumeTransport:
		return "refused: the session is on another kind of path (udp versus ws); resume over the same kind"
	case ResumeWrongSeed:
		return "wrong seed: the state was not sealed with this seed"
	}
	return fmt.Sprintf("refused (reason %d)", uint64(e.Reason))
}

// Is makes errors.Is(err, ErrResumeRefused) hold.
func (e *ResumeError) Is(target error) bool { return target == ErrResumeRefused }

var (
	// counted as a retransmission, like a retransmitted AUTH_PROOF
	errResumeRetransmit = fmt.Errorf("%w (a RESUME, answered with the same RESUME_ACCEPT)", errRetransmit)
	errResume           = errors.New("handshake: RESUME refused")
	errResumeBinder     = fmt.Errorf("%w: binder does not match the session's secret", errResume)
)

// buildResume appends a RESUME packet padded to HelloMinSize, like a HELLO: its answer is
// always smaller, so a spoofed source gets less than was sent.
func buildResume(b []byte, k *stc.MACKey, m *hsMsg, attempt uint64) []byte {
	start := len(b)
	b = hsHeader(b, m.tag, attempt)
	b = frame.AppendResume(b, &m.resumeID, m.epoch, &m.nonce, &m.nodeID, m.ts, &m.binder)
	if pad := frame.HelloMinSize - frame.MACSize - (len(b) - start); pad > 0 {
		b = frame.AppendPadding(b, pad)
	}
	return k.Sum(b, b[start:])
}

// buildResumeAccept appends a RESUME_ACCEPT answering the RESUME whose MAC is resumeMAC.
func buildResumeAccept(b []byte, k *stc.MACKey, tag [8]byte, attempt, epoch uint64, nonceR *[32]byte, node *[8]byte, firstPN uint64, resumeMAC []byte) []byte {
	start := len(b)
	b = hsHeader(b, tag, attempt)
	b = frame.AppendResumeAccept(b, epoch, nonceR, node, firstPN)
	return k.Sum(b, b[start:], resumeMAC)
}

// buildResumeRefused appends a RESUME_REFUSED answering the RESUME whose MAC is resumeMAC.
func buildResumeRefused(b []byte, k *stc.MACKey, tag [8]byte, attempt, epoch uint64, why ResumeRefusal, resumeMAC []byte) []byte {
	start := len(b)
	b = hsHeader(b, tag, attempt)
	b = frame.AppendResumeRefused(b, epoch, uint64(why))
	return k.Sum(b, b[start:], resumeMAC)
}

// onResume handles a RESUME (peer side), cheapest checks first: size, the seed's MAC (one
// HMAC, as for a HELLO), the clock window, the nonce cache (bounded), the session table (a map
// lookup), and only then the binder (two HMACs) and the key derivation. A RESUME that fails
// before the table lookup is dropped in silence; one that proves the seed but cannot resume is
// answered with RESUME_REFUSED, at most clockAnswerRate a second for the node.
func (w *hsWorker) onResume(dg *dataplane.Datagram) error {
	n := w.n
	d := dg.Bytes()
	if len(d) < frame.HelloMinSize {
		return errShort
	}
	m := &w.m
	*m = hsMsg{}
	if err := parseHandshake(d, w.mac, nil, m); err != nil {
		return err
	}
	now := time.Now()
	if !withinWindow(m.ts, now, n.cfg.ClockWindow) {
		return errClock
	}
	if [8]byte(m.nonce[:8]) != m.tag {
		return errMalformed
	}
	ns := now.UnixNano()
	if !n.nonces.add(m.nonce, ns, ns+int64(2*n.cfg.ClockWindow)) {
		return errReplay
	}
	s := n.table.Lookup(m.resumeID)
	if s == nil || s.Initiator() {
		return w.refuseResume(dg, m, ResumeExpired)
	}
	if s.Reliable() != (w.e.Reliable()) {
		return w.refuseResume(dg, m, ResumeTransport)
	}
	secret, epoch := s.ResumeSecret()
	defer secret.Erase()
	want := stc.ResumeBinder(&secret, &m.resumeID, m.epoch, &m.nonce, m.ts)
	if !stc.Equal(want[:], m.binder[:]) {
		w.refuseResume(dg, m, ResumeMismatch)
		return errResumeBinder
	}
	if m.epoch <= epoch {
		if n.resendAccept(m, dg.Addr, w.e) {
			return errResumeRetransmit
		}
		return w.refuseResume(dg, m, ResumeSuperseded)
	}
	var nonceR [32]byte
	rand.Read(nonceR[:])
	i2r, r2i := stc.DeriveResume(&secret, &m.nonce, &nonceR, m.epoch)
	defer i2r.Erase()
	defer r2i.Erase()
	firstPN, err := s.Resume(m.epoch, r2i, i2r, dg.Addr)
	switch {
	case errors.Is(err, dataplane.ErrResumeStale):
		return w.refuseResume(dg, m, ResumeSuperseded)
	case err != nil:
		return w.refuseResume(dg, m, ResumeExpired)
	}
	out := dataplane.NewDatagram()
	b := buildResumeAccept(out.Buffer(), &n.hsKey, m.tag, m.attempt, m.epoch, &nonceR, &n.nodeID, firstPN, m.mac[:])
	out.N = len(b)
	out.Addr = dg.Addr
	n.rememberAccept(m, b, now)
	n.stats.resumes.Add(1)
	n.cfg.Logger.Info("sttfast: session resumed", "session", fmt.Sprintf("%x", m.resumeID), "epoch", m.epoch, "peer", dg.Addr)
	w.e.SendDatagram(out)
	return nil
}

// acceptRecord is the last RESUME_ACCEPT of a session, kept for the handshake timeout: a
// resuming device whose ACCEPT was lost retransmits its RESUME (a new nonce and tag, the same
// epoch), which the epoch rule alone would refuse as superseded. It gets the very same ACCEPT
// again instead (bound to its first RESUME's tag and MAC, which it still knows), so that both
// sides keep the keys of that one exchange: re-keying for the retransmission could leave them
// with different ones if the first ACCEPT was only late.
type acceptRecord struct {
	epoch uint64
	node  [8]byte // the resuming node's id: a stale state on another node is not it
	pkt   []byte
	at    time.Time
}

// maxAcceptRecords bounds the kept ACCEPTs (one per session resumed within the handshake
// timeout; sessions are bounded by MaxSessions anyway).
const maxAcceptRecords = 4096

// rememberAccept keeps the ACCEPT pkt answering m, forgetting records older than the handshake
// timeout.
func (n *Node) rememberAccept(m *hsMsg, pkt []byte, now time.Time) {
	n.acceptMu.Lock()
	defer n.acceptMu.Unlock()
	for id, r := range n.accepts {
		if now.Sub(r.at) > n.cfg.HandshakeTimeout {
			delete(n.accepts, id)
		}
	}
	if len(n.accepts) >= maxAcceptRecords {
		return // the retransmission, if any, is then refused as superseded: still safe
	}
	n.accepts[m.resumeID] = acceptRecord{epoch: m.epoch, node: m.nodeID, pkt: bytes.Clone(pkt), at: now}
}

// resendAccept answers m, a RESUME of an epoch already accepted, with the ACCEPT of that epoch
// when m comes from the same node within the handshake timeout (a retransmission); it reports
// whether it did.
func (n *Node) resendAccept(m *hsMsg, to netip.AddrPort, e *dataplane.Engine) bool {
	n.acceptMu.Lock()
	r, ok := n.accepts[m.resumeID]
	n.acceptMu.Unlock()
	if !ok || r.epoch != m.epoch || r.node != m.nodeID || time.Since(r.at) > n.cfg.HandshakeTimeout {
		return false
	}
	out := dataplane.NewDatagram()
	out.N = copy(out.Buffer()[:len(r.pkt)], r.pkt)
	out.Addr = to
	e.SendDatagram(out)
	return true
}

// refuseResume answers a RESUME that proved the seed with RESUME_REFUSED (rate-limited) and
// returns the refusal to count.
func (w *hsWorker) refuseResume(dg *dataplane.Datagram, m *hsMsg, why ResumeRefusal) error {
	n := w.n
	if n.resumeLimit.allow(time.Now()) {
		out := dataplane.NewDatagram()
		b := buildResumeRefused(out.Buffer(), &n.hsKey, m.tag, m.attempt, m.epoch, why, m.mac[:])
		out.N = len(b)
		out.Addr = dg.Addr
		n.stats.resumeRefusals.Add(1)
		w.e.SendDatagram(out)
	}
	return fmt.Errorf("%w: %v", errResume, &ResumeError{Reason: why, Epoch: m.epoch})
}

// resumeDial is one Node.Resume in progress; each RESUME attempt has a fresh nonce and tag.
type resumeDial struct {
	local    netip.AddrPort // the sending socket's address, to explain a send it refuses
	mu       sync.Mutex
	attempts []resumeAttempt
	answer   chan hsMsg // the first verified answer (buffered)
	answered bool
	from     netip.AddrPort
	hard     error         // what the network said about one of our RESUMEs, when it ends the resume
	netErr   chan struct{} // hard was set (buffered, never closed)
}

// report records a network report quoting one of our RESUMEs (Node.onPeerError): nothing
// listening at the peer's port, or a send this host refused, ends the resume at once, as it ends
// a dial.
func (r *resumeDial) report(pe *batchio.PeerError) {
	err, hard := classify(pe, r.local)
	if !hard {
		return
	}
	r.mu.Lock()
	if r.hard == nil {
		r.hard = err
	}
	r.mu.Unlock()
	select {
	case r.netErr <- struct{}{}:
	default:
	}
}

type resumeAttempt struct {
	tag     [8]byte
	nonce   [32]byte
	fullMAC [32]byte
}

// onResumeAnswer handles a RESUME_ACCEPT or RESUME_REFUSED (resuming side): it must answer one
// of our RESUMEs, verified with that RESUME's MAC appended.
func (w *hsWorker) onResumeAnswer(dg *dataplane.Datagram) error {
	n := w.n
	var h frame.Header
	frame.ParseHeader(dg.Bytes(), &h)
	n.dialMu.Lock()
	r := n.resumes[h.SessionID]
	n.dialMu.Unlock()
	if r == nil {
		return errUnknown
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.attempts {
		a := &r.attempts[i]
		if a.tag != h.SessionID {
			continue
		}
		var m hsMsg
		if err := parseHandshake(dg.Bytes(), w.mac, a.fullMAC[:], &m); err != nil {
			return err
		}
		if r.answered {
			return nil
		}
		m.nonce = a.nonce
		r.answered, r.from = true, dg.Addr
		r.answer <- m
		return nil
	}
	return errUnknown
}

// Resume continues the session of st with the peer at addr (st.Addr when addr is empty), from
// this node: it proves the seed and the session's resumption secret with a RESUME proposing
// epoch st.Epoch()+1, and on RESUME_ACCEPT installs a session that carries on the state's
// streams under fresh keys (stc.DeriveResume). The peer then refuses packets of the device the
// state came from. It fails with a *ResumeError (errors.Is ErrResumeRefused) when the peer
// refuses (expired, superseded, mismatch), at once with ErrNothingListening or ErrSendFailed when
// the network says so about a RESUME (as for a dial), with ErrNoAnswer when nothing answered
// within the handshake timeout, or with ctx's error. The session's streams are found with Session.Stream.
// Resume works over UDP: a resumption does not cross from one path kind to another.
func (n *Node) Resume(ctx context.Context, st *ResumeState, addr string) (*Session, error) {
	if addr == "" {
		addr = st.Addr
	}
	if n.isClosed() {
		return nil, ErrNodeClosed
	}
	peer, err := resolve(ctx, addr)
	if err != nil {
		return nil, err
	}
	e, local := n.engineFor(peer)
	if e == nil {
		return nil, fmt.Errorf("%w: the node listens on no udp address to send from", ErrSendFailed)
	}
	r := &resumeDial{local: local, answer: make(chan hsMsg, 1), netErr: make(chan struct{}, 1)}
	defer n.unregisterResume(r)
	epoch := st.snap.Epoch + 1
	timeout := time.NewTimer(n.cfg.HandshakeTimeout)
	defer timeout.Stop()
	rto := hsInitialRTO
	retry := time.NewTimer(rto)
	defer retry.Stop()
	for {
		if err := n.sendResume(e, r, st, epoch, peer); err != nil {
			return nil, err
		}
		select {
		case m := <-r.answer:
			return n.resumed(e, r, st, &m, epoch)
		case <-retry.C:
			rto = min(2*rto, hsMaxRTO)
			retry.Reset(rto)
		case <-r.netErr:
			r.mu.Lock()
			err := r.hard
			r.mu.Unlock()
			return nil, err
		case <-timeout.C:
			return nil, ErrNoAnswer
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.closed:
			return nil, ErrNodeClosed
		}
	}
}

// sendResume sends one RESUME attempt with a fresh nonce.
func (n *Node) sendResume(e *dataplane.Engine, r *resumeDial, st *ResumeState, epoch uint64, peer netip.AddrPort) error {
	m := hsMsg{resumeID: st.snap.ID, epoch: epoch, nodeID: n.nodeID, ts: uint64(n.wallClock().UnixMilli())}
	rand.Read(m.nonce[:])
	copy(m.tag[:], m.nonce[:8])
	m.binder = stc.ResumeBinder(&st.snap.Resumption, &m.resumeID, epoch, &m.nonce, m.ts)
	out := dataplane.NewDatagram()
	r.mu.Lock()
	b := buildResume(out.Buffer(), &n.hsKey, &m, uint64(len(r.attempts)))
	a := resumeAttempt{tag: m.tag, nonce: m.nonce}
	copy(a.fullMAC[:], b[len(b)-frame.MACSize:])
	r.attempts = append(r.attempts, a)
	r.mu.Unlock()
	out.N = len(b)
	out.Addr = peer
	n.dialMu.Lock()
	n.resumes[m.tag] = r
	n.dialMu.Unlock()
	if !e.SendDatagram(out) {
		return ErrNodeClosed
	}
	return nil
}

// resumed turns a verified answer into a session, or into the refusal's error.
func (n *Node) resumed(e *dataplane.Engine, r *resumeDial, st *ResumeState, m *hsMsg, epoch uint64) (*Session, error) {
	if m.typ == frame.TypeResumeRefused {
		return nil, &ResumeError{Reason: ResumeRefusal(m.reason), Epoch: epoch}
	}
	if m.typ != frame.TypeResumeAccept || m.epoch != epoch {
		return nil, fmt.Errorf("%w: the peer's answer names epoch %d, not %d", ErrHandshakeTimeout, m.epoch, epoch)
	}
	i2r, r2i := stc.DeriveResume(&st.snap.Resumption, &m.nonce, &m.respNonce, epoch)
	defer i2r.Erase()
	defer r2i.Erase()
	snap := st.snap
	snap.Epoch = epoch
	r.mu.Lock()
	from := r.from
	r.mu.Unlock()
	s, err := e.Install(dataplane.SessionParams{
		ID: snap.ID, Initiator: true, Peer: from, PeerNodeID: m.respNodeID,
		Send: i2r, Recv: r2i, Resumption: snap.Resumption, Resumed: &snap, FirstPN: m.firstPN,
	})
	if err != nil {
		return nil, fmt.Errorf("resume: install: %w", err)
	}
	return s, nil
}

// unregisterResume forgets every tag of r: no answer is matched to it any more.
func (n *Node) unregisterResume(r *resumeDial) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n.dialMu.Lock()
	defer n.dialMu.Unlock()
	for _, a := range r.attempts {
		if n.resumes[a.tag] == r {
			delete(n.resumes, a.tag)
		}
	}
}
