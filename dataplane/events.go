package dataplane

import "time"

// EventKind names what happened.
type EventKind uint8

// Event kinds.
const (
	EventSessionOpened EventKind = iota + 1
	EventSessionClosed
	EventStreamOpened
	EventStreamClosed
	EventKeyRotated
	EventPathCandidate
	EventPathMigrated
	EventAuthFailed
	// EventPathMTU: the route to the peer refused the session's packets as too large and they
	// were shrunk; Code is the new payload size, Reason says so in a line for the operator.
	EventPathMTU
)

var eventNames = [...]string{"", "session_opened", "session_closed", "stream_opened", "stream_closed",
	"key_rotated", "path_candidate", "path_migrated", "auth_failed", "path_mtu"}

// String returns the event's name as it appears in logs.
func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one structured notification from the data plane. Events travel through a bounded
// ring to the control plane; when it is full the event is dropped and counted, so a slow event
// consumer can never stall packet processing.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Session  *Session // nil for node-level events
	StreamID uint64
	Code     uint64 // close code, key generation
	Remote   bool   // the peer initiated it
	Reason   string
}

// Emit queues an event for the control plane (the control plane reports its own events, such as
// refused handshakes, through the same ring so consumers see one stream).
func (e *Engine) Emit(ev Event) { e.emit(ev) }

func (e *Engine) emit(ev Event) {
	if e.events == nil {
		return
	}
	ev.Time = time.Now()
	if !e.events.Push(ev) {
		e.ctr.eventsDropped.Add(1)
	}
}
