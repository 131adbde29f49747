package dataplane

import (
	"errors"
	"net/netip"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/stc"
)

// Session resumption (docs/PROTOCOL.md §4, "Resumption"): the data plane's half. The control
// plane runs the RESUME exchange and derives the keys; here a session hands out what another
// device needs to go on (Snapshot), the peer switches a live session to the new keys (Resume),
// and the new device installs a session that continues the old one (SessionParams.Resumed).

// ErrResumeStale reports a resumption whose epoch is not above every epoch the session already
// accepted: its state was superseded by a later resume (or it is a replay).
var ErrResumeStale = errors.New("sttfast: resume epoch superseded")

// ResumedStream is what a resumed session knows of one stream this side opened: the peer holds
// every byte below SendBase (the sender restarts there), and may receive up to PeerMax.
type ResumedStream struct {
	ID       uint64
	SendBase uint64
	PeerMax  uint64
}

// sessionResume is a session's resumption state, allocated for sessions that have a resumption
// secret (every session the control plane makes), apart from Session so that a session without
// one costs a pointer. Guarded by the session's mutex; retired and retiredFlush belong to the
// TX loop.
type sessionResume struct {
	secret       stc.Secret    // the session's resumption secret (PROTOCOL.md §4)
	epoch        uint64        // the last resume epoch accepted or resumed from
	window       time.Duration // silence kept resumable beyond the idle timeout (0: none)
	tx           *stc.KeyChain // send keys of a resumption, for the TX loop to adopt
	retired      *stc.KeyChain // send keys a resumption replaced, erased after retiredFlush
	retiredFlush uint64
	accepted     uint64 // resumptions accepted (Session.Resume)
}

// Snapshot is a session's resumable state: never a traffic key, only the resumption secret from
// which a resumption derives fresh ones. The holder must Erase it.
type Snapshot struct {
	ID          [8]byte
	PeerNodeID  [8]byte
	Epoch       uint64 // the last resume epoch accepted (0: never resumed)
	Resumption  stc.Secret
	NextLocal   uint64 // the next stream id this side would open
	LocalOpened uint64
	PeerMaxData uint64
	PeerMaxStrs uint64
	Streams     []ResumedStream
}

// Erase overwrites the resumption secret.
func (sn *Snapshot) Erase() { sn.Resumption.Erase() }

// Snapshot returns the session's resumable state. For each open stream of this side, SendBase is
// its acknowledged prefix, clipped down to base(id, acked) when base is not nil (an application
// that frames its data restarts at a boundary of its own, at or below what the peer has). The
// peer's bytes on those streams that were not yet read are not part of it: a resumed stream
// starts receiving at offset 0 (the command's streams carry data one way).
func (s *Session) Snapshot(base func(id, acked uint64) uint64) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r sessionResume
	if s.res != nil {
		r = *s.res
	}
	sn := Snapshot{ID: s.id, PeerNodeID: s.peerNode, Epoch: r.epoch, Resumption: r.secret,
		NextLocal: s.nextLocal, LocalOpened: s.localOpened, PeerMaxData: s.peerMaxData, PeerMaxStrs: s.peerMaxStreams}
	for id, st := range s.streams {
		if id&1 != s.localParity() || st.removed {
			continue
		}
		acked := st.send.Acked()
		b := acked
		if base != nil {
			b = min(base(id, acked), acked)
		}
		sn.Streams = append(sn.Streams, ResumedStream{ID: id, SendBase: b, PeerMax: st.peerMax})
	}
	return sn
}

// ResumeSecret returns the session's resumption secret and the last resume epoch it accepted,
// for the control plane to check a RESUME's binder and derive its keys. The caller must Erase
// the secret.
func (s *Session) ResumeSecret() (stc.Secret, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return stc.Secret{}, 0
	}
	return s.res.secret, s.res.epoch
}

// Resumes returns how many resumptions this side of the session accepted (Session.Resume).
func (s *Session) Resumes() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return 0
	}
	return s.res.accepted
}

// Resume switches a live session to the keys of resumption epoch (peer side): from now on it
// opens only packets under recv, sends under send to peer, and counts every packet of the
// device it resumes from (still under the old keys) as an authentication drop. It fails with
// ErrResumeStale unless epoch is above every epoch accepted before, and with ErrSessionClosed
// once the session has ended. It returns the packet number the resuming device must start at:
// above every number this side has authenticated, so the replay window and ACK state go on.
func (s *Session) Resume(epoch uint64, send, recv stc.Secret, peer netip.AddrPort) (firstPN uint64, err error) {
	tx, err := stc.NewKeyChain(send)
	if err != nil {
		return 0, err
	}
	rx, err := stc.NewKeyChain(recv)
	if err != nil {
		tx.Erase()
		return 0, err
	}
	s.mu.Lock()
	if sessState(s.state.Load()) >= stateClosing {
		s.mu.Unlock()
		tx.Erase()
		rx.Erase()
		return 0, ErrSessionClosed
	}
	if s.res == nil {
		s.res = new(sessionResume)
	}
	r := s.res
	if epoch <= r.epoch {
		s.mu.Unlock()
		tx.Erase()
		rx.Erase()
		return 0, ErrResumeStale
	}
	r.epoch = epoch
	s.rxKeys.Erase()
	s.rxKeys, s.rxPrevDrop = rx, 0
	if r.tx != nil {
		r.tx.Erase() // a resume the TX loop had not yet adopted: superseded
	}
	r.tx = tx
	r.accepted++
	if largest, ok := s.replay.Largest(); ok {
		firstPN = largest + 1
	}
	if old := s.peer; old != peer {
		s.peer = peer
		s.moveGroup(old)
	}
	s.lastRecv = recovery.Now()
	// Tell the new device at once, under the new keys, what it may send, and prove them.
	s.needPing, s.needMaxData, s.needMaxStreams = true, true, true
	for _, st := range s.streams {
		if st.id&1 != s.localParity() && st.creditPending.CompareAndSwap(false, true) {
			s.creditq = append(s.creditq, st)
		}
	}
	s.mu.Unlock()
	s.e.notify(s)
	return firstPN, nil
}

// adoptResumedKeys makes the TX loop seal under the keys of the latest resumption. The old
// chain may still be named by seal jobs of the batch being built, so it is erased only after
// that batch is flushed (eraseRetiredKeys). TX loop only; mu held.
func (t *txLoop) adoptResumedKeys(s *Session) {
	r := s.res
	if r == nil {
		return
	}
	if r.retired != nil && r.tx != nil && t.flush <= r.retiredFlush {
		t.send() // seal what still names the older retired chain before it is erased
	}
	t.eraseRetiredKeys(r)
	if r.tx == nil {
		return
	}
	r.retired, r.retiredFlush = s.txKeys, t.flush
	s.txKeys, r.tx = r.tx, nil
	s.txPrevFlush = 0
	s.txGenStart = t.now
}

// eraseRetiredKeys erases the send chain a resumption replaced once the batch that may have
// used it has left. TX loop only; mu held.
func (t *txLoop) eraseRetiredKeys(r *sessionResume) {
	if r.retired != nil && t.flush > r.retiredFlush {
		r.retired.Erase()
		r.retired = nil
	}
}

// installResumed sets up a session created by SessionParams.Resumed: its streams continue at
// their bases, its credits are what the peer last granted, its packets number from firstPN.
// Called by newSession before the session is visible; no lock needed.
func (s *Session) installResumed(sn *Snapshot, firstPN uint64) {
	cfg := &s.e.cfg
	s.res.epoch = sn.Epoch
	s.nextLocal, s.localOpened = sn.NextLocal, sn.LocalOpened
	s.peerMaxData, s.peerMaxStreams = max(sn.PeerMaxData, InitialMaxData), max(sn.PeerMaxStrs, InitialMaxStreams)
	s.sender.StartAt(firstPN)
	for _, rs := range sn.Streams {
		st := s.newStream(rs.ID)
		st.send.InitAt(cfg.SendBuffer, rs.SendBase)
		st.nextOff = rs.SendBase
		st.peerMax = max(rs.PeerMax, InitialMaxStreamData)
		st.peerMaxPub.Store(st.peerMax)
		s.sentData += rs.SendBase
	}
}

// Stream returns the stream with the given id, or nil: how a resumed session's application finds
// the streams it continues.
func (s *Session) Stream(id uint64) *Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[id]
}

// SendAcked returns the stream's acknowledged prefix: every byte of it below this offset is at
// the peer (what a resumable state records).
func (st *Stream) SendAcked() uint64 { return st.send.Acked() }

// idleLimit is how long a silent session lives: the idle timeout, or the resume window when the
// session is kept resumable longer.
func (s *Session) idleLimit(cfg *Config) recovery.Time {
	if s.res == nil {
		return recovery.Time(cfg.IdleTimeout)
	}
	return recovery.Time(max(cfg.IdleTimeout, s.res.window))
}
