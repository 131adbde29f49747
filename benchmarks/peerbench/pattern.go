package peerbench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
)

// patternSize is the period of the content every sender writes. The block is random, so a
// receiver that checks each byte against it at the stream offset where the byte must be detects
// corruption, loss, duplication and reordering; 1 MiB is larger than any message and is not a
// multiple of any message size used, so consecutive messages carry different bytes.
const patternSize = 1 << 20

// patternSeed is fixed: both processes must derive the same block without talking.
var patternSeed = [32]byte{'s', 't', 't', 'f', 'a', 's', 't', ' ', 'p', 'e', 'e', 'r', 'b', 'e', 'n', 'c', 'h'}

// errVerify marks a content mismatch. It is always an error, whenever it happens: a transport that
// delivers wrong bytes gets no number.
var errVerify = errors.New("content verification failed")

// Pattern is the deterministic content of every stream: byte o of a stream is
// block[o mod patternSize]. The block is stored twice in a row so that any run of up to
// patternSize bytes is one contiguous slice (no copy to compare or to send).
type Pattern struct {
	b []byte
}

// NewPattern generates the block (ChaCha8 from a fixed seed, identical in every process).
func NewPattern() *Pattern {
	b := make([]byte, 2*patternSize)
	r := rand.NewChaCha8(patternSeed)
	r.Read(b[:patternSize])
	copy(b[patternSize:], b[:patternSize])
	return &Pattern{b: b}
}

// At returns the n bytes of the stream at offset off (n <= patternSize).
func (p *Pattern) At(off uint64, n int) []byte {
	i := int(off % patternSize)
	return p.b[i : i+n : i+n]
}

// StreamSource hands out consecutive messages of the stream.
type StreamSource struct {
	p   *Pattern
	off uint64
}

// Next returns the next n bytes of the stream (n <= patternSize).
func (s *StreamSource) Next(n int) []byte {
	b := s.p.At(s.off, n)
	s.off += uint64(n)
	return b
}

// StreamVerifier checks received bytes against the stream, in order.
type StreamVerifier struct {
	p   *Pattern
	off uint64
}

// Check compares b with the stream at the current offset and advances past it.
func (v *StreamVerifier) Check(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), patternSize)
		want := v.p.At(v.off, n)
		if !bytes.Equal(b[:n], want) {
			i := 0
			for i < n && b[i] == want[i] {
				i++
			}
			return fmt.Errorf("%w: byte at stream offset %d is %#02x, want %#02x", errVerify, v.off+uint64(i), b[i], want[i])
		}
		v.off += uint64(n)
		b = b[n:]
	}
	return nil
}

// Offset is how many bytes were verified.
func (v *StreamVerifier) Offset() uint64 { return v.off }

// Datagrams (the UDP ceiling, SRT live packets) can be lost, so each one says where it belongs:
// an 8-byte big-endian sequence number, then the stream bytes at seq*size+8.
const seqHeader = 8

// FillDatagram writes datagram seq of the given size into b (len(b) == size >= seqHeader).
func (p *Pattern) FillDatagram(b []byte, seq uint64) {
	binary.BigEndian.PutUint64(b, seq)
	copy(b[seqHeader:], p.At(seq*uint64(len(b))+seqHeader, len(b)-seqHeader))
}

// DatagramVerifier checks numbered datagrams of one size and counts the gaps.
type DatagramVerifier struct {
	p       *Pattern
	size    int
	started bool
	next    uint64 // the sequence number expected next
	// Lost counts sequence numbers skipped over, Late those that arrived after a later one.
	Lost, Late uint64
}

// Check verifies one datagram: its size, then its content at the offset its number names.
func (v *DatagramVerifier) Check(d []byte) error {
	if len(d) != v.size {
		return fmt.Errorf("%w: datagram of %d bytes, want %d", errVerify, len(d), v.size)
	}
	seq := binary.BigEndian.Uint64(d)
	want := v.p.At(seq*uint64(v.size)+seqHeader, v.size-seqHeader)
	if !bytes.Equal(d[seqHeader:], want) {
		return fmt.Errorf("%w: datagram %d differs from what was sent", errVerify, seq)
	}
	if !v.started {
		// Counting starts at the first datagram that arrives: what a live transport dropped
		// before its connection was up is not a loss of the stream it carries.
		v.started, v.next = true, seq
	}
	switch {
	case seq == v.next:
		v.next++
	case seq > v.next:
		v.Lost += seq - v.next
		v.next = seq + 1
	default:
		v.Late++
	}
	return nil
}
