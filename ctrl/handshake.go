package ctrl

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// Handshake refusals. Each is counted and, for the responder, answered with silence.
var (
	errShort     = errors.New("handshake: packet too short")
	errMAC       = errors.New("handshake: bad MAC")
	errMalformed = errors.New("handshake: malformed message")
	errClock     = errors.New("handshake: timestamp outside the clock window")
	errReplay    = errors.New("handshake: nonce replayed")
	errCookie    = errors.New("handshake: proof does not match our challenge")
	errExpired   = errors.New("handshake: challenge expired")
	errVersion   = errors.New("handshake: unsupported version")
)

// hsMsg is a parsed HELLO, CHALLENGE, AUTH_PROOF or CLOCK; arrays, so it owns its bytes.
type hsMsg struct {
	typ        frame.Type
	tag        [8]byte
	attempt    uint64
	nonce      [32]byte
	nodeID     [8]byte
	ts         uint64
	respNonce  [32]byte
	respNodeID [8]byte
	respTS     uint64
	mac        [32]byte
	// share is the KEY_SHARE that followed the message (forward secrecy, fs.go): the
	// initiator's X25519 key after HELLO and AUTH_PROOF, the responder's after CHALLENGE.
	share    [frame.KeyShareSize]byte
	hasShare bool
}

// hsHeader appends the plaintext header of a handshake packet.
func hsHeader(b []byte, tag [8]byte, attempt uint64) []byte {
	h := frame.Header{Kind: frame.KindHandshake, SessionID: tag, PacketNumber: attempt & 0xff, PNLen: 1}
	return frame.AppendHeader(b, &h)
}

// buildHello appends a HELLO packet padded to HelloMinSize and returns it with its MAC.
func buildHello(b []byte, k *stc.MACKey, nonce *[32]byte, node *[8]byte, ts uint64, attempt uint64) []byte {
	return buildHelloShare(b, k, nonce, node, ts, attempt, nil)
}

// buildHelloShare is buildHello with, when share is not nil, a KEY_SHARE after the HELLO frame.
func buildHelloShare(b []byte, k *stc.MACKey, nonce *[32]byte, node *[8]byte, ts uint64, attempt uint64, share *[frame.KeyShareSize]byte) []byte {
	var tag [8]byte
	copy(tag[:], nonce[:8])
	start := len(b)
	b = hsHeader(b, tag, attempt)
	b = frame.AppendHello(b, frame.Version, nonce, node, ts)
	b = appendShare(b, share)
	if pad := frame.HelloMinSize - frame.MACSize - (len(b) - start); pad > 0 {
		b = frame.AppendPadding(b, pad)
	}
	return k.Sum(b, b[start:])
}

// buildChallenge appends a CHALLENGE packet answering the HELLO whose MAC is helloMAC.
func buildChallenge(b []byte, k *stc.MACKey, tag [8]byte, attempt uint64, nonceR *[32]byte, node *[8]byte, ts uint64, helloMAC []byte) []byte {
	return buildChallengeShare(b, k, tag, attempt, nonceR, node, ts, helloMAC, nil)
}

// buildChallengeShare is buildChallenge with, when share is not nil, a KEY_SHARE after it.
func buildChallengeShare(b []byte, k *stc.MACKey, tag [8]byte, attempt uint64, nonceR *[32]byte, node *[8]byte, ts uint64, helloMAC []byte, share *[frame.KeyShareSize]byte) []byte {
	start := len(b)
	b = hsHeader(b, tag, attempt)
	b = frame.AppendChallenge(b, nonceR, node, ts)
	b = appendShare(b, share)
	return k.Sum(b, b[start:], helloMAC)
}

// buildClock appends a CLOCK packet answering the HELLO whose MAC is helloMAC (tag and attempt
// copied from it) with the responder's clock ts: MAC(header ‖ body ‖ hello MAC), like a CHALLENGE,
// so that it proves the seed and is bound to that one HELLO (docs/PROTOCOL.md §3).
func buildClock(b []byte, k *stc.MACKey, tag [8]byte, attempt uint64, ts uint64, helloMAC []byte) []byte {
	start := len(b)
	b = hsHeader(b, tag, attempt)
	b = frame.AppendClock(b, ts)
	return k.Sum(b, b[start:], helloMAC)
}

// buildProof appends an AUTH_PROOF packet carrying the whole transcript.
func buildProof(b []byte, k *stc.MACKey, tag [8]byte, attempt uint64, m *hsMsg, node *[8]byte) []byte {
	return buildProofShare(b, k, tag, attempt, m, node, nil)
}

// buildProofShare is buildProof with, when share is not nil, a KEY_SHARE after it.
func buildProofShare(b []byte, k *stc.MACKey, tag [8]byte, attempt uint64, m *hsMsg, node *[8]byte, share *[frame.KeyShareSize]byte) []byte {
	start := len(b)
	b = hsHeader(b, tag, attempt)
	b = frame.AppendAuthProof(b, &m.nonce, m.ts, node, &m.respNonce, m.respTS, &m.respNodeID)
	b = appendShare(b, share)
	return k.Sum(b, b[start:])
}

// parseHandshake checks the MAC of a handshake packet (extra is appended to the MAC input, the
// HELLO's MAC for a CHALLENGE or a CLOCK) and parses its one message. It never allocates.
// A CLOCK's timestamp goes to respTS.
func parseHandshake(d []byte, mac *stc.MAC, extra []byte, m *hsMsg) error {
	var h frame.Header
	if err := frame.ParseHeader(d, &h); err != nil || h.Kind != frame.KindHandshake {
		return errMalformed
	}
	if len(d) < h.Len+1+frame.MACSize {
		return errShort
	}
	body := d[:len(d)-frame.MACSize]
	mac.Reset()
	mac.Write(body)
	if len(extra) > 0 {
		mac.Write(extra)
	}
	if !mac.Verify(d[len(body):]) {
		return errMAC
	}
	copy(m.mac[:], d[len(body):])
	m.tag = h.SessionID
	m.attempt = h.PacketNumber
	var w frame.Walker
	var f frame.Frame
	w.Reset(body[h.Len:])
	ok, err := w.Next(&f)
	if err != nil || !ok {
		return errMalformed
	}
	m.typ = f.Type
	switch f.Type {
	case frame.TypeHello:
		if f.Value != frame.Version {
			return errVersion
		}
		copy(m.nonce[:], f.Nonce)
		copy(m.nodeID[:], f.NodeID)
		m.ts = f.Timestamp
	case frame.TypeChallenge:
		copy(m.respNonce[:], f.Nonce)
		copy(m.respNodeID[:], f.NodeID)
		m.respTS = f.Timestamp
	case frame.TypeAuthProof:
		copy(m.nonce[:], f.Nonce)
		copy(m.nodeID[:], f.NodeID)
		m.ts = f.Timestamp
		copy(m.respNonce[:], f.RespNonce)
		copy(m.respNodeID[:], f.RespNodeID)
		m.respTS = f.RespTimestamp
	case frame.TypeClock:
		m.respTS = f.Timestamp
	case frame.TypeFSRequired:
	default:
		return errMalformed
	}
	// Only PADDING may follow the message, after one KEY_SHARE right behind it where one may
	// come (fs.go): one encoding per message.
	padded := false
	for {
		ok, err := w.Next(&f)
		if err != nil {
			return errMalformed
		}
		if !ok {
			return nil
		}
		if f.Type == frame.TypeKeyShare && !m.hasShare && !padded && sharesFollow(m.typ) {
			copy(m.share[:], f.Data)
			m.hasShare = true
			continue
		}
		if f.Type != frame.TypePadding {
			return errMalformed
		}
		padded = true
	}
}

// cookieNonce is the responder's stateless nonce: a MAC, under a process secret, of what it must
// see again in AUTH_PROOF (docs/PROTOCOL.md §3).
func cookieNonce(mac *stc.MAC, nonceI *[32]byte, ts uint64, from netip.AddrPort) (n [32]byte) {
	var in [8 + 16 + 2]byte
	binary.BigEndian.PutUint64(in[:8], ts)
	a := from.Addr().As16()
	copy(in[8:24], a[:])
	binary.BigEndian.PutUint16(in[24:], from.Port())
	mac.Reset()
	mac.Write(nonceI[:])
	mac.Write(in[:])
	mac.Sum(n[:0])
	return n
}

// transcript identifies a handshake: equal for a retransmitted AUTH_PROOF, different otherwise.
func transcript(nonceI, nonceR *[32]byte) [32]byte {
	h := sha256.New()
	h.Write(nonceI[:])
	h.Write(nonceR[:])
	var d [32]byte
	h.Sum(d[:0])
	return d
}
