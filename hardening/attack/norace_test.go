//go:build !race

package attack

// raceEnabled: the tests run without the race detector.
const raceEnabled = false
