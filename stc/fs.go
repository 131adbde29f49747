package stc

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Labels of the forward-secret key schedule (PROTOCOL.md §4, "Forward secrecy"). They differ
// from the seed-only labels, so a session's keys say which schedule made them.
const (
	labelFSTranscript = "stt1 fs transcript"
	labelFSSessionID  = "stt1 fs session id"
	labelFSI2R        = "stt1 fs traffic i2r"
	labelFSR2I        = "stt1 fs traffic r2i"
	labelFSResumption = "stt1 fs resumption"
)

// PublicKeySize is the size of an X25519 public key (a KEY_SHARE).
const PublicKeySize = 32

// ErrBadKeyShare reports a peer's X25519 public key whose shared secret is all zeros (a
// low-order point): a peer that would make the exchange contribute nothing.
var ErrBadKeyShare = errors.New("stc: bad X25519 key share")

// ErrErased reports the use of an ephemeral key after Erase.
var ErrErased = errors.New("stc: ephemeral key erased")

// Ephemeral is an X25519 key pair made for a short time (ctrl rotates them every second and
// keeps each only as long as a handshake that used it may still complete). Erase it when that
// time is over: that erasure, and the peer's, is what makes the session keys unrecoverable
// later, from the seed or from either node's memory. The private scalar lives inside
// crypto/ecdh, which keeps it in memory it does not let us overwrite: Erase drops the last
// reference, and the garbage collector reclaims (does not wipe) it, the same limit as the AES
// key schedule (see the package documentation).
type Ephemeral struct {
	key    *ecdh.PrivateKey
	Public [PublicKeySize]byte
}

// NewEphemeral returns a fresh random key pair.
func NewEphemeral() (Ephemeral, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return Ephemeral{}, fmt.Errorf("stc: ephemeral key: %w", err)
	}
	e := Ephemeral{key: k}
	copy(e.Public[:], k.PublicKey().Bytes())
	return e, nil
}

// EphemeralFrom returns the key pair whose private scalar is b (known-answer tests).
func EphemeralFrom(b *[32]byte) (Ephemeral, error) {
	k, err := ecdh.X25519().NewPrivateKey(b[:])
	if err != nil {
		return Ephemeral{}, fmt.Errorf("stc: ephemeral key: %w", err)
	}
	e := Ephemeral{key: k}
	copy(e.Public[:], k.PublicKey().Bytes())
	return e, nil
}

// Shared returns X25519(private, peer): ErrBadKeyShare for a low-order peer key, ErrErased
// after Erase.
func (e *Ephemeral) Shared(peer *[PublicKeySize]byte) ([32]byte, error) {
	var out [32]byte
	if e.key == nil {
		return out, ErrErased
	}
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return out, ErrBadKeyShare
	}
	s, err := e.key.ECDH(pub)
	if err != nil {
		return out, ErrBadKeyShare // crypto/ecdh refuses an all-zero result
	}
	copy(out[:], s)
	clear(s)
	return out, nil
}

// Erase drops the private key; Shared fails afterwards.
func (e *Ephemeral) Erase() { e.key = nil }

// Erased reports whether the private key was dropped (or never made).
func (e *Ephemeral) Erased() bool { return e.key == nil }

// FSTranscript is what a forward-secret session's keys are bound to besides the nonces: both
// node ids in their roles and both ephemeral public keys, so that no message can be replayed
// into another handshake or reflected to its sender.
type FSTranscript struct {
	InitiatorNode, ResponderNode [8]byte
	InitiatorKey, ResponderKey   [PublicKeySize]byte
}

// Hash is SHA-256("stt1 fs transcript" ‖ "i" ‖ node_i ‖ E_i ‖ "r" ‖ node_r ‖ E_r).
func (t *FSTranscript) Hash() [32]byte {
	h := sha256.New()
	h.Write([]byte(labelFSTranscript))
	h.Write([]byte{'i'})
	h.Write(t.InitiatorNode[:])
	h.Write(t.InitiatorKey[:])
	h.Write([]byte{'r'})
	h.Write(t.ResponderNode[:])
	h.Write(t.ResponderKey[:])
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// DeriveSessionFS derives the keys of a forward-secret session (PROTOCOL.md §4):
//
//	PRK_fs = HKDF-Extract(salt = nonce_i ‖ nonce_r ‖ transcript hash, IKM = seed ‖ dh)
//
// then the session id and secrets with the "stt1 fs ..." labels. The seed keeps the handshake
// authenticated as before (Noise's psk, WireGuard's preshared key); the X25519 result dh, which
// no one can compute once both ephemeral keys are erased, makes the keys unrecoverable from the
// seed and the captured handshake alone. The caller erases dh and the result.
func (s *Seed) DeriveSessionFS(nonceI, nonceR *[32]byte, t *FSTranscript, dh *[32]byte) SessionKeys {
	s.must()
	th := t.Hash()
	var salt [96]byte
	copy(salt[:32], nonceI[:])
	copy(salt[32:64], nonceR[:])
	copy(salt[64:], th[:])
	ikm := make([]byte, 0, len(s.b)+32)
	ikm = append(append(ikm, s.b...), dh[:]...)
	var prk [32]byte
	extract(&prk, ikm, salt[:])
	clear(ikm)
	var k SessionKeys
	x := newExpander(prk[:])
	x.expand(k.ID[:], labelFSSessionID)
	x.expand(k.I2R[:], labelFSI2R)
	x.expand(k.R2I[:], labelFSR2I)
	x.expand(k.Resumption[:], labelFSResumption)
	clear(prk[:])
	return k
}
