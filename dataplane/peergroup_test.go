package dataplane

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/stc"
)

// newGroupPair installs n sessions between two hand-driven engines, a (the initiator, one
// socket at pairAddrA) and b (pairAddrB): every session of a has the same peer address, so they
// form one peer group on each side.
func newGroupPair(t testing.TB, n int) (a, b *side, as, bs []*Session) {
	return newGroupPairCfg(t, n, Config{})
}

// newGroupPairCfg is newGroupPair with both engines configured by cfg; unless cfg says
// otherwise, any two sessions to one address share a window (PeerGroupMin 2).
func newGroupPairCfg(t testing.TB, n int, cfg Config) (a, b *side, as, bs []*Session) {
	t.Helper()
	if cfg.PeerGroupMin == 0 {
		cfg.PeerGroupMin = 2
	}
	mk := func(local netip.AddrPort) *side {
		c := newMemConnSize(local, 1024, 64<<10)
		e := NewEngine(c, cfg, nil)
		return &side{e: e, conn: c, tx: newTxLoop(e), rx: newRxLoop(e)}
	}
	a, b = mk(pairAddrA), mk(pairAddrB)
	for i := 0; i < n; i++ {
		as = append(as, installGroupMember(t, a, b, i))
		bs = append(bs, b.e.table.Lookup(groupMemberID(i)))
	}
	b.step()
	deliver(b, a)
	a.step()
	deliver(a, b)
	for i, s := range as {
		if !s.Established() {
			t.Fatalf("session %d not established", i)
		}
	}
	return a, b, as, bs
}

func groupMemberID(i int) [8]byte { return [8]byte{7, byte(i), byte(i >> 8)} }

// installGroupMember installs session i of a group pair on both engines and returns a's.
func installGroupMember(t testing.TB, a, b *side, i int) *Session {
	t.Helper()
	var i2r, r2i stc.Secret
	i2r[0], i2r[1], r2i[0], r2i[1] = byte(i), byte(i>>8), 0xee, byte(i)
	s, err := a.e.Install(SessionParams{ID: groupMemberID(i), Initiator: true, Peer: pairAddrB, Send: i2r, Recv: r2i})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.e.Install(SessionParams{ID: groupMemberID(i), Peer: pairAddrA, Send: r2i, Recv: i2r, Final: true}); err != nil {
		t.Fatal(err)
	}
	return s
}

// groupOf returns the one peer group of e's sessions to addr, or nil.
func groupOf(e *Engine, addr netip.AddrPort) *peerGroup {
	e.groupMu.Lock()
	defer e.groupMu.Unlock()
	return e.groups[e.addrKey(addr)]
}

// checkGroupFlight asserts the group's invariant: its bytes in flight are the sum of what its
// members' senders have in flight. The hand-driven engines run on the test goroutine only.
func checkGroupFlight(t *testing.T, g *peerGroup, members []*Session) {
	t.Helper()
	sum := 0
	for _, s := range members {
		if s.sender.Ensemble() == g.ens {
			sum += s.sender.BytesInFlight()
		}
	}
	if got := g.ens.BytesInFlight(); got != sum {
		t.Fatalf("group in flight %d, members' sum %d", got, sum)
	}
}

// writeEach writes n bytes on a new stream of each session.
func writeEach(t *testing.T, sessions []*Session, n int) []*Stream {
	t.Helper()
	data := make([]byte, n)
	var sts []*Stream
	for _, s := range sessions {
		st, err := s.OpenStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(data); err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	return sts
}

func received(bs []*Session) (total uint64, least uint64) {
	least = ^uint64(0)
	for _, s := range bs {
		r := s.Stats().StreamBytesRecv
		total += r
		least = min(least, r)
	}
	return total, least
}

// TestPeerGroupLoneSessionUntouched: a session alone to its address belongs to no group, and its
// sender to no ensemble, before and after it sends.
func TestPeerGroupLoneSessionUntouched(t *testing.T) {
	a, b := newPair(t, Config{})
	writeEach(t, []*Session{a.s}, 256<<10)
	pumpUntil(t, a, b, nil, func() bool { return b.s.Stats().StreamBytesRecv >= 256<<10 })
	for _, x := range []*side{a, b} {
		if x.s.grp.Load() != nil || x.s.sender.Ensemble() != nil || len(x.e.PeerGroups()) != 0 {
			t.Fatalf("a lone session is in a group: %+v", x.e.PeerGroups())
		}
	}
}

// TestPeerGroupFormsAndDissolves: a second session to an address forms a group with the first,
// a third joins it; as they close the group shrinks, and the last one is alone again, with no
// ensemble, and nothing is left in the registry once every session ended.
func TestPeerGroupFormsAndDissolves(t *testing.T) {
	a, _, as, _ := newGroupPair(t, 3)
	g := groupOf(a.e, pairAddrB)
	if g == nil || len(g.members) != 3 {
		t.Fatalf("groups %+v", a.e.PeerGroups())
	}
	for i, s := range as {
		if s.grp.Load() != g || s.sender.Ensemble() != g.ens {
			t.Fatalf("session %d: group %p ensemble %p, want %p %p", i, s.grp.Load(), s.sender.Ensemble(), g, g.ens)
		}
	}
	as[0].terminate(&CloseError{Code: CodeNoError})
	if len(g.members) != 2 || as[0].grp.Load() != nil || as[0].sender.Ensemble() != nil {
		t.Fatalf("after a close: %d members", len(g.members))
	}
	as[1].terminate(&CloseError{Code: CodeNoError})
	if groupOf(a.e, pairAddrB) != nil || as[2].grp.Load() != nil || len(a.e.PeerGroups()) != 0 {
		t.Fatal("a group of one left")
	}
	a.step() // the last member's TX visit takes its sender out of the ensemble
	if as[2].sender.Ensemble() != nil {
		t.Fatal("the last member kept the ensemble")
	}
	as[2].terminate(&CloseError{Code: CodeNoError})
	if len(a.e.peers)+len(a.e.groups) != 0 {
		t.Fatalf("registry holds %d addresses after every session ended", len(a.e.peers)+len(a.e.groups))
	}
}

// TestPeerGroupBindsFromMin: sessions to one address share a window only from PeerGroupMin
// members on. Below it (the default 64 against 3 sessions) they are registered together but each
// sends by its own window; the member that reaches the minimum makes every member join the
// ensemble on its next TX visit, and one leaving below it makes them all leave it again.
func TestPeerGroupBindsFromMin(t *testing.T) {
	a, _, as, _ := newGroupPairCfg(t, 3, Config{PeerGroupMin: DefaultPeerGroupMin})
	g := groupOf(a.e, pairAddrB)
	if g == nil || len(g.members) != 3 {
		t.Fatalf("groups %+v", a.e.PeerGroups())
	}
	for i, s := range as {
		if s.sender.Ensemble() != nil {
			t.Fatalf("session %d joined the ensemble of a group of 3 with PeerGroupMin %d", i, DefaultPeerGroupMin)
		}
	}

	a, _, as, _ = newGroupPairCfg(t, 4, Config{PeerGroupMin: 4})
	g = groupOf(a.e, pairAddrB)
	a.step()
	for i, s := range as {
		if s.sender.Ensemble() != g.ens {
			t.Fatalf("session %d not in the ensemble of a group of 4 with PeerGroupMin 4", i)
		}
	}
	as[3].terminate(&CloseError{Code: CodeNoError})
	for _, s := range as[:3] {
		s.mu.Lock()
		s.syncGroup() // what the member's next TX visit does
		s.mu.Unlock()
	}
	for i, s := range as[:3] {
		if s.sender.Ensemble() != nil || g.ens.BytesInFlight() != 0 {
			t.Fatalf("session %d kept the ensemble of a group fallen to 3 (in flight %d)", i, g.ens.BytesInFlight())
		}
	}
}

// TestPeerGroupShortSessions: a member that closes leaves its group at once, with its bytes in
// flight, not at the end of its drain: they will not be acknowledged now, and counted they held
// the group's window for the live members. Many short sessions to one peer (a dial and a close
// each, the peers report's handshake row) stalled behind their closing predecessors: no dial of
// 64 concurrent ones completed within half a second in 8 runs out of 10.
func TestPeerGroupShortSessions(t *testing.T) {
	a, _, as, _ := newGroupPair(t, 3)
	g := groupOf(a.e, pairAddrB)
	writeEach(t, as[:1], 64<<10)
	a.step() // sent, not delivered: in flight
	mine := as[0].sender.BytesInFlight()
	if mine == 0 || g.ens.BytesInFlight() < mine {
		t.Fatalf("member in flight %d, group %d: nothing to take out", mine, g.ens.BytesInFlight())
	}
	as[0].CloseWithError(CodeNoError, "")
	if as[0].grp.Load() != nil || as[0].sender.Ensemble() != nil {
		t.Fatal("a closing member is still in its group")
	}
	select {
	case <-as[0].Done():
		t.Fatal("the session ended at once: the test no longer shows a member leaving before its drain")
	default:
	}
	checkGroupFlight(t, g, as[1:])
}

// TestPeerGroupAccounting moves data on several sessions of a group through a lossy path (every
// fifth datagram dropped, and once half is delivered a blackout that only the members' probe
// timeouts end) and checks after every round that the group's bytes in flight are its members'
// sum; once everything is delivered and acknowledged they are 0, and they stay consistent as
// members close one by one, until nothing is left in the registry.
func TestPeerGroupAccounting(t *testing.T) {
	const n, size = 6, 96 << 10
	a, b, as, bs := newGroupPair(t, n)
	g := groupOf(a.e, pairAddrB)
	writeEach(t, as, size)
	black := false
	ptos := func() (sum uint64) {
		for _, s := range as {
			sum += s.Stats().PTOs
		}
		return sum
	}
	pumpLossy(t, a, b, func(i int) bool {
		if black && ptos() == 0 {
			return true
		}
		return i%5 == 4
	}, func() bool {
		checkGroupFlight(t, g, as)
		total, _ := received(bs)
		if total >= n*size/2 {
			black = true
		}
		return total >= n*size && g.ens.BytesInFlight() == 0
	})
	var lost uint64
	for _, s := range as {
		lost += s.Stats().PacketsLost
	}
	if lost == 0 || ptos() == 0 {
		t.Fatalf("the path lost %d packets and caused %d PTOs: the test did not exercise recovery", lost, ptos())
	}
	for i, s := range as {
		s.terminate(&CloseError{Code: CodeNoError})
		checkGroupFlight(t, g, as[i+1:])
	}
	if len(a.e.peers)+len(a.e.groups) != 0 || g.ens.BytesInFlight() != 0 {
		t.Fatalf("after every close: registry %d, group in flight %d", len(a.e.peers)+len(a.e.groups), g.ens.BytesInFlight())
	}
}

// pumpLossy exchanges rounds between a and b until cond holds, dropping the datagrams from a to b
// for which drop (given their running count) says so. Timers run on the real clock, as in
// pumpUntil: a round that moved nothing waits 100 µs for one to come due; the deadline only
// guards hangs.
func pumpLossy(t *testing.T, a, b *side, drop func(i int) bool, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	i := 0
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("pumpLossy: condition not reached")
		}
		a.step()
		dgs, _ := takeCopies(a)
		kept := dgs[:0]
		for _, d := range dgs {
			if !drop(i) {
				kept = append(kept, d)
			}
			i++
		}
		inject(b, kept...)
		b.step()
		back, _ := takeCopies(b)
		inject(a, back...)
		if len(dgs)+len(back) == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// TestPeerGroupFairness holds a group of 8 sessions, each with more to send than the test waits
// for, to a window of 4 packets: they take turns, so by the time a quarter of everything has
// arrived every member has delivered at least a third of the average, and the group never has
// more in flight than its window plus the packet that crossed it (and the probes of PTOs).
func TestPeerGroupFairness(t *testing.T) {
	const n, size = 8, 256 << 10
	a, b, as, bs := newGroupPair(t, n)
	g := groupOf(a.e, pairAddrB)
	// A small window of its own, installed before the members' first data: they re-join it at
	// their next TX visit.
	g.ens = recovery.NewEnsemble(4 * 1200)
	writeEach(t, as, size)
	peak, slack := 0, 0
	pumpLossy(t, a, b, func(int) bool { return false }, func() bool {
		var ptos uint64
		for _, s := range as {
			ptos += s.Stats().PTOs
			slack = max(slack, s.payloadSize())
		}
		if f := g.ens.BytesInFlight(); f > g.ens.Window()+slack*(1+2*int(ptos)) {
			t.Fatalf("group in flight %d, window %d, %d PTOs", f, g.ens.Window(), ptos)
		}
		peak = max(peak, g.ens.BytesInFlight())
		total, _ := received(bs)
		return total >= n*size/4
	})
	total, least := received(bs)
	if least*3 < total/n {
		t.Fatalf("least served member received %d bytes, the average %d: starved", least, total/n)
	}
	if g.ens.Window() != 4*1200 {
		t.Fatalf("window %d", g.ens.Window())
	}
	t.Logf("received %d in all, least %d per member; peak in flight %d", total, least, peak)
}

// TestPeerGroupMigration moves a member with data in flight to another address: it leaves the
// group with its bytes in flight (the group's sum stays its members'), is alone at the new
// address, and joins again when it moves back; closing everything leaves no accounting behind.
func TestPeerGroupMigration(t *testing.T) {
	const n = 3
	a, b, as, _ := newGroupPair(t, n)
	g := groupOf(a.e, pairAddrB)
	writeEach(t, as, 64<<10)
	a.step() // data in flight on every member, none acknowledged
	checkGroupFlight(t, g, as)
	if g.ens.BytesInFlight() == 0 {
		t.Fatal("nothing in flight")
	}
	other := netip.MustParseAddrPort("10.0.0.3:3000")
	move := func(s *Session, to netip.AddrPort) {
		s.mu.Lock()
		s.pathSt()
		s.moveTo(to, moveManual)
		s.mu.Unlock()
	}
	move(as[0], other)
	if len(g.members) != n-1 || as[0].grp.Load() != nil || as[0].sender.Ensemble() != nil {
		t.Fatalf("after moving away: %d members, group %p", len(g.members), as[0].grp.Load())
	}
	checkGroupFlight(t, g, as)
	if groupOf(a.e, other) != nil {
		t.Fatal("a lone session at the new address is in a group")
	}
	move(as[0], pairAddrB)
	if len(g.members) != n || as[0].sender.Ensemble() != g.ens {
		t.Fatalf("after moving back: %d members", len(g.members))
	}
	checkGroupFlight(t, g, as)
	pumpUntil(t, a, b, nil, func() bool { return g.ens.BytesInFlight() == 0 })
	for _, s := range as {
		s.terminate(&CloseError{Code: CodeNoError})
	}
	if len(a.e.peers)+len(a.e.groups) != 0 || g.ens.BytesInFlight() != 0 {
		t.Fatalf("registry %d, in flight %d", len(a.e.peers)+len(a.e.groups), g.ens.BytesInFlight())
	}
}

// TestPeerGroupWakePromises: room in the group's window is promised to the members it wakes
// until their TX visits take or end their turns, so the acknowledgements that arrive before the
// TX loop comes round do not each offer the same room again (at 1000 members that woke two
// members for nothing per packet sent, each an empty visit of a cold session's state). Members
// that each get one message per round, as from a broadcast, send a packet or two per visit, so
// many of them are acknowledged per round: after each round's acknowledgements, the members
// holding a turn are no more than the room's quanta. The TX visits end every turn (a promise
// that outlived its visit would leave the group waking nobody), and everything arrives.
func TestPeerGroupWakePromises(t *testing.T) {
	const n, rounds, msg = 24, 60, 1000
	a, b, as, bs := newGroupPair(t, n)
	g := groupOf(a.e, pairAddrB)
	q := groupQuantum * as[0].payloadSize()
	g.ens = recovery.NewEnsemble(2 * q)
	sts := writeEach(t, as, msg)
	data := make([]byte, msg)
	turns := func() (k int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, s := range as {
			if s.groupTurn {
				k++
			}
		}
		return k
	}
	checked := 0
	for round := 1; round < rounds; round++ {
		for _, st := range sts {
			if _, err := st.Write(data); err != nil {
				t.Fatal(err)
			}
		}
		a.step() // the members with room send, the rest queue for the window
		deliver(a, b)
		b.step()
		waiting := int(g.nwait.Load())
		acks := deliver(b, a) // each acknowledgement wakes the queue (onAck), no TX pass between
		if waiting > 1 && acks > 1 {
			checked++
			room := max(0, g.ens.Window()-g.ens.BytesInFlight())
			if k, most := turns(), (room+q-1)/q; k > most {
				t.Fatalf("round %d: %d acknowledgements left %d members holding a turn, room %d holds %d quanta", round, acks, k, room, most)
			}
		}
	}
	if checked < rounds/2 {
		t.Fatalf("%d of %d rounds had several acknowledgements for a queue: the test did not exercise wake", checked, rounds)
	}
	settle := func(when string) {
		t.Helper()
		// A pass's own visits may wake members for the room left (serve, wait): the next pass
		// visits them. With no acknowledgement coming the room only shrinks, so this ends.
		for i := 0; i < 10 && g.woken.Load() != 0; i++ {
			a.step()
		}
		if w := g.woken.Load(); w != 0 || turns() != 0 {
			t.Fatalf("%s: after 10 TX passes %d turns are still promised (%d held)", when, w, turns())
		}
	}
	settle("mid-transfer")
	pumpLossy(t, a, b, func(int) bool { return false }, func() bool {
		total, _ := received(bs)
		return total >= n*rounds*msg
	})
	settle("after the transfer")
}
