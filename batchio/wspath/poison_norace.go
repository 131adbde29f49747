//go:build !race

package wspath

// poisonLent: see poison_race.go. Off outside race builds, where it would cost a write per
// received byte.
const poisonLent = false
