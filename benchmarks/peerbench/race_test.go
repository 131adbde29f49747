//go:build race

package peerbench

// raceEnabled stretches the harness test's windows: under the race detector every process runs
// several times slower and a 0.4 s window can fall inside one retransmission stall.
const raceEnabled = true
