package stc

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// TestForwardSecrecyKAT checks the forward-secret schedule against testdata/fs_kat.json
// (testdata/gen_fs_kat.py, an independent implementation; its X25519 values are RFC 7748 §6.1's).
func TestForwardSecrecyKAT(t *testing.T) {
	raw, err := os.ReadFile("testdata/fs_kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	seed, err := NewSeed(unhex(t, m["seed"]))
	if err != nil {
		t.Fatal(err)
	}
	priv := [32]byte(unhex(t, m["initiator_private"]))
	e, err := EphemeralFrom(&priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Public[:], unhex(t, m["initiator_public"])) {
		t.Fatalf("X25519 public key %x, RFC 7748 says %s", e.Public, m["initiator_public"])
	}
	peer := [32]byte(unhex(t, m["responder_public"]))
	dh, err := e.Shared(&peer)
	if err != nil || !bytes.Equal(dh[:], unhex(t, m["shared"])) {
		t.Fatalf("X25519 shared %x %v, RFC 7748 says %s", dh, err, m["shared"])
	}
	e.Erase()
	if _, err := e.Shared(&peer); !errors.Is(err, ErrErased) || !e.Erased() {
		t.Fatalf("Shared after Erase: %v", err)
	}
	tr := FSTranscript{
		InitiatorNode: [8]byte(unhex(t, m["node_i"])), ResponderNode: [8]byte(unhex(t, m["node_r"])),
		InitiatorKey: e.Public, ResponderKey: peer,
	}
	if th := tr.Hash(); !bytes.Equal(th[:], unhex(t, m["transcript_hash"])) {
		t.Fatalf("transcript hash %x, want %s", th, m["transcript_hash"])
	}
	nI, nR := [32]byte(unhex(t, m["nonce_i"])), [32]byte(unhex(t, m["nonce_r"]))
	k := seed.DeriveSessionFS(&nI, &nR, &tr, &dh)
	for name, got := range map[string][]byte{"id": k.ID[:], "i2r": k.I2R[:], "r2i": k.R2I[:], "resumption": k.Resumption[:]} {
		if !bytes.Equal(got, unhex(t, m[name])) {
			t.Errorf("%s = %x, want %s", name, got, m[name])
		}
	}
	// Swapping the roles (a reflected handshake) gives other keys.
	swapped := FSTranscript{InitiatorNode: tr.ResponderNode, ResponderNode: tr.InitiatorNode, InitiatorKey: tr.ResponderKey, ResponderKey: tr.InitiatorKey}
	if k2 := seed.DeriveSessionFS(&nI, &nR, &swapped, &dh); k2.I2R == k.I2R {
		t.Fatal("roles are not bound into the keys")
	}
	// And the seed-only schedule never gives these keys.
	if k3 := seed.DeriveSession(&nI, &nR); k3.ID == k.ID || k3.I2R == k.I2R {
		t.Fatal("seed-only and forward-secret schedules agree")
	}
}

func TestEphemeralBothSidesAgree(t *testing.T) {
	a, err := NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	s1, err1 := a.Shared(&b.Public)
	s2, err2 := b.Shared(&a.Public)
	if err1 != nil || err2 != nil || s1 != s2 {
		t.Fatalf("shared secrets differ: %v %v", err1, err2)
	}
	var zero [32]byte // a low-order point
	if _, err := a.Shared(&zero); !errors.Is(err, ErrBadKeyShare) {
		t.Fatalf("low-order key share: %v", err)
	}
}
