//go:build !race

package wspath

const raceEnabled = false
