package stc

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"hash"
)

// MACSize is the length of a handshake MAC: HMAC-SHA256, never truncated.
const MACSize = sha256.Size

// MACKey is the handshake MAC key K_hs (Seed.HandshakeKey).
type MACKey [32]byte

// Sum appends HMAC-SHA256(k, parts[0] ‖ parts[1] ‖ …) to dst and returns the result. It allocates
// an HMAC state per call; a responder that MACs many packets should reuse a MAC instead.
func (k *MACKey) Sum(dst []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, k[:])
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(dst)
}

// Verify reports whether mac is the full 32-byte HMAC of parts under k, comparing in constant time.
func (k *MACKey) Verify(mac []byte, parts ...[]byte) bool {
	var buf [MACSize]byte
	sum := k.Sum(buf[:0], parts...)
	ok := subtle.ConstantTimeCompare(sum, mac) == 1
	clear(buf[:])
	return ok
}

// Erase overwrites the key with zeros.
func (k *MACKey) Erase() { clear(k[:]) }

// MAC is a reusable HMAC-SHA256 state under one MACKey, so that the handshake path of a busy
// responder computes and checks MACs without allocating. It is not safe for concurrent use.
// The HMAC state keeps the key's padded copies internally, where they cannot be erased; drop the
// MAC when the key is retired.
type MAC struct {
	h   hash.Hash
	sum [MACSize]byte
}

// NewMAC returns a MAC keyed with k, ready for Write.
func NewMAC(k *MACKey) *MAC {
	return &MAC{h: hmac.New(sha256.New, k[:])}
}

// Reset discards anything written, ready for the next message.
func (m *MAC) Reset() { m.h.Reset() }

// Write adds p to the message. It never fails.
func (m *MAC) Write(p []byte) (int, error) { return m.h.Write(p) }

// Sum appends the MAC of everything written since the last Reset to dst. It does not reset.
func (m *MAC) Sum(dst []byte) []byte { return m.h.Sum(dst) }

// Verify reports, in constant time, whether mac is the MAC of everything written since the last
// Reset. It does not reset.
func (m *MAC) Verify(mac []byte) bool {
	sum := m.h.Sum(m.sum[:0])
	return subtle.ConstantTimeCompare(sum, mac) == 1
}

// Equal reports whether a and b hold the same bytes, in time that depends only on their lengths
// (crypto/subtle). Use it for every comparison of a MAC, tag, cookie or other secret-derived value.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
