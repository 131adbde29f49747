//go:build race

package attack

// raceEnabled: the tests run under the race detector, so the listener is built with it too
// (except for the flood, whose latency bound needs an uninstrumented listener).
const raceEnabled = true
