package stc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

func testSecret(t testing.TB, b byte) Secret {
	t.Helper()
	var s Secret
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func testAEAD(t testing.TB, b byte) *AEAD {
	t.Helper()
	s := testSecret(t, b)
	a, err := NewAEAD(&s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sealed returns a sealed packet with a 15-byte header and n plaintext bytes, and the plaintext.
func sealed(t testing.TB, a *AEAD, n int, pn uint64) (pkt, pt []byte) {
	t.Helper()
	hdr := []byte{0x53, 0x12, 0x04, 1, 2, 3, 4, 5, 6, 7, 8, byte(pn >> 24), byte(pn >> 16), byte(pn >> 8), byte(pn)}
	pt = make([]byte, n)
	rand.Read(pt)
	buf := make([]byte, len(hdr)+n, len(hdr)+n+TagSize)
	copy(buf, hdr)
	copy(buf[len(hdr):], pt)
	return a.Seal(buf, len(hdr), pn), pt
}

func TestSealOpenRoundTrip(t *testing.T) {
	a := testAEAD(t, 1)
	for _, n := range []int{0, 1, 15, 16, 17, 64, 1200, 8192, 65507 - 19 - TagSize} {
		for _, pn := range []uint64{0, 1, 255, 1 << 32, MaxPacketNumber} {
			pkt, pt := sealed(t, a, n, pn)
			if len(pkt) != 15+n+TagSize {
				t.Fatalf("sealed length %d", len(pkt))
			}
			got, err := a.Open(pkt, 15, pn)
			if err != nil {
				t.Fatalf("n=%d pn=%d: %v", n, pn, err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("n=%d pn=%d: plaintext differs", n, pn)
			}
			if n > 0 && &got[0] != &pkt[15] {
				t.Fatal("Open did not decrypt in place")
			}
		}
	}
	// A zero-length header works too (no associated data).
	buf := make([]byte, 5, 5+TagSize)
	copy(buf, "hello")
	p := a.Seal(buf, 0, 9)
	if got, err := a.Open(p, 0, 9); err != nil || string(got) != "hello" {
		t.Fatalf("hdrLen 0: %q %v", got, err)
	}
}

// TestSealMatchesStdlib cross-checks the in-place construction against a plain out-of-place
// AES-GCM with the nonce built by hand.
func TestSealMatchesStdlib(t *testing.T) {
	s := testSecret(t, 9)
	a, _ := NewAEAD(&s)
	var key [KeySize]byte
	var salt [NonceSize]byte
	trafficKeys(&s, &key, &salt)
	blk, _ := aes.NewCipher(key[:])
	g, _ := cipher.NewGCM(blk)
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 200 {
		pn := r.Uint64() >> 2
		hl := r.IntN(20)
		n := r.IntN(3000)
		pkt := make([]byte, hl+n, hl+n+TagSize)
		for i := range pkt {
			pkt[i] = byte(r.Uint32())
		}
		var nonce [NonceSize]byte
		copy(nonce[:], salt[:])
		for i := range 8 {
			nonce[4+i] ^= byte(pn >> (56 - 8*i))
		}
		want := g.Seal(nil, nonce[:], pkt[hl:], pkt[:hl])
		got := a.Seal(pkt, hl, pn)
		if !bytes.Equal(got[hl:], want) {
			t.Fatalf("pn=%d hl=%d n=%d: differs from stdlib", pn, hl, n)
		}
	}
}

func TestOpenTamper(t *testing.T) {
	a := testAEAD(t, 2)
	orig, _ := sealed(t, a, 40, 77)
	orig = bytes.Clone(orig)
	buf := make([]byte, len(orig))
	for i := range orig {
		for _, bit := range []byte{0x01, 0x80} {
			copy(buf, orig)
			buf[i] ^= bit
			if _, err := a.Open(buf, 15, 77); err != ErrAuth {
				t.Fatalf("flipping bit %#x of byte %d (len %d): err %v, want ErrAuth", bit, i, len(orig), err)
			}
		}
	}
	// Wrong packet number, truncations, extensions, wrong header length, wrong key.
	for _, pn := range []uint64{76, 78, 77 ^ 1<<63, 77 + 1<<32} {
		copy(buf, orig)
		if _, err := a.Open(buf, 15, pn); !errors.Is(err, ErrAuth) {
			t.Fatalf("pn %d: %v", pn, err)
		}
	}
	for _, n := range []int{0, 1, 15, 15 + TagSize - 1, len(orig) - 1} {
		copy(buf, orig)
		if _, err := a.Open(buf[:n], 15, 77); err != ErrAuth {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	copy(buf, orig)
	if _, err := a.Open(append(bytes.Clone(orig), 0), 15, 77); err != ErrAuth {
		t.Fatalf("extended: %v", err)
	}
	for _, hl := range []int{-1, 14, 16} {
		copy(buf, orig)
		if _, err := a.Open(buf, hl, 77); err != ErrAuth {
			t.Fatalf("hdrLen %d: %v", hl, err)
		}
	}
	copy(buf, orig)
	if _, err := testAEAD(t, 3).Open(buf, 15, 77); err != ErrAuth {
		t.Fatalf("wrong key: %v", err)
	}
	// After all that, the original still opens.
	copy(buf, orig)
	if _, err := a.Open(buf, 15, 77); err != nil {
		t.Fatal(err)
	}
}

func TestAEADErase(t *testing.T) {
	a := testAEAD(t, 4)
	pkt, _ := sealed(t, a, 10, 1)
	a.Erase()
	if !a.Erased() || a.saltLo != 0 || a.saltHi != [4]byte{} {
		t.Fatal("salt not erased")
	}
	if _, err := a.Open(pkt, 15, 1); err != ErrAuth {
		t.Fatalf("open with erased key: %v", err)
	}
	mustPanic(t, "seal with erased key", func() { a.Seal(make([]byte, 20, 40), 15, 2) })
}

func TestSealMisusePanics(t *testing.T) {
	a := testAEAD(t, 5)
	mustPanic(t, "no room for tag", func() { a.Seal(make([]byte, 20, 35), 15, 0) })
	mustPanic(t, "hdrLen > len", func() { a.Seal(make([]byte, 10, 40), 11, 0) })
	mustPanic(t, "hdrLen < 0", func() { a.Seal(make([]byte, 10, 40), -1, 0) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}

// TestNonceUniqueness checks the nonce construction empirically: no nonce repeats under one key
// over a long run of packet numbers, and across key updates and directions every generation has
// its own key and salt (so the (key, nonce) pairs of different generations are disjoint).
func TestNonceUniqueness(t *testing.T) {
	n := 1_000_000
	perGen := 200_000
	if testing.Short() {
		n, perGen = 100_000, 20_000
	}
	a := testAEAD(t, 6)
	seen := make(map[[NonceSize]byte]struct{}, n+16)
	var nonce [NonceSize]byte
	add := func(seen map[[NonceSize]byte]struct{}, a *AEAD, pn uint64) {
		a.nonce(&nonce, pn)
		if _, dup := seen[nonce]; dup {
			t.Fatalf("nonce %x repeats at pn %d", nonce, pn)
		}
		seen[nonce] = struct{}{}
	}
	for pn := range uint64(n) {
		add(seen, a, pn)
	}
	// Edges of the 64-bit space (beyond the protocol's 2^62 limit too: injectivity holds anyway).
	for _, pn := range []uint64{1 << 32, 1<<32 - 1, 1 << 62, MaxPacketNumber, 1<<64 - 1, 1 << 63} {
		add(seen, a, pn)
	}

	// Key chains of both directions of one session, packet numbers continuing across updates.
	seed, _ := NewSeed(bytes.Repeat([]byte{7}, 32))
	var ni, nr [32]byte
	ni[0], nr[0] = 1, 2
	sk := seed.DeriveSession(&ni, &nr)
	type keySalt struct {
		key  [KeySize]byte
		salt [NonceSize]byte
	}
	distinct := map[keySalt]string{}
	keys := map[[KeySize]byte]bool{}
	salts := map[[NonceSize]byte]bool{}
	for _, dir := range []struct {
		name string
		s    Secret
	}{{"i2r", sk.I2R}, {"r2i", sk.R2I}} {
		kc, err := NewKeyChain(dir.s)
		if err != nil {
			t.Fatal(err)
		}
		secret := dir.s
		pn := uint64(0)
		for gen := range 5 {
			var ks keySalt
			trafficKeys(&secret, &ks.key, &ks.salt)
			if prev, dup := distinct[ks]; dup {
				t.Fatalf("%s gen %d reuses the key and salt of %s", dir.name, gen, prev)
			}
			distinct[ks] = dir.name
			if keys[ks.key] || salts[ks.salt] {
				t.Fatalf("%s gen %d: key or salt repeats", dir.name, gen)
			}
			keys[ks.key], salts[ks.salt] = true, true
			// The chain's AEAD uses exactly this salt.
			cur := kc.Current()
			if cur.saltLo != beUint64(ks.salt[4:]) || [4]byte(ks.salt[:4]) != cur.saltHi {
				t.Fatalf("%s gen %d: chain salt differs", dir.name, gen)
			}
			perKey := make(map[[NonceSize]byte]struct{}, perGen)
			for range perGen {
				add(perKey, cur, pn)
				pn++
			}
			secret = nextSecret(&secret)
			kc.Advance()
		}
	}
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}
