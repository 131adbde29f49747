//go:build !linux

package dataplane

import "runtime"

// yieldCPU lets other goroutines run between polls (no portable way to yield the core).
func yieldCPU() { runtime.Gosched() }
