package ctrl

import (
	"errors"
	"fmt"
	"time"

	"github.com/sttfast/sttfast/dataplane"
)

// Sentinel errors of the control API; callers test them with errors.Is.
var (
	// ErrNoAnswer is returned by Dial when nothing came back before the handshake timeout: no
	// node there, a firewall in the way, or a node holding a different seed. Nothing tells these
	// apart on the wire, by design: a responder never answers a HELLO it cannot authenticate
	// (the node it was sent to counts and reports the refusal: NodeStats.Refused,
	// EventAuthFailed). When the network reported something on the way (an ICMP host
	// unreachable, say), the error says so after ErrNoAnswer's text.
	ErrNoAnswer = errors.New("no answer (no node there, a firewall, or a different seed)")
	// ErrAuthFailed is ErrNoAnswer, under its former name.
	//
	// Deprecated: test for ErrNoAnswer; a silent peer is not known to hold another seed.
	ErrAuthFailed = ErrNoAnswer
	// ErrNothingListening is returned by Dial, at once, when the peer's host answered our HELLO
	// with an ICMP port unreachable: no process listens on that port (or a firewall rejects the
	// datagrams the same way).
	ErrNothingListening = errors.New("nothing listens there (its host answered: port unreachable)")
	// ErrSendFailed is returned by Dial, at once, when this host refused to send the HELLO: no
	// route to the peer, a firewall rule, or a node bound to an address that cannot reach it (a
	// loopback address, or IPv4 for an IPv6 peer). The error wraps the system's (errors.Is with
	// syscall.ENETUNREACH, syscall.EINVAL...).
	ErrSendFailed = errors.New("cannot send to the peer")
	// ErrClockSkew is returned by Dial when the peer proved our seed but refused our clock, and
	// the attempts made with its time (docs/PROTOCOL.md §3, CLOCK) did not get through either.
	// The error is a *ClockSkewError, which says by how much the clocks differ.
	ErrClockSkew = errors.New("our clock differs from the peer's")
	// ErrHandshakeTimeout is returned by Dial when the peer proved the seed (its CHALLENGE was
	// valid) but the handshake did not complete in time.
	ErrHandshakeTimeout = errors.New("handshake timed out")
	// ErrNodeClosed is returned by operations on a closed node.
	ErrNodeClosed = errors.New("sttfast: node closed")
	// ErrBadAddress is returned for an address that is not udp://HOST:PORT (or HOST:PORT),
	// ws://HOST:PORT/PATH or wss://HOST:PORT/PATH, or that the node cannot listen on (wss://).
	ErrBadAddress = errors.New("sttfast: bad address")
	// ErrNoSeed is returned by Listen when Config.Seed is nil.
	ErrNoSeed = errors.New("sttfast: no seed configured")
	// ErrSessionLimit is returned by Dial when the peer refused the session because it is full.
	ErrSessionLimit = errors.New("peer at its session limit")
)

// Errors of the data plane, re-exported so that users of ctrl need one import.
var (
	ErrSessionClosed    = dataplane.ErrSessionClosed
	ErrStreamClosed     = dataplane.ErrStreamClosed
	ErrStreamReset      = dataplane.ErrStreamReset
	ErrMessagesLost     = dataplane.ErrMessagesLost
	ErrMessageTooLarge  = dataplane.ErrMessageTooLarge
	ErrDuplicateSession = dataplane.ErrDuplicateSession
	ErrTimeout          = dataplane.ErrTimeout
)

// ClockSkewError is a Dial that failed because our clock and the peer's differ by more than the
// peer's clock window; errors.Is(err, ErrClockSkew) holds for it.
type ClockSkewError struct {
	// Offset is the peer's clock minus ours, as measured from the peer's CLOCK answer.
	Offset time.Duration
}

// Error says by how much, and which way.
func (e *ClockSkewError) Error() string {
	way := "ours is behind"
	d := e.Offset
	if d < 0 {
		way, d = "ours is ahead", -d
	}
	return fmt.Sprintf("%v by %v (%s)", ErrClockSkew, d.Round(time.Millisecond), way)
}

// Is makes errors.Is(err, ErrClockSkew) hold.
func (e *ClockSkewError) Is(target error) bool { return target == ErrClockSkew }

// Forward secrecy refusals (Config.ForwardSecrecy).
var (
	// ErrPeerRequiresFS is returned by Dial when the peer requires forward secrecy and this node
	// did not offer it: set Config.ForwardSecrecy (--forward-secrecy) to dial it.
	ErrPeerRequiresFS = errors.New("the peer requires forward secrecy (set ForwardSecrecy, --forward-secrecy)")
	// ErrNoForwardSecrecy is returned by Dial when this node requires forward secrecy and the
	// peer answered without it (a node that does not implement it).
	ErrNoForwardSecrecy = errors.New("the peer did not agree to forward secrecy, which this node requires")
)
