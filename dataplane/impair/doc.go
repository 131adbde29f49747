// Package impair is an in-process lossy link for tests and benchmarks: it wraps a packet
// connection and drops, duplicates, reorders and delays the datagrams written through it, every
// decision drawn from a seeded random source so a failing run can be replayed.
//
// Impairment applies on the write side only; wrap both ends to impair both directions. Reads pass
// straight through. The wrapper never hands the inner connection two concurrent writes.
package impair
