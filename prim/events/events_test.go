package events

import (
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// waitFor guards a receive against a hang; it is not a synchronisation sleep.
func waitFor[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

func TestTypedDelivery(t *testing.T) {
	em := NewEmitter(0)
	defer em.Close()
	closed := make(chan SessionClosed, 1)
	opened := make(chan StreamOpened, 1)
	On(em, func(e SessionClosed) { closed <- e })
	On(em, func(e StreamOpened) { opened <- e })
	em.Emit(ctrl.Event{Kind: ctrl.EventKeyRotated}) // nobody listens: nothing happens
	em.Emit(ctrl.Event{Kind: ctrl.EventSessionClosed, Code: 8, Remote: true, Reason: "bye"})
	em.Emit(ctrl.Event{Kind: ctrl.EventStreamOpened, StreamID: 4})
	if e := waitFor(t, closed); e.Code != 8 || !e.Remote || e.Reason != "bye" {
		t.Fatalf("SessionClosed %+v", e)
	}
	if e := waitFor(t, opened); e.StreamID != 4 {
		t.Fatalf("StreamOpened %+v", e)
	}
}

func TestEveryKindHasItsType(t *testing.T) {
	for _, e := range []Typed{SessionOpened{}, SessionClosed{}, StreamOpened{}, StreamClosed{},
		KeyRotated{}, PathMigrated{}, PathMTU{}, AuthFailed{}} {
		if got := typed(ctrl.Event{Kind: e.Kind()}); got == nil || got.Kind() != e.Kind() {
			t.Errorf("%T: converts to %T", e, got)
		}
	}
	if typed(ctrl.Event{Kind: 200}) != nil {
		t.Error("an unknown kind converted")
	}
}

// A callback that never returns costs its own subscription events, counted, and never blocks
// Emit or the other subscribers.
func TestSlowSubscriberDropsAndNeverBlocks(t *testing.T) {
	em := NewEmitter(4)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := em.Subscribe(ctrl.EventStreamOpened, func(ctrl.Event) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
	})
	other := make(chan struct{}, 1)
	em.Subscribe(ctrl.EventSessionOpened, func(ctrl.Event) { other <- struct{}{} })
	em.Emit(ctrl.Event{Kind: ctrl.EventStreamOpened})
	waitFor(t, started) // the slow callback now holds its first event
	for range 99 {
		em.Emit(ctrl.Event{Kind: ctrl.EventStreamOpened}) // returns at once: the test would hang otherwise
	}
	em.Emit(ctrl.Event{Kind: ctrl.EventSessionOpened})
	waitFor(t, other) // the other subscriber is served while the slow one is stuck
	if d := slow.Dropped(); d != 99-4 {
		t.Fatalf("slow subscriber dropped %d, want %d (99 emitted while it was stuck, queue 4)", d, 99-4)
	}
	close(release)
	em.Close()
}

func TestUnsubscribe(t *testing.T) {
	em := NewEmitter(0)
	got := make(chan ctrl.Event, 10)
	sub := em.Subscribe(ctrl.EventSessionOpened, func(ev ctrl.Event) { got <- ev })
	em.Emit(ctrl.Event{Kind: ctrl.EventSessionOpened})
	waitFor(t, got)
	sub.Unsubscribe()
	sub.Unsubscribe() // twice is fine
	waitFor(t, sub.Done())
	em.Emit(ctrl.Event{Kind: ctrl.EventSessionOpened})
	if len(got) != 0 {
		t.Fatal("an event arrived after Unsubscribe")
	}
	// From inside its own callback, without deadlock.
	var self *Subscription
	calls := make(chan struct{}, 10)
	self = em.Subscribe(ctrl.EventSessionOpened, func(ctrl.Event) { self.Unsubscribe(); calls <- struct{}{} })
	em.Emit(ctrl.Event{Kind: ctrl.EventSessionOpened})
	waitFor(t, calls)
	waitFor(t, self.Done())
	em.Close()
	late := em.Subscribe(ctrl.EventSessionOpened, func(ctrl.Event) { t.Error("delivered after Close") })
	em.Emit(ctrl.Event{Kind: ctrl.EventSessionOpened})
	waitFor(t, late.Done())
}
