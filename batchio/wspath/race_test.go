//go:build race

package wspath

// raceEnabled: the race detector allocates on channel and sync operations, so allocation counts
// are exact only without it (the Makefile runs the Alloc tests once more without -race).
const raceEnabled = true
