package stc

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// AEAD sizes.
const (
	KeySize   = 32 // AES-256 key and every traffic secret
	TagSize   = 16 // GCM tag appended to each protected packet
	NonceSize = 12 // GCM nonce
)

// MaxPacketNumber is the largest packet number of a direction (PROTOCOL.md §1: a session closes
// before 2^62).
const MaxPacketNumber = 1<<62 - 1

// AEAD seals and opens protected packets in place with AES-256-GCM under one traffic secret
// (one generation of one direction of one session).
//
// The nonce of packet number pn is
//
//	nonce(pn) = salt XOR (0x00000000 ‖ BE64(pn))
//
// where salt = HKDF-Expand(S, "stt1 iv", 12) and key = HKDF-Expand(S, "stt1 key", 32).
//
// Proof that a nonce never repeats under a key. Fix a key K, that is, one traffic secret S. Its
// salt is fixed, so nonce(·) is the composition of pn ↦ 0^32 ‖ BE64(pn), which is injective on
// 64-bit integers (BE64 is a bijection onto 8-byte strings and the 4-byte zero prefix is
// constant), and x ↦ salt XOR x, a bijection of 96-bit strings (its own inverse). An injective
// map composed with a bijection is injective, so nonce(pn1) = nonce(pn2) implies pn1 = pn2.
// S is used by exactly one sender: one direction (labels "i2r"/"r2i" differ) of one session
// (PRK_s differs per nonce pair) at one key generation (each generation is a fresh expansion).
// That sender numbers packets with a 64-bit counter that starts at 0 and only increments, is
// never reset (not on key update, not on path change) and never wraps (sessions close before
// MaxPacketNumber), and a retransmission takes a new number. So every packet sealed under K has a
// distinct pn, hence a distinct nonce. ∎ The remaining risk is two different (session, direction,
// generation) triples yielding the same 32-byte key, an HKDF-SHA256 output collision, about
// n²/2^257 for n keys. The obligations on callers are the premises: never seal two packets with
// the same pn under one AEAD, and never rebuild a session's keys from nonces that were already
// used (a responder must not re-create a closed session from a replayed AUTH_PROOF; a resumed
// session must continue past every packet number the exported state may have used).
//
// Seal and Open keep their nonce in the AEAD (so no per-call allocation): one Seal may run
// concurrently with one Open, but concurrent Seals (or concurrent Opens) on the same AEAD race.
// In STT each direction has its own AEAD, sealed by one TX loop or opened by one RX loop.
type AEAD struct {
	gcm    cipher.AEAD
	saltHi [4]byte // salt[0:4]
	saltLo uint64  // BE64(salt[4:12])
	sn, on [NonceSize]byte
}

// NewAEAD builds the AES-256-GCM state of traffic secret s (key and nonce salt per PROTOCOL.md
// §4). It does not keep s: the caller still owns it. The expanded key is erased once the AES key
// schedule is built.
func NewAEAD(s *Secret) (*AEAD, error) {
	var key [KeySize]byte
	var salt [NonceSize]byte
	trafficKeys(s, &key, &salt)
	block, err := aes.NewCipher(key[:])
	clear(key[:])
	if err != nil {
		clear(salt[:])
		return nil, fmt.Errorf("stc: new aead: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		clear(salt[:])
		return nil, fmt.Errorf("stc: new aead: %w", err)
	}
	a := &AEAD{gcm: gcm}
	copy(a.saltHi[:], salt[:4])
	a.saltLo = binary.BigEndian.Uint64(salt[4:])
	clear(salt[:])
	return a, nil
}

// trafficKeys derives the AES-256-GCM key and nonce salt of traffic secret s.
func trafficKeys(s *Secret, key *[KeySize]byte, salt *[NonceSize]byte) {
	x := newExpander(s[:])
	x.expand(key[:], labelKey)
	x.expand(salt[:], labelIV)
}

// nonce writes nonce(pn) (see the proof on AEAD) into n.
func (a *AEAD) nonce(n *[NonceSize]byte, pn uint64) {
	copy(n[:4], a.saltHi[:])
	binary.BigEndian.PutUint64(n[4:], a.saltLo^pn)
}

// Seal encrypts packet pkt = header ‖ plaintext in place: pkt[hdrLen:] is replaced by its
// ciphertext, the 16-byte tag is written right after it (cap(pkt) must be at least
// len(pkt)+TagSize), and pkt[:hdrLen] is authenticated as associated data. It returns
// pkt[:len(pkt)+TagSize]. pn is the full 64-bit packet number, which must never have been sealed
// under this AEAD before. Seal does not allocate. Misuse (bad hdrLen, no room for the tag, an
// erased AEAD) panics: those are programming errors, not packet errors.
func (a *AEAD) Seal(pkt []byte, hdrLen int, pn uint64) []byte {
	n := len(pkt)
	if hdrLen < 0 || hdrLen > n {
		panic("stc: Seal: header length out of range")
	}
	if cap(pkt)-n < TagSize {
		panic("stc: Seal: packet buffer has no room for the tag")
	}
	if a.gcm == nil {
		panic("stc: Seal with an erased AEAD")
	}
	a.nonce(&a.sn, pn)
	a.gcm.Seal(pkt[hdrLen:hdrLen], a.sn[:], pkt[hdrLen:n], pkt[:hdrLen:hdrLen])
	return pkt[:n+TagSize]
}

// Open authenticates and decrypts packet pkt = header ‖ ciphertext ‖ tag in place and returns the
// plaintext, the view pkt[hdrLen:len(pkt)-TagSize]. Any failure (tampering, wrong key, wrong pn,
// a packet shorter than hdrLen+TagSize, an erased AEAD) returns ErrAuth itself, without
// allocation. After a failure the body bytes are not the original ciphertext any more (the
// standard library clears its output so no unauthenticated plaintext escapes): a packet can be
// opened at most once, so pick the key first (KeyChain.Select) and do not retry another key on
// the same buffer.
func (a *AEAD) Open(pkt []byte, hdrLen int, pn uint64) ([]byte, error) {
	if hdrLen < 0 || len(pkt)-hdrLen < TagSize || a.gcm == nil {
		return nil, ErrAuth
	}
	a.nonce(&a.on, pn)
	pt, err := a.gcm.Open(pkt[hdrLen:hdrLen], a.on[:], pkt[hdrLen:], pkt[:hdrLen:hdrLen])
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// Erase zeroes the nonce salt and the nonce buffers and drops the AES-GCM state, after which Seal
// panics and Open returns ErrAuth. The AES key schedule inside crypto/aes cannot be zeroed from
// outside the standard library; dropping the last reference leaves it to the garbage collector
// (see the package documentation).
func (a *AEAD) Erase() {
	if a == nil {
		return
	}
	a.gcm = nil
	clear(a.saltHi[:])
	a.saltLo = 0
	clear(a.sn[:])
	clear(a.on[:])
}

// Erased reports whether Erase was called.
func (a *AEAD) Erased() bool { return a == nil || a.gcm == nil }
