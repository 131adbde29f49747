package stc

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/argon2"
)

// Seed sizes.
const (
	// SeedMinSize is the smallest seed accepted: 256 bits of secret.
	SeedMinSize = 32
	// SeedMaxSize bounds a seed (and so the file read for it); longer input is ErrSeedFormat.
	SeedMaxSize = 1024
	// GeneratedSeedSize is the size of a seed made by GenerateSeed.
	GeneratedSeedSize = 32
)

// Argon2id parameters of SeedFromPassphrase. They are part of the protocol: two peers typing the
// same passphrase must derive the same seed, so they are fixed, and so is the salt.
const (
	ArgonTime      = 3         // passes
	ArgonMemoryKiB = 64 * 1024 // 64 MiB
	ArgonThreads   = 4         // lanes
	ArgonKeyLen    = 32        // seed bytes produced
	// ArgonSalt is public and fixed (a passphrase seed is deterministic by design). It makes the
	// derivation specific to STT, but it cannot stop a dictionary attack against a weak
	// passphrase: only the Argon2id cost slows one down. Prefer GenerateSeed for real secrets.
	ArgonSalt = "stt1 passphrase seed"
)

// Seed is the pre-shared secret of an STT deployment: every key a node uses is derived from it
// (PROTOCOL.md §4). It holds at least SeedMinSize bytes and its pseudorandom key
// PRK_seed = HKDF-Extract("stt1 seed", seed). A Seed is safe for concurrent use by readers; Destroy
// must not race with other methods. Using a destroyed Seed panics, so that a program can never
// silently derive keys from an empty secret.
type Seed struct {
	b   []byte
	prk [32]byte // PRK_seed
}

// NewSeed returns a Seed holding a copy of b. The caller may (and should) erase b afterwards.
func NewSeed(b []byte) (*Seed, error) {
	if len(b) < SeedMinSize {
		return nil, fmt.Errorf("stc: seed is %d bytes, need at least %d: %w", len(b), SeedMinSize, ErrSeedTooShort)
	}
	if len(b) > SeedMaxSize {
		return nil, fmt.Errorf("stc: seed is %d bytes, at most %d allowed: %w", len(b), SeedMaxSize, ErrSeedFormat)
	}
	s := &Seed{b: bytes.Clone(b)}
	extract(&s.prk, s.b, []byte(saltSeed))
	return s, nil
}

// GenerateSeed returns a fresh random seed of GeneratedSeedSize bytes from crypto/rand.
func GenerateSeed() (*Seed, error) {
	var b [GeneratedSeedSize]byte
	defer clear(b[:])
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return nil, fmt.Errorf("stc: generate seed: %w", err)
	}
	return NewSeed(b[:])
}

// ParseSeedHex parses a seed written as hex (either case), ignoring surrounding whitespace.
// Errors never quote the input, which is secret.
func ParseSeedHex(s string) (*Seed, error) {
	seed, err := parseSeedHex([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("stc: seed hex: %w", err)
	}
	return seed, nil
}

// LoadSeedFile reads a seed written as hex text (for instance by Seed.Hex plus a newline) from
// the file at path. Surrounding whitespace is ignored. The file buffer is erased after parsing.
func LoadSeedFile(path string) (*Seed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("stc: seed file %s: %w", path, err)
	}
	defer f.Close()
	// Hex doubles the size; allow generous whitespace around it.
	const maxFile = 2*SeedMaxSize + 1024
	buf := make([]byte, maxFile+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("stc: seed file %s: %w", path, err)
	}
	if n > maxFile {
		return nil, fmt.Errorf("stc: seed file %s: larger than %d bytes: %w", path, maxFile, ErrSeedFormat)
	}
	seed, err := parseSeedHex(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("stc: seed file %s: %w", path, err)
	}
	return seed, nil
}

// parseSeedHex decodes trimmed hex text into a Seed, erasing its temporary buffer.
func parseSeedHex(text []byte) (*Seed, error) {
	text = bytes.TrimSpace(text)
	if len(text) == 0 {
		return nil, fmt.Errorf("empty: %w", ErrSeedTooShort)
	}
	if len(text)%2 != 0 {
		return nil, fmt.Errorf("odd number of hex digits (%d): %w", len(text), ErrSeedFormat)
	}
	if len(text)/2 > SeedMaxSize {
		return nil, fmt.Errorf("%d bytes, at most %d allowed: %w", len(text)/2, SeedMaxSize, ErrSeedFormat)
	}
	raw := make([]byte, len(text)/2)
	defer clear(raw)
	if _, err := hex.Decode(raw, text); err != nil {
		// Report only the position: the text is secret.
		off := -1
		if e, ok := err.(hex.InvalidByteError); ok {
			off = bytes.IndexByte(text, byte(e))
		}
		return nil, fmt.Errorf("invalid hex digit at offset %d: %w", off, ErrSeedFormat)
	}
	if len(raw) < SeedMinSize {
		return nil, fmt.Errorf("%d bytes, need at least %d: %w", len(raw), SeedMinSize, ErrSeedTooShort)
	}
	return NewSeed(raw)
}

// SeedFromPassphrase stretches a passphrase into a 32-byte seed with Argon2id (ArgonTime passes,
// ArgonMemoryKiB of memory, ArgonThreads lanes, the fixed public salt ArgonSalt). The bytes are
// used exactly as given: no trimming, no Unicode normalization. It costs about 64 MiB and a
// noticeable fraction of a second, on purpose. An empty passphrase is refused.
func SeedFromPassphrase(pass []byte) (*Seed, error) {
	if len(pass) == 0 {
		return nil, fmt.Errorf("stc: seed from passphrase: %w", ErrEmptyPassphrase)
	}
	k := argon2.IDKey(pass, []byte(ArgonSalt), ArgonTime, ArgonMemoryKiB, ArgonThreads, ArgonKeyLen)
	defer clear(k)
	return NewSeed(k)
}

func (s *Seed) must() {
	if s == nil || len(s.b) == 0 {
		panic("stc: use of a nil, zero or destroyed Seed")
	}
}

// Hex returns the seed as lowercase hex, the format ParseSeedHex and LoadSeedFile read. The result
// is secret; Go strings cannot be erased, so call it only to write the seed out.
func (s *Seed) Hex() string {
	s.must()
	return hex.EncodeToString(s.b)
}

// Len returns the seed length in bytes.
func (s *Seed) Len() int {
	if s == nil {
		return 0
	}
	return len(s.b)
}

// Equal reports whether s and o hold the same bytes, in time independent of the contents (the
// lengths, which are not secret, may be compared early).
func (s *Seed) Equal(o *Seed) bool {
	if s == nil || o == nil {
		return s == o
	}
	return subtle.ConstantTimeCompare(s.b, o.b) == 1
}

// Destroy overwrites the seed and its derived PRK with zeros and releases them. Later use of s
// panics. Copies made by the Go runtime (a moved backing array, an earlier string from Hex) and
// keys already derived are out of its reach.
func (s *Seed) Destroy() {
	if s == nil {
		return
	}
	clear(s.b)
	s.b = nil
	clear(s.prk[:])
}

// HandshakeKey returns K_hs = HKDF-Expand(PRK_seed, "stt1 handshake mac", 32), the HMAC-SHA256 key
// of every handshake message (PROTOCOL.md §3).
func (s *Seed) HandshakeKey() MACKey {
	s.must()
	var k MACKey
	expand(k[:], s.prk[:], labelHandshake)
	return k
}

// ExportKey returns K_export = HKDF-Expand(PRK_seed, "stt1 session export", 32), the key that seals
// exported session state so that another device with the same seed can resume it.
func (s *Seed) ExportKey() Secret {
	s.must()
	var k Secret
	expand(k[:], s.prk[:], labelExport)
	return k
}

// NodeID returns a stable 8-byte node id, HKDF-Expand(PRK_seed, "stt1 node id" ‖ instance, 8).
// Node ids travel in clear; the derivation reveals nothing about the seed.
func (s *Seed) NodeID(instance []byte) [8]byte {
	s.must()
	var id [8]byte
	expand(id[:], s.prk[:], labelNodeID+string(instance))
	return id
}

// DeriveSession derives the keys of one session from the two handshake nonces:
// PRK_s = HKDF-Extract(salt = nonce_i ‖ nonce_r, IKM = seed), then the session id, both traffic
// secrets and the resumption secret (PROTOCOL.md §4). Both peers get the same SessionKeys; fresh
// random nonces make every session's keys different. The caller owns the result and should Erase
// it once the key chains are built.
func (s *Seed) DeriveSession(nonceI, nonceR *[32]byte) SessionKeys {
	s.must()
	var salt [64]byte
	copy(salt[:32], nonceI[:])
	copy(salt[32:], nonceR[:])
	var prk [32]byte
	extract(&prk, s.b, salt[:])
	var k SessionKeys
	x := newExpander(prk[:])
	x.expand(k.ID[:], labelSessionID)
	x.expand(k.I2R[:], labelI2R)
	x.expand(k.R2I[:], labelR2I)
	x.expand(k.Resumption[:], labelResumption)
	clear(prk[:])
	return k
}
