//go:build race

package dataplane

// raceEnabled: the race detector makes sync.Pool drop some items on purpose, so allocation
// counts of code that uses pools are not meaningful under it.
const raceEnabled = true
