package frame

import "encoding/binary"

// Kind is the packet kind, the low nibble of the header's second byte.
type Kind uint8

// Packet kinds (PROTOCOL.md §1).
const (
	// KindHandshake packets carry HELLO, CHALLENGE or AUTH_PROOF in clear, then a MAC.
	KindHandshake Kind = 1
	// KindProtected packets carry AES-256-GCM sealed frames, then the GCM tag.
	KindProtected Kind = 2
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindHandshake:
		return "handshake"
	case KindProtected:
		return "protected"
	}
	return "kind(0x" + hexByte(byte(k)) + ")"
}

// Header layout: magic, version/kind, flags, session id, then the packet number.
const (
	headerFixedSize = 3 + SessionIDSize

	flagKeyPhase = 0x01
	flagPNShift  = 1    // bits 1–2: packet number length code
	flagReserved = 0xf8 // bits 3–7
)

// Header is the plaintext packet header. It is the AEAD associated data of a protected packet
// and the start of the MAC input of a handshake packet, so it is read and written exactly as
// it travels.
type Header struct {
	Kind      Kind
	KeyPhase  uint8 // the low bit of the sender's key generation; AppendHeader uses only bit 0
	SessionID [SessionIDSize]byte
	// PacketNumber is the low PNLen bytes as they were on the wire when parsed (recover the
	// full number with DecodePacketNumber); AppendHeader takes the full number and writes its
	// low PNLen bytes.
	PacketNumber uint64
	PNLen        int // 1, 2, 4 or 8
	Len          int // header bytes, set by ParseHeader
}

// HeaderLen returns the size of a header whose packet number takes pnLen bytes, or 0 if
// pnLen is not 1, 2, 4 or 8.
func HeaderLen(pnLen int) int {
	switch pnLen {
	case 1, 2, 4, 8:
		return headerFixedSize + pnLen
	}
	return 0
}

// ParseHeader parses the header at the start of the packet b (one whole datagram or message)
// into h. The packet number is left truncated. A handshake header must have flags zero (key
// phase 0 and a 1-byte packet number, the attempt number), and no packet number may reach
// 2^62, so that every header has a single valid encoding.
func ParseHeader(b []byte, h *Header) error {
	if len(b) == 0 {
		return ErrTruncated
	}
	if b[0] != Magic {
		return ErrBadMagic
	}
	if len(b) > MaxPacketSize {
		return ErrOversize
	}
	if len(b) < MinHeaderSize {
		return ErrTruncated
	}
	if b[1]>>4 != Version {
		return ErrBadVersion
	}
	kind := Kind(b[1] & 0x0f)
	if kind != KindHandshake && kind != KindProtected {
		return ErrBadKind
	}
	flags := b[2]
	if flags&flagReserved != 0 || kind == KindHandshake && flags != 0 {
		return ErrBadHeader
	}
	pnLen := 1 << (flags >> flagPNShift & 3)
	end := headerFixedSize + pnLen
	if len(b) < end {
		return ErrTruncated
	}
	pn := readPacketNumber(b[headerFixedSize:end])
	if pn > MaxVarint {
		return ErrBadHeader
	}
	h.Kind = kind
	h.KeyPhase = flags & flagKeyPhase
	h.SessionID = [SessionIDSize]byte(b[3:headerFixedSize])
	h.PacketNumber = pn
	h.PNLen = pnLen
	h.Len = end
	return nil
}

func readPacketNumber(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

// AppendHeader appends h to b, writing the low h.PNLen bytes of h.PacketNumber (the full
// number). It panics on a header ParseHeader would refuse: an unknown kind, a PNLen other
// than 1, 2, 4 or 8, a packet number above MaxVarint, or a handshake header with a key phase
// or a packet number length other than 1.
func AppendHeader(b []byte, h *Header) []byte {
	code := pnLenCode(h.PNLen)
	flags := code<<flagPNShift | h.KeyPhase&flagKeyPhase
	switch {
	case h.Kind != KindHandshake && h.Kind != KindProtected:
		panic("frame: AppendHeader: unknown packet kind")
	case h.Kind == KindHandshake && flags != 0:
		panic("frame: AppendHeader: a handshake header has key phase 0 and a 1-byte packet number")
	case h.PacketNumber > MaxVarint:
		panic("frame: AppendHeader: packet number above 2^62-1")
	}
	b = append(b, Magic, Version<<4|byte(h.Kind), flags)
	b = append(b, h.SessionID[:]...)
	pn := h.PacketNumber
	switch h.PNLen {
	case 1:
		return append(b, byte(pn))
	case 2:
		return binary.BigEndian.AppendUint16(b, uint16(pn))
	case 4:
		return binary.BigEndian.AppendUint32(b, uint32(pn))
	}
	return binary.BigEndian.AppendUint64(b, pn)
}

func pnLenCode(pnLen int) byte {
	switch pnLen {
	case 1:
		return 0
	case 2:
		return 1
	case 4:
		return 2
	case 8:
		return 3
	}
	panic("frame: packet number length must be 1, 2, 4 or 8")
}

// PNLen returns the shortest packet number length (1, 2, 4 or 8) that lets the receiver
// recover pn, given the largest packet number the peer has acknowledged (RFC 9000 §17.1 and
// Appendix A.2): the distance to it must fit in 8·L−1 bits, so the 2^(8L) window is more than
// twice the number of packets in flight. Pass anyAcked false before any acknowledgement.
func PNLen(pn, largestAcked uint64, anyAcked bool) int {
	d := pn + 1 // nothing acknowledged: the receiver may have none of 0..pn
	if anyAcked {
		d = 1
		if pn > largestAcked {
			d = pn - largestAcked
		}
	}
	switch {
	case d < 1<<7:
		return 1
	case d < 1<<15:
		return 2
	case d < 1<<31:
		return 4
	}
	return 8
}

// PNLenMin is PNLen raised to at least minLen, rounded up to a valid length. sttfast sends
// PNLenMin(pn, largestAcked, anyAcked, 4): a fixed header size keeps packing simple and
// costs at most three bytes.
func PNLenMin(pn, largestAcked uint64, anyAcked bool, minLen int) int {
	n := PNLen(pn, largestAcked, anyAcked)
	for n < minLen && n < 8 {
		n <<= 1
	}
	return n
}

// DecodePacketNumber recovers a full packet number from its low pnLen bytes, truncated, and
// the largest packet number received so far in this direction (RFC 9000 Appendix A.3): it
// picks the value closest to largest+1. Pass largest 0 before any packet has been received.
// The result stays within 0..MaxVarint as long as largest does.
func DecodePacketNumber(largest, truncated uint64, pnLen int) uint64 {
	if pnLen >= 8 || pnLen <= 0 {
		return truncated
	}
	win := uint64(1) << (8 * pnLen)
	hwin := win / 2
	mask := win - 1
	expected := largest + 1
	candidate := expected&^mask | truncated&mask
	switch {
	case expected >= hwin && candidate <= expected-hwin && candidate < 1<<62-win:
		return candidate + win
	case (candidate > expected+hwin || candidate > MaxVarint) && candidate >= win:
		// The second test departs from RFC 9000: after packet 2^62−1, expected is 2^62,
		// and no packet number may reach that.
		return candidate - win
	}
	return candidate
}
