package ctrl

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// Forward secrecy (docs/PROTOCOL.md §3, "Forward secrecy"): an ephemeral X25519 exchange inside
// the seed-authenticated handshake. The initiator that wants it sends KEY_SHARE(E_i) after its
// HELLO; a responder that verified the HELLO's MAC answers with KEY_SHARE(E_r) after its
// CHALLENGE; the AUTH_PROOF carries E_i again, since the responder keeps no state between
// CHALLENGE and AUTH_PROOF: it recomputes its ephemeral key from its cookie key and the values
// the cookie covers. Both derive the session with stc.DeriveSessionFS.

// errNoFS is a HELLO or AUTH_PROOF without KEY_SHARE sent to a node that requires forward
// secrecy: refused (answered with FS_REQUIRED, for a HELLO), counted and reported.
var errNoFS = errors.New("handshake: no forward secrecy offered, and this node requires it")

// sharesFollow reports whether a KEY_SHARE may follow a message of type t.
func sharesFollow(t frame.Type) bool {
	return t == frame.TypeHello || t == frame.TypeChallenge || t == frame.TypeAuthProof
}

// appendShare appends KEY_SHARE(share) unless share is nil.
func appendShare(b []byte, share *[frame.KeyShareSize]byte) []byte {
	if share == nil {
		return b
	}
	return frame.AppendKeyShare(b, share)
}

// buildFSRequired appends an FS_REQUIRED packet answering the HELLO whose MAC is helloMAC: MAC'd
// like a CLOCK, bound to that HELLO, so that only a holder of the seed can make it and it cannot
// be replayed to another dial.
func buildFSRequired(b []byte, k *stc.MACKey, tag [8]byte, attempt uint64, helloMAC []byte) []byte {
	start := len(b)
	b = hsHeader(b, tag, attempt)
	b = frame.AppendFSRequired(b)
	return k.Sum(b, b[start:], helloMAC)
}

// responderEphemeral is the responder's X25519 key for the handshake of HELLO nonce nonceI
// answered at tsR to from: HMAC(cookie key, "stt1 fs ephemeral" ‖ nonce_i ‖ ts_r ‖ addr ‖ port),
// recomputed from the AUTH_PROOF as the cookie nonce is. The caller erases it after use.
func responderEphemeral(mac *stc.MAC, nonceI *[32]byte, tsR uint64, from netip.AddrPort) (stc.Ephemeral, error) {
	var in [8 + 16 + 2]byte
	binary.BigEndian.PutUint64(in[:8], tsR)
	a := from.Addr().As16()
	copy(in[8:24], a[:])
	binary.BigEndian.PutUint16(in[24:], from.Port())
	mac.Reset()
	mac.Write([]byte("stt1 fs ephemeral"))
	mac.Write(nonceI[:])
	mac.Write(in[:])
	var scalar [32]byte
	mac.Sum(scalar[:0])
	defer clear(scalar[:])
	return stc.EphemeralFrom(&scalar)
}

// deriveFS runs the exchange of one side and derives the session: mine is this side's key pair,
// peer the other's public key, initiator says which side this is. It erases the shared secret;
// the caller erases mine and the keys.
func (n *Node) deriveFS(mine *stc.Ephemeral, peer *[32]byte, initiator bool, nonceI, nonceR *[32]byte, peerNode [8]byte) (stc.SessionKeys, error) {
	dh, err := mine.Shared(peer)
	defer clear(dh[:])
	if err != nil {
		return stc.SessionKeys{}, err
	}
	t := stc.FSTranscript{InitiatorNode: n.nodeID, ResponderNode: peerNode, InitiatorKey: mine.Public, ResponderKey: *peer}
	if !initiator {
		t = stc.FSTranscript{InitiatorNode: peerNode, ResponderNode: n.nodeID, InitiatorKey: *peer, ResponderKey: mine.Public}
	}
	return n.seed.DeriveSessionFS(nonceI, nonceR, &t, &dh), nil
}
