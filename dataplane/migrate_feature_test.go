package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// Migration on the hand-driven pair (a dials, b responds): nonces across moves, floods of
// challenges, and Migrate on real sockets.

// doneCtx is a context that is already done, for an AcceptStream that must not wait.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// sentPN is one protected packet as it left a side: its key phase and full packet number.
type sentPN struct {
	phase uint8
	pn    uint64
}

// headerPN parses d's header: every packet this implementation sends carries a 4- or 8-byte
// packet number, which for a session below 2^31 packets is the full number.
func headerPN(t *testing.T, d []byte) sentPN {
	t.Helper()
	var h frame.Header
	if err := frame.ParseHeader(d, &h); err != nil {

		t.Fatal(err)
	}
	if h.PNLen < 4 {
		t.Fatalf("a %d-byte packet number", h.PNLen)
	}
	return sentPN{phase: h.KeyPhase, pn: h.PacketNumber}
}

// TestNoncesNeverRepeatAcrossMigrations is the property that no AEAD nonce repeats under any
// key of a session however often it moves: over seeded random runs, the dialer's address
// changes (NAT rebindings and new hosts, so the responder moves with and without keeping its
// estimates), packets to an old address are lost, others are dropped at random, and keys
// rotate every few hundred packets. Every packet each side sends carries a larger packet
// number than the one before it, and the stream arrives byte-exact.
//
// Why that is the whole proof: the nonce of a packet is the key's salt XOR its packet number
// (docs/PROTOCOL.md §4). A direction's packet numbers come from one counter,
// recovery.Sender.nextPN, that only OnPacketSent advances and that neither ChangePath (a move)
// nor a key update ever resets (ChangePath keeps nextPN; Drop moves histBase up to it). Key
// generations cover consecutive ranges of that counter (a generation starts at the packet
// number of its first packet, stc.KeyChain.AdvanceAt). So within one key the numbers, hence the
// nonces, are distinct; across keys the keys differ. The test checks the counter's observable
// result, strictly increasing numbers on the wire in sending order, through every kind of move.
func TestNoncesNeverRepeatAcrossMigrations(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 77))
		a, b := newPair(t, Config{KeyUpdatePackets: 150})
		st, err := a.s.OpenStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		data := randomBytes(3<<20, seed)
		// Everything runs on this goroutine: the hand-driven engines are not started, so a
		// write must not run the TX loop's work on another goroutine at the same time.
		written := 0
		var got []byte
		var bst *Stream
		buf := make([]byte, 64<<10)
		pump := func() {
			for written < len(data) {
				ok, err := st.TryWriteMessage(data[written : written+16<<10])
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				written += 16 << 10
			}
			if bst == nil {
				bst, _ = b.s.AcceptStream(doneCtx)
				if bst == nil {
					return
				}
			}
			bst.SetReadDeadline(time.Now().Add(-time.Second))
			for {
				n, err := bst.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil || n == 0 {
					return
				}
			}
		}
		from := pairAddrA // where b sees a's packets come from now
		sent := map[string][]sentPN{"dialer": nil, "responder": nil}
		record := func(who string, dgs []capturedDG) {
			for _, d := range dgs {
				sent[who] = append(sent[who], headerPN(t, d.b))
			}
		}
		moves := 0
		deadline := time.Now().Add(60 * time.Second) // a guard against hangs only
		for len(got) < len(data) {
			if time.Now().After(deadline) {
				t.Fatalf("seed %d: stuck at %d bytes", seed, len(got))
			}
			pump()
			if rng.IntN(40) == 0 {
				// The dialer's address changes: a new port (a NAT rebinding) or a new host.
				port := uint16(1000 + rng.IntN(60000))
				addr := from.Addr()
				if rng.IntN(2) == 0 {
					addr = netip.AddrFrom4([4]byte{10, 9, byte(rng.IntN(256)), byte(1 + rng.IntN(250))})
				}
				from = netip.AddrPortFrom(addr, port)
				moves++
			}
			a.step()
			up, _ := takeCopies(a)
			record("dialer", up)
			var keep []capturedDG
			for _, d := range up {
				if rng.IntN(20) != 0 { // 5% loss
					keep = append(keep, capturedDG{b: d.b, from: from})
				}
			}
			inject(b, keep...)
			b.step()
			down, to := takeCopies(b)
			record("responder", down)
			keep = keep[:0]
			for i, d := range down {
				if to[i] == from && rng.IntN(20) != 0 { // what goes to an old address is lost
					keep = append(keep, d)
				}
			}
			inject(a, keep...)
			if len(up) == 0 && len(down) == 0 {
				time.Sleep(100 * time.Microsecond) // let a timer come due
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("seed %d: data differs", seed)
		}
		for who, pns := range sent {
			for i := 1; i < len(pns); i++ {
				if pns[i].pn <= pns[i-1].pn {
					t.Fatalf("seed %d: %s sent packet %d after %d", seed, who, pns[i].pn, pns[i-1].pn)
				}
			}
		}
		t.Logf("seed %d: %d address changes, responder moved %d times, %d and %d packets, %d key updates", seed,
			moves, b.s.Migrations(), len(sent["dialer"]), len(sent["responder"]), a.s.Stats().KeyUpdates+b.s.Stats().KeyUpdates)
		if b.s.Migrations() == 0 || a.s.Stats().KeyUpdates == 0 {
			t.Fatalf("seed %d: no move or no key update: the property was not exercised", seed)
		}
	}
}

// TestPathChallengeFloodBounded: the peer (or whoever holds its key) floods the responder with
// authentic packets carrying only PATH_CHALLENGEs, from ever new addresses, and then with
// non-probing packets from ever new addresses. The responder answers at most one PATH_RESPONSE
// per challenge and at most maxPathResponses per pass, counts the rest, sends at most one
// challenge per new address it saw (never more packets than it received), keeps its path state
// at a fixed size, and never moves: none of those addresses answers.
func TestPathChallengeFloodBounded(t *testing.T) {
	a, b := newPair(t, Config{})
	i2r, _ := pairSecrets()
	fg := newForger(t, i2r, pairID, 1<<20)
	const floods = 200
	const perPass = 50
	var in, out int
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for round := 0; round < floods; round++ {
		var dgs []capturedDG
		for k := 0; k < perPass; k++ {
			var data [8]byte
			data[0], data[1] = byte(round), byte(k)
			var payload []byte
			if round%2 == 0 {
				payload = frame.AppendPathChallenge(nil, &data)
			} else {
				payload = frame.AppendKeepAlive(nil, uint64(k)) // non-probing: makes a candidate
			}
			from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(round), byte(k)}), uint16(1000+k))
			dgs = append(dgs, capturedDG{b: fg.seal(payload), from: from})
		}
		inject(b, dgs...)
		in += len(dgs)
		b.s.mu.Lock()
		queued := len(b.s.path.resp)
		b.s.mu.Unlock()
		if queued > maxPathResponses {
			t.Fatalf("%d PATH_RESPONSEs queued", queued)
		}
		b.step()
		sent, _ := takeCopies(b)
		out += len(sent)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	drainEvents(b.e)
	st := b.e.Stats()
	if out > in {
		t.Fatalf("sent %d packets for %d received", out, in)
	}
	if want := uint64(floods / 2 * (perPass - maxPathResponses)); st.PathResponsesDropped != want {
		t.Fatalf("%d challenges left unanswered, want %d", st.PathResponsesDropped, want)
	}
	if p := b.s.Peer(); p != pairAddrA || b.s.Migrations() != 0 {
		t.Fatalf("the flood moved the session to %v", p)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 1<<20 {
		t.Fatalf("heap grew by %d bytes over the flood", grown)
	}
	if b.s.Err() != nil || a.s.Err() != nil {
		t.Fatal("session closed")
	}
	t.Logf("%d authentic packets in, %d out; %d challenges unanswered (counted), heap %+d bytes",
		in, out, st.PathResponsesDropped, int64(after.HeapAlloc)-int64(before.HeapAlloc))
}

// TestReplayFromThirdAddressNeverMoves: a packet captured on the wire and replayed from a third
// address, at once or after the session has moved on, is dropped as a replay (counted) and
// never becomes a path candidate, on the responder (which follows) as on the dialer.
func TestReplayFromThirdAddressNeverMoves(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	third := netip.MustParseAddrPort("203.0.113.9:4242")
	captured := sendSomething(t, a, st, "captured")
	inject(b, captured...)
	b.step()
	answer, _ := takeCopies(b)
	inject(a, answer...)
	for _, victim := range []struct {
		name string
		x    *side
		dgs  []capturedDG
	}{{"responder", b, captured}, {"dialer", a, answer}} {
		d0 := dropsOf(victim.x.e)[DropReplay]
		inject(victim.x, fromAddr(victim.dgs, third)...)
		if d := dropsOf(victim.x.e)[DropReplay] - d0; d != uint64(len(victim.dgs)) {
			t.Fatalf("%s: %d of %d replays counted", victim.name, d, len(victim.dgs))
		}
		if c, pending := pathCandidate(victim.x.s); pending || c == third {
			t.Fatalf("%s: the replay made %v a candidate", victim.name, c)
		}
	}
	// Later, after more traffic, the same replay is still refused.
	for range 5 {
		inject(b, sendSomething(t, a, st, "more")...)
	}
	d0 := dropsOf(b.e)[DropReplay]
	inject(b, fromAddr(captured, third)...)
	if dropsOf(b.e)[DropReplay]-d0 != uint64(len(captured)) || b.s.Peer() != pairAddrA {
		t.Fatal("a late replay from a third address was not refused")
	}
}

// TestMigrateByHand: a dialer moves its session to the server's second address with Migrate;
// the server, whose engine has both sockets on one MultiConn, follows, and data still flows
// both ways. Migrate to an address where nothing answers fails with ErrPathValidation and the
// session stays where it was.
func TestMigrateByHand(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a guard against hangs only
	defer cancel()
	cliConn, srvA, srvB := listenUDP(t), listenUDP(t), listenUDP(t)
	srvMux := NewMultiConn(srvA)
	if err := srvMux.AddPath(srvB, "second"); err != nil {
		t.Fatal(err)
	}
	_, srv, cs, ss := startPair(t, cliConn, srvMux, srvA.LocalAddr(), cliConn.LocalAddr())
	srvEvs := watchEvents(t, srv)

	if err := cs.Migrate(ctx, srvB.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if cs.ActivePath() != srvB.LocalAddr() || cs.Migrations() != 1 {
		t.Fatalf("dialer on %v after Migrate", cs.ActivePath())
	}
	data := randomBytes(4<<20, 5)
	p := transferWatched(ctx, cs, ss, data)
	p.wait(ctx, t)
	srvEvs.waitMoves(ctx, t, 1)
	if want := TagAddr(cliConn.LocalAddr(), "second"); ss.ActivePath() != want {
		t.Fatalf("server on %v, want %v", ss.ActivePath(), want)
	}

	dead := netip.MustParseAddrPort("127.0.0.1:9") // discard: nothing answers
	if err := cs.Migrate(ctx, dead); !errors.Is(err, ErrPathValidation) {
		t.Fatalf("Migrate to a dead address: %v, want ErrPathValidation", err)
	}
	if cs.ActivePath() != srvB.LocalAddr() {
		t.Fatalf("a failed Migrate moved the dialer to %v", cs.ActivePath())
	}
	p = transferWatched(ctx, cs, ss, data[:1<<20])
	p.wait(ctx, t)

	// An address on no path of the engine (a tag its conn does not have) is refused at once.
	if err := cs.Migrate(ctx, TagAddr(srvB.LocalAddr(), "nowhere")); !errors.Is(err, ErrPathValidation) {
		t.Fatalf("Migrate to an address on no path: %v", err)
	}
	cs.SetPaths(srvB.LocalAddr(), TagAddr(srvA.LocalAddr(), "nowhere"))
	if got := cs.Paths(); len(got) != 1 {
		t.Fatalf("SetPaths kept %v", got)
	}
}

// takeSent empties x's outbox and returns copies of its datagrams, each with its destination
// in from.
func takeSent(x *side) []capturedDG {
	to := append([]netip.AddrPort(nil), x.conn.to...)
	var dgs []capturedDG
	for i, m := range x.conn.take() {
		it := m.Datagrams()
		for d, ok := it.Next(); ok; d, ok = it.Next() {
			dgs = append(dgs, capturedDG{b: append([]byte(nil), d...), from: to[i]})
		}
	}
	return dgs
}

// responderFrames opens a packet the responder of newPair sent and returns the types of its
// frames.
func responderFrames(t *testing.T, d []byte) []frame.Type {
	t.Helper()
	_, r2i := pairSecrets()
	aead, err := stc.NewAEAD(&r2i)
	if err != nil {
		t.Fatal(err)
	}
	var h frame.Header
	if err := frame.ParseHeader(d, &h); err != nil {
		t.Fatal(err)
	}
	payload, err := aead.Open(append([]byte(nil), d...), h.Len, h.PacketNumber)
	if err != nil {
		t.Fatalf("a packet of the responder does not open: %v", err)
	}
	var w frame.Walker
	var f frame.Frame
	w.Reset(payload)
	var types []frame.Type
	for {
		ok, err := w.Next(&f)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return types
		}
		types = append(types, f.Type)
	}
}

// TestCandidateGetsAcksBeforeValidation: the dialer's packets start coming from a new port (a
// NAT rebinding). Before the new port has answered the challenge, the responder already sends
// its ACKs there too (the old port's mapping may be gone), and the dialer, hearing only those,
// learns that its packets arrived; the session does not move until the answer: everything but
// the challenge and the ACK copies still goes to the validated path.
func TestCandidateGetsAcksBeforeValidation(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rebound := netip.MustParseAddrPort("192.0.2.77:40000")
	var sent []capturedDG
	for i := range 2 { // two ack-eliciting packets: the ACK is due at once
		sent = append(sent, sendSomething(t, a, st, fmt.Sprint("after the rebinding ", i))...)
	}
	inject(b, fromAddr(sent, rebound)...)
	b.step()
	out := takeSent(b)
	var toNew []capturedDG
	challenged, acked := false, false
	for _, d := range out {
		types := responderFrames(t, d.b)
		if d.from != rebound {
			continue
		}
		toNew = append(toNew, d)
		for _, ty := range types {
			switch ty {
			case frame.TypePathChallenge:
				challenged = true
			case frame.TypeAck:
				acked = true
			default:
				t.Fatalf("a %v frame went to the unvalidated address", ty)
			}
		}
	}
	if !challenged || !acked {
		t.Fatalf("to the new port: challenge %v, ACK %v; want both", challenged, acked)
	}
	if b.s.Peer() != pairAddrA || b.s.Migrations() != 0 {
		t.Fatalf("the session moved to %v before the new port answered", b.s.Peer())
	}
	if got := b.e.Stats().CandidateAcks; got == 0 {
		t.Fatal("CandidateAcks not counted")
	}
	// The dialer hears only what went to the new port: its packets are acknowledged.
	pn := headerPN(t, sent[len(sent)-1].b).pn
	inject(a, fromAddr(toNew, pairAddrB)...)
	a.s.mu.Lock()
	la, ok := a.s.sender.LargestAcked()
	a.s.mu.Unlock()
	if !ok || la < pn {
		t.Fatalf("dialer's largest acknowledged %d (%v), want %d", la, ok, pn)
	}
}

// TestCandidateAcksAmplificationBound: an on-path attacker diverts one authentic packet and
// writes a victim's address on it; the responder makes the victim a candidate. Its ACKs are
// then copied there while the victim does not answer, but everything sent to the victim stays
// within amplificationFactor times what came from there (challenges included; the copies that
// would exceed it are withheld and counted), however long the peer keeps the responder ACKing.
func TestCandidateAcksAmplificationBound(t *testing.T) {
	a, b := newPair(t, Config{})
	_ = a
	i2r, _ := pairSecrets()
	fg := newForger(t, i2r, pairID, 1<<20)
	victim := netip.MustParseAddrPort("203.0.113.50:53")
	diverted := fg.seal(frame.AppendKeepAlive(nil, 1))
	inject(b, capturedDG{b: diverted, from: victim})
	received := len(diverted)
	if c, pending := pathCandidate(b.s); !pending || c != victim {
		t.Fatalf("candidate %v (%v), want the victim", c, pending)
	}
	toVictim, copies := 0, 0
	for pass := 0; pass < 200; pass++ {
		// The real peer keeps sending from its validated address: an ACK is due every pass.
		inject(b, capturedDG{b: fg.seal(frame.AppendKeepAlive(nil, uint64(2*pass))), from: pairAddrA},
			capturedDG{b: fg.seal(frame.AppendKeepAlive(nil, uint64(2*pass+1))), from: pairAddrA})
		b.step()
		for _, d := range takeSent(b) {
			if d.from != victim {
				continue
			}
			toVictim += len(d.b)
			if slices.Contains(responderFrames(t, d.b), frame.TypeAck) {
				copies++
			}
		}
	}
	if toVictim > amplificationFactor*received {
		t.Fatalf("%d bytes sent to the victim for %d received from it", toVictim, received)
	}
	st := b.e.Stats()
	if copies == 0 || st.AmplificationLimited == 0 {
		t.Fatalf("%d ACK copies sent, %d withheld: the bound was not exercised", copies, st.AmplificationLimited)
	}
	if b.s.Peer() != pairAddrA || b.s.Migrations() != 0 {
		t.Fatalf("the session moved to %v", b.s.Peer())
	}
	t.Logf("victim: %d bytes in, %d out (%d ACK copies, %d withheld)", received, toVictim, copies, st.AmplificationLimited)
}
