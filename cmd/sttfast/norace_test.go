//go:build !race

package main

// raceEnabled makes TestMain build the binary under the race detector too.
const raceEnabled = false
