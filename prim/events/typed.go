package events

import (
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// Typed is an event of one kind as its own type. The types below are the node's event kinds.
type Typed interface {
	// Kind is the ctrl.EventKind the type stands for.
	Kind() ctrl.EventKind
}

// SessionOpened: a session completed its handshake, dialed or accepted.
type SessionOpened struct {
	Session *ctrl.Session
	Time    time.Time
}

// SessionClosed: a session ended, with the close code and reason (Remote: the peer closed it).
type SessionClosed struct {
	Session *ctrl.Session
	Code    uint64
	Remote  bool
	Reason  string
	Time    time.Time
}

// StreamOpened: a stream was opened (Remote: by the peer).
type StreamOpened struct {
	Session  *ctrl.Session
	StreamID uint64
	Remote   bool
	Time     time.Time
}

// StreamClosed: a stream ended.
type StreamClosed struct {
	Session  *ctrl.Session
	StreamID uint64
	Time     time.Time
}

// KeyRotated: a session's keys moved to a new generation (Remote: the peer's sending keys).
type KeyRotated struct {
	Session    *ctrl.Session
	Generation uint64
	Remote     bool
	Time       time.Time
}

// PathMigrated: a session moved to another path (Reason says where and why).
type PathMigrated struct {
	Session *ctrl.Session
	Reason  string
	Time    time.Time
}

// PathMTU: the route refused the session's packets as too large and they were shrunk to
// PayloadSize bytes.
type PathMTU struct {
	Session     *ctrl.Session
	PayloadSize uint64
	Reason      string
	Time        time.Time
}

// AuthFailed: handshakes were refused (at most one event a second per socket); Code is the
// refusal, Reason names the peer.
type AuthFailed struct {
	Code   uint64
	Reason string
	Time   time.Time
}

// Kind implements Typed.
func (SessionOpened) Kind() ctrl.EventKind { return ctrl.EventSessionOpened }

// Kind implements Typed.
func (SessionClosed) Kind() ctrl.EventKind { return ctrl.EventSessionClosed }

// Kind implements Typed.
func (StreamOpened) Kind() ctrl.EventKind { return ctrl.EventStreamOpened }

// Kind implements Typed.
func (StreamClosed) Kind() ctrl.EventKind { return ctrl.EventStreamClosed }

// Kind implements Typed.
func (KeyRotated) Kind() ctrl.EventKind { return ctrl.EventKeyRotated }

// Kind implements Typed.
func (PathMigrated) Kind() ctrl.EventKind { return ctrl.EventPathMigrated }

// Kind implements Typed.
func (PathMTU) Kind() ctrl.EventKind { return ctrl.EventPathMTU }

// Kind implements Typed.
func (AuthFailed) Kind() ctrl.EventKind { return ctrl.EventAuthFailed }

// typed converts ev to the Typed value of its kind (nil for kinds without one).
func typed(ev ctrl.Event) Typed {
	switch ev.Kind {
	case ctrl.EventSessionOpened:
		return SessionOpened{ev.Session, ev.Time}
	case ctrl.EventSessionClosed:
		return SessionClosed{ev.Session, ev.Code, ev.Remote, ev.Reason, ev.Time}
	case ctrl.EventStreamOpened:
		return StreamOpened{ev.Session, ev.StreamID, ev.Remote, ev.Time}
	case ctrl.EventStreamClosed:
		return StreamClosed{ev.Session, ev.StreamID, ev.Time}
	case ctrl.EventKeyRotated:
		return KeyRotated{ev.Session, ev.Code, ev.Remote, ev.Time}
	case ctrl.EventPathMigrated:
		return PathMigrated{ev.Session, ev.Reason, ev.Time}
	case ctrl.EventPathMTU:
		return PathMTU{ev.Session, ev.Code, ev.Reason, ev.Time}
	case ctrl.EventAuthFailed:
		return AuthFailed{ev.Code, ev.Reason, ev.Time}
	}
	return nil
}

// On subscribes fn to the events of E's kind, each converted to E:
//
//	events.On(em, func(e events.SessionClosed) { log.Print(e.Reason) })
func On[E Typed](em *Emitter, fn func(E)) *Subscription {
	var zero E
	return em.Subscribe(zero.Kind(), func(ev ctrl.Event) {
		if e, ok := typed(ev).(E); ok {
			fn(e)
		}
	})
}
