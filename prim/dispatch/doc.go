// Package dispatch is the seed's FrameDispatcher in Go: one place that routes a node's
// application frames (types 0x80-0xFF, Session.SendFrame on the sending side) to a handler per
// type, with a fallback for the types nobody claimed.
//
// ctrl.Node.HandleFrame already routes per type, but it is one handler per type for the whole
// node, changed under the node's lock. A Dispatcher is attached once (it takes every
// application type on the node) and then lets handlers come and go from any goroutine with
// atomic swaps: the RX loop that delivers a frame reads one pointer and never waits for a
// registration. Frames no handler and no fallback takes are counted (Unhandled), not lost
// silently.
//
// Handlers run on the node's RX loop, as HandleFrame's do: the data is valid only during the
// call and the handler must not block (copy, then hand off).
package dispatch
