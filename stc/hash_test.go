package stc

import (
	"encoding/binary"
	mrand "math/rand/v2"

	"github.com/cespare/xxhash/v2"
	"strings"
	"testing"
)

func TestHash64(t *testing.T) {
	// Reference values of XXH64 with seed 0 (from the xxHash specification's test suite).
	if got := Hash64(nil); got != 0xef46db3751d8e999 {
		t.Fatalf("Hash64(empty) = %#x", got)
	}
	if got := Hash64([]byte("abc")); got != 0x44bc2cf5ad770999 {
		t.Fatalf("Hash64(abc) = %#x", got)
	}
	// HashSessionID is a specialised XXH64: it must agree with the library on every input.
	r := mrand.New(mrand.NewPCG(3, 4))
	for i := range 100_000 {
		var id [8]byte
		binary.LittleEndian.PutUint64(id[:], r.Uint64())
		if i < 256 {
			id = [8]byte{byte(i)}
		}
		if HashSessionID(id) != xxhash.Sum64(id[:]) {
			t.Fatalf("HashSessionID(%x) differs from xxhash", id)
		}
	}
}

func TestParseDigestErrors(t *testing.T) {
	if _, err := ParseDigest("abcd"); err == nil {
		t.Fatal("short digest accepted")
	}
	if _, err := ParseDigest(strings.Repeat("zz", DigestSize)); err == nil {
		t.Fatal("bad hex accepted")
	}
}

func TestMAC(t *testing.T) {
	k := MACKey{1, 2, 3}
	sum := k.Sum(nil, []byte("head"), []byte("body"))
	if len(sum) != MACSize {
		t.Fatal("size")
	}
	if !k.Verify(sum, []byte("headbody")) {
		t.Fatal("MAC must be over the concatenation")
	}
	if k.Verify(sum[:31], []byte("headbody")) {
		t.Fatal("truncated MAC accepted")
	}
	bad := append([]byte(nil), sum...)
	bad[31] ^= 1
	if k.Verify(bad, []byte("headbody")) {
		t.Fatal("bad MAC accepted")
	}
	m := NewMAC(&k)
	for range 3 { // reusable
		m.Reset()
		m.Write([]byte("he"))
		m.Write([]byte("adbody"))
		if !m.Verify(sum) || m.Verify(bad) || !Equal(m.Sum(nil), sum) {
			t.Fatal("MAC state")
		}
	}
	if Equal(sum, bad) || !Equal(nil, []byte{}) || Equal(sum, sum[:5]) {
		t.Fatal("Equal")
	}
	k.Erase()
	if k != (MACKey{}) {
		t.Fatal("Erase")
	}
}
