package frame

import "encoding/binary"

// Varints are QUIC's (RFC 9000 §16): the top two bits of the first byte give the length (1, 2,
// 4 or 8 bytes), the rest is the big-endian value. STT also requires the shortest form, so
// that every value has one encoding.

// VarintLen returns the number of bytes of v's encoding, or 0 if v is above MaxVarint.
func VarintLen(v uint64) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<30:
		return 4
	case v <= MaxVarint:
		return 8
	}
	return 0
}

// AppendVarint appends the minimal encoding of v to b. It panics if v is above MaxVarint: no
// valid frame holds such a value, so it can only be a bug in the caller.
func AppendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000)
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x8000_0000)
	case v <= MaxVarint:
		return binary.BigEndian.AppendUint64(b, v|0xc000_0000_0000_0000)
	}
	panic("frame: varint value above 2^62-1")
}

// PutVarint writes the minimal encoding of v at the start of b and returns its length. It
// panics if b is too short or v is above MaxVarint.
func PutVarint(b []byte, v uint64) int {
	switch {
	case v < 1<<6:
		b[0] = byte(v)
		return 1
	case v < 1<<14:
		binary.BigEndian.PutUint16(b, uint16(v)|0x4000)
		return 2
	case v < 1<<30:
		binary.BigEndian.PutUint32(b, uint32(v)|0x8000_0000)
		return 4
	case v <= MaxVarint:
		binary.BigEndian.PutUint64(b, v|0xc000_0000_0000_0000)
		return 8
	}
	panic("frame: varint value above 2^62-1")
}

// ReadVarint decodes the varint at the start of b and returns it with its length. It fails
// with ErrTruncated if b ends inside it and with ErrBadVarint if a shorter form would do.
func ReadVarint(b []byte) (v uint64, n int, err error) {
	// Shaped to stay within the inlining budget, so callers pay one call, not two.
	if v, n = varintAt(b, 0); n >= 0 {
		return
	}
	return 0, 0, errAt(n)
}

// varintAt decodes the varint at position i of b and returns it with the position after it.
// It takes and returns parse positions (see pos.go), so a frame parser chains it without a
// check per field. One function for all four lengths costs one call per field: offsets and
// lengths above 63 are the common case, and Go cannot inline a one-byte fast path that still
// has to call out for the others.
func varintAt(b []byte, i int) (uint64, int) {
	if uint(i) >= uint(len(b)) {
		if i < 0 {
			return 0, i
		}
		return 0, failTruncated
	}
	b = b[i:]
	switch b[0] >> 6 {
	case 0:
		return uint64(b[0]), i + 1
	case 1:
		if len(b) < 2 {
			return 0, failTruncated
		}
		v := uint64(b[0]&0x3f)<<8 | uint64(b[1])
		if v < 1<<6 {
			return 0, failBadVarint
		}
		return v, i + 2
	case 2:
		if len(b) < 4 {
			return 0, failTruncated
		}
		v := uint64(binary.BigEndian.Uint32(b) & 0x3fff_ffff)
		if v < 1<<14 {
			return 0, failBadVarint
		}
		return v, i + 4
	}
	if len(b) < 8 {
		return 0, failTruncated
	}
	v := binary.BigEndian.Uint64(b) & MaxVarint
	if v < 1<<30 {
		return 0, failBadVarint
	}
	return v, i + 8
}
