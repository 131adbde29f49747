package stc

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestKeyChainAcrossUpdates runs a sender and a receiver chain of the same secret through three
// key updates with reordering around each one, opening every packet with the key Select picks.
func TestKeyChainAcrossUpdates(t *testing.T) {
	s := testSecret(t, 30)
	tx, err := NewKeyChain(s)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := NewKeyChain(s)
	if err != nil {
		t.Fatal(err)
	}
	if s != testSecret(t, 30) {
		t.Fatal("NewKeyChain must not modify the caller's secret (it owns its copy)")
	}
	if rx.Previous() != nil || rx.Generation() != 0 || rx.Phase() != 0 {
		t.Fatal("bad initial state")
	}

	type pkt struct {
		b     []byte
		pt    []byte
		pn    uint64
		phase uint8
	}
	send := func(pn uint64) pkt {
		if err := tx.Use(100); err != nil {
			t.Fatal(err)
		}
		p, pt := sealed(t, tx.Current(), 100, pn)
		return pkt{bytes.Clone(p), pt, pn, tx.Phase()}
	}
	recv := func(p pkt) error {
		a, next := rx.Select(p.phase, p.pn)
		got, err := a.Open(bytes.Clone(p.b), 15, p.pn)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, p.pt) {
			t.Fatal("plaintext differs")
		}
		if next {
			rx.AdvanceAt(p.pn)
		}
		return nil
	}

	pn := uint64(0)
	for gen := uint64(0); gen < 3; gen++ {
		var old []pkt
		for range 5 {
			old = append(old, send(pn))
			pn++
		}
		// Deliver the first three old packets, hold back two.
		for _, p := range old[:3] {
			if err := recv(p); err != nil {
				t.Fatalf("gen %d: %v", gen, err)
			}
		}
		tx.Advance()
		if tx.Generation() != gen+1 || tx.Phase() != uint8((gen+1)&1) {
			t.Fatal("sender generation")
		}
		var fresh []pkt
		for range 3 {
			fresh = append(fresh, send(pn))
			pn++
		}
		// A packet of the new generation arrives first: it flips the receiver.
		if err := recv(fresh[1]); err != nil {
			t.Fatalf("gen %d flip: %v", gen, err)
		}
		if rx.Generation() != gen+1 || rx.Previous() == nil {
			t.Fatalf("receiver did not advance to %d", gen+1)
		}
		// Reordered packets of the old generation still open with the previous key...
		for _, p := range old[3:] {
			if a, next := rx.Select(p.phase, p.pn); a != rx.Previous() || next {
				t.Fatal("Select did not route an old packet to Previous")
			}
			if err := recv(p); err != nil {
				t.Fatalf("gen %d reordered old: %v", gen, err)
			}
		}
		// ...and the earlier new-generation packet with the current one.
		if err := recv(fresh[0]); err != nil {
			t.Fatalf("gen %d reordered new: %v", gen, err)
		}
		if err := recv(fresh[2]); err != nil {
			t.Fatal(err)
		}
		if gen == 1 {
			// End of grace: an old-generation packet no longer authenticates.
			late := old[4]
			rx.DropPrevious()
			if rx.Previous() != nil {
				t.Fatal("Previous after DropPrevious")
			}
			if err := recv(late); err != ErrAuth {
				t.Fatalf("packet of a dropped key: %v", err)
			}
		}
	}
	if rx.Generation() != 3 || tx.Generation() != 3 {
		t.Fatalf("generations rx %d tx %d", rx.Generation(), tx.Generation())
	}
}

func TestKeyChainNextIsLazyAndRotates(t *testing.T) {
	kc, _ := NewKeyChain(testSecret(t, 31))
	if kc.next != nil {
		t.Fatal("the next key was derived before anything needed it")
	}
	next := kc.Next()
	if kc.Next() != next {
		t.Fatal("Next derived the key twice")
	}
	cur := kc.Current()
	p, _ := sealed(t, next, 10, 5)
	if _, err := cur.Open(bytes.Clone(p), 15, 5); err != ErrAuth {
		t.Fatal("current opens a next-generation packet")
	}
	if _, err := next.Open(bytes.Clone(p), 15, 5); err != nil {
		t.Fatal(err)
	}
	kc.Advance()
	if kc.Current() != next || kc.Previous() != cur || kc.Next() == nil || kc.Next() == next {
		t.Fatal("Advance did not rotate the AEADs")
	}
	// Advancing again erases the old previous.
	kc.Advance()
	if !cur.Erased() || kc.Previous() != next {
		t.Fatal("old previous not erased")
	}
	kc.DropPrevious()
	if !next.Erased() {
		t.Fatal("DropPrevious did not erase")
	}
	kc.DropPrevious() // idempotent
	kc.Erase()
	if !kc.Current().Erased() || !kc.next.Erased() || kc.nextSecret != (Secret{}) {
		t.Fatal("Erase left keys")
	}
}

func TestKeyChainSelectWithoutStart(t *testing.T) {
	kc, _ := NewKeyChain(testSecret(t, 32))
	if a, next := kc.Select(1, 10); a != kc.Next() || !next {
		t.Fatal("other phase must select Next")
	}
	if a, next := kc.Select(0, 10); a != kc.Current() || next {
		t.Fatal("same phase must select Current")
	}
	kc.Advance() // start unknown: the other phase goes to Next
	if a, _ := kc.Select(0, 3); a != kc.Next() {
		t.Fatal("without a start pn the other phase selects Next")
	}
	kc.AdvanceAt(100)
	if a, _ := kc.Select(1, 99); a != kc.Previous() {
		t.Fatal("pn below start must select Previous")
	}
	if a, next := kc.Select(1, 100); a != kc.Next() || !next {
		t.Fatal("pn at/after start must select Next")
	}
	kc.DropPrevious()
	if a, _ := kc.Select(1, 99); a != kc.Next() {
		t.Fatal("no previous: Next")
	}
}

func TestKeyChainUsage(t *testing.T) {
	kc, _ := NewKeyChain(testSecret(t, 33))
	now := time.Now()
	if kc.UpdateDue(nil, now) {
		t.Fatal("fresh key due")
	}
	if !kc.UpdateDue(nil, now.Add(DefaultKeyUpdateInterval+time.Second)) {
		t.Fatal("time limit not honoured")
	}
	if !kc.UpdateDue(&UpdatePolicy{Interval: time.Millisecond}, now.Add(time.Second)) {
		t.Fatal("custom interval not honoured")
	}
	for range 10 {
		if err := kc.Use(1000); err != nil {
			t.Fatal(err)
		}
	}
	if p, b, _ := kc.Usage(); p != 10 || b != 10_000 {
		t.Fatalf("usage %d %d", p, b)
	}
	if !kc.UpdateDue(&UpdatePolicy{Bytes: 10_000}, now) || kc.UpdateDue(&UpdatePolicy{Bytes: 10_001}, now) {
		t.Fatal("byte limit")
	}
	if !kc.UpdateDue(&UpdatePolicy{Packets: 10}, now) || kc.UpdateDue(&UpdatePolicy{Packets: 11}, now) {
		t.Fatal("packet limit")
	}
	kc.packets = DefaultKeyUpdatePackets
	if !kc.UpdateDue(nil, now) {
		t.Fatal("default packet limit")
	}
	kc.packets = MaxPacketsPerKey - 1
	if err := kc.Use(1); err != nil {
		t.Fatal("last allowed packet refused")
	}
	if err := kc.Use(1); !errors.Is(err, ErrKeyExhausted) {
		t.Fatalf("packet %d under one key: %v", MaxPacketsPerKey+1, err)
	}
	if !kc.UpdateDue(&UpdatePolicy{Packets: 1 << 40}, now) {
		t.Fatal("packet policy must be clamped to MaxPacketsPerKey")
	}
	kc.Advance()
	if p, b, _ := kc.Usage(); p != 0 || b != 0 || kc.UpdateDue(nil, time.Now()) {
		t.Fatal("Advance must restart the counters")
	}
}
