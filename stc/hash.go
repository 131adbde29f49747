package stc

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// DigestSize is the size of a content address.
const DigestSize = sha256.Size

// Digest is a content address (STC.hash): the SHA-256 of some bytes. Applications use it for
// content-addressed storage and deduplication; equal digests mean equal content.
type Digest [DigestSize]byte

// Hash returns the SHA-256 content address of b.
func Hash(b []byte) Digest { return sha256.Sum256(b) }

// NewHasher returns a streaming SHA-256 whose Sum is a Digest's bytes, for content too large to
// hold in memory.
func NewHasher() hash.Hash { return sha256.New() }

// String returns the digest as lowercase hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// ParseDigest parses the hex form written by Digest.String.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*DigestSize {
		return d, fmt.Errorf("stc: digest %q: want %d hex digits", s, 2*DigestSize)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("stc: digest %q: %w", s, err)
	}
	return d, nil
}

// Hash64 returns the xxHash64 of b. It is NOT cryptographic: use it only for internal hash tables
// and sharding, never for integrity, authentication or content addresses (use Hash).
func Hash64(b []byte) uint64 { return xxhash.Sum64(b) }

// HashSessionID returns the xxHash64 of an 8-byte session id (equal to Hash64(id[:])), for the
// node's session table. Session ids are HKDF outputs that nobody without the seed can choose, so an
// outsider cannot fill the table with colliding ids. It is the XXH64 algorithm specialised to
// one 8-byte lane, inlined arithmetic with no call into assembly, and does not allocate.
func HashSessionID(id [8]byte) uint64 {
	const (
		p1 = 11400714785074694791
		p2 = 14029467366897019727
		p3 = 1609587929392839161
		p4 = 9650029242287828579
		p5 = 2870177450012600261
	)
	k := binary.LittleEndian.Uint64(id[:]) * p2
	k = bits.RotateLeft64(k, 31) * p1
	h := uint64(p5+8) ^ k
	h = bits.RotateLeft64(h, 27)*p1 + p4
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}
