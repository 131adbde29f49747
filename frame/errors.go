package frame

import "errors"

// Sentinel errors. Parsing returns them as-is, never wrapped, so that rejecting a packet costs
// no allocation; compare with errors.Is.
var (
	// ErrTruncated reports a header, varint or frame that claims more bytes than remain.
	ErrTruncated = errors.New("frame: truncated")
	// ErrBadMagic reports a packet whose first byte is not Magic: not an STT packet.
	ErrBadMagic = errors.New("frame: bad magic")
	// ErrBadVersion reports a header of another protocol version.
	ErrBadVersion = errors.New("frame: unsupported version")
	// ErrBadKind reports a header with an unknown packet kind.
	ErrBadKind = errors.New("frame: unknown packet kind")
	// ErrBadHeader reports a header with reserved flag bits set, a packet number at or above
	// 2^62, or a handshake header with flags other than zero.
	ErrBadHeader = errors.New("frame: malformed header")
	// ErrOversize reports a packet, length or reason above its limit.
	ErrOversize = errors.New("frame: length above limit")
	// ErrBadVarint reports a varint sent in a longer form than its value needs.
	ErrBadVarint = errors.New("frame: non-minimal varint")
	// ErrUnknownFrame reports a frame type in 0x00–0x7F that version 1 does not define.
	ErrUnknownFrame = errors.New("frame: unknown frame type")
	// ErrBadAck reports an ACK or NACK with too many ranges, a range below packet 0 or above
	// MaxVarint, or an empty NACK range.
	ErrBadAck = errors.New("frame: malformed ack ranges")
	// ErrBadFrame reports a frame whose fields are inconsistent, such as DATA ending beyond
	// MaxVarint.
	ErrBadFrame = errors.New("frame: malformed frame")
)
