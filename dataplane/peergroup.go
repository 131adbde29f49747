package dataplane

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// Sessions of one engine to the same peer address share their congestion state (RFC 9040 §5,
// ensemble sharing; docs/RELIABILITY.md "Sessions to one receiver"). Their packets leave the
// same socket for the same socket on the other side, where they meet in one receive queue: a
// thousand sessions each sending its own minimum window would overrun that queue together even
// when each alone would not. So once a second session to an address appears, the sessions to it
// form a peerGroup, and from Config.PeerGroupMin members on (64 by default) its
// recovery.Ensemble bounds what all of them together keep in flight; below that, and for a
// session that has always been alone to its address, each session sends by its own window
// exactly as before. Loss recovery, PTOs, pacing and each member's own window stay per session.
//
// Fairness: while members wait for room in the group's window they queue in arrival order
// (waiters); room freed by any member's acknowledgement wakes the queue's head (wake), and a
// member that was not woken does not go ahead of the queue (admit). A member that finds room
// sends up to its usual per-visit budget, so each visit of a cold session does a useful amount.
//
// Locks, always in this order: a session's mu, Engine.groupMu (the registry and each group's
// members), peerGroup.mu (the queue and the members' groupWait and groupTurn).

// DefaultPeerGroupMin is Config.PeerGroupMin's default: from this many sessions to one peer
// address on, they share a congestion window.
const DefaultPeerGroupMin = 64

// groupQuantum is how many of a woken member's packets the room it is woken for is taken to
// hold: room freed by an acknowledgement wakes one waiter per groupQuantum packets of room.
const groupQuantum = 8

// peerGroup is the congestion state shared by the sessions of one engine to one peer address.
type peerGroup struct {
	ens  *recovery.Ensemble
	addr netip.AddrPort

	members []*Session   // under Engine.groupMu
	size    atomic.Int32 // len(members), readable without the lock: the group binds from PeerGroupMin on

	mu      sync.Mutex
	waiters []*Session   // FIFO from head, each with groupWait set
	head    int          // first live entry of waiters
	nwait   atomic.Int32 // len(waiters) - head, readable without mu
	// woken counts the members given a turn (groupTurn) that have not taken it yet: the room
	// promised to them, groupQuantum packets each, is not offered again until their TX visits
	// take or end their turns (endTurn). Written under mu, readable without it.
	woken atomic.Int32
}

// register records s as a session to addr, forming a group with the session already there if
// there is one. Sessions over a reliable path have no window to share and are not recorded.
// Called with s.mu held or before s is visible to the loops.
//
// The registry is two maps keyed by a seeded 64-bit hash of the address (addrKey), the lone
// sessions' holding only a pointer: 16 bytes a slot, so that a session alone to its address costs
// its idle budget (TestIdleSessionMemory) about 35 bytes. Two addresses whose hashes collide
// (about n²/2^64 for n addresses, and the seed is random per engine) would share a group's window:
// a loss of throughput for them, nothing worse.
func (e *Engine) register(s *Session, addr netip.AddrPort) {
	if s.rel.Load() || !addr.IsValid() || e.cfg.PeerGroupMin < 0 {
		return
	}
	k := e.addrKey(addr)
	e.groupMu.Lock()
	defer e.groupMu.Unlock()
	if e.peers == nil {
		e.peers = make(map[uint64]*Session)
		e.groups = make(map[uint64]*peerGroup)
	}
	if g := e.groups[k]; g != nil {
		g.members = append(g.members, s)
		g.size.Store(int32(len(g.members)))
		s.grp.Store(g)
		return
	}
	lone := e.peers[k]
	if lone == nil || lone == s {
		e.peers[k] = s
		return
	}
	g := &peerGroup{ens: recovery.NewEnsemble(0), addr: addr, members: []*Session{lone, s}}
	g.size.Store(2)
	// The session already there joins on its next TX visit (syncGroup): its lock may not be
	// taken here, under s's.
	lone.grp.Store(g)
	s.grp.Store(g)
	delete(e.peers, k)
	e.groups[k] = g
}

// unregister removes s from the sessions to addr. A group left with one member dissolves: that
// session is alone again and leaves the ensemble on its next TX visit. It returns the group s
// left, if any, whose waiters the caller wakes once s's bytes in flight are out of it.
func (e *Engine) unregister(s *Session, addr netip.AddrPort) *peerGroup {
	k := e.addrKey(addr)
	e.groupMu.Lock()
	defer e.groupMu.Unlock()
	if e.peers[k] == s {
		delete(e.peers, k)
		return nil
	}
	g := e.groups[k]
	if g == nil || s.grp.Load() != g {
		return nil
	}
	s.grp.Store(nil)
	g.drop(s)
	for i, m := range g.members {
		if m == s {
			last := len(g.members) - 1
			g.members[i] = g.members[last]
			g.members[last] = nil
			g.members = g.members[:last]
			break
		}
	}
	g.size.Store(int32(len(g.members)))
	if len(g.members) == 1 {
		last := g.members[0]
		last.grp.Store(nil)
		g.drop(last)
		g.members = nil
		delete(e.groups, k)
		e.peers[k] = last
		e.enqueue(last) // it may have been waiting for the group: it sends on its own now
	}
	return g
}

// addrKey is the registry's key for addr.
func (e *Engine) addrKey(addr netip.AddrPort) uint64 { return maphash.Comparable(e.peerSeed, addr) }

// moveGroup re-registers s after its peer address changed from old. mu held.
func (s *Session) moveGroup(old netip.AddrPort) {
	g := s.e.unregister(s, old)
	s.sender.LeaveEnsemble()
	if g != nil {
		g.wake(s.e)
	}
	s.e.register(s, s.peer)
	s.syncGroup()
}

// leaveGroup takes a closing session out of its group, with its bytes in flight. mu held.
func (s *Session) leaveGroup() {
	g := s.e.unregister(s, s.peer)
	s.sender.LeaveEnsemble()
	if g != nil {
		g.wake(s.e)
	}
}

// syncGroup makes the session's sender a member of the ensemble of the group it was put in
// (register may put it there from another session's goroutine), or of none while the group has
// fewer than Config.PeerGroupMin members. It returns the group when it binds, else nil. mu held.
func (s *Session) syncGroup() *peerGroup {
	g := s.grp.Load()
	if g != nil && int(g.size.Load()) < s.e.cfg.PeerGroupMin {
		g = nil // too few members to bind: each sends by its own window (Config.PeerGroupMin)
	}
	var ens *recovery.Ensemble
	if g != nil {
		ens = g.ens
	}
	if s.sender.Ensemble() != ens {
		s.sender.JoinEnsemble(ens)
	}
	return g
}

// wait queues s, which has something to send that only the group's window holds back. A member
// that was woken and found no room goes back to the head of the queue; any other to its tail.
// s's mu held.
func (g *peerGroup) wait(s *Session, e *Engine) {
	g.mu.Lock()
	if !s.groupWait {
		s.groupWait = true
		if s.groupTurn && g.head > 0 {
			g.clearTurn(s)
			g.head--
			g.waiters[g.head] = s
		} else {
			g.clearTurn(s)
			g.waiters = append(g.waiters, s)
		}
		g.nwait.Store(int32(len(g.waiters) - g.head))
	}
	g.mu.Unlock()
	// An acknowledgement that freed room just before s was queued saw no waiter and woke nobody:
	// look again now that s is in the queue.
	if g.ens.Room() {
		g.wake(e)
	}
}

// admit reports whether s, whose own window and the group's have room, may send now: when
// nobody waits, or when s was woken from the queue for this turn. Otherwise s joins the queue.
// s's mu held.
func (g *peerGroup) admit(s *Session, e *Engine) bool {
	if g.nwait.Load() == 0 {
		return true
	}
	g.mu.Lock()
	turn := s.groupTurn
	g.clearTurn(s)
	g.mu.Unlock()
	if turn {
		return true
	}
	g.wait(s, e)
	return false
}

// clearTurn ends s's turn, if it has one, and with it the room promised to it. g.mu held.
func (g *peerGroup) clearTurn(s *Session) {
	if s.groupTurn {
		s.groupTurn = false
		g.woken.Add(-1)
	}
}

// endTurn ends the turn a TX visit of s did not take (s had nothing to send, or its own
// window held it), so that the room promised to it goes to the next waiter rather than
// staying promised until s next sends. Every woken member is visited (wake queues it for the
// TX loop), so every promise ends. TX loop, s's mu held.
func (g *peerGroup) endTurn(s *Session, e *Engine) {
	if g.woken.Load() == 0 {
		return
	}
	g.mu.Lock()
	had := s.groupTurn
	g.clearTurn(s)
	g.mu.Unlock()
	if had {
		g.wake(e)
	}
}

// wake gives the head of the queue its turn, one waiter per groupQuantum packets of room in the
// group's window beyond what earlier turns not yet taken were promised, and hands them to the
// TX loop. Each acknowledgement calls it: without the promises, the acknowledgements arriving
// before the TX loop came round each offered the same room again, and at 1000 members most of
// the members woken found it taken, a visit of one cold session's state for nothing (two
// empty visits per packet sent).
func (g *peerGroup) wake(e *Engine) {
	if g.nwait.Load() == 0 {
		return
	}
	room := g.ens.Window() - g.ens.BytesInFlight()
	if room <= 0 {
		return
	}
	g.mu.Lock()
	woke := false
	for g.head < len(g.waiters) {
		s := g.waiters[g.head]
		q := groupQuantum * s.payloadSize()
		if room-int(g.woken.Load())*q <= 0 {
			break
		}
		g.waiters[g.head] = nil
		g.head++
		s.groupWait, s.groupTurn = false, true
		g.woken.Add(1)
		e.enqueue(s)
		woke = true
	}
	g.compact()
	g.mu.Unlock()
	if woke {
		e.wake.Notify()
	}
}

// drop takes s out of the queue, if it is in it (s leaves the group). Under Engine.groupMu.
func (g *peerGroup) drop(s *Session) {
	g.mu.Lock()
	if s.groupWait {
		for i := g.head; i < len(g.waiters); i++ {
			if g.waiters[i] == s {
				copy(g.waiters[i:], g.waiters[i+1:])
				g.waiters[len(g.waiters)-1] = nil
				g.waiters = g.waiters[:len(g.waiters)-1]
				break
			}
		}
	}
	s.groupWait = false
	g.clearTurn(s)
	g.compact()
	g.mu.Unlock()
}

// compact moves the live part of the queue to the front of its array once the dead part is at
// least as long, so the array stays within twice the members and appending never allocates in
// steady state. g.mu held.
func (g *peerGroup) compact() {
	if g.head > 0 && g.head >= len(g.waiters)-g.head {
		n := copy(g.waiters, g.waiters[g.head:])
		clear(g.waiters[n:])
		g.waiters = g.waiters[:n]
		g.head = 0
	}
	g.nwait.Store(int32(len(g.waiters) - g.head))
}

// groupGate applies the group's turn-taking to a packet s may (dataOK) or may not send by its
// own window and pacing: it returns whether s sends. A member held back by the group's window
// alone, or by the queue of others waiting for it, is queued. TX loop, mu held.
func (t *txLoop) groupGate(s *Session, dataOK bool) bool {
	g := t.grp
	if g == nil || s.probes > 0 {
		return dataOK
	}
	if !dataOK {
		if s.sender.EnsembleLimited() && s.hasFrames() {
			t.grpAdmitted = false
			g.wait(s, t.e)
		}
		return false
	}
	if t.grpAdmitted {
		return true
	}
	if !s.hasFrames() {
		return true // an ACK alone, or nothing: no turn to take
	}
	if g.admit(s, t.e) {
		t.grpAdmitted = true
		return true
	}
	return false
}

// GroupStats describes the congestion state shared by the sessions of one engine to one peer
// address (see Engine.PeerGroups).
type GroupStats struct {
	Peer          netip.AddrPort
	Members       int
	Window        int // the group's window, bytes
	BytesInFlight int // what all members have in flight together
	Waiting       int // members queued for room in the window
}

// PeerGroups returns the groups of sessions that share congestion state on this engine: one per
// peer address with two sessions or more.
func (e *Engine) PeerGroups() []GroupStats {
	e.groupMu.Lock()
	defer e.groupMu.Unlock()
	var out []GroupStats
	for _, g := range e.groups {
		out = append(out, GroupStats{Peer: g.addr, Members: len(g.members), Window: g.ens.Window(),
			BytesInFlight: g.ens.BytesInFlight(), Waiting: int(g.nwait.Load())})
	}
	return out
}
