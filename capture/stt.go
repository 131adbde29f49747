package capture

import (
	"bytes"

	"github.com/sttfast/sttfast/frame"
)

// KindDecrypted is the packet kind (low nibble of the header's second byte) that marks, in a
// capture written by Decrypter, a protected packet replaced by its plaintext: the header as
// captured but for this kind, then the frames, without the 16-byte GCM tag. It never appears on
// the wire (ParseHeader refuses it), so the dissector can tell the two apart
// (docs/PROTOCOL.md §1, "Decrypted captures").
const KindDecrypted frame.Kind = 0xd

// LooksLikeSTT reports whether b starts like an STT packet: magic, version 1, a known kind and
// no reserved flag. It is the heuristic that finds STT among other UDP and WebSocket traffic.
func LooksLikeSTT(b []byte) bool {
	var h frame.Header
	return len(b) >= frame.MinPacketSize && frame.ParseHeader(b, &h) == nil
}

// SplitPackets calls fn for each STT packet of a captured UDP payload, in order. A datagram
// normally is exactly one packet (docs/PROTOCOL.md §1), but captures on loopback and veth hold
// GSO super-packets: several packets of one session, all of one size but the last, which may be
// shorter, concatenated with no boundary recorded. The packet header has no length field, so
// the segment size is found as the offset of the next header of the same kind and session; a
// split is taken only if every segment then starts with that header and none is shorter than
// MinPacketSize. It returns how many packets it found (0: b is not STT).
func SplitPackets(b []byte, fn func(p []byte)) int {
	if !LooksLikeSTT(b) {
		return 0
	}
	size := segmentSize(b)
	if size == 0 {
		fn(b)
		return 1
	}
	n := 0
	for off := 0; off < len(b); off += size {
		fn(b[off:min(off+size, len(b))])
		n++
	}
	return n
}

// segmentSize returns the GSO segment size of b, or 0 when b is one packet.
func segmentSize(b []byte) int {
	if b[1]&0x0f != byte(frame.KindProtected) {
		return 0 // handshake packets are sent one per datagram
	}
	sid := b[3:11]
	for from := frame.MinPacketSize; from+frame.MinPacketSize <= len(b); {
		i := bytes.Index(b[from+3:], sid)
		if i < 0 {
			return 0
		}
		size := from + i
		if sameHeaders(b, size) {
			return size
		}
		from = size + 1
	}
	return 0
}

// sameHeaders reports whether b splits into segments of size bytes (the last at least
// MinPacketSize) that each start with a protected header of b's session.
func sameHeaders(b []byte, size int) bool {
	if last := len(b) % size; last != 0 && last < frame.MinPacketSize {
		return false
	}
	for off := size; off < len(b); off += size {
		if !LooksLikeSTT(b[off:]) || b[off+1] != b[1] || !bytes.Equal(b[off+3:off+11], b[3:11]) {
			return false
		}
	}
	return true
}
