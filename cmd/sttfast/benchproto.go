package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
)

// The bench protocol, spoken on each stream a "bench --addr" client opens to "sttfast serve":
//
//	client → server  "sttfast-bench/1 size=65536 block=1048576 key=<64 hex>"   (first message)
//	client → server  data messages, then FIN
//	server → client  "sttfast-bench/1 ok bytes=N msgs=M xxh64=<16 hex>"        (then FIN)
//	             or  "sttfast-bench/1 fail bytes=N msgs=M xxh64=<16 hex> bad=OFFSET"
//	             or  "sttfast-bench/1 error=<text>"                             (bad header)
//
// The data is the infinite repetition of a block of "block" bytes drawn from ChaCha8 keyed by
// "key"; message i carries stream bytes [i*size, (i+1)*size). The server regenerates the block
// and checks every message byte for byte at its expected offset (cheaper than hashing both
// sides, and it pinpoints the first bad byte); it also hashes what it received with xxhash64 so
// the client can compare with what it sent. The loopback bench checks the same way in-process.
const (
	benchMagic    = "sttfast-bench/1"
	benchMaxBlock = 64 << 20
)

// benchHeader is the first message of a bench stream.
type benchHeader struct {
	size  int      // message size
	block int      // block length
	key   [32]byte // ChaCha8 key of the block
}

// newBenchHeader returns a header with a fresh random key and a block of max(1 MiB, size).
func newBenchHeader(size int) benchHeader {
	h := benchHeader{size: size, block: max(1<<20, size)}
	rand.Read(h.key[:])
	return h
}

// String renders the header message.
func (h benchHeader) String() string {
	return fmt.Sprintf("%s size=%d block=%d key=%x", benchMagic, h.size, h.block, h.key[:])
}

// isBenchHeader reports whether a stream's first message opens the bench protocol.
func isBenchHeader(msg []byte) bool {
	return bytes.HasPrefix(msg, []byte(benchMagic+" "))
}

// parseBenchHeader parses and bounds-checks a header message.
func parseBenchHeader(msg []byte) (benchHeader, error) {
	var h benchHeader
	kv, err := benchFields(msg)
	if err != nil {
		return h, err
	}
	if h.size, err = strconv.Atoi(kv["size"]); err != nil || h.size <= 0 || h.size > benchMaxBlock {
		return h, fmt.Errorf("bad size %q", kv["size"])
	}
	if h.block, err = strconv.Atoi(kv["block"]); err != nil || h.block < h.size || h.block > benchMaxBlock {
		return h, fmt.Errorf("bad block %q", kv["block"])
	}
	k, err := hex.DecodeString(kv["key"])
	if err != nil || len(k) != len(h.key) {
		return h, fmt.Errorf("bad key")
	}
	copy(h.key[:], k)
	return h, nil
}

// benchFields splits "sttfast-bench/1 k=v k=v ..." into its fields.
func benchFields(msg []byte) (map[string]string, error) {
	f := strings.Fields(string(msg))
	if len(f) == 0 || f[0] != benchMagic {
		return nil, fmt.Errorf("not a %s message", benchMagic)
	}
	kv := make(map[string]string, len(f))
	for _, p := range f[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			kv[p] = ""
			continue
		}
		kv[k] = v
	}
	return kv, nil
}

// content returns the block followed by its first size bytes, so that the message at any block
// offset is one contiguous slice (content[off:off+size]).
func (h benchHeader) content() []byte {
	c := make([]byte, h.block+h.size)
	mrand.NewChaCha8(h.key).Read(c[:h.block])
	copy(c[h.block:], c[:h.size])
	return c
}

// benchSource yields a stream's messages: the block repeated, at increasing offsets.
type benchSource struct {
	content []byte
	block   int
	size    int
	off     int
}

// newBenchSource starts a stream's content at offset 0.
func newBenchSource(h benchHeader, content []byte) *benchSource {
	return &benchSource{content: content, block: h.block, size: h.size}
}

// next returns the next message (a slice of the shared content: do not modify).
func (s *benchSource) next() []byte {
	m := s.content[s.off : s.off+s.size]
	s.off = (s.off + s.size) % s.block
	return m
}

// benchVerifier checks a received stream against the content it must be, in order, byte for byte.
type benchVerifier struct {
	content []byte
	block   int
	size    int
	off     int
	bytes   uint64 // verified and unverified alike: everything received
	msgs    uint64
	bad     bool
	badAt   uint64 // stream offset of the first wrong byte
}

// newBenchVerifier expects the content of h from offset 0.
func newBenchVerifier(h benchHeader, content []byte) *benchVerifier {
	return &benchVerifier{content: content, block: h.block, size: h.size}
}

// check verifies one message and reports whether the stream is still correct.
func (v *benchVerifier) check(msg []byte) bool {
	if !v.bad {
		n := min(len(msg), v.size)
		want := v.content[v.off : v.off+n]
		if !bytes.Equal(msg[:n], want) {
			v.bad = true
			v.badAt = v.bytes + uint64(firstDiff(msg[:n], want))
		} else if len(msg) != v.size {
			v.bad = true
			v.badAt = v.bytes + uint64(n)
		}
	}
	v.bytes += uint64(len(msg))
	v.msgs++
	v.off = (v.off + len(msg)) % v.block
	return !v.bad
}

// verified is how many bytes were checked correct (everything, unless a byte was wrong).
func (v *benchVerifier) verified() uint64 {
	if v.bad {
		return v.badAt
	}
	return v.bytes
}

// firstDiff is the index of the first differing byte of two equal-length slices.
func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// benchReply is the server's last message on a bench stream.
type benchReply struct {
	ok    bool
	bytes uint64
	msgs  uint64
	xxh   uint64
	badAt uint64
	err   string // header refused
}

// String renders the reply message.
func (r benchReply) String() string {
	switch {
	case r.err != "":
		return fmt.Sprintf("%s error=%s", benchMagic, strings.ReplaceAll(r.err, " ", "_"))
	case r.ok:
		return fmt.Sprintf("%s ok bytes=%d msgs=%d xxh64=%016x", benchMagic, r.bytes, r.msgs, r.xxh)
	}
	return fmt.Sprintf("%s fail bytes=%d msgs=%d xxh64=%016x bad=%d", benchMagic, r.bytes, r.msgs, r.xxh, r.badAt)
}

// parseBenchReply parses the server's reply.
func parseBenchReply(msg []byte) (benchReply, error) {
	var r benchReply
	kv, err := benchFields(msg)
	if err != nil {
		return r, err
	}
	if e, ok := kv["error"]; ok {
		r.err = strings.ReplaceAll(e, "_", " ")
		return r, nil
	}
	_, r.ok = kv["ok"]
	if _, fail := kv["fail"]; !r.ok && !fail {
		return r, fmt.Errorf("reply is neither ok nor fail")
	}
	if r.bytes, err = strconv.ParseUint(kv["bytes"], 10, 64); err != nil {
		return r, fmt.Errorf("bad bytes")
	}
	if r.msgs, err = strconv.ParseUint(kv["msgs"], 10, 64); err != nil {
		return r, fmt.Errorf("bad msgs")
	}
	if r.xxh, err = strconv.ParseUint(kv["xxh64"], 16, 64); err != nil {
		return r, fmt.Errorf("bad xxh64")
	}
	if !r.ok {
		if r.badAt, err = strconv.ParseUint(kv["bad"], 10, 64); err != nil {
			return r, fmt.Errorf("bad offset")
		}
	}
	return r, nil
}
