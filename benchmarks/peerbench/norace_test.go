//go:build !race

package peerbench

const raceEnabled = false
