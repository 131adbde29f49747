package stc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
)

// HKDF labels of session resumption (PROTOCOL.md §4, "Resumption"). They are distinct from every
// other label, and none is a prefix of another label expanded from the same key.
const (
	labelResumeState  = "stt1 resume state"  // from PRK_seed: K_state, seals exported state
	labelResumeBinder = "stt1 resume binder" // from the resumption secret: K_bind
	labelResumeI2R    = "stt1 resume i2r"    // from PRK_r
	labelResumeR2I    = "stt1 resume r2i"    // from PRK_r
)

// StateKey returns K_state = HKDF-Expand(PRK_seed, "stt1 resume state", 32), the AES-256-GCM key
// that seals a session's exported resumable state (SealState): any node holding the same seed can
// open it, and nothing else can.
func (s *Seed) StateKey() Secret {
	s.must()
	var k Secret
	expand(k[:], s.prk[:], labelResumeState)
	return k
}

// ResumeBinderKey returns K_bind = HKDF-Expand(resumption, "stt1 resume binder", 32), the HMAC
// key of a RESUME's binder: the proof that the resuming node holds the session's resumption
// secret, not only the seed (any seed holder can read session ids off the wire).
func ResumeBinderKey(resumption *Secret) MACKey {
	var k MACKey
	expand(k[:], resumption[:], labelResumeBinder)
	return k
}

// ResumeBinder is a RESUME's binder: HMAC-SHA256(K_bind, session id ‖ BE64(epoch) ‖ nonce_i ‖
// BE64(ts)), which only a holder of the session's resumption secret can compute, bound to one
// RESUME's epoch, nonce and time.
func ResumeBinder(resumption *Secret, id *[8]byte, epoch uint64, nonce *[32]byte, ts uint64) (b [MACSize]byte) {
	k := ResumeBinderKey(resumption)
	defer k.Erase()
	var in [8 + 8 + 32 + 8]byte
	copy(in[:8], id[:])
	binary.BigEndian.PutUint64(in[8:16], epoch)
	copy(in[16:48], nonce[:])
	binary.BigEndian.PutUint64(in[48:], ts)
	k.Sum(b[:0], in[:])
	return b
}

// DeriveResume derives the traffic secrets of one resumption of a session:
//
//	PRK_r      = HKDF-Extract(salt = nonce_i ‖ nonce_r ‖ BE64(epoch), IKM = resumption)
//	secret_i2r = HKDF-Expand(PRK_r, "stt1 resume i2r", 32)
//	secret_r2i = HKDF-Expand(PRK_r, "stt1 resume r2i", 32)
//
// Why no nonce is ever reused under a key across resumes. Each resulting secret is generation 0
// of a fresh key chain (AEAD's proof then covers every packet within the chain, given that its
// sender numbers packets without repeating). It remains that no two chains share a secret,
// except with the probability of an HKDF collision:
//   - within one resumption the two directions use different labels;
//   - two resumptions of one session differ in nonce_r, which the responder draws at random for
//     every RESUME it accepts (and in epoch, which it accepts only if larger than every epoch it
//     accepted for the session), so even a replayed RESUME (same nonce_i, epoch) gets new keys;
//     and they differ in nonce_i, which the initiator draws at random for every RESUME it sends,
//     so the initiator's keys are new even if a responder were to repeat nonce_r;
//   - a resumption and the original handshake use different IKM (the resumption secret versus
//     the seed) and labels ("stt1 resume i2r" versus "stt1 traffic i2r");
//   - sessions differ in their resumption secret.
//
// So the exporting device, still alive and sending under the old keys, never shares a key with
// the resuming one: the peer switches to the new receive key at once and its old-key packets
// fail to authenticate (counted, dropped). The caller owns the result and must Erase it.
func DeriveResume(resumption *Secret, nonceI, nonceR *[32]byte, epoch uint64) (i2r, r2i Secret) {
	var salt [72]byte
	copy(salt[:32], nonceI[:])
	copy(salt[32:64], nonceR[:])
	binary.BigEndian.PutUint64(salt[64:], epoch)
	var prk [32]byte
	extract(&prk, resumption[:], salt[:])
	x := newExpander(prk[:])
	x.expand(i2r[:], labelResumeI2R)
	x.expand(r2i[:], labelResumeR2I)
	clear(prk[:])
	return i2r, r2i
}

// Sealed state layout: a 12-byte random nonce, then AES-256-GCM(K_state, nonce, plaintext,
// ad = StateAD) with its 16-byte tag.
const (
	// StateAD is the associated data of a sealed state: it binds the blob to its purpose and
	// format version, so no other AES-GCM use of the key could be confused with it.
	StateAD = "stt1 resumable state"
	// StateOverhead is what SealState adds to the plaintext.
	StateOverhead = NonceSize + TagSize
)

// SealState encrypts and authenticates plaintext (an exported session state) under K_state of
// seed, with a fresh random 96-bit nonce: a state is resealed about once a second, so 2^32 seals
// (the random-nonce bound of NIST SP 800-38D) would take a century. It returns nonce ‖ sealed.
func SealState(seed *Seed, plaintext []byte) ([]byte, error) {
	gcm, err := stateAEAD(seed)
	if err != nil {
		return nil, err
	}
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+TagSize)
	if _, err := io.ReadFull(rand.Reader, out); err != nil {
		return nil, fmt.Errorf("stc: seal state: %w", err)
	}
	return gcm.Seal(out, out[:NonceSize], plaintext, []byte(StateAD)), nil
}

// OpenState reverses SealState. A blob sealed under another seed, or altered, is ErrAuth.
func OpenState(seed *Seed, sealed []byte) ([]byte, error) {
	if len(sealed) < StateOverhead {
		return nil, ErrAuth
	}
	gcm, err := stateAEAD(seed)
	if err != nil {
		return nil, err
	}
	pt, err := gcm.Open(nil, sealed[:NonceSize], sealed[NonceSize:], []byte(StateAD))
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// stateAEAD builds AES-256-GCM under K_state, erasing the key bytes once scheduled.
func stateAEAD(seed *Seed) (cipher.AEAD, error) {
	k := seed.StateKey()
	defer k.Erase()
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("stc: state key: %w", err)
	}
	return cipher.NewGCM(block)
}
