//go:build race

package ctrl

// raceEnabled: the race detector is on (tests size their work down).
const raceEnabled = true
