package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
)

// pattern is a deterministic pseudo-random byte stream (ChaCha8 keyed by a seed): the sender and
// a verifier that knows the seed produce the same bytes without sharing a file.
type pattern struct {
	rng *rand.ChaCha8
	off int64
}

// newPattern returns the stream for seed.
func newPattern(seed uint64) *pattern {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	key[8] = 0x5e // keep these streams apart from other seeded generators in the repo
	return &pattern{rng: rand.NewChaCha8(key)}
}

// fill overwrites b with the next len(b) bytes of the stream.
func (p *pattern) fill(b []byte) {
	p.rng.Read(b)
	p.off += int64(len(b))
}

// verifier checks that received bytes are the pattern's, in order.
type verifier struct {
	p    *pattern
	want []byte
}

// newVerifier returns a verifier for the stream of seed.
func newVerifier(seed uint64) *verifier { return &verifier{p: newPattern(seed)} }

// check compares b with the next len(b) bytes of the stream and names the first difference.
func (v *verifier) check(b []byte) error {
	if cap(v.want) < len(b) {
		v.want = make([]byte, len(b))
	}
	want := v.want[:len(b)]
	off := v.p.off
	v.p.fill(want)
	if !bytes.Equal(b, want) {
		for i := range b {
			if b[i] != want[i] {
				return fmt.Errorf("byte %d differs: got %#02x, want %#02x", off+int64(i), b[i], want[i])
			}
		}
	}
	return nil
}

// verified is how many bytes check has accepted so far (or rejected, at the end).
func (v *verifier) verified() int64 { return v.p.off }
