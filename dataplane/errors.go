package dataplane

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the data path returns them unwrapped so that
// reporting an error never allocates.
var (
	// ErrSessionClosed is returned by operations on a session (or its streams) that has ended.
	ErrSessionClosed = errors.New("sttfast: session closed")
	// ErrStreamClosed is returned by writes after CloseWrite/Close and reads after Close.
	ErrStreamClosed = errors.New("sttfast: stream closed")
	// ErrStreamReset is returned when the peer aborted the stream with STREAM_CLOSE.
	ErrStreamReset = errors.New("sttfast: stream reset by peer")
	// ErrStreamLimit is returned by OpenStream when the peer's MAX_STREAMS is reached.
	ErrStreamLimit = errors.New("sttfast: stream limit reached")
	// ErrMessageTooLarge is returned for a message above the configured MaxMessageSize.
	ErrMessageTooLarge = errors.New("sttfast: message too large")
	// ErrMessagesLost is returned by ReadMessage on a probabilistic stream when the sender
	// abandoned messages before the next one (STREAM_SKIP): Stream.LastLost says which, and the
	// next ReadMessage returns the message after them. It is not a failure of the stream.
	ErrMessagesLost = errors.New("sttfast: messages lost")
	// ErrDuplicateSession is returned when a session id is already installed.
	ErrDuplicateSession = errors.New("sttfast: duplicate session id")
	// ErrEngineClosed is returned by operations on a closed engine.
	ErrEngineClosed = errors.New("sttfast: engine closed")
	// ErrPathTooNarrow matches the CloseError of a session that ended because the route to its
	// peer carries fewer bytes per packet than frame.PayloadFloor (close code CodePathTooNarrow).
	ErrPathTooNarrow = errors.New("sttfast: path too narrow")
	// ErrTimeout is returned when a deadline set on a stream expires; it is a net.Error timeout.
	ErrTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "sttfast: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// CloseError tells why a session ended: the close code of docs/PROTOCOL.md §6, whether the peer
// or this side closed it, and the peer's reason phrase. It matches ErrSessionClosed with errors.Is.
type CloseError struct {
	Code   uint64
	Remote bool
	Reason string
}

func (e *CloseError) Error() string {
	side := "local"
	if e.Remote {
		side = "peer"
	}
	if e.Reason != "" {
		return fmt.Sprintf("sttfast: session closed by %s: %s (code %d): %s", side, CodeName(e.Code), e.Code, e.Reason)
	}
	return fmt.Sprintf("sttfast: session closed by %s: %s (code %d)", side, CodeName(e.Code), e.Code)
}

// Is makes every CloseError match ErrSessionClosed, and one with CodePathTooNarrow match
// ErrPathTooNarrow.
func (e *CloseError) Is(target error) bool {
	return target == ErrSessionClosed || (target == ErrPathTooNarrow && e.Code == CodePathTooNarrow)
}

// Close codes of docs/PROTOCOL.md §6.
const (
	CodeNoError           = 0
	CodeProtocolViolation = 1
	CodeIdleTimeout       = 2
	CodeFlowControl       = 3
	CodeStreamLimit       = 4
	CodeInternal          = 5
	CodeRefused           = 6
	CodeKeyUpdate         = 7
	CodeShutdown          = 8
	CodeWriteAbandoned    = 9  // STREAM_CLOSE: a write larger than the send buffer timed out part way
	CodePathTooNarrow     = 10 // the route to the peer carries fewer bytes than frame.PayloadFloor
	CodePathClosed        = 11 // local only: the connection that carried the session ended (PeerGone)
	CodeApplicationMin    = 0x100
)

// CodeName returns a short name for a close code.
func CodeName(c uint64) string {
	switch c {
	case CodeNoError:
		return "no error"
	case CodeProtocolViolation:
		return "protocol violation"
	case CodeIdleTimeout:
		return "idle timeout"
	case CodeFlowControl:
		return "flow-control violation"
	case CodeStreamLimit:
		return "stream limit exceeded"
	case CodeInternal:
		return "internal error"
	case CodeRefused:
		return "refused"
	case CodeKeyUpdate:
		return "key update error"
	case CodeShutdown:
		return "shutting down"
	case CodeWriteAbandoned:
		return "write abandoned mid-message"
	case CodePathTooNarrow:
		return "path too narrow"
	case CodePathClosed:
		return "path closed"
	}
	if c >= CodeApplicationMin {
		return "application"
	}
	return "unknown"
}
