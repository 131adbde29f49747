package stc

import (
	"testing"
)

func zeroAllocs(t *testing.T, what string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%s: %v allocations per call, want 0", what, n)
	}
}

func TestZeroAllocs(t *testing.T) {
	a := testAEAD(t, 40)
	const hl, n = 15, 1200
	buf := make([]byte, hl+n, hl+n+TagSize)
	pn := uint64(0)
	zeroAllocs(t, "Seal", func() {
		a.Seal(buf[:hl+n], hl, pn)
		pn++
	})

	sealedPkt := append([]byte(nil), a.Seal(buf[:hl+n], hl, 1<<20)...)
	work := make([]byte, len(sealedPkt))
	zeroAllocs(t, "Open", func() {
		copy(work, sealedPkt)
		if _, err := a.Open(work, hl, 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	zeroAllocs(t, "Open failing with ErrAuth", func() {
		copy(work, sealedPkt)
		work[hl] ^= 1
		if _, err := a.Open(work, hl, 1<<20); err != ErrAuth {
			t.Fatal(err)
		}
	})

	var w ReplayWindow
	rpn := uint64(0)
	zeroAllocs(t, "ReplayWindow Check+Accept", func() {
		if w.Check(rpn) {
			w.Accept(rpn)
		}
		w.Check(rpn)
		w.Accept(rpn + 5000) // jump
		rpn += 5001
	})

	id := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	var sink uint64
	zeroAllocs(t, "HashSessionID", func() {
		sink += HashSessionID(id)
		id[0]++
	})
	_ = sink

	kc, _ := NewKeyChain(testSecret(t, 41))
	var ap *AEAD
	zeroAllocs(t, "KeyChain lookups", func() {
		ap = kc.Current()
		ap = kc.Next()
		ap = kc.Previous()
		ap, _ = kc.Select(1, 7)
		_ = kc.Generation() + uint64(kc.Phase())
		_ = kc.Use(100)
	})
	_ = ap

	k := MACKey{9}
	m := NewMAC(&k)
	mac := make([]byte, 0, MACSize)
	msg := make([]byte, 1200)
	zeroAllocs(t, "MAC Reset+Write+Sum+Verify", func() {
		m.Reset()
		m.Write(msg)
		mac = m.Sum(mac[:0])
		if !m.Verify(mac) {
			t.Fatal("verify")
		}
	})
}
