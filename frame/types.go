package frame

// Type is a frame's type, its first byte.
type Type uint8

// Frame types of version 1 (PROTOCOL.md §2). Types from TypeAppMin up belong to the
// application; the rest of 0x00–0x7F is reserved and refused.
const (
	TypePadding       Type = 0x00
	TypeHello         Type = 0x01
	TypeChallenge     Type = 0x02
	TypeAuthProof     Type = 0x03
	TypeFinal         Type = 0x04
	TypeClock         Type = 0x05
	TypeKeyShare      Type = 0x0a // an X25519 public key: forward secrecy (PROTOCOL.md §3)
	TypeFSRequired    Type = 0x0b // a responder's refusal of a HELLO without KEY_SHARE
	TypeResume        Type = 0x06
	TypeResumeAccept  Type = 0x07
	TypeResumeRefused Type = 0x08
	TypeData          Type = 0x10
	TypeAck           Type = 0x11
	TypeNack          Type = 0x12
	TypeKeepAlive     Type = 0x13
	TypeKeepAliveAck  Type = 0x14
	TypeStreamOpen    Type = 0x20
	TypeStreamClose   Type = 0x21
	TypeStreamFin     Type = 0x22
	TypeStreamSkip    Type = 0x23 // abandoned messages of a probabilistic stream (PROTOCOL.md §5)
	TypeStreamKind    Type = 0x24 // how the sender sends a stream: probabilistic, its deadline (§5)
	TypeSessionClose  Type = 0x30
	TypeMaxData       Type = 0x40
	TypeMaxStreamData Type = 0x41
	TypeMaxStreams    Type = 0x42
	TypeKeyUpdate     Type = 0x50
	TypePathChallenge Type = 0x60
	TypePathResponse  Type = 0x61
	TypeAppMin        Type = 0x80
)

// IsApplication reports whether t is an application frame type (0x80–0xFF), which STT
// carries but never interprets.
func (t Type) IsApplication() bool { return t >= TypeAppMin }

// AckEliciting reports whether a packet holding a frame of type t must be acknowledged. Only
// PADDING, ACK and NACK are not, so that acknowledgements never acknowledge each other.
func (t Type) AckEliciting() bool {
	return t != TypePadding && t != TypeAck && t != TypeNack
}

// String returns the frame type's name as PROTOCOL.md spells it.
func (t Type) String() string {
	if t.IsApplication() {
		return "APPLICATION(0x" + hexByte(byte(t)) + ")"
	}
	if name := typeNames[t]; name != "" {
		return name
	}
	return "UNKNOWN(0x" + hexByte(byte(t)) + ")"
}

var typeNames = [TypeAppMin]string{
	TypePadding:       "PADDING",
	TypeHello:         "HELLO",
	TypeChallenge:     "CHALLENGE",
	TypeAuthProof:     "AUTH_PROOF",
	TypeFinal:         "FINAL",
	TypeClock:         "CLOCK",
	TypeKeyShare:      "KEY_SHARE",
	TypeFSRequired:    "FS_REQUIRED",
	TypeResume:        "RESUME",
	TypeResumeAccept:  "RESUME_ACCEPT",
	TypeResumeRefused: "RESUME_REFUSED",
	TypeData:          "DATA",
	TypeAck:           "ACK",
	TypeNack:          "NACK",
	TypeKeepAlive:     "KEEP_ALIVE",
	TypeKeepAliveAck:  "KEEP_ALIVE_ACK",
	TypeStreamOpen:    "STREAM_OPEN",
	TypeStreamClose:   "STREAM_CLOSE",
	TypeStreamFin:     "STREAM_FIN",
	TypeStreamSkip:    "STREAM_SKIP",
	TypeStreamKind:    "STREAM_KIND",
	TypeSessionClose:  "SESSION_CLOSE",
	TypeMaxData:       "MAX_DATA",
	TypeMaxStreamData: "MAX_STREAM_DATA",
	TypeMaxStreams:    "MAX_STREAMS",
	TypeKeyUpdate:     "KEY_UPDATE",
	TypePathChallenge: "PATH_CHALLENGE",
	TypePathResponse:  "PATH_RESPONSE",
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&0x0f]})
}
