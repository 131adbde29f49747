//go:build race

package streambuf

// raceEnabled: under the race detector sync.Pool drops a share of Puts on purpose, so
// allocation counts are meaningless and the zero-allocation tests skip.
const raceEnabled = true
