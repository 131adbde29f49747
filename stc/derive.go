package stc

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"io"
)

// HKDF labels and salts of PROTOCOL.md §4. Every label is distinct, and none is a prefix of
// another label expanded from the same key, so no two derivations can share an output stream.
const (
	saltSeed        = "stt1 seed"
	labelHandshake  = "stt1 handshake mac"
	labelExport     = "stt1 session export"
	labelNodeID     = "stt1 node id" // followed by the instance bytes
	labelSessionID  = "stt1 session id"
	labelI2R        = "stt1 traffic i2r"
	labelR2I        = "stt1 traffic r2i"
	labelResumption = "stt1 resumption"
	labelKey        = "stt1 key"
	labelIV         = "stt1 iv"
	labelKeyUpdate  = "stt1 key update"
)

// Secret is a 32-byte traffic, export or resumption secret. It is a value type so that it can
// live inside other structs without allocation; whoever holds a copy is responsible for calling
// Erase on it when done.
type Secret [KeySize]byte

// Erase overwrites the secret with zeros.
func (s *Secret) Erase() { clear(s[:]) }

// SessionKeys is everything one handshake derives (PROTOCOL.md §4): the public session id, the
// two directional traffic secrets (generation 0 of each key chain) and the resumption secret.
type SessionKeys struct {
	ID         [8]byte // session id carried in every protected packet header
	I2R        Secret  // traffic secret initiator → responder
	R2I        Secret  // traffic secret responder → initiator
	Resumption Secret  // secret for session resumption / export
}

// Directional returns the send and receive traffic secrets for one side of the session.
func (k *SessionKeys) Directional(initiator bool) (send, recv *Secret) {
	if initiator {
		return &k.I2R, &k.R2I
	}
	return &k.R2I, &k.I2R
}

// Erase overwrites every secret of k (the id is public and kept).
func (k *SessionKeys) Erase() {
	k.I2R.Erase()
	k.R2I.Erase()
	k.Resumption.Erase()
}

// extract is HKDF-Extract(salt, ikm) with SHA-256, written into prk.
func extract(prk *[32]byte, ikm, salt []byte) {
	b, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		// Only possible in FIPS 140-only mode with a key below 112 bits; seeds are >= 256 bits.
		panic("stc: hkdf extract: " + err.Error())
	}
	copy(prk[:], b)
	clear(b)
}

// expand is HKDF-Expand(prk, label, len(out)) with SHA-256, written into out.
func expand(out []byte, prk []byte, label string) {
	b, err := hkdf.Expand(sha256.New, prk, label, len(out))
	if err != nil {
		// Only possible for len(out) > 255*32 or a short key in FIPS 140-only mode; every
		// caller passes a 32-byte PRK and asks for at most 32 bytes.
		panic("stc: hkdf expand: " + err.Error())
	}
	copy(out, b)
	clear(b)
}

// expander computes several HKDF-Expand outputs of at most one hash length from one PRK with a
// single HMAC key schedule. For L <= 32, RFC 5869 §2.3 reduces to T(1) = HMAC(PRK, info ‖ 0x01),
// so resetting one keyed HMAC per label gives exactly hkdf.Expand's bytes (the KATs check it)
// while paying the key setup once: a handshake derives a dozen values from four PRKs.
type expander struct{ h hash.Hash }

func newExpander(prk []byte) expander { return expander{hmac.New(sha256.New, prk)} }

// expand writes HKDF-Expand(PRK, label, len(out)) into out; len(out) must be at most 32.
func (x expander) expand(out []byte, label string) {
	if len(out) > sha256.Size {
		panic("stc: expander: output longer than one hash")
	}
	x.h.Reset()
	io.WriteString(x.h, label)
	x.h.Write([]byte{1})
	var sum [sha256.Size]byte
	x.h.Sum(sum[:0])
	copy(out, sum[:])
	clear(sum[:])
}

// nextSecret returns the key-update successor of s: HKDF-Expand(s, "stt1 key update", 32).
func nextSecret(s *Secret) Secret {
	var n Secret
	expand(n[:], s[:], labelKeyUpdate)
	return n
}
