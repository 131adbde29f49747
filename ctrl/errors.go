package ctrl

import (
	"errors"

	"github.com/sttfast/sttfast/dataplane"
)

// Sentinel errors of the control API; callers test them with errors.Is.
var (
	// ErrAuthFailed is returned by Dial when no valid CHALLENGE came back before the handshake
	// timeout: the peer holds a different seed, or no sttfast node answers at that address.
	// Nothing distinguishes the two on the wire, by design: a responder never answers a HELLO
	// it cannot authenticate.
	ErrAuthFailed = errors.New("authentication failed: the peer did not accept our seed (or no sttfast node answered)")
	// ErrHandshakeTimeout is returned by Dial when the peer proved the seed (its CHALLENGE was
	// valid) but the handshake did not complete in time.
	ErrHandshakeTimeout = errors.New("handshake timed out")
	// ErrNodeClosed is returned by operations on a closed node.
	ErrNodeClosed = errors.New("sttfast: node closed")
	// ErrBadAddress is returned for an address that is not udp://HOST:PORT (or HOST:PORT).
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
	ErrMessageTooLarge  = dataplane.ErrMessageTooLarge
	ErrDuplicateSession = dataplane.ErrDuplicateSession
	ErrTimeout          = dataplane.ErrTimeout
)
