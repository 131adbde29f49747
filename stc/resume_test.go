package stc

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
)

// resumeKAT mirrors testdata/resume_kat.json, written by testdata/gen_resume_kat.py (an
// independent Python implementation of PROTOCOL.md §4, "Resumption").
type resumeKAT struct {
	Seed       string `json:"seed"`
	StateKey   string `json:"state_key"`
	Resumption string `json:"resumption"`
	BinderKey  string `json:"binder_key"`
	SessionID  string `json:"session_id"`
	NonceI     string `json:"nonce_i"`
	NonceR     string `json:"nonce_r"`
	TS         uint64 `json:"ts"`
	Resumes    []struct {
		Epoch  uint64 `json:"epoch"`
		I2R    string `json:"i2r"`
		R2I    string `json:"r2i"`
		Binder string `json:"binder"`
	} `json:"resumes"`
	State struct {
		Plaintext string `json:"plaintext"`
		Sealed    string `json:"sealed"`
	} `json:"state"`
}

// TestResumeKAT pins K_state, K_bind, the binder, both resumed traffic secrets for three epochs
// and the opening of a sealed state to the independent generator's values.
func TestResumeKAT(t *testing.T) {
	raw, err := os.ReadFile("testdata/resume_kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var k resumeKAT
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	seed, err := NewSeed(unhex(t, k.Seed))
	if err != nil {
		t.Fatal(err)
	}
	if sk := seed.StateKey(); hex.EncodeToString(sk[:]) != k.StateKey {
		t.Errorf("K_state %x, want %s", sk, k.StateKey)
	}
	var res Secret
	copy(res[:], unhex(t, k.Resumption))
	if bk := ResumeBinderKey(&res); hex.EncodeToString(bk[:]) != k.BinderKey {
		t.Errorf("K_bind %x, want %s", bk, k.BinderKey)
	}
	id := [8]byte(unhex(t, k.SessionID))
	nonceI, nonceR := [32]byte(unhex(t, k.NonceI)), [32]byte(unhex(t, k.NonceR))
	for _, r := range k.Resumes {
		i2r, r2i := DeriveResume(&res, &nonceI, &nonceR, r.Epoch)
		if hex.EncodeToString(i2r[:]) != r.I2R || hex.EncodeToString(r2i[:]) != r.R2I {
			t.Errorf("epoch %d: i2r %x r2i %x, want %s %s", r.Epoch, i2r, r2i, r.I2R, r.R2I)
		}
		if b := ResumeBinder(&res, &id, r.Epoch, &nonceI, k.TS); hex.EncodeToString(b[:]) != r.Binder {
			t.Errorf("epoch %d: binder %x, want %s", r.Epoch, b, r.Binder)
		}
	}
	pt, err := OpenState(seed, unhex(t, k.State.Sealed))
	if err != nil || !bytes.Equal(pt, unhex(t, k.State.Plaintext)) {
		t.Errorf("OpenState(KAT) = %x, %v", pt, err)
	}
}

// TestSealStateRoundTrip: a sealed state opens under its seed only, and any altered byte fails.
func TestSealStateRoundTrip(t *testing.T) {
	seed, _ := NewSeed(bytes.Repeat([]byte{1}, 32))
	other, _ := NewSeed(bytes.Repeat([]byte{2}, 32))
	pt := []byte("a resumable state")
	sealed, err := SealState(seed, pt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenState(seed, sealed); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: %q %v", got, err)
	}
	if _, err := OpenState(other, sealed); !errors.Is(err, ErrAuth) {
		t.Fatalf("other seed: %v", err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x20
		if _, err := OpenState(seed, bad); !errors.Is(err, ErrAuth) {
			t.Fatalf("byte %d altered: %v", i, err)
		}
	}
	if _, err := OpenState(seed, sealed[:StateOverhead-1]); !errors.Is(err, ErrAuth) {
		t.Fatalf("short: %v", err)
	}
}

// TestNoncesNeverRepeatAcrossResumes is the property of DeriveResume's proof, exercised: one
// session is resumed again and again (seeded random nonces, increasing epochs, and a RESUME an
// attacker replays, which the peer answers with a fresh nonce_r), while every device that ever
// held it keeps sending, with packet numbers that overlap the new device's (the old device goes
// on from its counter, the new one starts at the peer's largest + 1, below it). Every (AES key,
// GCM nonce) pair any sender ever uses, over both directions, key updates included, is unique.
func TestNoncesNeverRepeatAcrossResumes(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2026))
	seed, _ := NewSeed(bytes.Repeat([]byte{5}, 32))
	var nonceI, nonceR [32]byte
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	fill(nonceI[:])
	fill(nonceR[:])
	keys := seed.DeriveSession(&nonceI, &nonceR)
	type use struct {
		key   [KeySize]byte
		nonce [NonceSize]byte
	}
	seen := map[use]string{}
	// send records packets [from, from+n) sealed under generations 0..2 of secret s.
	send := func(who string, s Secret, from uint64, n int) {
		for g := range 3 {
			var key [KeySize]byte
			var salt [NonceSize]byte
			trafficKeys(&s, &key, &salt)
			for pn := from; pn < from+uint64(n); pn++ {
				u := use{key: key}
				copy(u.nonce[:], salt[:])
				lo := binary.BigEndian.Uint64(u.nonce[4:]) ^ pn
				binary.BigEndian.PutUint64(u.nonce[4:], lo)
				if prev, ok := seen[u]; ok {
					t.Fatalf("%s generation %d pn %d reuses a (key, nonce) of %s", who, g, pn, prev)
				}
				seen[u] = who
			}
			from += uint64(n)
			s = nextSecret(&s)
		}
	}
	// sendMore records n more packets of one generation-0 sender that already used [0, from).
	sendMore := func(who string, s Secret, from uint64, n int) {
		var key [KeySize]byte
		var salt [NonceSize]byte
		trafficKeys(&s, &key, &salt)
		for pn := from; pn < from+uint64(n); pn++ {
			u := use{key: key}
			copy(u.nonce[:], salt[:])
			binary.BigEndian.PutUint64(u.nonce[4:], binary.BigEndian.Uint64(u.nonce[4:])^pn)
			if prev, ok := seen[u]; ok {
				t.Fatalf("%s pn %d reuses a (key, nonce) of %s", who, pn, prev)
			}
			seen[u] = who
		}
	}
	send("session i2r", keys.I2R, 0, 64)
	send("session r2i", keys.R2I, 0, 64)
	peerLargest := uint64(63)
	oldDevice, oldNext := keys.I2R, uint64(64)
	epoch := uint64(0)
	for r := range 40 {
		epoch += 1 + uint64(rng.IntN(3))
		var ni, nr [32]byte
		fill(ni[:])
		fill(nr[:])
		if r%5 == 4 {
			// A replayed RESUME: same nonce_i and epoch as an earlier one would be refused as
			// superseded, and in any case the peer draws nonce_r afresh.
			ni = nonceI
		}
		nonceI = ni
		i2r, r2i := DeriveResume(&keys.Resumption, &ni, &nr, epoch)
		first := peerLargest + 1
		who := "resume " + string(rune('A'+r%26)) + string(rune('0'+r/26))
		send(who+" i2r", i2r, first, 32)
		send(who+" r2i", r2i, first+uint64(rng.IntN(100)), 32)
		// The device this resume replaced is still alive and goes on under its own keys, with
		// numbers the new device also uses: different keys, so no reuse.
		sendMore(who+" replaced device", oldDevice, oldNext+uint64(3*32), 16)
		oldDevice, oldNext = i2r, first
		peerLargest = first + 31 + uint64(rng.IntN(8))
	}
	if len(seen) == 0 {
		t.Fatal("nothing sent")
	}
}
