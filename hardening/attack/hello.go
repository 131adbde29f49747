package attack

import (
	"errors"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// HelloKit builds HELLO packets exactly as an initiator holding the seed does
// (docs/PROTOCOL.md §3, step 1): header with the nonce's first 8 bytes as tag and the attempt as
// packet number, the HELLO frame, PADDING up to HelloMinSize, then HMAC-SHA256 under K_hs.
type HelloKit struct {
	key  stc.MACKey
	Node [frame.NodeIDSize]byte // the node id announced in the HELLOs
}

// NewHelloKit derives K_hs from seed.
func NewHelloKit(seed *stc.Seed) *HelloKit {
	return &HelloKit{key: seed.HandshakeKey(), Node: [8]byte{'s', 't', 't', 'a', 't', 't', 'a', 'k'}}
}

// Hello appends a HELLO with a valid MAC to b, HelloMinSize bytes long.
func (k *HelloKit) Hello(b []byte, nonce *[frame.NonceSize]byte, tsMs uint64, attempt uint8) []byte {
	return k.HelloSized(b, nonce, tsMs, attempt, frame.HelloMinSize)
}

// HelloSized is Hello padded to size bytes (at least the unpadded HELLO).
func (k *HelloKit) HelloSized(b []byte, nonce *[frame.NonceSize]byte, tsMs uint64, attempt uint8, size int) []byte {
	start := len(b)
	b = helloBody(b, nonce, &k.Node, tsMs, attempt, size)
	return k.key.Sum(b, b[start:])
}

// BadMACHello appends a HELLO that is well formed and HelloMinSize long but whose MAC is mac
// (what an attacker without the seed can send: it fails the responder's second check).
func BadMACHello(b []byte, nonce *[frame.NonceSize]byte, node *[frame.NodeIDSize]byte, tsMs uint64, mac *[frame.MACSize]byte) []byte {
	b = helloBody(b, nonce, node, tsMs, 0, frame.HelloMinSize)
	return append(b, mac[:]...)
}

// helloBody appends everything of a HELLO but its MAC, padded so that the packet with its MAC
// is size bytes.
func helloBody(b []byte, nonce *[frame.NonceSize]byte, node *[frame.NodeIDSize]byte, tsMs uint64, attempt uint8, size int) []byte {
	start := len(b)
	h := frame.Header{Kind: frame.KindHandshake, SessionID: [8]byte(nonce[:8]), PacketNumber: uint64(attempt), PNLen: 1}
	b = frame.AppendHeader(b, &h)
	b = frame.AppendHello(b, frame.Version, nonce, node, tsMs)
	if pad := size - frame.MACSize - (len(b) - start); pad > 0 {
		b = frame.AppendPadding(b, pad)
	}
	return b
}

// Reply is what the attacker learns from a datagram the listener sent back.
type Reply struct {
	Kind  frame.Kind
	Type  frame.Type // first frame type of a handshake packet (0 for protected packets)
	Tag   [8]byte    // the header's session id field: for a CHALLENGE, the HELLO's tag
	Size  int
	Valid bool // the header parsed
}

// ParseReply classifies a datagram received from the listener.
func ParseReply(d []byte) Reply {
	r := Reply{Size: len(d)}
	var h frame.Header
	if frame.ParseHeader(d, &h) != nil {
		return r
	}
	r.Valid, r.Kind, r.Tag = true, h.Kind, h.SessionID
	if h.Kind == frame.KindHandshake && len(d) > h.Len {
		r.Type = frame.Type(d[h.Len])
	}
	return r
}

// errNoSeed is returned by scenarios that need the seed when none was given.
var errNoSeed = errors.New("attack: this scenario needs the seed (--seed)")
