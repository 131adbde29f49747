package ctrl

import (
	"errors"
	"sync"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// Forward secrecy (docs/PROTOCOL.md §3, "Forward secrecy"): an ephemeral X25519 exchange inside
// the seed-authenticated handshake. The initiator that wants it sends KEY_SHARE(E_i) after its
// HELLO; a responder that verified the HELLO's MAC answers with KEY_SHARE(E_r) after its
// CHALLENGE; the AUTH_PROOF carries E_i again, since the responder keeps no per-HELLO state:
// it finds its key of the period the CHALLENGE's timestamp falls in (ephemeralKeys). Both
// derive the session with stc.DeriveSessionFS.

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

// ephemeralPeriod is how long one ephemeral key pair serves new handshakes of a node in one
// role. Sharing it among the handshakes of a second takes the key generation off each of them
// (an X25519 operation, as costly as the exchange itself), and lets the stateless responder find
// its key again at AUTH_PROOF from the CHALLENGE's timestamp.
const ephemeralPeriod = time.Second

// ephemeralKeys are a node's ephemeral X25519 keys for one role: one per period, each kept
// until no handshake that used it can still complete (keep after its period), then erased. A
// session is forward-secret from then on: its keys need a private key that no longer exists.
type ephemeralKeys struct {
	mu    sync.Mutex
	keep  time.Duration
	slots []ephemeralSlot // in time order
}

type ephemeralSlot struct {
	from, until int64 // Unix ms: the handshakes that started in [from, until) use it
	eph         stc.Ephemeral
}

// current returns the key pair for a handshake starting at now (Unix ms), making one when no
// key covers now, and erases the keys past their keep time. The copy shares the private key;
// the caller drops it (Erase) after use.
func (k *ephemeralKeys) current(now int64) (stc.Ephemeral, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expire(now)
	if n := len(k.slots); n > 0 && now < k.slots[n-1].until {
		last := &k.slots[n-1]
		// Within the newest key's period, or before it (the clock stepped back): that key,
		// its period stretched back to now so that at finds it for this handshake.
		last.from = min(last.from, now)
		return last.eph, nil
	}
	eph, err := stc.NewEphemeral()
	if err != nil {
		return stc.Ephemeral{}, err
	}
	k.slots = append(k.slots, ephemeralSlot{from: now, until: now + ephemeralPeriod.Milliseconds(), eph: eph})
	return eph, nil
}

// at returns the key pair that served handshakes starting at ts (Unix ms), if still kept.
func (k *ephemeralKeys) at(ts, now int64) (stc.Ephemeral, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expire(now)
	for i := len(k.slots) - 1; i >= 0; i-- { // newest first: a stretched period wins
		if s := &k.slots[i]; s.from <= ts && ts < s.until {
			return s.eph, true
		}
	}
	return stc.Ephemeral{}, false
}

// expire erases the keys whose period ended more than keep before now.
func (k *ephemeralKeys) expire(now int64) {
	n := 0
	for n < len(k.slots) && k.slots[n].until+k.keep.Milliseconds() < now {
		k.slots[n].eph.Erase()
		n++
	}
	if n > 0 {
		k.slots = append(k.slots[:0], k.slots[n:]...)
	}
}

// eraseAll erases every key (the node closes).
func (k *ephemeralKeys) eraseAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range k.slots {
		k.slots[i].eph.Erase()
	}
	k.slots = nil
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
