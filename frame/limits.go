package frame

// Wire constants of protocol version 1 (PROTOCOL.md §1–§2).
const (
	// Magic is the first byte of every packet ('S'), chosen to demultiplex STT from STUN,
	// DTLS, RTP and QUIC on a shared socket (RFC 7983).
	Magic = 0x53
	// Version is the protocol version this package speaks, carried in the header's high nibble.
	Version = 1
)

// Sizes and limits. Every length read from the wire is checked against one of these before
// it is used.
const (
	// MaxPacketSize is the largest packet: the largest IPv4 UDP payload.
	MaxPacketSize = 65507
	// DefaultPayloadSize is the path payload a sender assumes until configured otherwise; it
	// avoids IP fragmentation on any path that carries IPv6's minimum MTU.
	DefaultPayloadSize = 1200
	// PayloadFloor is the smallest payload a sender shrinks its packets to when the path turns
	// out narrower than its payload size (PROTOCOL.md §1): below it, the session ends instead.
	// 1024 bytes keeps the header and tag under 3.5% of a packet and the packet rate within a
	// fifth of the default's, and covers every common tunnel stack; a route narrower than that
	// is broken or misconfigured rather than narrow.
	PayloadFloor = 1024
	// HelloMinSize is the least size of a packet carrying HELLO; padding to it proves the path
	// and bounds what the responder may send back before the initiator is proven.
	HelloMinSize = 1200

	// MinHeaderSize and MaxHeaderSize bound the header: 11 fixed bytes and a 1- to 8-byte
	// packet number.
	MinHeaderSize = headerFixedSize + 1
	MaxHeaderSize = headerFixedSize + 8
	// MinPacketSize is the smallest packet of any kind (a protected packet holding one
	// PADDING byte); anything shorter can be dropped unread.
	MinPacketSize = MinHeaderSize + 1 + TagSize

	// TagSize is the AES-256-GCM tag that ends a protected packet.
	TagSize = 16
	// MACSize is the HMAC-SHA256 tag that ends a handshake packet.
	MACSize = 32
	// KeyShareSize is the size of a KEY_SHARE frame's X25519 public key.
	KeyShareSize = 32
	// NonceSize is the size of the HELLO and CHALLENGE nonces.
	NonceSize = 32
	// NodeIDSize is the size of a node id.
	NodeIDSize = 8
	// SessionIDSize is the size of the session id field of the header.
	SessionIDSize = 8
	// PathDataSize is the size of the PATH_CHALLENGE and PATH_RESPONSE payload.
	PathDataSize = 8

	// MaxAckRanges is the most ranges an ACK carries after its first one.
	MaxAckRanges = 1024
	// MaxNackRanges is the most ranges a NACK carries.
	MaxNackRanges = 64
	// MaxReasonLen is the longest SESSION_CLOSE reason, in bytes.
	MaxReasonLen = 256
	// MaxVarint is the largest value a varint can hold (2^62−1). Packet numbers, stream ids
	// and offsets all stay at or below it.
	MaxVarint = 1<<62 - 1
)
