package events

import (
	"sync"
	"sync/atomic"

	"github.com/sttfast/sttfast/ctrl"
)

// DefaultQueue is how many events a subscription holds for a slow callback before it drops.
const DefaultQueue = 256

// Emitter fans a node's events out to typed subscriptions. Safe for concurrent use.
type Emitter struct {
	mu     sync.RWMutex
	subs   map[ctrl.EventKind]map[*Subscription]struct{}
	queue  int
	closed bool
}

// NewEmitter returns an emitter whose subscriptions queue up to queue events each
// (DefaultQueue when 0 or less). Set ctrl.Config.OnEvent to its Emit.
func NewEmitter(queue int) *Emitter {
	if queue <= 0 {
		queue = DefaultQueue
	}
	return &Emitter{subs: make(map[ctrl.EventKind]map[*Subscription]struct{}), queue: queue}
}

// Subscription is one callback for one kind of event.
type Subscription struct {
	em      *Emitter
	kind    ctrl.EventKind
	queue   chan ctrl.Event
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
	stopped atomic.Bool
}

// Subscribe calls fn, on the subscription's own goroutine, with every event of kind.
func (em *Emitter) Subscribe(kind ctrl.EventKind, fn func(ctrl.Event)) *Subscription {
	sub := &Subscription{em: em, kind: kind, queue: make(chan ctrl.Event, em.queue), done: make(chan struct{})}
	go sub.run(fn)
	em.mu.Lock()
	defer em.mu.Unlock()
	if em.closed {
		close(sub.queue)
		return sub
	}
	if em.subs[kind] == nil {
		em.subs[kind] = make(map[*Subscription]struct{})
	}
	em.subs[kind][sub] = struct{}{}
	return sub
}

func (sub *Subscription) run(fn func(ctrl.Event)) {
	defer close(sub.done)
	for ev := range sub.queue {
		if !sub.stopped.Load() {
			fn(ev)
		}
	}
}

// Emit queues ev for every subscriber of its kind without waiting: a full queue drops it for
// that subscriber and counts it. It is the function for ctrl.Config.OnEvent.
func (em *Emitter) Emit(ev ctrl.Event) {
	em.mu.RLock()
	defer em.mu.RUnlock()
	for sub := range em.subs[ev.Kind] {
		select {
		case sub.queue <- ev:
		default:
			sub.dropped.Add(1)
		}
	}
}

// Unsubscribe stops the subscription: events queued and not yet delivered are discarded, and
// after it returns no callback starts (one already running finishes; Done says when). It may be
// called from the subscription's own callback.
func (sub *Subscription) Unsubscribe() {
	sub.once.Do(func() {
		sub.stopped.Store(true)
		em := sub.em
		em.mu.Lock()
		if _, ok := em.subs[sub.kind][sub]; ok {
			delete(em.subs[sub.kind], sub)
			close(sub.queue)
		}
		em.mu.Unlock()
	})
}

// Done is closed when the subscription's goroutine has ended, after Unsubscribe or Close: no
// callback of it is running or will run.
func (sub *Subscription) Done() <-chan struct{} { return sub.done }

// Dropped is how many events this subscription lost because its queue was full.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Close unsubscribes everyone and waits for their callbacks to return (so it must not be called
// from one); later subscriptions receive nothing.
func (em *Emitter) Close() {
	em.mu.Lock()
	em.closed = true
	var all []*Subscription
	for _, subs := range em.subs {
		for sub := range subs {
			all = append(all, sub)
		}
	}
	em.mu.Unlock()
	for _, sub := range all {
		sub.Unsubscribe()
	}
	for _, sub := range all {
		<-sub.done
	}
}
