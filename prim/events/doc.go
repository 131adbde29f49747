// Package events is the seed's EventEmitter in Go: typed subscriptions to a node's events.
//
// A node reports what happens (sessions and streams opened and closed, key rotations, path
// changes, refused handshakes) to one function, ctrl.Config.OnEvent, on its event goroutine.
// An Emitter is that function (Config.OnEvent = emitter.Emit) and fans each event out to the
// subscribers of its kind, as the typed value of that kind: On[SessionClosed] receives a
// SessionClosed with its Code and Reason, not a generic record to pick apart.
//
// Each subscription has its own bounded queue and goroutine. Emit only tries to queue: a
// subscriber that is slow loses events (counted in its Dropped) rather than delaying the
// node's other subscribers or, through them, the event ring the data plane fills, which itself
// drops rather than stall packet processing. Unsubscribe stops delivery and waits for a
// callback in progress to return, so after it nothing more runs.
package events
