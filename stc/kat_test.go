package stc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// katFile mirrors testdata/kat.json, written by testdata/gen_kat.py (an independent Python
// implementation of PROTOCOL.md §4).
type katFile struct {
	Seed         string `json:"seed"`
	PRKSeed      string `json:"prk_seed"`
	HandshakeKey string `json:"handshake_key"`
	ExportKey    string `json:"export_key"`
	NodeIDs      []struct {
		Instance string `json:"instance"`
		ID       string `json:"id"`
	} `json:"node_ids"`
	Session struct {
		NonceI     string `json:"nonce_i"`
		NonceR     string `json:"nonce_r"`
		PRKS       string `json:"prk_s"`
		ID         string `json:"id"`
		I2R        string `json:"i2r"`
		R2I        string `json:"r2i"`
		Resumption string `json:"resumption"`
	} `json:"session"`
	Chains map[string][]struct {
		Generation uint64 `json:"generation"`
		Secret     string `json:"secret"`
		Key        string `json:"key"`
		IV         string `json:"iv"`
	} `json:"chains"`
	Seal []struct {
		Direction  string `json:"direction"`
		Generation uint64 `json:"generation"`
		Secret     string `json:"secret"`
		Header     string `json:"header"`
		PN         uint64 `json:"pn"`
		Plaintext  string `json:"plaintext"`
		Nonce      string `json:"nonce"`
		Sealed     string `json:"sealed"`
	} `json:"seal"`
	MAC struct {
		Parts []string `json:"parts"`
		MAC   string   `json:"mac"`
	} `json:"mac"`
	Passphrase struct {
		Passphrase   string `json:"passphrase"`
		Salt         string `json:"salt"`
		Time         uint32 `json:"time"`
		MemoryKiB    uint32 `json:"memory_kib"`
		Threads      uint8  `json:"threads"`
		Seed         string `json:"seed"`
		HandshakeKey string `json:"handshake_key"`
	} `json:"passphrase"`
	Hash []struct {
		Input  string `json:"input"`
		SHA256 string `json:"sha256"`
	} `json:"hash"`
}

func loadKAT(t *testing.T) *katFile {
	t.Helper()
	b, err := os.ReadFile("testdata/kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var k katFile
	if err := json.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	return &k
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func eqHex(t *testing.T, name string, got []byte, want string) {
	t.Helper()
	if g := hex.EncodeToString(got); g != want {
		t.Errorf("%s:\n got  %s\n want %s", name, g, want)
	}
}

func to32(t *testing.T, s string) (a [32]byte) {
	t.Helper()
	b := unhex(t, s)
	if len(b) != 32 {
		t.Fatalf("want 32 bytes, got %d", len(b))
	}
	copy(a[:], b)
	return a
}

func TestKATSeedDerivations(t *testing.T) {
	k := loadKAT(t)
	seed, err := NewSeed(unhex(t, k.Seed))
	if err != nil {
		t.Fatal(err)
	}
	eqHex(t, "prk_seed", seed.prk[:], k.PRKSeed)
	hs := seed.HandshakeKey()
	eqHex(t, "handshake_key", hs[:], k.HandshakeKey)
	ex := seed.ExportKey()
	eqHex(t, "export_key", ex[:], k.ExportKey)
	if len(k.NodeIDs) == 0 {
		t.Fatal("no node id vectors")
	}
	for _, v := range k.NodeIDs {
		id := seed.NodeID(unhex(t, v.Instance))
		eqHex(t, "node_id("+v.Instance+")", id[:], v.ID)
	}
	// The MAC over a handshake header and body.
	parts := make([][]byte, len(k.MAC.Parts))
	for i, p := range k.MAC.Parts {
		parts[i] = unhex(t, p)
	}
	eqHex(t, "mac", hs.Sum(nil, parts...), k.MAC.MAC)
	if !hs.Verify(unhex(t, k.MAC.MAC), parts...) {
		t.Error("MACKey.Verify rejected the KAT mac")
	}
	m := NewMAC(&hs)
	for _, p := range parts {
		m.Write(p)
	}
	if !m.Verify(unhex(t, k.MAC.MAC)) {
		t.Error("MAC.Verify rejected the KAT mac")
	}
}

func TestKATSession(t *testing.T) {
	k := loadKAT(t)
	seed, err := NewSeed(unhex(t, k.Seed))
	if err != nil {
		t.Fatal(err)
	}
	ni, nr := to32(t, k.Session.NonceI), to32(t, k.Session.NonceR)
	sk := seed.DeriveSession(&ni, &nr)
	eqHex(t, "session id", sk.ID[:], k.Session.ID)
	eqHex(t, "i2r", sk.I2R[:], k.Session.I2R)
	eqHex(t, "r2i", sk.R2I[:], k.Session.R2I)
	eqHex(t, "resumption", sk.Resumption[:], k.Session.Resumption)
	var salt [64]byte
	copy(salt[:], ni[:])
	copy(salt[32:], nr[:])
	var prk [32]byte
	extract(&prk, seed.b, salt[:])
	eqHex(t, "prk_s", prk[:], k.Session.PRKS)

	// Swapping the nonces must give a different session.
	sw := seed.DeriveSession(&nr, &ni)
	if sw.ID == sk.ID || sw.I2R == sk.I2R {
		t.Error("nonce order does not matter")
	}
}

func TestKATKeyChain(t *testing.T) {
	k := loadKAT(t)
	for _, dir := range []string{"i2r", "r2i"} {
		gens := k.Chains[dir]
		if len(gens) < 3 {
			t.Fatalf("%s: need at least 3 generations, have %d", dir, len(gens))
		}
		for _, g := range gens {
			s := Secret(to32(t, g.Secret))
			var key [KeySize]byte
			var salt [NonceSize]byte
			trafficKeys(&s, &key, &salt)
			eqHex(t, dir+" key", key[:], g.Key)
			eqHex(t, dir+" iv", salt[:], g.IV)
		}
		kc, err := NewKeyChain(Secret(to32(t, gens[0].Secret)))
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range gens {
			if kc.Generation() != g.Generation {
				t.Fatalf("%s: generation %d, want %d", dir, kc.Generation(), g.Generation)
			}
			var salt [NonceSize]byte
			copy(salt[:4], kc.Current().saltHi[:])
			putBE64(salt[4:], kc.Current().saltLo)
			eqHex(t, dir+" chain iv", salt[:], g.IV)
			if i+1 < len(gens) {
				eqHex(t, dir+" chain next secret", kc.nextSecret[:], gens[i+1].Secret)
				kc.Advance()
			}
		}
	}
}

func putBE64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func TestKATSeal(t *testing.T) {
	k := loadKAT(t)
	if len(k.Seal) == 0 {
		t.Fatal("no seal vectors")
	}
	for i, v := range k.Seal {
		s := Secret(to32(t, v.Secret))
		a, err := NewAEAD(&s)
		if err != nil {
			t.Fatal(err)
		}
		hdr, pt := unhex(t, v.Header), unhex(t, v.Plaintext)
		var n [NonceSize]byte
		a.nonce(&n, v.PN)
		eqHex(t, "nonce", n[:], v.Nonce)
		pkt := make([]byte, 0, len(hdr)+len(pt)+TagSize)
		pkt = append(append(pkt, hdr...), pt...)
		out := a.Seal(pkt, len(hdr), v.PN)
		if &out[0] != &pkt[0] {
			t.Errorf("vector %d: Seal did not work in place", i)
		}
		eqHex(t, "sealed header", out[:len(hdr)], v.Header)
		eqHex(t, "sealed body+tag", out[len(hdr):], v.Sealed)
		got, err := a.Open(out, len(hdr), v.PN)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("vector %d: open: %v", i, err)
		}

		// The same vector through a key chain started at generation 0 of that direction.
		kc, err := NewKeyChain(Secret(to32(t, k.Chains[v.Direction][0].Secret)))
		if err != nil {
			t.Fatal(err)
		}
		for kc.Generation() < v.Generation {
			kc.Advance()
		}
		pkt = append(append(pkt[:0], hdr...), pt...)
		eqHex(t, "chain sealed", kc.Current().Seal(pkt, len(hdr), v.PN)[len(hdr):], v.Sealed)
		if phase := hdr[2] & 1; phase != kc.Phase() {
			t.Errorf("vector %d: header phase %d, chain phase %d", i, phase, kc.Phase())
		}
	}
}

func TestKATPassphrase(t *testing.T) {
	k := loadKAT(t)
	p := k.Passphrase
	if p.Salt != ArgonSalt || p.Time != ArgonTime || p.MemoryKiB != ArgonMemoryKiB || p.Threads != ArgonThreads {
		t.Fatalf("KAT parameters %+v differ from the package constants", p)
	}
	seed, err := SeedFromPassphrase([]byte(p.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	eqHex(t, "passphrase seed", seed.b, p.Seed)
	hs := seed.HandshakeKey()
	eqHex(t, "passphrase handshake key", hs[:], p.HandshakeKey)
}

func TestKATHash(t *testing.T) {
	k := loadKAT(t)
	for _, v := range k.Hash {
		in := unhex(t, v.Input)
		d := Hash(in)
		eqHex(t, "sha256", d[:], v.SHA256)
		if d.String() != v.SHA256 {
			t.Errorf("Digest.String = %s", d)
		}
		h := NewHasher()
		h.Write(in)
		eqHex(t, "hasher", h.Sum(nil), v.SHA256)
		p, err := ParseDigest(v.SHA256)
		if err != nil || p != d {
			t.Errorf("ParseDigest: %v", err)
		}
	}
}
