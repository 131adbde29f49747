package dataplane

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/sttfast/sttfast/frame"
)

// Path validation (docs/PROTOCOL.md §2 PATH_CHALLENGE/PATH_RESPONSE): an authentic packet from a
// new source address makes the address a candidate; the session moves there only when the peer
// answers a challenge sent to it.

var movedAddrA = netip.MustParseAddrPort("192.0.2.77:4444")

// candidate returns b's current path candidate and whether a challenge is outstanding.
func pathCandidate(s *Session) (netip.AddrPort, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == nil {
		return netip.AddrPort{}, false
	}
	return s.path.candidate, s.path.chalN
}

// sendSomething makes a send an ack-eliciting packet and returns its datagrams, undelivered.
func sendSomething(t *testing.T, a *side, st *Stream, msg string) []capturedDG {
	t.Helper()
	if err := st.WriteMessage([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	a.step()
	dgs, _ := takeCopies(a)
	if len(dgs) == 0 {
		t.Fatal("nothing sent")
	}
	return dgs
}

func fromAddr(dgs []capturedDG, addr netip.AddrPort) []capturedDG {
	out := make([]capturedDG, len(dgs))
	for i, d := range dgs {
		out[i] = capturedDG{b: d.b, from: addr}
	}
	return out
}

func TestPathMigration(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	drainEvents(b.e)

	// a's packets now arrive from a new address (NAT rebinding, new interface).
	inject(b, fromAddr(sendSomething(t, a, st, "moved"), movedAddrA)...)
	if c, pending := pathCandidate(b.s); c != movedAddrA || !pending {
		t.Fatalf("candidate %v (challenge pending %v), want %v", c, pending, movedAddrA)
	}
	if p := b.s.Peer(); p != pairAddrA {
		t.Fatalf("peer moved to %v before validation", p)
	}
	if !hasEvent(drainEvents(b.e), EventPathCandidate) {
		t.Fatal("no EventPathCandidate")
	}
	// The data itself was accepted: path validation does not hold up delivery.
	if b.s.Stats().StreamBytesRecv == 0 {
		t.Fatal("data from the new address was not delivered")
	}

	// b challenges the candidate; everything else still goes to the validated address.
	b.step()
	out, to := takeCopies(b)
	if !slices.Contains(to, movedAddrA) {
		t.Fatalf("no datagram to the candidate; destinations %v", to)
	}
	for _, d := range to {
		if d != movedAddrA && d != pairAddrA {
			t.Fatalf("datagram to %v", d)
		}
	}

	// The challenge reaches a (which is at the new address); a answers to where it came from.
	inject(a, out...)
	a.step()
	resp, rto := takeCopies(a)
	if !slices.Contains(rto, pairAddrB) {
		t.Fatalf("a did not answer; destinations %v", rto)
	}

	// A PATH_RESPONSE from some third address proves nothing about the candidate.
	third := netip.MustParseAddrPort("198.51.100.9:9")
	before := b.s.Stats().PacketsRecv
	inject(b, fromAddr(resp, third)...)
	if b.s.Stats().PacketsRecv == before {
		t.Fatal("authentic response from a third address not even accepted")
	}
	if p := b.s.Peer(); p != pairAddrA {
		t.Fatalf("migrated to %v on a response from an unchallenged address", p)
	}
	if hasEvent(drainEvents(b.e), EventPathMigrated) {
		t.Fatal("EventPathMigrated for a response from the wrong address")
	}

	// That third address is now the candidate (the most recent authentic source) with a new
	// challenge; answer it properly from there this time.
	if c, pending := pathCandidate(b.s); c != third || !pending {
		t.Fatalf("candidate %v pending %v, want %v", c, pending, third)
	}
	b.step()
	out, to = takeCopies(b)
	if !slices.Contains(to, third) {
		t.Fatalf("no challenge to %v: %v", third, to)
	}
	inject(a, out...)
	a.step()
	resp, _ = takeCopies(a)
	inject(b, fromAddr(resp, third)...)
	if p := b.s.Peer(); p != third {
		t.Fatalf("peer %v after a valid PATH_RESPONSE from %v", p, third)
	}
	if !hasEvent(drainEvents(b.e), EventPathMigrated) {
		t.Fatal("no EventPathMigrated")
	}
	if _, pending := pathCandidate(b.s); pending {
		t.Fatal("challenge still pending after migration")
	}
	// From now on b sends to the new address.
	if err := b.s.SendFrame(0x90, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	b.step()
	_, to = takeCopies(b)
	if len(to) == 0 {
		t.Fatal("b sent nothing")
	}
	for _, d := range to {
		if d != third {
			t.Fatalf("b sends to %v after migrating to %v", d, third)
		}
	}
	if b.s.Err() != nil || a.s.Err() != nil {
		t.Fatal("session closed")
	}
}

// TestPathCandidateNeedsAuthenticity: nothing but a fresh authentic packet can make an address a
// candidate; a forger rewriting source addresses or replaying packets moves nothing.
func TestPathCandidateNeedsAuthenticity(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	evil := netip.MustParseAddrPort("203.0.113.66:666")

	// Bit-flipped copies of a real packet, from the attacker's address: every byte position.
	real := sendSomething(t, a, st, "genuine")[0]
	d0 := dropsOf(b.e)
	for i := range real.b {
		for _, mask := range []byte{0x01, 0x80} {
			f := capturedDG{b: slices.Clone(real.b), from: evil}
			f.b[i] ^= mask
			inject(b, f)
		}
	}
	d1 := dropsOf(b.e)
	n := uint64(2 * len(real.b))
	var dropped uint64
	for r := range d1 {
		dropped += d1[r] - d0[r]
	}
	if dropped != n {
		t.Fatalf("%d of %d forged datagrams counted as drops: %v", dropped, n, d1)
	}
	if c, _ := pathCandidate(b.s); c.IsValid() {
		t.Fatalf("forged packets made %v a path candidate", c)
	}
	// The genuine packet from the genuine address is still accepted after all that.
	before := b.s.Stats().PacketsRecv
	inject(b, real)
	if b.s.Stats().PacketsRecv != before+1 {
		t.Fatal("the genuine packet was not accepted after the forgeries")
	}
	if c, _ := pathCandidate(b.s); c.IsValid() {
		t.Fatalf("candidate %v", c)
	}

	// A replay of an authentic packet from a new address is dropped before it is looked at.
	d0 = dropsOf(b.e)
	inject(b, capturedDG{b: real.b, from: evil})
	if d := dropsOf(b.e)[DropReplay] - d0[DropReplay]; d != 1 {
		t.Fatalf("replay from a new address: %d replay drops", d)
	}
	if c, _ := pathCandidate(b.s); c.IsValid() {
		t.Fatalf("a replayed packet made %v a path candidate", c)
	}

	// An authentic but reordered (older) packet from a new address says nothing about where the
	// peer is now: accepted, no candidate.
	older := sendSomething(t, a, st, "older")
	newer := sendSomething(t, a, st, "newer")
	inject(b, newer...)
	before = b.s.Stats().PacketsRecv
	inject(b, fromAddr(older, evil)...)
	if b.s.Stats().PacketsRecv != before+uint64(len(older)) {
		t.Fatal("reordered packet not accepted")
	}
	if c, _ := pathCandidate(b.s); c.IsValid() {
		t.Fatalf("a reordered packet made %v a path candidate", c)
	}

	// A PATH_RESPONSE that does not echo the challenge never migrates, even from the candidate.
	i2r, _ := pairSecrets()
	fg := newForger(t, i2r, pairID, 1<<16)
	inject(b, fromAddr(sendSomething(t, a, st, "from the new place"), movedAddrA)...)
	if c, pending := pathCandidate(b.s); c != movedAddrA || !pending {
		t.Fatalf("candidate %v", c)
	}
	b.s.mu.Lock()
	wrong := b.s.path.chal
	b.s.mu.Unlock()
	wrong[3] ^= 0x10
	inject(b, capturedDG{b: fg.seal(frame.AppendPathResponse(nil, &wrong)), from: movedAddrA})
	if p := b.s.Peer(); p != pairAddrA {
		t.Fatalf("a PATH_RESPONSE with the wrong data moved the peer to %v", p)
	}
	if b.s.Err() != nil {
		t.Fatalf("session closed: %v", b.s.Err())
	}
}
